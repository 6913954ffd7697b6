"""Monte Carlo estimators of the ELBO and of gradients of expectations (notebook 06).

Gradients of E_{q_phi(z)}[f(z)] for a Gaussian q_phi = N(mu, sigma^2) (elementwise, i.e. a
diagonal Gaussian), one estimate per sample so that means AND variances can be measured. The
gradients are with respect to (mu, sigma); q's spread may be given as ``sigma`` or, by
keyword, as ``logvar`` (the course's convention, see ``vae_course``):

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

from .kl import kl_diag_gaussian_to_standard_normal
from .validation import check_callable, check_choice, check_generator, check_int, check_number, check_same_shape, \
    check_tensor

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


def _check_mu_sigma(mu, sigma, logvar=None):
    """(mu, sigma): sigma given, or computed from ``logvar`` (exactly one of the two)."""
    check_tensor("mu", mu, finite=True)
    if (sigma is None) == (logvar is None):
        raise TypeError("give exactly one of sigma (the standard deviation) and logvar= (the log-variance); "
                        f"got {'both' if sigma is not None else 'neither'}")
    if sigma is None:
        check_tensor("logvar", logvar, finite=True)
        check_same_shape(("mu", "logvar"), mu, logvar)
        sigma = torch.exp(0.5 * logvar)
    check_tensor("sigma", sigma, positive=True, finite=True, what="the standard deviation")
    check_same_shape(("mu", "sigma"), mu, sigma)
    if mu.dtype != sigma.dtype:
        raise TypeError(f"mu and sigma must have the same dtype, got {mu.dtype} and {sigma.dtype}")
    return sigma


def _noise(mu, num_samples, eps, generator):
    """eps of shape (L, *mu.shape): given, or drawn from N(0, I)."""
    if eps is not None:
        if num_samples is not None:
            raise ValueError("give either num_samples or eps, not both")
        check_tensor("eps", eps, finite=True)
        if eps.dim() != mu.dim() + 1 or eps.shape[1:] != mu.shape or eps.shape[0] < 1:
            raise ValueError(f"eps must have shape (L, {', '.join(map(str, mu.shape))}) with L >= 1, got {tuple(eps.shape)}")
        return eps.to(dtype=mu.dtype, device=mu.device)
    if num_samples is None:
        raise ValueError("give num_samples (an int >= 1) or eps")
    num_samples = check_int("num_samples", num_samples, minimum=1)
    check_generator("generator", generator)
    return torch.randn((num_samples, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)


def _evaluate(f, z):
    check_callable("f", f, what="f(z) -> one value per sample")
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
    sigma = _check_mu_sigma(mu, sigma)
    check_tensor("z", z, finite=True)
    u = (z - mu) / sigma
    return GradientSamples(mu=u / sigma, sigma=(u.pow(2) - 1) / sigma)


def reparameterize(mu: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = g_phi(eps) = mu + sigma * eps: a sample of N(mu, sigma^2) that is a differentiable
    function of (mu, sigma); ``eps`` ~ N(0, I) carries all the randomness."""
    sigma = _check_mu_sigma(mu, sigma)
    check_tensor("eps", eps, finite=True)
    return mu + sigma * eps


def score_function_gradients(
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: torch.Tensor,
    sigma: torch.Tensor | None = None,
    num_samples: int | None = None,
    eps: torch.Tensor | None = None,
    baseline: float | str = 0.0,
    generator: torch.Generator | None = None,
    *,
    logvar: torch.Tensor | None = None,
) -> GradientSamples:
    """Score-function (REINFORCE) estimates of grad_{mu, sigma} E_{N(mu, sigma^2)}[f(z)].

    Each sample l gives (f(z_l) - b) * grad log q(z_l), with z_l = mu + sigma * eps_l. Only
    values of f are needed (f need not be differentiable). ``baseline`` b is a number
    (0 gives the plain estimator) or ``"leave-one-out"``: b_l = the mean of f over the other
    L - 1 samples, which keeps the estimator unbiased (needs L >= 2).

    ``f`` maps z of shape (L, *mu.shape) to L values. Give ``num_samples`` (eps drawn with
    ``generator``) or ``eps`` itself (shape (L, *mu.shape)). Returns per-sample estimates of
    shape (L, *mu.shape); their mean over dim 0 is the L-sample estimate. q's spread is
    ``sigma`` or, by keyword, ``logvar``; the gradients are with respect to (mu, sigma) either way.
    """
    sigma = _check_mu_sigma(mu, sigma, logvar)
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
        else:
            b = torch.full_like(values, check_number("baseline", baseline, what="a number or 'leave-one-out'"))
        score = gaussian_score(z, mu.detach(), sigma.detach())
        weight = (values - b).reshape(-1, *([1] * mu.dim()))
        return GradientSamples(mu=weight * score.mu, sigma=weight * score.sigma)


def pathwise_gradients(
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: torch.Tensor,
    sigma: torch.Tensor | None = None,
    num_samples: int | None = None,
    eps: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    *,
    logvar: torch.Tensor | None = None,
) -> GradientSamples:
    """Reparameterization (pathwise) estimates of grad_{mu, sigma} E_{N(mu, sigma^2)}[f(z)].

    With z_l = mu + sigma * eps_l, sample l gives grad_mu f(z_l) = f'(z_l) and
    grad_sigma f(z_l) = f'(z_l) * eps_l (chain rule). ``f`` must be differentiable in torch and
    map z of shape (L, *mu.shape) to L values, value l depending on z_l only. Returns
    per-sample estimates of shape (L, *mu.shape). q's spread is ``sigma`` or, by keyword,
    ``logvar``; the gradients are with respect to (mu, sigma) either way.
    """
    sigma = _check_mu_sigma(mu, sigma, logvar)
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
    logvar: torch.Tensor | None = None,
    log_likelihood: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    num_samples: int = 1,
    kl: str = "analytic",
    generator: torch.Generator | None = None,
    *,
    sigma: torch.Tensor | None = None,
) -> torch.Tensor:
    """The SGVB estimate of the ELBO of each data point, with L = ``num_samples`` samples.

    q_phi(z | x^(i)) = N(mu_i, diag(exp(logvar_i))), prior p(z) = N(0, I), and
    z^(i,l) = mu_i + exp(logvar_i / 2) * eps^(i,l) with eps ~ N(0, I).

    * ``kl="analytic"`` (the paper's estimator B, usually the lower variance):
      -KL(q || p) + 1/L sum_l log p(x^(i) | z^(i,l)), the KL in closed form;
    * ``kl="mc"`` (estimator A, for any pair of families):
      1/L sum_l [log p(x^(i) | z^(i,l)) + log p(z^(i,l)) - log q(z^(i,l) | x^(i))].

    ``log_likelihood(x, z)`` returns log p_theta(x^(i) | z^(i)) per example (shape (M,)) for
    z of shape (M, J). q's spread is ``logvar`` or, by keyword, ``sigma``. Gradients flow to
    mu, logvar (or sigma) and the decoder. The KL's reference distribution is the prior
    N(0, I). Returns shape (M,).

    For a trained ``models.VAE`` use ``vae_course.evaluation.elbo(model, x)``, which calls the
    encoder and decoder itself.
    """
    check_tensor("x", x, finite=True)
    check_tensor("mu", mu, shape=("M", "J"), finite=True)
    if (logvar is None) == (sigma is None):
        raise TypeError("give exactly one of logvar (the log-variances) and sigma= (the standard deviations, by "
                        f"keyword); got {'both' if logvar is not None else 'neither'}")
    if sigma is not None:
        check_tensor("sigma", sigma, positive=True, finite=True)
        check_same_shape(("mu", "sigma"), mu, sigma)
        logvar = 2 * torch.log(sigma)
    check_tensor("logvar", logvar, finite=True)
    check_same_shape(("mu", "logvar"), mu, logvar)
    if x.shape[0] != mu.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples but mu has {mu.shape[0]}")
    check_callable("log_likelihood", log_likelihood, what="called as log_likelihood(x, z) -> shape (M,)")
    num_samples = check_int("num_samples", num_samples, minimum=1, what="L")
    check_choice("kl", kl, ("analytic", "mc"))
    check_generator("generator", generator)
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
        estimate = estimate - kl_diag_gaussian_to_standard_normal(mu, logvar)
    return estimate


def minibatch_elbo(elbo_per_example: torch.Tensor, dataset_size: int) -> torch.Tensor:
    """The minibatch estimate (N / M) * sum_{i in batch} ELBO_i of the data set's ELBO
    sum_{i=1}^N ELBO_i (unbiased when the M examples are drawn uniformly).

    ``elbo_per_example`` has shape (M,); ``dataset_size`` is N >= M.
    """
    check_tensor("elbo_per_example", elbo_per_example, shape=("M",), nonempty=True, finite=True)
    dataset_size = check_int("dataset_size", dataset_size, minimum=1, what="N")
    m = elbo_per_example.shape[0]
    if dataset_size < m:
        raise ValueError(f"dataset_size (N) must be >= the minibatch size M = {m}, got {dataset_size}")
    return dataset_size / m * elbo_per_example.sum()
