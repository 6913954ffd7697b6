"""vae_course.linear_gaussian against independent answers: torch.distributions, Gaussian
conditioning from the joint covariance, quadrature and Monte Carlo."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vae_course.kl import kl_mvn
from vae_course.linear_gaussian import LinearGaussian

D64 = torch.float64


def make_model(d=4, j=2, seed=0, noise_std=0.7):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, j, generator=g, dtype=D64)
    b = torch.randn(d, generator=g, dtype=D64)
    return LinearGaussian(w, b, noise_std=noise_std)


def random_cov(j, n=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = (j, j) if n is None else (n, j, j)
    a = torch.randn(shape, generator=g, dtype=D64)
    return a @ a.transpose(-1, -2) + 0.3 * torch.eye(j, dtype=D64)


def test_log_marginal_matches_torch_distributions():
    model = make_model()
    x, _ = model.sample(7, torch.Generator().manual_seed(3))
    cov = model.weight @ model.weight.T + 0.49 * torch.eye(4, dtype=D64)
    expected = MultivariateNormal(model.bias, covariance_matrix=cov).log_prob(x)
    torch.testing.assert_close(model.log_marginal(x), expected)


def test_posterior_matches_gaussian_conditioning_of_the_joint():
    model = make_model()
    x, _ = model.sample(5, torch.Generator().manual_seed(4))
    w, b = model.weight, model.bias
    c = w @ w.T + 0.49 * torch.eye(4, dtype=D64)  # Cov[x]; Cov[z, x] = W^T
    gain = w.T @ torch.linalg.inv(c)
    mean, cov = model.posterior(x)
    torch.testing.assert_close(mean, (x - b) @ gain.T)
    torch.testing.assert_close(cov, torch.eye(2, dtype=D64) - gain @ w)


def test_posterior_1d_matches_a_grid_computation():
    model = LinearGaussian(torch.tensor([[1.5]], dtype=D64), torch.tensor([0.3], dtype=D64), noise_std=0.8)
    x = torch.tensor([[1.1]], dtype=D64)
    z = torch.linspace(-10, 10, 200_001, dtype=D64)
    log_joint = Normal(1.5 * z + 0.3, 0.8).log_prob(x[0, 0]) + Normal(0.0, 1.0).log_prob(z)
    dz = z[1] - z[0]
    evidence = torch.exp(log_joint).sum() * dz
    post = torch.exp(log_joint) / evidence
    m = (post * z).sum() * dz
    v = (post * (z - m) ** 2).sum() * dz
    mean, cov = model.posterior(x)
    assert abs(mean.item() - m.item()) < 1e-8
    assert abs(cov.item() - v.item()) < 1e-8
    assert abs(model.log_marginal(x).item() - math.log(evidence.item())) < 1e-8


@pytest.mark.parametrize("shared", [True, False])
def test_kl_to_prior_matches_torch_distributions(shared):
    model = make_model(j=3)
    mean = torch.randn(4, 3, generator=torch.Generator().manual_seed(5), dtype=D64)
    cov = random_cov(3, None if shared else 4)
    expected = kl_divergence(
        MultivariateNormal(mean, covariance_matrix=cov.expand(4, 3, 3)),
        MultivariateNormal(torch.zeros(3, dtype=D64), covariance_matrix=torch.eye(3, dtype=D64)),
    )
    torch.testing.assert_close(model.kl_to_prior(mean, cov), expected)


def test_kl_mvn_in_torch_matches_torch_distributions_and_is_zero_on_equal_gaussians():
    g = torch.Generator().manual_seed(6)
    m1, m2 = torch.randn(5, 3, generator=g, dtype=D64), torch.randn(5, 3, generator=g, dtype=D64)
    c1, c2 = random_cov(3, 5, seed=7), random_cov(3, seed=8)
    expected = kl_divergence(
        MultivariateNormal(m1, covariance_matrix=c1), MultivariateNormal(m2, covariance_matrix=c2.expand(5, 3, 3))
    )
    torch.testing.assert_close(kl_mvn(m1, c1, m2, c2), expected)
    torch.testing.assert_close(kl_mvn(m1, c1, m1, c1), torch.zeros(5, dtype=D64), atol=1e-12, rtol=0)


def test_expected_log_likelihood_matches_gauss_hermite_quadrature_1d():
    model = LinearGaussian(torch.tensor([[2.0], [-1.0]], dtype=D64), torch.tensor([0.5, 0.1], dtype=D64), noise_std=0.6)
    x = torch.tensor([[1.0, -0.4]], dtype=D64)
    m, v = 0.3, 0.2
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)  # exact for polynomials of degree < 80
    z = torch.tensor(m + math.sqrt(v) * nodes, dtype=D64).reshape(-1, 1, 1)
    expected = (torch.tensor(weights, dtype=D64) * model.log_likelihood(x, z)[:, 0]).sum() / math.sqrt(2 * math.pi)
    got = model.expected_log_likelihood(x, torch.tensor([[m]], dtype=D64), torch.tensor([[v]], dtype=D64))
    assert abs(got.item() - expected.item()) < 1e-10


def test_elbo_plus_gap_is_log_marginal_and_the_gap_closes_at_the_posterior():
    model = make_model(d=5, j=3)
    x, _ = model.sample(6, torch.Generator().manual_seed(9))
    mean = torch.randn(6, 3, generator=torch.Generator().manual_seed(10), dtype=D64)
    cov = random_cov(3, 6, seed=11)
    elbo = model.elbo(x, mean, cov)
    gap = model.kl_to_posterior(x, mean, cov)
    torch.testing.assert_close(elbo + gap, model.log_marginal(x))
    assert (gap > 0).all()
    post_mean, post_cov = model.posterior(x)
    torch.testing.assert_close(model.elbo(x, post_mean, post_cov), model.log_marginal(x))


def test_elbo_matches_a_monte_carlo_estimate():
    model = make_model()
    x, _ = model.sample(3, torch.Generator().manual_seed(12))
    mean = torch.zeros(3, 2, dtype=D64)
    cov = torch.diag(torch.tensor([0.5, 0.2], dtype=D64))
    q = MultivariateNormal(mean, covariance_matrix=cov)
    torch.manual_seed(0)
    z = q.sample((200_000,))  # (L, N, J)
    terms = model.log_joint(x, z) - q.log_prob(z)
    mc, se = terms.mean(0), terms.std(0) / math.sqrt(z.shape[0])
    assert (torch.abs(mc - model.elbo(x, mean, cov)) < 5 * se).all()


def test_log_joint_is_the_sum_of_likelihood_and_prior():
    model = make_model()
    x, z = model.sample(4, torch.Generator().manual_seed(13))
    expected = Normal(z @ model.weight.T + model.bias, 0.7).log_prob(x).sum(-1) + Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(model.log_joint(x, z), expected)


def test_samples_have_the_marginal_covariance():
    model = make_model()
    x, z = model.sample(200_000, torch.Generator().manual_seed(14))
    torch.testing.assert_close(x.mean(0), model.bias, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), model.marginal_cov(), atol=0.06, rtol=0.02)
    assert x.shape == (200_000, 4) and z.shape == (200_000, 2)


def test_sizes_and_repr():
    model = make_model(d=6, j=3)
    assert (model.data_dim, model.latent_dim) == (6, 3)
    assert "D=6" in repr(model) and "J=3" in repr(model)
    torch.testing.assert_close(LinearGaussian(torch.ones(2, 1, dtype=D64)).bias, torch.zeros(2, dtype=D64))


def test_bad_arguments_raise_clear_errors():
    w = torch.ones(3, 2, dtype=D64)
    with pytest.raises(ValueError, match="weight"):
        LinearGaussian(torch.ones(3, dtype=D64))
    with pytest.raises(TypeError, match="weight"):
        LinearGaussian(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="bias"):
        LinearGaussian(w, torch.zeros(2, dtype=D64))
    with pytest.raises(TypeError, match="bias"):
        LinearGaussian(w, torch.zeros(3, dtype=torch.float32))
    with pytest.raises(ValueError, match="noise_std"):
        LinearGaussian(w, noise_std=0.0)
    with pytest.raises(TypeError, match="noise_std"):
        LinearGaussian(w, noise_std="1")
    model = LinearGaussian(w)
    with pytest.raises(ValueError, match="x must have shape"):
        model.log_marginal(torch.zeros(4, 2, dtype=D64))
    with pytest.raises(TypeError, match="dtype"):
        model.log_marginal(torch.zeros(4, 3, dtype=torch.float32))
    x = torch.zeros(4, 3, dtype=D64)
    with pytest.raises(ValueError, match="q_mean"):
        model.elbo(x, torch.zeros(4, 3, dtype=D64), torch.eye(2, dtype=D64))
    with pytest.raises(ValueError, match="q_cov"):
        model.elbo(x, torch.zeros(4, 2, dtype=D64), torch.eye(3, dtype=D64))
    with pytest.raises(ValueError, match="positive definite"):
        model.elbo(x, torch.zeros(4, 2, dtype=D64), torch.diag(torch.tensor([1.0, -1.0], dtype=D64)))
    with pytest.raises(ValueError, match="symmetric"):
        model.elbo(x, torch.zeros(4, 2, dtype=D64), torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=D64))
    with pytest.raises(ValueError, match="z must have shape"):
        model.log_likelihood(x, torch.zeros(3, 2, dtype=D64))
    with pytest.raises(ValueError, match=r"n \(the number of pairs to draw\) must be an int >= 1"):
        model.sample(0)
    with pytest.raises(TypeError, match=r"n \(the number of pairs to draw\) must be an int, got float"):
        model.sample(2.0)
    with pytest.raises(ValueError, match="same dimension"):
        kl_mvn(torch.zeros(2, dtype=D64), torch.eye(2, dtype=D64), torch.zeros(3, dtype=D64), torch.eye(3, dtype=D64))
    with pytest.raises(ValueError, match="finite"):
        model.log_marginal(torch.full((1, 3), float("nan"), dtype=D64))
