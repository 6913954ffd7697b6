"""Monte Carlo estimators of the ELBO and of gradients of expectations (notebook 06).

Gradients of E_{q_phi(z)}[f(z)] for a Gaussian q_phi = N(mu, sigma^2) (elementwise, i.e. a
diagonal Gaussian), one estimate per sample so that means AND variances can be measured:

* ``score_function_gradients``: the score-function (REINFORCE, likelihood-ratio) estimator
  (f(z) - b) * grad_phi log q_phi(z), with an optional baseline b;
* ``pathwise_gradients``: the reparameterization (pathwise) estimator
  grad_phi f(g_phi(eps)) with z = g_phi(eps) = mu + sigma * eps, eps ~ N(0, I).

ELBO estimators of Kingma & Welling (2014), under the course's conventions (log-densities
summed over pixels and latent dimensions):

* ``sgvb_elbo``: the SGVB estimate of the ELBO of each data point with L samples, with the
  KL term in closed form (``kl="analytic"``) or by Monte Carlo (``kl="mc"``);
* ``minibatch_elbo``: the minibatch estimate (N / M) * sum_i ELBO_i of the whole data set's ELBO.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch

from . import losses

__all__ = [
    "GradientSamples",
    "gaussian_score",
    "reparameterize",
    "score_function_gradients",
    "pathwise_gradients",
    "sgvb_elbo",
    "minibatch_elbo",
]

_LOG_2PI = math.log(2 * math.pi)


class GradientSamples(NamedTuple):
    """Per-sample gradient estimates, each of shape (L, *param_shape): average over dim 0
    for the estimate with L samples, take ``.var(0)`` for the per-sample variance."""

    mu: torch.Tensor
    sigma: torch.Tensor


# ----------------------------------------------------------------------------- checks


def _check_tensor(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")


def _check_mu_sigma(mu, sigma):
    _check_tensor("mu", mu)
    _check_tensor("sigma", sigma)
    if mu.shape != sigma.shape:
        raise ValueError(f"mu and sigma must have the same shape, got {tuple(mu.shape)} and {tuple(sigma.shape)}")
    if mu.dtype != sigma.dtype:
        raise TypeError(f"mu and sigma must have the same dtype, got {mu.dtype} and {sigma.dtype}")
    if not (sigma > 0).all():
        raise ValueError("sigma (the standard deviation) must be > 0 everywhere")


def _noise(mu, num_samples, eps, generator):
    """eps of shape (L, *mu.shape): given, or drawn from N(0, I)."""
    if eps is not None:
        if num_samples is not None:
            raise ValueError("give either num_samples or eps, not both")
        _check_tensor("eps", eps)
        if eps.dim() != mu.dim() + 1 or eps.shape[1:] != mu.shape or eps.shape[0] < 1:
            raise ValueError(f"eps must have shape (L, {', '.join(map(str, mu.shape))}) with L >= 1, got {tuple(eps.shape)}")
        return eps.to(dtype=mu.dtype, device=mu.device)
    if num_samples is None:
        raise ValueError("give num_samples (an int >= 1) or eps")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int):
        raise TypeError(f"num_samples must be an int, got {type(num_samples).__name__}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    return torch.randn((num_samples, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)


def _evaluate(f, z):
    if not callable(f):
        raise TypeError("f must be callable as f(z) -> one value per sample")
    values = f(z)
    if not isinstance(values, torch.Tensor) or values.shape != (z.shape[0],):
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(f"f(z) must return a tensor of shape ({z.shape[0]},), one value per sample; got {shape}")
    return values


# ----------------------------------------------------------------------------- gradient estimators


def gaussian_score(z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> GradientSamples:
    """The score grad log N(z; mu, sigma^2) with respect to mu and to sigma, elementwise:

    d/dmu = (z - mu) / sigma^2,    d/dsigma = ((z - mu)^2 / sigma^2 - 1) / sigma.

    ``z`` is (L, *mu.shape) (or broadcastable to it); both outputs have the shape of ``z``.
    """
    _check_mu_sigma(mu, sigma)
    _check_tensor("z", z)
    u = (z - mu) / sigma
    return GradientSamples(mu=u / sigma, sigma=(u.pow(2) - 1) / sigma)


def reparameterize(mu: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = g_phi(eps) = mu + sigma * eps: a sample of N(mu, sigma^2) that is a differentiable
    function of (mu, sigma); ``eps`` ~ N(0, I) carries all the randomness."""
    _check_mu_sigma(mu, sigma)
    _check_tensor("eps", eps)
    return mu + sigma * eps


def score_function_gradients(
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: torch.Tensor,
    sigma: torch.Tensor,
    num_samples: int | None = None,
    eps: torch.Tensor | None = None,
    baseline: float | str = 0.0,
    generator: torch.Generator | None = None,
) -> GradientSamples:
    """Score-function (REINFORCE) estimates of grad_{mu, sigma} E_{N(mu, sigma^2)}[f(z)].

    Each sample l gives (f(z_l) - b) * grad log q(z_l), with z_l = mu + sigma * eps_l. Only
    values of f are needed (f need not be differentiable). ``baseline`` b is a number
    (0 gives the plain estimator) or ``"leave-one-out"``: b_l = the mean of f over the other
    L - 1 samples, which keeps the estimator unbiased (needs L >= 2).

    ``f`` maps z of shape (L, *mu.shape) to L values. Give ``num_samples`` (eps drawn with
    ``generator``) or ``eps`` itself (shape (L, *mu.shape)). Returns per-sample estimates of
    shape (L, *mu.shape); their mean over dim 0 is the L-sample estimate.
    """
    _check_mu_sigma(mu, sigma)
    eps = _noise(mu, num_samples, eps, generator)
    with torch.no_grad():
        z = mu.detach() + sigma.detach() * eps
        values = _evaluate(f, z).detach()
        if isinstance(baseline, str):
            if baseline != "leave-one-out":
                raise ValueError(f"baseline must be a number or 'leave-one-out', got {baseline!r}")
            n = values.shape[0]
            if n < 2:
                raise ValueError("baseline='leave-one-out' needs at least 2 samples")
            b = (values.sum() - values) / (n - 1)
        elif isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
            raise TypeError(f"baseline must be a number or 'leave-one-out', got {type(baseline).__name__}")
        elif not math.isfinite(baseline):
            raise ValueError(f"baseline must be finite, got {baseline}")
        else:
            b = torch.full_like(values, float(baseline))
        score = gaussian_score(z, mu.detach(), sigma.detach())
        weight = (values - b).reshape(-1, *([1] * mu.dim()))
        return GradientSamples(mu=weight * score.mu, sigma=weight * score.sigma)


def pathwise_gradients(
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: torch.Tensor,
    sigma: torch.Tensor,
    num_samples: int | None = None,
    eps: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> GradientSamples:
    """Reparameterization (pathwise) estimates of grad_{mu, sigma} E_{N(mu, sigma^2)}[f(z)].

    With z_l = mu + sigma * eps_l, sample l gives grad_mu f(z_l) = f'(z_l) and
    grad_sigma f(z_l) = f'(z_l) * eps_l (chain rule). ``f`` must be differentiable in torch and
    map z of shape (L, *mu.shape) to L values, value l depending on z_l only. Returns
    per-sample estimates of shape (L, *mu.shape).
    """
    _check_mu_sigma(mu, sigma)
    eps = _noise(mu, num_samples, eps, generator)
    with torch.enable_grad():
        z = (mu.detach() + sigma.detach() * eps).requires_grad_(True)
        values = _evaluate(f, z)
        if not values.requires_grad:
            raise ValueError("f(z) does not depend on z through torch operations; the pathwise estimator needs a differentiable f")
        (dz,) = torch.autograd.grad(values.sum(), z)
    return GradientSamples(mu=dz, sigma=dz * eps)


# ----------------------------------------------------------------------------- ELBO estimators


def sgvb_elbo(
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_likelihood: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    num_samples: int = 1,
    kl: str = "analytic",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The SGVB estimate of the ELBO of each data point, with L = ``num_samples`` samples.

    q_phi(z | x^(i)) = N(mu_i, diag(exp(logvar_i))), prior p(z) = N(0, I), and
    z^(i,l) = mu_i + exp(logvar_i / 2) * eps^(i,l) with eps ~ N(0, I).

    * ``kl="analytic"`` (the paper's estimator B, usually the lower variance):
      -KL(q || p) + 1/L sum_l log p(x^(i) | z^(i,l)), the KL in closed form;
    * ``kl="mc"`` (estimator A, for any pair of families):
      1/L sum_l [log p(x^(i) | z^(i,l)) + log p(z^(i,l)) - log q(z^(i,l) | x^(i))].

    ``log_likelihood(x, z)`` returns log p_theta(x^(i) | z^(i)) per example (shape (M,)) for
    z of shape (M, J). Gradients flow to mu, logvar and the decoder. Returns shape (M,).
    """
    _check_tensor("x", x)
    _check_tensor("mu", mu)
    _check_tensor("logvar", logvar)
    if mu.dim() != 2 or mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must both have shape (M, J), got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if x.shape[0] != mu.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples but mu has {mu.shape[0]}")
    if not callable(log_likelihood):
        raise TypeError("log_likelihood must be callable as log_likelihood(x, z) -> shape (M,)")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int):
        raise TypeError(f"num_samples must be an int, got {type(num_samples).__name__}")
    if num_samples < 1:
        raise ValueError(f"num_samples (L) must be >= 1, got {num_samples}")
    if kl not in ("analytic", "mc"):
        raise ValueError(f"kl must be 'analytic' or 'mc', got {kl!r}")
    std = torch.exp(0.5 * logvar)
    total = torch.zeros(mu.shape[0], dtype=mu.dtype, device=mu.device)
    for _ in range(num_samples):
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + std * eps
        ll = log_likelihood(x, z)
        if not isinstance(ll, torch.Tensor) or ll.shape != (mu.shape[0],):
            shape = tuple(ll.shape) if isinstance(ll, torch.Tensor) else type(ll).__name__
            raise ValueError(f"log_likelihood(x, z) must return shape ({mu.shape[0]},), got {shape}")
        total = total + ll
        if kl == "mc":
            log_prior = -0.5 * (z.pow(2) + _LOG_2PI).sum(1)
            log_q = -0.5 * (eps.pow(2) + logvar + _LOG_2PI).sum(1)
            total = total + log_prior - log_q
    estimate = total / num_samples
    if kl == "analytic":
        estimate = estimate - losses.gaussian_kl(mu, logvar)
    return estimate


def minibatch_elbo(elbo_per_example: torch.Tensor, dataset_size: int) -> torch.Tensor:
    """The minibatch estimate (N / M) * sum_{i in batch} ELBO_i of the data set's ELBO
    sum_{i=1}^N ELBO_i (unbiased when the M examples are drawn uniformly).

    ``elbo_per_example`` has shape (M,); ``dataset_size`` is N >= M.
    """
    _check_tensor("elbo_per_example", elbo_per_example)
    if elbo_per_example.dim() != 1 or elbo_per_example.shape[0] < 1:
        raise ValueError(f"elbo_per_example must have shape (M,) with M >= 1, got {tuple(elbo_per_example.shape)}")
    if isinstance(dataset_size, bool) or not isinstance(dataset_size, int):
        raise TypeError(f"dataset_size must be an int, got {type(dataset_size).__name__}")
    m = elbo_per_example.shape[0]
    if dataset_size < m:
        raise ValueError(f"dataset_size (N) must be >= the minibatch size M = {m}, got {dataset_size}")
    return dataset_size / m * elbo_per_example.sum()
