"""vae_course.mixture_prior against known answers (well under a second)."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Normal, kl_divergence

from vae_course.mixture_prior import kl_to_mixture_mc, kl_to_mixture_quadrature, mixture_log_prob

D64 = torch.float64
W = torch.tensor([0.3, 0.7], dtype=D64)
M = torch.tensor([-2.0, 1.5], dtype=D64)
S = torch.tensor([0.5, 1.2], dtype=D64)


def test_mixture_log_prob_matches_scipy_and_survives_far_points():
    z = torch.tensor([-3.0, 0.0, 2.2, 40.0], dtype=D64)
    ref = np.log(0.3 * stats.norm.pdf(z.numpy(), -2.0, 0.5) + 0.7 * stats.norm.pdf(z.numpy(), 1.5, 1.2))
    got = mixture_log_prob(z, W, M, S)
    assert np.allclose(got[:3].numpy(), ref[:3], atol=1e-12)
    # far out the mixture is dominated by the wider component: log-sum-exp keeps it finite
    assert torch.isfinite(got).all()
    assert abs(got[3].item() - (math.log(0.7) + stats.norm.logpdf(40.0, 1.5, 1.2))) < 1e-9


def test_one_component_gives_the_gaussian_closed_form():
    mu = torch.tensor([[0.3, -1.0], [2.0, 0.5]], dtype=D64)
    logvar = torch.tensor([[0.0, -1.5], [0.7, 0.2]], dtype=D64)
    one = (torch.ones(1, dtype=D64), torch.tensor([0.4], dtype=D64), torch.tensor([1.3], dtype=D64))
    exact = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.4, 1.3)).sum(-1)
    assert torch.allclose(kl_to_mixture_quadrature(mu, logvar, *one), exact, atol=1e-12)
    # two identical components are the same prior
    two = (torch.tensor([0.5, 0.5], dtype=D64), torch.tensor([0.4, 0.4], dtype=D64), torch.tensor([1.3, 1.3], dtype=D64))
    assert torch.allclose(kl_to_mixture_quadrature(mu, logvar, *two), exact, atol=1e-12)


def test_quadrature_matches_adaptive_integration():
    mu, sd = 0.6, 0.4
    ref = integrate.quad(lambda z: stats.norm.pdf(z, mu, sd) * (stats.norm.logpdf(z, mu, sd) - np.log(
        0.3 * stats.norm.pdf(z, -2.0, 0.5) + 0.7 * stats.norm.pdf(z, 1.5, 1.2))), -10, 10, epsabs=1e-13)[0]
    got = kl_to_mixture_quadrature(torch.tensor([[mu]], dtype=D64), torch.tensor([[2 * math.log(sd)]], dtype=D64), W, M, S)
    assert abs(got.item() - ref) < 1e-9


def test_monte_carlo_is_unbiased_and_differentiable():
    mu = torch.tensor([[0.6, -1.0, 0.0]], dtype=D64, requires_grad=True)
    logvar = torch.tensor([[-1.0, 0.3, 0.0]], dtype=D64, requires_grad=True)
    draws = kl_to_mixture_mc(mu, logvar, W, M, S, num_samples=200_000, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (200_000, 1)
    ref = kl_to_mixture_quadrature(mu, logvar, W, M, S)
    se = draws.std() / math.sqrt(len(draws))
    assert abs(draws.mean() - ref).item() < 5 * se.item()
    # the pathwise gradient of the MC mean estimates the gradient of the quadrature value
    g_mc = torch.autograd.grad(draws.mean(), (mu, logvar))
    g_q = torch.autograd.grad(kl_to_mixture_quadrature(mu, logvar, W, M, S).sum(), (mu, logvar))
    for a, b in zip(g_mc, g_q):
        assert torch.allclose(a, b, atol=0.02)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: mixture_log_prob(torch.zeros(2), torch.tensor([0.5, 0.6]), M.float(), S.float()), ValueError, "sum to 1"),
        (lambda: mixture_log_prob(torch.zeros(2), W, M, torch.tensor([0.5, -1.0], dtype=D64)), ValueError, "stds must be > 0 everywhere"),
        (lambda: mixture_log_prob(torch.zeros(2), W, M[:1], S), ValueError, "same number K"),
        (lambda: mixture_log_prob([0.0], W, M, S), TypeError, "z must be a torch.Tensor"),
        (lambda: kl_to_mixture_mc(torch.zeros(2, 3), torch.zeros(2, 2), W, M, S, 5), ValueError, "same shape"),
        (lambda: kl_to_mixture_mc(torch.zeros(2, 3), torch.zeros(2, 3), W, M, S, 0), ValueError, "num_samples"),
        (lambda: kl_to_mixture_quadrature(torch.zeros(1, 2), torch.zeros(1, 2), W, M, S, num_nodes=1), ValueError, "num_nodes"),
        (lambda: kl_to_mixture_quadrature(torch.full((1, 2), float("nan")), torch.zeros(1, 2), W, M, S), ValueError, "mu must hold finite values"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(call, error, words):
    with pytest.raises(error, match=words):
        call()
