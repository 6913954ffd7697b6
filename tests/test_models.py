import math

import pytest
import torch
from torch.distributions import Independent, Normal

from vae_course import losses, models
from vae_course.kl import kl_diag_gaussian_to_standard_normal

SHAPE = (1, 28, 28)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_shapes(arch):
    x = torch.rand(5, *SHAPE)
    vae = models.VAE(SHAPE, hidden=(64,), latent_dim=3, arch=arch)
    out, mu, logvar = vae(x)
    assert out.shape == x.shape and mu.shape == (5, 3) and logvar.shape == (5, 3)
    assert vae.sample(7).shape == (7, *SHAPE)
    assert vae.reconstruct(x).shape == x.shape
    ae = models.Autoencoder(SHAPE, hidden=(64,), latent_dim=2, arch=arch)
    assert ae.encode(x).shape == (5, 2)
    y = ae(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_reparameterized_sample_has_the_right_distribution_and_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[math.log(0.25), math.log(4.0)]], requires_grad=True)
    g = torch.Generator().manual_seed(0)
    z = models.VAE.reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2), generator=g)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([0.5, 2.0]), atol=0.02, rtol=0)
    z.mean().backward()  # d mean(z) / d mu_j = 1/2 for each of the two coordinates
    torch.testing.assert_close(mu.grad, torch.tensor([[0.5, 0.5]]))


def test_vae_loss_is_the_negative_elbo_of_its_parts():
    torch.manual_seed(0)
    vae = models.VAE(SHAPE, hidden=(32,), latent_dim=4)
    x = torch.rand(6, *SHAPE)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    parts = vae.loss(x, generator=g1)
    out, mu, logvar = vae(x, generator=g2)
    rec = -losses.bernoulli_log_likelihood(x, out).mean()
    kl = kl_diag_gaussian_to_standard_normal(mu, logvar).mean()
    torch.testing.assert_close(parts.total, rec + kl)
    torch.testing.assert_close(parts.reconstruction, rec)


def test_gaussian_decoder_uses_its_sigma():
    torch.manual_seed(0)
    vae = models.VAE(SHAPE, hidden=(16,), latent_dim=2, likelihood="gaussian", sigma=0.5)
    x = torch.rand(3, *SHAPE)
    out = torch.rand(3, *SHAPE)
    expected = Independent(Normal(out, 0.5), 3).log_prob(x)
    torch.testing.assert_close(vae.log_likelihood(x, out), expected)
    assert torch.equal(vae.mean_image(out), out)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [({"likelihood": "poisson"}, ValueError, "likelihood"), ({"arch": "rnn"}, ValueError, "arch"),
     ({"latent_dim": 0}, ValueError, "latent_dim"), ({"latent_dim": 2.5}, TypeError, "latent_dim"),
     ({"image_shape": (28, 28)}, ValueError, "image_shape"), ({"sigma": -1.0}, ValueError, "sigma"),
     ({"image_shape": (1, 10, 10), "arch": "conv"}, ValueError, "multiples of 4")],
)
def test_vae_bad_construction(kwargs, err, match):
    with pytest.raises(err, match=match):
        models.VAE(**kwargs)


def test_vae_bad_input():
    vae = models.VAE(SHAPE, hidden=(8,), latent_dim=2)
    with pytest.raises(ValueError, match=r"x must be a batch of images of shape \(N, 1, 28, 28\) or flat vectors "
                                         r"\(N, 784\), got shape \(2, 28, 28\); reshape it with x.view\(-1, 1, 28, 28\)"):
        vae.encode(torch.rand(2, 28, 28))
    with pytest.raises(TypeError, match="floating"):
        vae.encode(torch.zeros(2, *SHAPE, dtype=torch.uint8))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        vae.encode([[0.0]])
    with pytest.raises(ValueError, match=r"must hold values >= 0 and <= 1"):
        vae.loss(torch.full((2, *SHAPE), 2.0))
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        vae.sample(0)
    with pytest.raises(ValueError, match="x must hold finite values"):
        vae.loss(torch.full((2, *SHAPE), float("nan")))


@pytest.mark.parametrize("sigma, err", [(True, TypeError), (float("inf"), ValueError), (float("nan"), ValueError),
                                        (0.0, ValueError), ("1", TypeError)])
def test_vae_sigma_must_be_a_finite_positive_number(sigma, err):
    with pytest.raises(err, match=r"sigma \(the Gaussian decoder's standard deviation\)"):
        models.VAE(SHAPE, hidden=(8,), latent_dim=2, likelihood="gaussian", sigma=sigma)
    with pytest.raises(err, match="sigma"):
        models.ConditionalVAE(SHAPE, hidden=(8,), latent_dim=2, likelihood="gaussian", sigma=sigma)


def test_flat_images_are_accepted_and_give_the_same_loss():
    vae = models.VAE(SHAPE, hidden=(8,), latent_dim=2, seed=0)
    x = torch.rand(3, *SHAPE)
    a = vae.loss(x, generator=torch.Generator().manual_seed(1))
    b = vae.loss(x.flatten(1), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.total, b.total)
    ae = models.Autoencoder(SHAPE, hidden=(8,), latent_dim=2, seed=0)
    assert torch.equal(ae(x), ae(x.flatten(1)))


def test_sample_of_a_float64_model():
    vae = models.VAE(SHAPE, hidden=(8,), latent_dim=2, seed=0).double()
    out = vae.sample(3, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.float64 and out.shape == (3, *SHAPE)
    cvae = models.ConditionalVAE(SHAPE, hidden=(8,), latent_dim=2, num_classes=3, seed=0).double()
    assert cvae.sample(torch.tensor([0, 2])).dtype == torch.float64


def test_seed_builds_identical_models_and_leaves_the_global_state_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = models.VAE(SHAPE, hidden=(8,), latent_dim=2, seed=5)
    b = models.VAE(SHAPE, hidden=(8,), latent_dim=2, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = models.VAE(SHAPE, hidden=(8,), latent_dim=2, seed=6)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        models.VAE(SHAPE, hidden=(8,), latent_dim=2, seed=-1)


def test_conditional_vae_conditions_both_networks():
    torch.manual_seed(0)
    cvae = models.ConditionalVAE(SHAPE, hidden=(32,), latent_dim=2, num_classes=10)
    x = torch.rand(4, *SHAPE)
    y = torch.tensor([0, 3, 3, 9])
    mu_a, _ = cvae.encode(x, y)
    mu_b, _ = cvae.encode(x, torch.tensor([1, 3, 3, 9]))
    assert not torch.allclose(mu_a[0], mu_b[0]) and torch.allclose(mu_a[1:], mu_b[1:])
    z = torch.zeros(2, 2)
    assert not torch.allclose(cvae.decode(z, torch.tensor([0, 0]))[0], cvae.decode(z, torch.tensor([5, 5]))[0])
    assert cvae.sample(torch.arange(10)).shape == (10, *SHAPE)
    # a float one-hot condition is the same as the integer label
    torch.testing.assert_close(cvae.decode(z, models.one_hot(torch.tensor([2, 7]), 10)), cvae.decode(z, torch.tensor([2, 7])))
    parts = cvae.loss(x, y)
    assert torch.isfinite(parts.total)


def test_conditional_vae_bad_labels():
    cvae = models.ConditionalVAE(SHAPE, hidden=(8,), latent_dim=2, num_classes=10)
    x = torch.rand(2, *SHAPE)
    with pytest.raises(ValueError, match=r"labels in 0\.\.9"):
        cvae.encode(x, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="shape \\(batch, 10\\)"):
        cvae.encode(x, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="one label per example"):
        cvae.encode(x, torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="integer labels"):
        models.one_hot(torch.tensor([True]), 10)
    with pytest.raises(ValueError, match="arch='conv'"):
        models._make_coders("conv", SHAPE, 8, 2, True, extra_in=10)


def test_one_hot():
    torch.testing.assert_close(models.one_hot(torch.tensor([1, 0]), 3), torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="one-dimensional"):
        models.one_hot(torch.zeros(2, 2, dtype=torch.long), 3)


def test_decoders_check_the_latent_width():
    vae = models.VAE(SHAPE, hidden=(8,), latent_dim=3)
    cvae = models.ConditionalVAE(SHAPE, hidden=(8,), latent_dim=2)
    ae = models.Autoencoder(SHAPE, hidden=(8,), latent_dim=4)
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 3\)"):
        vae.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 2\)"):
        cvae.decode(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 4\)"):
        ae.decode(torch.zeros(2))
    with pytest.raises(TypeError, match="floating"):
        vae.decode(torch.zeros(2, 3, dtype=torch.long))


def test_decode_mean_is_the_likelihoods_mean_without_gradients():
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    vae = models.VAE(image_shape=(1, 4, 4), hidden=(8,), latent_dim=3, seed=0)
    x = vae.decode_mean(z)
    # a Bernoulli decoder's mean is the sigmoid of its logits: a probability per pixel
    assert torch.allclose(x, torch.sigmoid(vae.decode(z)))
    assert x.shape == (5, 1, 4, 4) and not x.requires_grad
    gauss = models.VAE(image_shape=(1, 4, 4), hidden=(8,), latent_dim=3, likelihood="gaussian", seed=0)
    assert torch.allclose(gauss.decode_mean(z), gauss.decode(z))  # a Gaussian's mean: the output itself
    ae = models.Autoencoder(image_shape=(1, 4, 4), hidden=(8,), latent_dim=3, seed=0)
    assert torch.allclose(ae.decode_mean(z), ae.decode(z).detach())
    cvae = models.ConditionalVAE(image_shape=(1, 4, 4), hidden=(8,), latent_dim=3, num_classes=2, seed=0)
    y = torch.tensor([0, 1, 1, 0, 1])
    assert torch.allclose(cvae.decode_mean(z, y), torch.sigmoid(cvae.decode(z, y)))
    # the label changes the image: the decoder sees it
    assert not torch.allclose(cvae.decode_mean(z, torch.zeros(5, dtype=torch.long)),
                              cvae.decode_mean(z, torch.ones(5, dtype=torch.long)))
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        vae.decode_mean([[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="y must have one label per example"):
        cvae.decode_mean(z, torch.tensor([0, 1]))
