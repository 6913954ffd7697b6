"""vae_course.kl: every KL divergence against an independent reference, at the extremes that
used to fail, in numpy and in torch, and the deprecated old names."""
import math
import warnings

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vae_course import inference, linear_gaussian, losses
from vae_course.kl import kl_diag_gaussian_to_standard_normal, kl_discrete, kl_mixture_gaussian, kl_mvn, kl_normal

D64 = torch.float64


def test_kl_normal_at_scales_far_apart():
    # log(sigma_q / sigma_p) overflowed: 1e200 / 1e-200 is inf in float64. Exact: 400 ln 10 - 1/2.
    assert kl_normal(0.0, 1e-200, 0.0, 1e200) == pytest.approx(400 * math.log(10) - 0.5, rel=1e-15)
    assert kl_normal(0.0, 1e-200, 0.0, 1e200) == pytest.approx(920.5340371976183, rel=1e-14)
    # the other way round the KL really is huge (finite sigma ratio squared overflows to inf)
    assert kl_normal(0.0, 1e200, 0.0, 1e-200) == math.inf


def test_kl_normal_takes_sigma_or_logvar_and_numpy_or_torch():
    ref = kl_divergence(Normal(0.3, 0.7), Normal(-1.2, 1.9)).item()
    assert kl_normal(0.3, 0.7, -1.2, 1.9) == pytest.approx(ref, rel=1e-6)
    assert kl_normal(0.3, mu_q=-1.2, logvar_p=math.log(0.49), logvar_q=2 * math.log(1.9)) == pytest.approx(ref, rel=1e-6)
    t = kl_normal(torch.tensor([0.3], dtype=D64), 0.7, -1.2, 1.9)
    assert isinstance(t, torch.Tensor) and t.dtype == D64 and t.item() == pytest.approx(kl_normal(0.3, 0.7, -1.2, 1.9), rel=1e-14)
    mu = torch.tensor(0.3, dtype=D64, requires_grad=True)
    kl_normal(mu, 1.0, 0.0, 1.0).backward()  # d/dmu of mu^2/2
    assert mu.grad.item() == pytest.approx(0.3)
    with pytest.raises(TypeError, match="give exactly one of sigma_p .* and logvar_p"):
        kl_normal(0.0, 1.0, 0.0, 1.0, logvar_p=0.0)
    with pytest.raises(TypeError, match="mu_q"):
        kl_normal(0.0, 1.0)
    with pytest.raises(ValueError, match="sigma_q must be > 0"):
        kl_normal(0.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="mu_p must hold finite values"):
        kl_normal(torch.tensor(float("nan")), 1.0, 0.0, 1.0)


def test_kl_mvn_identical_ill_conditioned_covariances_give_zero():
    # An explicit inverse gave -2.7e-7 here (condition number 1e12); triangular solves give 0.
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    cov = q @ np.diag(np.logspace(0, -12, 6)) @ q.T
    cov = 0.5 * (cov + cov.T)
    assert np.linalg.cond(cov) == pytest.approx(1e12, rel=0.5)
    mean = rng.normal(size=6)
    value = kl_mvn(mean, cov, mean, cov)
    assert isinstance(value, float) and abs(value) < 1e-9
    assert abs(kl_mvn(torch.tensor(mean), torch.tensor(cov), torch.tensor(mean), torch.tensor(cov)).item()) < 1e-9


def test_kl_mvn_numpy_and_torch_agree_with_torch_distributions_and_broadcast():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    sp, sq = a @ a.T + 0.5 * np.eye(3), b @ b.T + 0.5 * np.eye(3)
    mp, mq = rng.normal(size=3), rng.normal(size=3)
    ref = kl_divergence(MultivariateNormal(torch.tensor(mp), torch.tensor(sp)),
                        MultivariateNormal(torch.tensor(mq), torch.tensor(sq))).item()
    assert kl_mvn(mp, sp, mq, sq) == pytest.approx(ref, rel=1e-12)
    batch = kl_mvn(torch.tensor(np.stack([mp, mq])), torch.tensor(sp), torch.tensor(mq), torch.tensor(sq))
    ref1 = kl_divergence(MultivariateNormal(torch.tensor(mq), torch.tensor(sp)),
                         MultivariateNormal(torch.tensor(mq), torch.tensor(sq))).item()
    assert batch.shape == (2,) and batch[0].item() == pytest.approx(ref, rel=1e-12)
    assert batch[1].item() == pytest.approx(ref1, rel=1e-12)
    with pytest.raises(ValueError, match="cov_q must be symmetric"):
        kl_mvn(mp, sp, mq, sq + np.triu(np.ones((3, 3)), 1))
    with pytest.raises(ValueError, match="cov_q must be positive definite"):
        kl_mvn(mp, sp, mq, -sq)


def _reverse_reference(w, m, s, mu, sigma):
    """KL(N(mu, sigma^2) || mixture) by adaptive quadrature, split at every component's peak."""
    w, m, s = map(np.asarray, (w, m, s))

    def f(z):
        return stats.norm.pdf(z, mu, sigma) * (stats.norm.logpdf(z, mu, sigma)
                                               - special.logsumexp(np.log(w) + stats.norm.logpdf(z, m, s)))

    lo, hi = mu - 15 * sigma, mu + 15 * sigma
    cuts = sorted({x for mm, ss in zip(m, s) for x in (mm - 12 * ss, mm, mm + 12 * ss) if lo < x < hi})
    edges = [lo, *cuts, hi]
    return sum(integrate.quad(f, a, b, limit=500, epsabs=1e-13, epsrel=1e-13)[0] for a, b in zip(edges[:-1], edges[1:]))


@pytest.mark.parametrize("w, m, s, mu, sigma", [
    ([0.5, 0.5], [0.0, 0.0], [1.0, 1e-3], 0.0, 1.0),  # a component 1000x narrower than q: was off by 0.014
    ([0.3, 0.7], [0.37, -1.0], [1e-3, 1.0], 0.1, 1.0),
    ([0.4, 0.6], [-2.5, 2.0], [0.7, 0.8], 2.0, 0.8),
])
def test_kl_mixture_gaussian_reverse_resolves_narrow_components(w, m, s, mu, sigma):
    assert kl_mixture_gaussian(w, m, s, mu, sigma, "reverse") == pytest.approx(_reverse_reference(w, m, s, mu, sigma),
                                                                               abs=1e-8)
    assert kl_mixture_gaussian(w, m, s, mu, direction="reverse", logvar=2 * math.log(sigma)) == pytest.approx(
        kl_mixture_gaussian(w, m, s, mu, sigma, "reverse"), abs=1e-12)


def test_kl_diag_gaussian_to_standard_normal_known_values_and_sigma_keyword():
    mu = torch.tensor([[0.0, 0.0], [1.0, -2.0]], dtype=D64)
    logvar = torch.tensor([[0.0, 0.0], [math.log(4.0), 0.0]], dtype=D64)
    # KL(N(1, 4) || N(0, 1)) = (4 + 1 - 1 - ln 4) / 2, KL(N(-2, 1) || N(0, 1)) = 2
    expected = torch.tensor([0.0, (4 + 1 - 1 - math.log(4)) / 2 + 2], dtype=D64)
    torch.testing.assert_close(kl_diag_gaussian_to_standard_normal(mu, logvar), expected)
    torch.testing.assert_close(kl_diag_gaussian_to_standard_normal(mu, sigma=logvar.mul(0.5).exp()), expected)
    with pytest.raises(ValueError, match="logvar must hold finite values"):
        kl_diag_gaussian_to_standard_normal(mu, torch.full_like(mu, float("nan")))
    with pytest.raises(TypeError, match="exactly one of logvar"):
        kl_diag_gaussian_to_standard_normal(mu)


def test_kl_discrete_in_torch_matches_numpy():
    p, q = [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]
    assert kl_discrete(torch.tensor(p, dtype=D64), torch.tensor(q, dtype=D64)).item() == pytest.approx(
        kl_discrete(p, q), rel=1e-14)
    assert kl_discrete(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-14)


@pytest.mark.parametrize("old, new, args", [
    (lambda *a: losses.gaussian_kl(*a), "kl_diag_gaussian_to_standard_normal", (torch.zeros(1, 2), torch.zeros(1, 2))),
    (lambda *a: inference.kl_normal(*a), "kl_normal", (0.0, 1.0, 0.0, 1.0)),
    (lambda *a: inference.kl_mvn(*a), "kl_mvn", (np.zeros(1), np.eye(1), np.zeros(1), np.eye(1))),
    (lambda *a: inference.kl_discrete(*a), "kl_discrete", ([1.0], [1.0])),
    (lambda *a: inference.kl_mixture_gaussian(*a), "kl_mixture_gaussian", ([1.0], [0.0], [1.0], 0.0, 1.0)),
    (lambda *a: linear_gaussian.gaussian_kl_full(*a), "kl_mvn", (torch.zeros(1), torch.eye(1), torch.zeros(1), torch.eye(1))),
])
def test_old_names_warn_and_name_the_new_one(old, new, args):
    with pytest.warns(DeprecationWarning, match=f"use vae_course.kl.{new}"):
        value = old(*args)
    assert float(value if not isinstance(value, torch.Tensor) else value.sum()) == pytest.approx(0.0, abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kl_normal(0.0, 1.0, 0.0, 1.0)  # the new names do not warn
