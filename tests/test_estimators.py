"""vae_course.estimators against known answers.

The test case throughout: f(z) = (z - k)^2 under q = N(mu, sigma^2), where
E_q[f] = (mu - k)^2 + sigma^2, so grad_mu = 2 (mu - k) and grad_sigma = 2 sigma exactly.
Exact variances of the per-sample estimators are computed by Gauss-Hermite quadrature
(exact for these polynomial integrands), independently of the estimators' code.
"""
import itertools
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from vae_course import estimators, losses
from vae_course.estimators import (
    GradientSamples,
    gaussian_score,
    minibatch_elbo,
    pathwise_gradients,
    reparameterize,
    score_function_gradients,
    sgvb_elbo,
)
from vae_course.linear_gaussian import LinearGaussian

D64 = torch.float64
NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(30)
WEIGHTS = WEIGHTS / WEIGHTS.sum()


def gauss_expect(g):
    """E[g(eps)] for eps ~ N(0, 1), exact for polynomials of degree < 60."""
    return float(np.sum(WEIGHTS * g(NODES)))


def exact_variance(estimator):
    mean = gauss_expect(estimator)
    return gauss_expect(lambda e: estimator(e) ** 2) - mean**2


def quadratic(k):
    return lambda z: (z - k) ** 2


def scalar(v):
    return torch.tensor(v, dtype=D64)


def test_gaussian_score_matches_autograd_of_log_prob():
    mu = torch.tensor([0.3, -1.0, 2.0], dtype=D64, requires_grad=True)
    sigma = torch.tensor([0.5, 1.0, 2.5], dtype=D64, requires_grad=True)
    z = torch.tensor([1.0, -0.2, 0.7], dtype=D64)
    Normal(mu, sigma).log_prob(z).sum().backward()
    score = gaussian_score(z, mu.detach(), sigma.detach())
    torch.testing.assert_close(score.mu, mu.grad)
    torch.testing.assert_close(score.sigma, sigma.grad)


def test_the_score_has_mean_zero():
    mu, sigma = scalar(0.7), scalar(1.3)
    z = (mu + sigma * torch.tensor(NODES, dtype=D64))
    score = gaussian_score(z, mu, sigma)
    w = torch.tensor(WEIGHTS, dtype=D64)
    assert abs((w * score.mu).sum().item()) < 1e-12
    assert abs((w * score.sigma).sum().item()) < 1e-12


def test_reparameterize_has_the_right_value_and_gradients():
    mu = torch.tensor([1.0, -2.0], dtype=D64, requires_grad=True)
    sigma = torch.tensor([0.5, 3.0], dtype=D64, requires_grad=True)
    eps = torch.tensor([0.4, -1.2], dtype=D64)
    z = reparameterize(mu, sigma, eps)
    torch.testing.assert_close(z, torch.tensor([1.2, -5.6], dtype=D64))
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones(2, dtype=D64))
    torch.testing.assert_close(sigma.grad, eps)


def test_estimators_with_given_noise_are_the_closed_form_per_sample_values():
    mu, sigma, k = scalar(0.5), scalar(1.5), 2.0
    eps = torch.tensor([-1.0, 0.0, 0.3, 2.0], dtype=D64)
    z = 0.5 + 1.5 * eps
    sf = score_function_gradients(quadratic(k), mu, sigma, eps=eps)
    torch.testing.assert_close(sf.mu, (z - k) ** 2 * eps / 1.5)
    torch.testing.assert_close(sf.sigma, (z - k) ** 2 * (eps**2 - 1) / 1.5)
    pw = pathwise_gradients(quadratic(k), mu, sigma, eps=eps)
    torch.testing.assert_close(pw.mu, 2 * (z - k))
    torch.testing.assert_close(pw.sigma, 2 * (z - k) * eps)
    sfb = score_function_gradients(quadratic(k), mu, sigma, eps=eps, baseline=1.25)
    torch.testing.assert_close(sfb.mu, ((z - k) ** 2 - 1.25) * eps / 1.5)


def test_leave_one_out_baseline_uses_the_other_samples():
    mu, sigma = scalar(0.0), scalar(1.0)
    eps = torch.tensor([-1.0, 0.5, 2.0], dtype=D64)
    f = (eps - 1.0) ** 2
    b = torch.stack([(f[1] + f[2]) / 2, (f[0] + f[2]) / 2, (f[0] + f[1]) / 2])
    got = score_function_gradients(quadratic(1.0), mu, sigma, eps=eps, baseline="leave-one-out")
    torch.testing.assert_close(got.mu, (f - b) * eps)


@pytest.mark.parametrize("mu0,sigma0,k", [(0.0, 1.0, 0.0), (1.0, 1.0, -1.0), (0.5, 2.0, 2.0)])
def test_both_estimators_are_unbiased(mu0, sigma0, k):
    mu, sigma = scalar(mu0), scalar(sigma0)
    exact = GradientSamples(mu=2 * (mu0 - k), sigma=2 * sigma0)
    g = torch.Generator().manual_seed(0)
    for estimates in (
        score_function_gradients(quadratic(k), mu, sigma, num_samples=400_000, generator=g),
        score_function_gradients(quadratic(k), mu, sigma, num_samples=400_000, generator=g, baseline="leave-one-out"),
        pathwise_gradients(quadratic(k), mu, sigma, num_samples=400_000, generator=g),
    ):
        for name in ("mu", "sigma"):
            s = getattr(estimates, name)
            se = s.std() / math.sqrt(len(s))
            assert abs(s.mean().item() - getattr(exact, name)) < 5 * se.item(), name


@pytest.mark.parametrize("a,sigma0", [(0.0, 1.0), (1.5, 1.0), (-2.0, 0.7), (1.0, 2.0)])
def test_per_sample_variances_match_the_exact_values(a, sigma0):
    k = 0.25
    mu0 = k + a
    mu, sigma = scalar(mu0), scalar(sigma0)
    g = torch.Generator().manual_seed(1)
    n = 1_000_000
    sf = score_function_gradients(quadratic(k), mu, sigma, num_samples=n, generator=g)
    pw = pathwise_gradients(quadratic(k), mu, sigma, num_samples=n, generator=g)
    f = lambda e: (a + sigma0 * e) ** 2
    exact = {
        "sf mu": exact_variance(lambda e: f(e) * e / sigma0),
        "sf sigma": exact_variance(lambda e: f(e) * (e**2 - 1) / sigma0),
        "pw mu": exact_variance(lambda e: 2 * (a + sigma0 * e)),
        "pw sigma": exact_variance(lambda e: 2 * (a + sigma0 * e) * e),
    }
    got = {"sf mu": sf.mu.var(), "sf sigma": sf.sigma.var(), "pw mu": pw.mu.var(), "pw sigma": pw.sigma.var()}
    for key in exact:
        assert abs(got[key].item() / exact[key] - 1) < 0.03, (key, got[key].item(), exact[key])
    # the closed forms taught in notebook 06 (sigma = 1: 15 + 14 a^2 + a^4 and 4)
    assert abs(exact["sf mu"] - (a**4 / sigma0**2 + 14 * a**2 + 15 * sigma0**2)) < 1e-8
    assert abs(exact["pw mu"] - 4 * sigma0**2) < 1e-10


def test_constant_baseline_keeps_the_mean_and_changes_the_variance_as_predicted():
    a, k = 1.5, 0.0
    mu, sigma = scalar(a), scalar(1.0)
    g = torch.Generator().manual_seed(2)
    b = a**2 + 3.0  # the variance-minimising constant for the mu-gradient when sigma = 1
    est = score_function_gradients(quadratic(k), mu, sigma, num_samples=1_000_000, generator=g, baseline=b)
    exact_var = exact_variance(lambda e: ((a + e) ** 2 - b) * e)
    assert abs(est.mu.var().item() / exact_var - 1) < 0.03
    se = est.mu.std().item() / 1000
    assert abs(est.mu.mean().item() - 2 * a) < 5 * se
    plain = exact_variance(lambda e: (a + e) ** 2 * e)
    assert exact_var < plain


def test_vector_parameters_give_one_gradient_per_coordinate():
    mu = torch.tensor([0.0, 1.0, -1.0], dtype=D64)
    sigma = torch.tensor([1.0, 0.5, 2.0], dtype=D64)
    k = torch.tensor([1.0, 1.0, 1.0], dtype=D64)
    f = lambda z: ((z - k) ** 2).sum(-1)
    g = torch.Generator().manual_seed(3)
    pw = pathwise_gradients(f, mu, sigma, num_samples=200_000, generator=g)
    sf = score_function_gradients(f, mu, sigma, num_samples=200_000, generator=g)
    assert pw.mu.shape == (200_000, 3) and sf.sigma.shape == (200_000, 3)
    for est in (pw, sf):
        for got, exact in ((est.mu, 2 * (mu - k)), (est.sigma, 2 * sigma)):
            se = got.std(0) / math.sqrt(got.shape[0])
            assert (torch.abs(got.mean(0) - exact) < 5 * se).all()


def test_estimators_are_reproducible_with_a_seeded_generator():
    mu, sigma = scalar(0.3), scalar(0.8)
    a = score_function_gradients(quadratic(1.0), mu, sigma, num_samples=50, generator=torch.Generator().manual_seed(7))
    b = score_function_gradients(quadratic(1.0), mu, sigma, num_samples=50, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a.mu, b.mu)


def test_gradient_estimator_bad_arguments():
    mu, sigma = scalar(0.0), scalar(1.0)
    f = quadratic(0.0)
    with pytest.raises(ValueError, match="sigma"):
        pathwise_gradients(f, mu, scalar(-1.0), num_samples=3)
    with pytest.raises(ValueError, match="same shape"):
        pathwise_gradients(f, torch.zeros(2, dtype=D64), sigma, num_samples=3)
    with pytest.raises(TypeError, match="mu"):
        pathwise_gradients(f, torch.tensor(0), sigma, num_samples=3)
    with pytest.raises(ValueError, match="num_samples"):
        pathwise_gradients(f, mu, sigma, num_samples=0)
    with pytest.raises(TypeError, match="num_samples"):
        pathwise_gradients(f, mu, sigma, num_samples=2.0)
    with pytest.raises(ValueError, match="not both"):
        pathwise_gradients(f, mu, sigma, num_samples=2, eps=torch.zeros(2, dtype=D64))
    with pytest.raises(ValueError, match="eps must have shape"):
        pathwise_gradients(f, mu, sigma, eps=torch.zeros(2, 2, dtype=D64))
    with pytest.raises(ValueError, match="one value per sample"):
        pathwise_gradients(lambda z: z.sum(), mu, sigma, num_samples=3)
    with pytest.raises(ValueError, match="differentiable"):
        pathwise_gradients(lambda z: torch.ones(len(z), dtype=D64), mu, sigma, num_samples=3)
    with pytest.raises(ValueError, match="leave-one-out"):
        score_function_gradients(f, mu, sigma, num_samples=3, baseline="mean")
    with pytest.raises(ValueError, match="at least 2"):
        score_function_gradients(f, mu, sigma, num_samples=1, baseline="leave-one-out")
    with pytest.raises(TypeError, match="baseline"):
        score_function_gradients(f, mu, sigma, num_samples=3, baseline=[1.0])
    with pytest.raises(TypeError, match="callable"):
        score_function_gradients(3.0, mu, sigma, num_samples=3)


# ----------------------------------------------------------------------------- ELBO estimators


def linear_gaussian_setup():
    g = torch.Generator().manual_seed(0)
    model = LinearGaussian(torch.randn(5, 2, generator=g, dtype=D64), torch.randn(5, generator=g, dtype=D64), noise_std=0.8)
    x, _ = model.sample(4, g)
    mu = torch.randn(4, 2, generator=g, dtype=D64) * 0.5
    logvar = torch.randn(4, 2, generator=g, dtype=D64) * 0.3 - 1.0
    return model, x, mu, logvar


@pytest.mark.parametrize("kl", ["analytic", "mc"])
def test_sgvb_elbo_is_unbiased_for_the_exact_elbo(kl):
    model, x, mu, logvar = linear_gaussian_setup()
    exact = model.elbo(x, mu, torch.diag_embed(logvar.exp()))
    g = torch.Generator().manual_seed(1)
    reps = 20_000  # 20,000 independent one-sample estimates per point, in one batch
    rep = lambda t: t.repeat(reps, 1)
    draws = sgvb_elbo(rep(x), rep(mu), rep(logvar), model.log_likelihood, num_samples=1, kl=kl, generator=g)
    draws = draws.view(reps, len(x))
    se = draws.std(0) / math.sqrt(reps)
    assert (torch.abs(draws.mean(0) - exact) < 5 * se).all()


def test_sgvb_elbo_with_one_sample_is_the_closed_form_expression():
    model, x, mu, logvar = linear_gaussian_setup()
    got = sgvb_elbo(x, mu, logvar, model.log_likelihood, num_samples=1, generator=torch.Generator().manual_seed(5))
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5), dtype=D64)
    z = mu + torch.exp(0.5 * logvar) * eps
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    torch.testing.assert_close(got, model.log_likelihood(x, z) - kl)
    got_mc = sgvb_elbo(x, mu, logvar, model.log_likelihood, kl="mc", generator=torch.Generator().manual_seed(5))
    q = Normal(mu, torch.exp(0.5 * logvar))
    expected_mc = model.log_likelihood(x, z) + Normal(0.0, 1.0).log_prob(z).sum(1) - q.log_prob(z).sum(1)
    torch.testing.assert_close(got_mc, expected_mc)


def test_sgvb_elbo_variance_falls_like_one_over_L_and_gradients_flow():
    model, x, mu, logvar = linear_gaussian_setup()
    g = torch.Generator().manual_seed(2)
    var = {}
    reps = 4000
    rep = lambda t: t.repeat(reps, 1)
    for L in (1, 4):
        draws = sgvb_elbo(rep(x), rep(mu), rep(logvar), model.log_likelihood, num_samples=L, generator=g)
        var[L] = draws.view(reps, len(x)).var(0)
    ratio = var[1] / var[4]
    assert ((ratio > 3.4) & (ratio < 4.7)).all(), ratio
    mu_g, logvar_g = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    sgvb_elbo(x, mu_g, logvar_g, model.log_likelihood).sum().backward()
    assert mu_g.grad is not None and logvar_g.grad is not None and torch.isfinite(mu_g.grad).all()


def test_sgvb_elbo_matches_the_core_loss_convention():
    """-mean(SGVB, L=1) is the core negative_elbo for the same samples (Bernoulli decoder)."""
    torch.manual_seed(0)
    x = torch.rand(6, 1, 4, 4)
    mu, logvar = torch.randn(6, 3), torch.randn(6, 3) * 0.2
    dec = torch.nn.Linear(3, 16)
    ll = lambda x_, z: losses.bernoulli_log_likelihood(x_, dec(z).view(-1, 1, 4, 4))
    est = sgvb_elbo(x, mu, logvar, ll, generator=torch.Generator().manual_seed(3))
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    core = losses.negative_elbo(ll(x, z), mu, logvar).total
    torch.testing.assert_close(-est.mean(), core)


def test_minibatch_elbo_scales_by_N_over_M_and_is_unbiased_over_all_minibatches():
    per_example = torch.tensor([-3.0, -1.0, -4.0, -1.5, -5.0, -9.0], dtype=D64)
    torch.testing.assert_close(minibatch_elbo(per_example[:2], 6), torch.tensor(3.0 * -4.0, dtype=D64))
    estimates = [minibatch_elbo(per_example[list(c)], 6) for c in itertools.combinations(range(6), 2)]
    torch.testing.assert_close(torch.stack(estimates).mean(), per_example.sum())


def test_elbo_estimator_bad_arguments():
    model, x, mu, logvar = linear_gaussian_setup()
    with pytest.raises(ValueError, match="kl must be"):
        sgvb_elbo(x, mu, logvar, model.log_likelihood, kl="exact")
    with pytest.raises(ValueError, match="num_samples"):
        sgvb_elbo(x, mu, logvar, model.log_likelihood, num_samples=0)
    with pytest.raises(TypeError, match="num_samples"):
        sgvb_elbo(x, mu, logvar, model.log_likelihood, num_samples=1.5)
    with pytest.raises(ValueError, match="mu and logvar"):
        sgvb_elbo(x, mu, logvar[:, :1], model.log_likelihood)
    with pytest.raises(ValueError, match="examples"):
        sgvb_elbo(x[:2], mu, logvar, model.log_likelihood)
    with pytest.raises(ValueError, match="must return shape"):
        sgvb_elbo(x, mu, logvar, lambda x_, z: z)
    with pytest.raises(TypeError, match="callable"):
        sgvb_elbo(x, mu, logvar, None)
    with pytest.raises(ValueError, match="dataset_size"):
        minibatch_elbo(torch.zeros(5), 3)
    with pytest.raises(TypeError, match="dataset_size"):
        minibatch_elbo(torch.zeros(5), 10.0)
    with pytest.raises(ValueError, match=r"shape \(M,\)"):
        minibatch_elbo(torch.zeros(2, 2), 10)
    with pytest.raises(TypeError, match="elbo_per_example"):
        minibatch_elbo([1.0, 2.0], 10)


def test_logvar_is_accepted_by_keyword_everywhere_sigma_is_and_vice_versa():
    mu = torch.tensor([0.5, -1.0], dtype=torch.float64)
    sigma = torch.tensor([0.3, 2.0], dtype=torch.float64)
    logvar = 2 * torch.log(sigma)
    eps = torch.randn(7, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    f = lambda z: (z**2).sum(-1)  # noqa: E731
    for est in (estimators.pathwise_gradients, estimators.score_function_gradients):
        a, b = est(f, mu, sigma, eps=eps), est(f, mu, eps=eps, logvar=logvar)
        torch.testing.assert_close(a.mu, b.mu)
        torch.testing.assert_close(a.sigma, b.sigma)
        with pytest.raises(TypeError, match="exactly one of sigma"):
            est(f, mu, sigma, eps=eps, logvar=logvar)
    x = torch.zeros(2, 3, dtype=torch.float64)
    m, lv = torch.zeros(2, 4, dtype=torch.float64), torch.full((2, 4), -1.0, dtype=torch.float64)
    ll = lambda x, z: -(z**2).sum(-1)  # noqa: E731
    e1 = estimators.sgvb_elbo(x, m, lv, ll, num_samples=3, generator=torch.Generator().manual_seed(1))
    e2 = estimators.sgvb_elbo(x, m, log_likelihood=ll, num_samples=3, generator=torch.Generator().manual_seed(1),
                              sigma=torch.exp(0.5 * lv))
    torch.testing.assert_close(e1, e2)


def test_nan_parameters_are_errors():
    with pytest.raises(ValueError, match="mu must hold finite values"):
        estimators.pathwise_gradients(lambda z: z.sum(-1), torch.tensor([float("nan")]), torch.ones(1), num_samples=2)
    with pytest.raises(ValueError, match="logvar must hold finite values"):
        estimators.sgvb_elbo(torch.zeros(1, 2), torch.zeros(1, 2), torch.full((1, 2), float("inf")),
                             lambda x, z: z.sum(-1))
