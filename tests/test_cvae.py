"""Tests of the conditional VAE (vae_course.models.ConditionalVAE): how the condition enters,
the conditional negative ELBO, that training uses the label, and clear errors on bad labels."""

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_course import models, train

SHAPE = (1, 6, 6)
D, C, J = 36, 4, 2


@pytest.fixture
def model():
    torch.manual_seed(0)
    return models.ConditionalVAE(image_shape=SHAPE, hidden=(16,), latent_dim=J, num_classes=C)


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.bernoulli(torch.full((n, *SHAPE), 0.3), generator=g)
    y = torch.randint(0, C, (n,), generator=g)
    return x, y


def test_one_hot_puts_a_single_one_at_each_label():
    y = torch.tensor([2, 0, 3])
    torch.testing.assert_close(models.one_hot(y, 4), torch.eye(4)[y])


def test_encoder_and_decoder_see_the_one_hot_label_concatenated(model):
    x, y = batch()
    c = torch.eye(C)[y]
    mu, logvar = model.encode(x, y)
    ref_mu, ref_logvar = model.encoder(torch.cat([x.flatten(1), c], dim=1))
    torch.testing.assert_close(mu, ref_mu)
    torch.testing.assert_close(logvar, ref_logvar)
    z = torch.randn(len(y), J)
    torch.testing.assert_close(model.decode(z, y), model.decoder(torch.cat([z, c], dim=1)))
    first_enc = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear))
    first_dec = next(m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear))
    assert first_enc.in_features == D + C and first_dec.in_features == J + C


def test_integer_labels_and_their_one_hot_rows_give_the_same_outputs(model):
    x, y = batch()
    c = torch.eye(C)[y]
    for a, b in zip(model.encode(x, y), model.encode(x, c)):
        torch.testing.assert_close(a, b)
    z = torch.randn(len(y), J)
    torch.testing.assert_close(model.decode(z, y), model.decode(z, c))


def test_the_label_changes_the_decoded_image(model):
    z = torch.randn(C, J)
    out = model.decode(z[:1].expand(C, J), torch.arange(C))
    assert all(not torch.allclose(out[0], out[k]) for k in range(1, C))


def test_loss_is_the_conditional_negative_elbo(model):
    x, y = batch(n=16)
    parts = model.loss(x, y, generator=torch.Generator().manual_seed(5))
    mu, logvar = model.encode(x, y)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))  # the same noise
    z = mu + torch.exp(0.5 * logvar) * eps
    log_lik = Bernoulli(logits=model.decode(z, y)).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(parts.reconstruction, -log_lik.mean())
    torch.testing.assert_close(parts.kl, kl.mean())
    torch.testing.assert_close(parts.total, (-log_lik + kl).mean())
    beta_parts = model.loss(x, y, beta=3.0, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(beta_parts.total, (-log_lik + 3.0 * kl).mean())


def test_sample_gives_one_image_in_0_1_per_label(model):
    imgs = model.sample(torch.tensor([0, 1, 1, 3]), generator=torch.Generator().manual_seed(0))
    assert imgs.shape == (4, *SHAPE)
    assert imgs.min() >= 0 and imgs.max() <= 1


def test_a_trained_cvae_draws_the_class_it_is_asked_for():
    """Each class is a fixed pattern (a different row lit): only the label tells them apart
    in the prior samples, so correct samples prove the decoder uses the condition."""
    torch.manual_seed(0)
    patterns = torch.zeros(C, *SHAPE)
    for k in range(C):
        patterns[k, 0, k] = 1.0
    y = torch.arange(C).repeat(64)
    x = patterns[y]
    m = models.ConditionalVAE(image_shape=SHAPE, hidden=(32,), latent_dim=J, num_classes=C)
    train.train(m, train.cvae_loss(), (x, y), epochs=60, batch_size=64, lr=5e-3, progress=False, seed=0)
    want = torch.arange(C).repeat_interleave(10)
    samples = m.sample(want, generator=torch.Generator().manual_seed(1))
    lit_row = samples[:, 0].mean(dim=2).argmax(dim=1)  # the brightest row of each sample
    assert (lit_row == want).float().mean() == 1.0


@pytest.mark.parametrize(
    "y, error, words",
    [
        (torch.tensor([0, 4]), ValueError, "labels in 0..3"),
        (torch.tensor([-1, 2]), ValueError, "labels in 0..3"),
        (torch.zeros(2, 3), ValueError, "shape (batch, 4)"),  # one-hot of the wrong width
        (torch.zeros(2), ValueError, "shape (batch, 4)"),  # float labels instead of integers
        (torch.tensor([[0], [1]]), ValueError, "one-dimensional"),
        (torch.tensor([0, 1, 2]), ValueError, "one label per example"),
        ([0, 1], TypeError, "torch.Tensor"),
        (torch.tensor([True, False]), TypeError, "integer labels"),
    ],
)
def test_bad_conditions_fail_with_a_clear_message(model, y, error, words):
    x, _ = batch(n=2)
    with pytest.raises(error) as info:
        model.encode(x, y)
    assert words in str(info.value)
    with pytest.raises(error):
        model.decode(torch.zeros(2, J), y)


def test_sampling_rejects_labels_outside_the_classes(model):
    with pytest.raises(ValueError, match="labels in 0..3"):
        model.sample(torch.tensor([4]))


@pytest.mark.parametrize("num_classes, error", [(0, ValueError), (2.0, TypeError)])
def test_bad_number_of_classes(num_classes, error):
    with pytest.raises(error, match="num_classes"):
        models.ConditionalVAE(image_shape=SHAPE, hidden=(8,), latent_dim=J, num_classes=num_classes)
