import pytest
import torch

from vae_course import models, train


def test_vae_validation_elbo_improves(digits):
    torch.manual_seed(0)
    vae = models.VAE(digits.image_shape, hidden=(128,), latent_dim=8)
    before = train.evaluate(vae, train.vae_loss(), digits.val)["total"]
    hist = train.train(vae, train.vae_loss(), digits.train, digits.val, epochs=4, batch_size=64, progress=False)
    assert hist.epochs == 4 and set(hist.train) == {"total", "reconstruction", "kl"} == set(hist.val)
    assert hist.val["total"][-1] < 0.8 * before
    assert hist.val["total"][-1] < hist.val["total"][0]
    assert hist.last("val", "kl") == hist.val["kl"][-1]


def test_two_seeded_runs_give_identical_losses(digits):
    def run():
        torch.manual_seed(3)
        vae = models.VAE(digits.image_shape, hidden=(32,), latent_dim=2)
        return train.train(vae, train.vae_loss(), digits.train.subset(200), digits.val.subset(50), epochs=2, seed=5, progress=False)

    a, b = run(), run()
    assert a.train == b.train and a.val == b.val


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, digits):
    torch.manual_seed(0)
    vae = models.VAE(digits.image_shape, hidden=(32,), latent_dim=3)
    train.train(vae, train.vae_loss(), digits.train.subset(100), epochs=1, progress=False)
    path = train.save_checkpoint(vae, tmp_path / "ckpt" / "vae.pt")
    state = torch.load(path, weights_only=True)
    assert set(state) == set(vae.state_dict())
    other = models.VAE(digits.image_shape, hidden=(32,), latent_dim=3)
    train.load_checkpoint(other, path)
    x = digits.test.x[:5]
    assert torch.equal(vae.reconstruct(x), other.reconstruct(x))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.load_checkpoint(other, tmp_path / "missing.pt")


def test_autoencoder_and_cvae_losses_train(digits):
    torch.manual_seed(0)
    ae = models.Autoencoder(digits.image_shape, hidden=(64,), latent_dim=4)
    h = train.train(ae, train.ae_loss, digits.train.subset(300), digits.val, epochs=3, progress=False)
    assert h.val["total"][-1] < h.val["total"][0]
    cvae = models.ConditionalVAE(digits.image_shape, hidden=(64,), latent_dim=2)
    h = train.train(cvae, train.cvae_loss(), digits.train.subset(300), digits.val, epochs=2, progress=False)
    assert h.val["total"][-1] < h.val["total"][0]


def test_loss_fn_may_return_a_plain_scalar_or_dict(digits):
    lin = torch.nn.Linear(2, 1)
    x, y = torch.randn(64, 2), torch.randn(64, 1)

    def mse(model, xb, yb):
        return {"total": (model(xb) - yb).pow(2).mean(), "extra": torch.tensor(1.0)}

    h = train.train(lin, mse, (x, y), (x, y), epochs=2, progress=False)
    assert h.train["extra"] == [1.0, 1.0]
    with pytest.raises(ValueError, match="'total'"):
        train.train(lin, lambda m, a, b: {"loss": m(a).sum()}, (x, y), epochs=1, progress=False)
    with pytest.raises(ValueError, match="scalar"):
        train.train(lin, lambda m, a, b: m(a), (x, y), epochs=1, progress=False)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [({"epochs": -1}, ValueError, "epochs"), ({"epochs": 1.5}, TypeError, "epochs"), ({"batch_size": 0}, ValueError, "batch_size"),
     ({"lr": 0}, ValueError, "lr"), ({"train_data": [1, 2]}, TypeError, "train_data")],
)
def test_train_bad_input(kwargs, err, match, digits):
    vae = models.VAE(digits.image_shape, hidden=(8,), latent_dim=2)
    args = {"train_data": digits.train.subset(10), "epochs": 1, "progress": False}
    args.update(kwargs)
    with pytest.raises(err, match=match):
        train.train(vae, train.vae_loss(), **args)


def test_loss_factories_validate_beta():
    with pytest.raises(ValueError, match="beta"):
        train.vae_loss(-1)
    with pytest.raises(ValueError, match="beta"):
        train.cvae_loss(-2)


def _noisy_custom_loss(model, x, *rest):
    """A loss_fn without a generator keyword: its noise comes from torch's global generator."""
    return model.loss(x)


@pytest.mark.parametrize("loss_fn", [train.vae_loss(), _noisy_custom_loss])
def test_seeded_runs_are_bit_identical_and_leave_the_callers_rng_alone(loss_fn, digits):
    data, val = digits.train.subset(128), digits.val.subset(32)

    def run():
        vae = models.VAE(digits.image_shape, hidden=(16,), latent_dim=2, seed=1)
        torch.manual_seed(99)  # the caller's state, different before each run
        before = torch.get_rng_state()
        hist = train.train(vae, loss_fn, data, val, epochs=2, batch_size=32, seed=7, progress=False)
        assert torch.equal(torch.get_rng_state(), before), "train(seed=...) changed the caller's random state"
        return hist, [p.detach().clone() for p in vae.parameters()]

    (h1, p1), (h2, p2) = run(), run()
    assert h1.train == h2.train and h1.val == h2.val
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))
    # the model noise really is seeded by `seed`: another seed gives another run
    vae = models.VAE(digits.image_shape, hidden=(16,), latent_dim=2, seed=1)
    h3 = train.train(vae, loss_fn, data, val, epochs=2, batch_size=32, seed=8, progress=False)
    assert h3.train != h1.train


def test_vae_loss_noise_comes_from_the_generator_given(digits):
    vae = models.VAE(digits.image_shape, hidden=(16,), latent_dim=2, seed=0)
    x = digits.train.x[:8]
    loss_fn = train.vae_loss()
    state = torch.get_rng_state()
    a = loss_fn(vae, x, generator=torch.Generator().manual_seed(3)).total
    b = loss_fn(vae, x, generator=torch.Generator().manual_seed(3)).total
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    assert torch.equal(vae.loss(x, generator=torch.Generator().manual_seed(3)).total, a)


def test_unseeded_run_uses_the_global_generator(digits):
    vae = models.VAE(digits.image_shape, hidden=(8,), latent_dim=2, seed=0)
    state = torch.get_rng_state()
    train.train(vae, train.vae_loss(), digits.train.subset(32), epochs=1, seed=None, progress=False)
    assert not torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        train.train(vae, train.vae_loss(), digits.train.subset(32), epochs=1, seed=-1, progress=False)
