import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vae_course import losses
from vae_course.kl import kl_diag_gaussian_to_standard_normal as kl_std


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = _rand(5, 4, seed=1), _rand(5, 4, seed=2)
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = kl_divergence(q, p)
    torch.testing.assert_close(kl_std(mu, logvar, per_dim=True), expected)
    torch.testing.assert_close(kl_std(mu, logvar), expected.sum(1))


def test_gaussian_kl_matches_monte_carlo():
    mu = torch.tensor([[0.7, -1.2]], dtype=torch.float64)
    logvar = torch.tensor([[-0.5, 0.4]], dtype=torch.float64)
    q = Normal(mu, torch.exp(0.5 * logvar))
    z = q.sample((400_000,))
    log_ratio = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)
    mc, se = log_ratio.mean(), log_ratio.std() / math.sqrt(len(log_ratio))
    assert abs(mc - kl_std(mu, logvar)[0]) < 5 * se


def test_kl_is_zero_at_the_prior_and_the_direction_matters():
    zero = torch.zeros(2, 3)
    assert torch.allclose(kl_std(zero, zero), torch.zeros(2))
    # KL(N(mu, s^2) || N(0,1)) differs from the reversed KL(N(0,1) || N(mu, s^2))
    mu, logvar = torch.tensor([[1.0]]), torch.tensor([[math.log(0.25)]])
    forward = kl_std(mu, logvar).item()
    reverse = kl_divergence(Normal(0.0, 1.0), Normal(1.0, 0.5)).item()
    assert abs(forward - kl_divergence(Normal(1.0, 0.5), Normal(0.0, 1.0)).item()) < 1e-6
    assert abs(forward - reverse) > 0.5


@pytest.mark.parametrize(
    "mu, logvar, err, match",
    [(torch.zeros(2, 3), torch.zeros(2, 4), ValueError, "same shape"), (torch.zeros(3), torch.zeros(3), ValueError, "batch, J"),
     (torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 3), TypeError, "mu"), ([0.0], torch.zeros(1, 1), TypeError, "mu")],
)
def test_gaussian_kl_bad_input(mu, logvar, err, match):
    with pytest.raises(err, match=match):
        kl_std(mu, logvar)


def test_bernoulli_log_likelihood_matches_torch_distributions():
    x = (torch.rand(4, 1, 5, 5, generator=torch.Generator().manual_seed(3)) > 0.5).double()
    logits = _rand(4, 1, 5, 5, seed=4) * 3
    expected = Independent(Bernoulli(logits=logits), 3).log_prob(x)
    torch.testing.assert_close(losses.bernoulli_log_likelihood(x, logits), expected)
    # extreme logits stay finite
    assert torch.isfinite(losses.bernoulli_log_likelihood(x, logits * 1e4)).all()


def test_bernoulli_rejects_pixels_outside_unit_interval():
    with pytest.raises(ValueError, match=r"x \(the data of a Bernoulli likelihood\) must hold values >= 0 and <= 1"):
        losses.bernoulli_log_likelihood(torch.full((2, 3), 1.5), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="same shape"):
        losses.bernoulli_log_likelihood(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="batch"):
        losses.bernoulli_log_likelihood(torch.zeros(3), torch.zeros(3))


@pytest.mark.parametrize("sigma", [1.0, 0.3, torch.tensor(0.5, dtype=torch.float64)])
def test_gaussian_log_likelihood_matches_torch_distributions(sigma):
    x, mean = _rand(3, 1, 4, 4, seed=5), _rand(3, 1, 4, 4, seed=6)
    s = sigma if isinstance(sigma, torch.Tensor) else torch.tensor(sigma, dtype=torch.float64)
    expected = Independent(Normal(mean, s.expand_as(mean)), 3).log_prob(x)
    torch.testing.assert_close(losses.gaussian_log_likelihood(x, mean, sigma), expected)


def test_gaussian_unit_variance_is_half_sse_plus_constant():
    # ERRATA E6: -log N(x; x_hat, I) = 1/2 ||x - x_hat||^2 + d/2 log(2 pi)
    x, mean = _rand(2, 10, seed=7), _rand(2, 10, seed=8)
    nll = -losses.gaussian_log_likelihood(x, mean)
    expected = 0.5 * (x - mean).pow(2).sum(1) + 5 * math.log(2 * math.pi)
    torch.testing.assert_close(nll, expected)


@pytest.mark.parametrize("sigma, err", [(0.0, ValueError), (-1.0, ValueError), ("1", TypeError), (torch.tensor(-1.0), ValueError)])
def test_gaussian_bad_sigma(sigma, err):
    with pytest.raises(err, match="sigma"):
        losses.gaussian_log_likelihood(torch.zeros(2, 3), torch.zeros(2, 3), sigma)


def test_negative_elbo_parts_and_convention():
    ll = torch.tensor([-100.0, -300.0])
    mu, logvar = _rand(2, 3, seed=9).float(), _rand(2, 3, seed=10).float()
    kl = kl_std(mu, logvar)
    parts = losses.negative_elbo(ll, mu, logvar, beta=1.0)
    assert torch.isclose(parts.reconstruction, torch.tensor(200.0))
    assert torch.isclose(parts.kl, kl.mean())
    assert torch.isclose(parts.total, parts.reconstruction + parts.kl)
    beta4 = losses.negative_elbo(ll, mu, logvar, beta=4.0)
    assert torch.isclose(beta4.total, 200.0 + 4 * kl.mean())
    assert torch.isclose(beta4.kl, parts.kl)  # the reported KL is unweighted


@pytest.mark.parametrize("beta, err", [(-0.5, ValueError), (float("nan"), ValueError), (float("inf"), ValueError), ("1", TypeError), (True, TypeError)])
def test_negative_beta_is_rejected(beta, err):
    with pytest.raises(err, match="beta"):
        losses.negative_elbo(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 3), beta=beta)


def test_negative_elbo_shape_errors():
    with pytest.raises(ValueError, match="log_likelihood"):
        losses.negative_elbo(torch.zeros(2, 1), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="examples"):
        losses.negative_elbo(torch.zeros(3), torch.zeros(2, 3), torch.zeros(2, 3))


def test_nan_sigma_and_nan_data_are_errors_not_nan_results():
    x = torch.zeros(2, 5)
    with pytest.raises(ValueError, match="sigma .* must hold finite values"):
        losses.gaussian_log_likelihood(x, x, torch.tensor(float("nan")))
    with pytest.raises(ValueError, match="x must hold finite values"):
        losses.bernoulli_log_likelihood(torch.tensor([[0.0, float("nan")]]), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="logits must hold finite values"):
        losses.bernoulli_log_likelihood(torch.zeros(1, 2), torch.tensor([[0.0, float("inf")]]))
    with pytest.raises(ValueError, match="sigma .* finite"):
        losses.gaussian_log_likelihood(x, x, math.inf)


def test_sigma_must_broadcast_to_x_without_enlarging_it():
    x = torch.zeros(2, 5)
    # a (5, 1) sigma used to broadcast x to (5, 5) and return 5 values for 2 examples
    with pytest.raises(ValueError, match=r"sigma must broadcast to the shape of x \(2, 5\).*got shape \(5, 1\)"):
        losses.gaussian_log_likelihood(x, x, torch.ones(5, 1))
    per_pixel = losses.gaussian_log_likelihood(x, x, torch.full((5,), 2.0))
    torch.testing.assert_close(per_pixel, torch.full((2,), -0.5 * 5 * (math.log(2 * math.pi) + 2 * math.log(2.0))))
    assert losses.gaussian_log_likelihood(x, x, torch.ones(2, 1)).shape == (2,)
