"""Losses of the course under one convention:

    per example, SUM over pixels (log-likelihoods) and over latent dimensions (KL);
    over a minibatch, the MEAN over examples.

So ``negative_elbo(...).total`` is an estimate of -ELBO in nats per example, and
multiplying it by N gives the dataset's negative ELBO.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "LossParts",
    "gaussian_kl",
    "bernoulli_log_likelihood",
    "gaussian_log_likelihood",
    "negative_elbo",
    "check_beta",
]

_LOG_2PI = math.log(2 * math.pi)


class LossParts(NamedTuple):
    """The negative ELBO and its parts, each the mean over the batch of a per-example sum."""

    total: torch.Tensor
    reconstruction: torch.Tensor  # -E_q[log p(x|z)], one-sample estimate
    kl: torch.Tensor  # KL(q(z|x) || p(z)), unweighted


def _check_tensor(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")


def check_beta(beta) -> float:
    """Validate the KL weight beta of the beta-VAE objective (beta = 1 is the ELBO)."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) and not (isinstance(beta, torch.Tensor) and beta.dim() == 0):
        raise TypeError(f"beta must be a number, got {type(beta).__name__}")
    beta = float(beta)
    if not beta >= 0 or math.isinf(beta):
        raise ValueError(f"beta (the KL weight) must be a finite number >= 0, got {beta}")
    return beta


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, per_dim: bool = False) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form.

    = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)), one value per example (shape
    (batch,)); ``per_dim=True`` returns the terms before the sum (batch, J).
    """
    _check_tensor("mu", mu)
    _check_tensor("logvar", logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if mu.dim() != 2:
        raise ValueError(f"mu must have shape (batch, J), got {tuple(mu.shape)}")
    terms = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    return terms if per_dim else terms.sum(dim=1)


def _check_pair(x, out, name_out):
    _check_tensor("x", x)
    _check_tensor(name_out, out)
    if x.shape != out.shape:
        raise ValueError(f"x and {name_out} must have the same shape, got {tuple(x.shape)} and {tuple(out.shape)}")
    if x.dim() < 2:
        raise ValueError(f"x must have a batch dimension and at least one data dimension, got shape {tuple(x.shape)}")


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | z) = sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)], p = sigmoid(logits), per example.

    Takes logits (not probabilities) for numerical stability. ``x`` must be in [0, 1]. Grey
    levels are accepted (the cross-entropy loss commonly used on MNIST), but only binary x
    make this a normalised log-probability.
    """
    _check_pair(x, logits, "logits")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"x must hold values in [0, 1] for a Bernoulli likelihood, got min {x.min().item():.3g} "
            f"and max {x.max().item():.3g}"
        )
    ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return ll.flatten(1).sum(dim=1)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, sigma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """log N(x; mean, sigma^2 I) per example, summed over dimensions, constant included:

    -1/2 * sum_i [(x_i - mean_i)^2 / sigma^2 + log(2 pi sigma^2)].
    ``sigma`` is a positive number or a positive tensor broadcastable to ``x``.
    """
    _check_pair(x, mean, "mean")
    if isinstance(sigma, torch.Tensor):
        if (sigma <= 0).any():
            raise ValueError("sigma must be > 0 everywhere")
        var = sigma.pow(2)
        log_var = torch.log(var)
    else:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
            raise TypeError(f"sigma must be a number or a tensor, got {type(sigma).__name__}")
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        var = float(sigma) ** 2
        log_var = math.log(var)
    ll = -0.5 * ((x - mean).pow(2) / var + log_var + _LOG_2PI)
    return ll.flatten(1).sum(dim=1)


def negative_elbo(log_likelihood: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0) -> LossParts:
    """-ELBO = -log p(x|z) + beta * KL(q(z|x) || p(z)), each part averaged over the batch.

    ``log_likelihood`` is the per-example log p(x | z) (shape (batch,)) for z ~ q(z | x);
    ``beta = 1`` gives the ELBO, other values the beta-VAE objective.
    """
    _check_tensor("log_likelihood", log_likelihood)
    if log_likelihood.dim() != 1:
        raise ValueError(f"log_likelihood must have shape (batch,), got {tuple(log_likelihood.shape)}")
    beta = check_beta(beta)
    kl = gaussian_kl(mu, logvar)
    if kl.shape != log_likelihood.shape:
        raise ValueError(f"log_likelihood has {len(log_likelihood)} examples but mu has {len(mu)}")
    rec = -log_likelihood.mean()
    kl = kl.mean()
    return LossParts(rec + beta * kl, rec, kl)
