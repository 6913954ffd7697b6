"""A mixture-of-Gaussians prior, where KL(q || p) has no closed form (notebook 06).

The prior is the same one-dimensional mixture for every latent dimension,
p(z) = prod_j sum_k pi_k N(z_j; m_k, s_k^2), and q = N(mu, diag exp(logvar)) is the encoder's
diagonal Gaussian. The KL divergence between them has no closed form, so it is estimated:

- ``kl_to_mixture_mc``: Monte Carlo with reparameterised samples z = mu + sigma * eps, one
  estimate per sample (differentiable in mu and logvar), as SGVB estimator A does;
- ``kl_to_mixture_quadrature``: Gauss-Hermite quadrature per dimension, a deterministic
  reference accurate to many digits for smooth log densities.

    >>> w, m, s = torch.tensor([0.5, 0.5]), torch.tensor([-2.0, 2.0]), torch.tensor([0.5, 0.5])
    >>> kl_to_mixture_quadrature(torch.zeros(1, 3), torch.zeros(1, 3), w, m, s)   # one value per row
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .validation import check_int, check_probability_vector, check_tensor

__all__ = ["mixture_log_prob", "kl_to_mixture_mc", "kl_to_mixture_quadrature"]


def _tensor(name, value, ndim=None):
    return check_tensor(name, value, ndim=ndim, finite=True)


def _check_mixture(weights, means, stds):
    for name, t in (("weights", weights), ("means", means), ("stds", stds)):
        _tensor(name, t, ndim=1)
    k = len(weights)
    if k == 0 or len(means) != k or len(stds) != k:
        raise ValueError(
            f"weights, means and stds must be 1-D with the same number K >= 1 of components, "
            f"got {len(weights)}, {len(means)} and {len(stds)}"
        )
    check_tensor("weights", weights, positive=True)
    check_probability_vector("weights", weights)
    check_tensor("stds", stds, positive=True)


def _check_q(mu, logvar):
    _tensor("mu", mu)
    _tensor("logvar", logvar)
    if mu.shape != logvar.shape or mu.dim() < 1:
        raise ValueError(f"mu and logvar must have the same shape (..., J), got {tuple(mu.shape)} and {tuple(logvar.shape)}")


def mixture_log_prob(z: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, stds: torch.Tensor) -> torch.Tensor:
    """log sum_k pi_k N(z; m_k, s_k^2) for every element of ``z`` (same shape as ``z``), by log-sum-exp."""
    check_tensor("z", z)
    _check_mixture(weights, means, stds)
    w, m, s = (t.to(z.dtype) for t in (weights, means, stds))
    zz = z.unsqueeze(-1)
    log_comp = torch.log(w) - 0.5 * math.log(2 * math.pi) - torch.log(s) - 0.5 * ((zz - m) / s) ** 2
    return torch.logsumexp(log_comp, dim=-1)


def _log_q(z, mu, logvar):
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / logvar.exp())


def kl_to_mixture_mc(mu, logvar, weights, means, stds, num_samples: int, generator=None) -> torch.Tensor:
    """Monte Carlo estimates of KL(N(mu, diag exp(logvar)) || mixture prior), one per sample.

    ``mu`` and ``logvar`` have shape (..., J); the result has shape (num_samples, ...): for each
    sample z = mu + exp(logvar / 2) * eps, the sum over the J dimensions of log q(z) - log p(z).
    Each estimate is unbiased and differentiable in ``mu`` and ``logvar``.
    """
    _check_q(mu, logvar)
    _check_mixture(weights, means, stds)
    num_samples = check_int("num_samples", num_samples, minimum=1)
    eps = torch.randn((num_samples, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps
    return (_log_q(z, mu, logvar) - mixture_log_prob(z, weights, means, stds)).sum(-1)


def kl_to_mixture_quadrature(mu, logvar, weights, means, stds, num_nodes: int = 200) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || mixture prior) by Gauss-Hermite quadrature, shape ``mu.shape[:-1]``.

    For each dimension, E_q[log q(z) - log p(z)] = E_eps[g(mu + sigma eps)] with eps ~ N(0, 1) is
    a weighted sum over ``num_nodes`` probabilists' Hermite nodes (exact for polynomials of degree
    below 2 * num_nodes); the dimensions are summed.
    """
    _check_q(mu, logvar)
    _check_mixture(weights, means, stds)
    num_nodes = check_int("num_nodes", num_nodes, minimum=2, maximum=1000)
    nodes, w = np.polynomial.hermite_e.hermegauss(num_nodes)
    nodes = torch.as_tensor(nodes, dtype=mu.dtype, device=mu.device)
    w = torch.as_tensor(w / w.sum(), dtype=mu.dtype, device=mu.device)
    z = mu.unsqueeze(-1) + torch.exp(0.5 * logvar).unsqueeze(-1) * nodes          # (..., J, nodes)
    g = _log_q(z, mu.unsqueeze(-1), logvar.unsqueeze(-1)) - mixture_log_prob(z, weights, means, stds)
    return (g * w).sum(-1).sum(-1)
