"""Tests of vae_course.evaluation on models whose log p(x) is known exactly.

- a linear-Gaussian VAE (no hidden layers): p(x) = N(b, W W^T + sigma^2 I) in closed form,
  and with orthogonal columns of W the true posterior is a diagonal Gaussian, so an encoder
  set to it makes every importance weight equal to p(x);
- a Bernoulli VAE with a one-dimensional latent: log p(x) by quadrature over z.
"""
import math

import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from vae_course import evaluation, likelihood, models

SIGMA = 0.5
SHAPE = (1, 2, 2)  # four "pixels"


def linear_gaussian_vae(exact_posterior=True, seed=0):
    """A VAE with x = W z + b + sigma * noise and, optionally, the exact posterior as encoder."""
    g = torch.Generator().manual_seed(seed)
    vae = models.VAE(SHAPE, hidden=(), latent_dim=2, likelihood="gaussian", sigma=SIGMA)
    q, _ = torch.linalg.qr(torch.randn(4, 2, generator=g))  # orthonormal columns
    w = q * torch.tensor([1.5, 0.8])  # W^T W = diag(2.25, 0.64)
    b = 0.3 * torch.randn(4, generator=g)
    cov_post = torch.diag(1.0 / (1.0 + torch.tensor([1.5, 0.8]) ** 2 / SIGMA**2))  # (I + W^T W / s^2)^-1
    a = cov_post @ w.T / SIGMA**2  # posterior mean = A (x - b)
    with torch.no_grad():
        vae.decoder.net[0].weight.copy_(w)
        vae.decoder.net[0].bias.copy_(b)
        head = vae.encoder.head
        head.weight.zero_()
        head.weight[:2] = a
        head.bias[:2] = -a @ b
        head.bias[2:] = torch.log(torch.diagonal(cov_post))
        if not exact_posterior:  # a worse q: shifted mean, too wide
            head.bias[:2] += torch.tensor([0.6, -0.4])
            head.bias[2:] += 0.8
    marginal = MultivariateNormal(b, covariance_matrix=w @ w.T + SIGMA**2 * torch.eye(4))
    posterior = (a, b, cov_post)
    return vae.eval(), marginal, posterior


def some_images(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=g)


def exact_log_px(marginal, x):
    return marginal.log_prob(x.flatten(1)).double()


def test_exact_posterior_makes_the_bound_equal_log_px_for_every_K():
    vae, marginal, _ = linear_gaussian_vae(exact_posterior=True)
    x = some_images()
    truth = exact_log_px(marginal, x)
    for k in (1, 5):
        bound = evaluation.importance_weighted_bound(vae, x, S=k, generator=torch.Generator().manual_seed(k))
        assert bound.dtype == torch.float64 and bound.shape == (len(x),)
        torch.testing.assert_close(bound, truth, atol=2e-4, rtol=0)
    # the ELBO is tight too, KL(q || p(z|x)) = 0, but its estimate (closed-form KL plus a Monte
    # Carlo reconstruction term) is exact only in expectation
    elbo = evaluation.elbo(vae, x, num_samples=40_000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(elbo, truth, atol=0.02, rtol=0)


def analytic_elbo(vae, posterior, marginal, x):
    """log p(x) - KL(q(z|x) || p(z|x)), both Gaussians, in closed form."""
    a, b, cov_post = posterior
    with torch.no_grad():
        mu, logvar = vae.encode(x)
    post_mean = (x.flatten(1) - b) @ a.T
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(post_mean, torch.sqrt(torch.diagonal(cov_post)).expand_as(post_mean))
    return exact_log_px(marginal, x) - kl_divergence(q, p).sum(dim=1).double()


def test_elbo_matches_the_closed_form_for_a_wrong_encoder():
    vae, marginal, posterior = linear_gaussian_vae(exact_posterior=False)
    x = some_images()
    expected = analytic_elbo(vae, posterior, marginal, x)
    assert (expected < exact_log_px(marginal, x) - 0.1).all(), "the test needs a visibly loose ELBO"
    got = evaluation.elbo(vae, x, num_samples=40_000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(got, expected, atol=0.03, rtol=0)


def test_K1_bound_is_the_elbo_in_expectation():
    vae, marginal, posterior = linear_gaussian_vae(exact_posterior=False)
    x = some_images(n=3)
    reps = 20_000
    xs = x.repeat(reps, 1, 1, 1)  # every image many times: the mean of L_1 estimates E[L_1]
    l1 = evaluation.importance_weighted_bound(vae, xs, S=1, generator=torch.Generator().manual_seed(3)).view(reps, 3)
    expected = analytic_elbo(vae, posterior, marginal, x)
    se = l1.std(dim=0) / math.sqrt(reps)
    assert ((l1.mean(dim=0) - expected).abs() < 4 * se + 1e-3).all(), f"{l1.mean(0)} vs {expected} (se {se})"


def test_bound_rises_with_K_and_converges_to_log_px():
    vae, marginal, _ = linear_gaussian_vae(exact_posterior=False)
    x = some_images(n=4)
    truth = exact_log_px(marginal, x)
    reps = 300
    xs = x.repeat(reps, 1, 1, 1)
    means = {}
    for k in (1, 10, 100):
        b = evaluation.importance_weighted_bound(vae, xs, S=k, generator=torch.Generator().manual_seed(k))
        means[k] = b.view(reps, 4).mean(dim=0)
    assert (means[1] < means[10] - 0.05).all() and (means[10] < means[100]).all(), means
    assert (means[100] <= truth + 0.01).all(), (means[100], truth)
    big = evaluation.importance_weighted_bound(vae, x, S=50_000, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(big, truth, atol=0.02, rtol=0)


def bernoulli_1d_vae(seed=0):
    torch.manual_seed(seed)
    vae = models.VAE((1, 1, 5), hidden=(8,), latent_dim=1, likelihood="bernoulli")
    with torch.no_grad():  # a decoder that changes a lot with z, so the integral is not trivial
        for p in vae.decoder.parameters():
            p.mul_(3.0)
    return vae.eval()


def quadrature_log_px(vae, x, lo=-12.0, hi=12.0, n=40_001):
    """log p(x) = log int p(x|z) N(z; 0, 1) dz on a fine grid (trapezoid rule in log space)."""
    z = torch.linspace(lo, hi, n, dtype=torch.float64)
    with torch.no_grad():
        logits = vae.decode(z.float().unsqueeze(1)).double().flatten(1)  # (n, D)
    log_lik = Bernoulli(logits=logits.unsqueeze(0)).log_prob(x.flatten(1).double().unsqueeze(1)).sum(-1)  # (N, n)
    log_f = log_lik + Normal(0.0, 1.0).log_prob(z)
    w = torch.full((n,), (hi - lo) / (n - 1), dtype=torch.float64)
    w[0] = w[-1] = w[0] / 2
    return torch.logsumexp(log_f + torch.log(w), dim=1)


def test_bernoulli_bound_converges_to_the_quadrature_value():
    vae = bernoulli_1d_vae()
    g = torch.Generator().manual_seed(4)
    x = torch.bernoulli(torch.full((5, 1, 1, 5), 0.5), generator=g)
    truth = quadrature_log_px(vae, x)
    assert torch.allclose(quadrature_log_px(vae, x, n=20_001), truth, atol=1e-6), "quadrature not converged"
    elbo = evaluation.elbo(vae, x, num_samples=20_000, generator=torch.Generator().manual_seed(0))
    assert (elbo < truth).all(), (elbo, truth)
    bound = evaluation.importance_weighted_bound(vae, x, S=100_000, batch_size=20_000,
                                                 generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(bound, truth, atol=0.02, rtol=0)


def test_the_gaussian_likelihood_uses_the_models_sigma():
    vae, marginal, _ = linear_gaussian_vae(exact_posterior=True)
    x = some_images(n=4)
    vae.sigma = 0.7  # the model's noise level changes: p(x) = N(b, W W^T + 0.7^2 I)
    new_marginal = MultivariateNormal(marginal.loc, marginal.covariance_matrix + (0.7**2 - SIGMA**2) * torch.eye(4))
    truth = exact_log_px(new_marginal, x)
    assert (truth - exact_log_px(marginal, x)).abs().min() > 0.05, "the test needs the two marginals to differ"
    bound = evaluation.importance_weighted_bound(vae, x, S=50_000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(bound, truth, atol=0.02, rtol=0)


def test_chunk_size_does_not_change_the_answer_when_weights_are_constant():
    vae, marginal, _ = linear_gaussian_vae(exact_posterior=True)
    x = some_images(n=7)
    a = evaluation.importance_weighted_bound(vae, x, S=9, batch_size=1)
    b = evaluation.importance_weighted_bound(vae, x, S=9, batch_size=4)
    c = evaluation.importance_weighted_bound(vae, x, S=9, batch_size=1000)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    torch.testing.assert_close(a, c, atol=1e-4, rtol=0)


def test_chunk_size_only_changes_the_random_draws():
    vae, _, _ = linear_gaussian_vae(exact_posterior=False)
    reps = 200
    x = some_images(n=3).repeat(reps, 1, 1, 1)
    small = evaluation.importance_weighted_bound(vae, x, S=20, batch_size=7, generator=torch.Generator().manual_seed(0))
    large = evaluation.importance_weighted_bound(vae, x, S=20, batch_size=5000, generator=torch.Generator().manual_seed(1))
    diff = (small - large).view(reps, 3)
    se = diff.std(dim=0) / math.sqrt(reps)
    assert (diff.mean(dim=0).abs() < 4 * se + 1e-3).all()


def test_same_generator_seed_gives_the_same_numbers_and_mode_is_restored():
    vae, _, _ = linear_gaussian_vae(exact_posterior=False)
    vae.train()
    x = some_images()
    a = evaluation.importance_weighted_bound(vae, x, S=30, generator=torch.Generator().manual_seed(5))
    b = evaluation.importance_weighted_bound(vae, x, S=30, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert vae.training, "the function must give the model back in the mode it found it"
    torch.manual_seed(2)
    c = evaluation.elbo(vae, x)
    torch.manual_seed(2)
    d = evaluation.elbo(vae, x)
    assert torch.equal(c, d)


def test_kl_per_dimension_against_torch_distributions():
    torch.manual_seed(0)
    vae = models.VAE(SHAPE, hidden=(6,), latent_dim=3, likelihood="gaussian").eval()
    with torch.no_grad():  # dimension 1 collapsed: mu = 0 and logvar = 0 for every x
        vae.encoder.head.weight[[1, 4]] = 0.0
        vae.encoder.head.bias[[1, 4]] = 0.0
    x = some_images(n=11)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(dim=0).double()
    got = evaluation.kl_per_dimension(vae, x, batch_size=4)
    assert got.shape == (3,) and got.dtype == torch.float64
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    assert got[1] == 0.0 and got[0] > 0 and got[2] > 0


def test_active_units_counts_dimensions_whose_mean_moves():
    torch.manual_seed(0)
    vae = models.VAE(SHAPE, hidden=(6,), latent_dim=3, likelihood="gaussian").eval()
    with torch.no_grad():
        vae.encoder.head.weight[1] = 0.0  # mu_1 is the same for every x: inactive
        vae.encoder.head.weight[0] *= 20.0  # mu_0 varies a lot: active
    x = some_images(n=50)
    with torch.no_grad():
        mu, _ = vae.encode(x)
    expected = mu.double().var(dim=0)
    result = evaluation.active_units(vae, x, threshold=0.01, batch_size=7)
    torch.testing.assert_close(result.activity, expected, atol=1e-6, rtol=1e-5)
    assert result.count == int((expected > 0.01).sum())
    assert result.activity[1] == 0.0 and result.activity[0] > 0.01
    assert evaluation.active_units(vae, x, threshold=float(expected.max()) + 1).count == 0


# ----------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def small_vae():
    torch.manual_seed(0)
    return models.VAE((1, 2, 2), hidden=(4,), latent_dim=2).eval()


@pytest.mark.parametrize("fn", [evaluation.elbo, evaluation.importance_weighted_bound,
                                evaluation.kl_per_dimension, evaluation.active_units])
def test_rejects_a_model_that_is_not_a_vae(fn):
    x = torch.rand(3, 1, 2, 2)
    with pytest.raises(TypeError, match="model must be a vae_course.models.VAE"):
        fn(models.Autoencoder((1, 2, 2), hidden=(4,), latent_dim=2), x)
    with pytest.raises(TypeError, match="model must be"):
        fn(models.ConditionalVAE((1, 2, 2), hidden=(4,), latent_dim=2, num_classes=3), x)
    with pytest.raises(TypeError, match="model must be"):
        fn("vae", x)


@pytest.mark.parametrize("fn", [evaluation.elbo, evaluation.importance_weighted_bound,
                                evaluation.kl_per_dimension, evaluation.active_units])
def test_rejects_bad_images(fn, small_vae):
    with pytest.raises(ValueError, match=r"x \(images for a Bernoulli decoder\) must be a batch of images of shape "
                                         r"\(N, 1, 2, 2\) or flat vectors \(N, 4\), got shape \(3, 5\)"):
        fn(small_vae, torch.rand(3, 5))
    with pytest.raises(TypeError, match=r"x \(images for a Bernoulli decoder\) must be a floating-point"):
        fn(small_vae, torch.ones(3, 1, 2, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"x \(images for a Bernoulli decoder\) must be a torch.Tensor"):
        fn(small_vae, [[0.0]])
    with pytest.raises(ValueError, match="at least one value"):
        fn(small_vae, torch.rand(0, 1, 2, 2))
    with pytest.raises(ValueError, match=r"for a Bernoulli decoder\) must hold values >= 0 and <= 1"):
        fn(small_vae, torch.rand(3, 1, 2, 2) + 1.0)
    with pytest.raises(ValueError, match="finite"):
        fn(small_vae, torch.full((3, 1, 2, 2), float("nan")))


def test_rejects_bad_counts_and_generators(small_vae):
    x = torch.rand(3, 1, 2, 2)
    bound = evaluation.importance_weighted_bound
    for k, err in [(0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError)]:
        with pytest.raises(err, match="S"):
            bound(small_vae, x, S=k)
    with pytest.raises(ValueError, match="batch_size"):
        bound(small_vae, x, S=3, batch_size=0)
    with pytest.raises(ValueError, match="num_samples"):
        evaluation.elbo(small_vae, x, num_samples=0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        bound(small_vae, x, generator=0)
    with pytest.raises(ValueError, match="batch_size"):
        evaluation.kl_per_dimension(small_vae, x, batch_size=0)


def test_active_units_rejects_bad_threshold_and_single_image(small_vae):
    x = torch.rand(3, 1, 2, 2)
    with pytest.raises(ValueError, match="threshold must be a number >= 0"):
        evaluation.active_units(small_vae, x, threshold=-0.1)
    with pytest.raises(TypeError, match="threshold must be a real number"):
        evaluation.active_units(small_vae, x, threshold="0.01")
    with pytest.raises(ValueError, match="at least two images"):
        evaluation.active_units(small_vae, x[:1])


def test_flat_images_give_the_same_values(small_vae):
    x = torch.rand(3, 1, 2, 2)
    a = evaluation.elbo(small_vae, x, num_samples=5, generator=torch.Generator().manual_seed(0))
    b = evaluation.elbo(small_vae, x.flatten(1), num_samples=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["elbo", "importance_weighted_bound", "kl_per_dimension", "active_units"])
def test_the_old_likelihood_module_warns_with_the_new_name(name, small_vae):
    with pytest.warns(DeprecationWarning, match=f"vae_course.likelihood.{name} is deprecated; use vae_course.evaluation.{name}"):
        getattr(likelihood, name)(small_vae, torch.rand(3, 1, 2, 2))


def test_the_old_keyword_K_still_works_and_warns(small_vae):
    x = torch.rand(3, 1, 2, 2)
    new = evaluation.importance_weighted_bound(small_vae, x, S=7, generator=torch.Generator().manual_seed(2))
    with pytest.warns(DeprecationWarning, match="number of importance samples is S"):
        old = evaluation.importance_weighted_bound(small_vae, x, K=7, generator=torch.Generator().manual_seed(2))
    assert torch.equal(new, old)
    with pytest.raises(TypeError, match="once, as S"):
        evaluation.importance_weighted_bound(small_vae, x, S=5, K=7)
    with pytest.raises(TypeError, match="once, as S"):
        evaluation.importance_weighted_bound(small_vae, x, S=100, K=7)
    default = evaluation.importance_weighted_bound(small_vae, x, generator=torch.Generator().manual_seed(2))
    hundred = evaluation.importance_weighted_bound(small_vae, x, S=100, generator=torch.Generator().manual_seed(2))
    assert torch.equal(default, hundred)
