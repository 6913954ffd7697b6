"""Losses of the course under one convention:

    per example, SUM over pixels (log-likelihoods) and over latent dimensions (KL);
    over a minibatch, the MEAN over examples.

So ``negative_elbo(...).total`` is an estimate of -ELBO in nats per example, and
multiplying it by N gives the dataset's negative ELBO. The KL term is
``vae_course.kl.kl_diag_gaussian_to_standard_normal`` (``gaussian_kl`` here is its
deprecated old name).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ._deprecation import deprecated_alias
from .kl import kl_diag_gaussian_to_standard_normal
from .validation import check_number, check_same_shape, check_tensor

__all__ = [
    "LossParts",
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


def check_beta(beta) -> float:
    """Validate the KL weight beta of the beta-VAE objective (beta = 1 is the ELBO); return it as a float.

    beta must be a finite number >= 0 (a zero-dimensional tensor counts as a number).
    """
    return check_number("beta", beta, minimum=0, what="the KL weight")


gaussian_kl = deprecated_alias(kl_diag_gaussian_to_standard_normal, "vae_course.losses.gaussian_kl",
                               "vae_course.kl.kl_diag_gaussian_to_standard_normal")


def _check_pair(x, out, name_out):
    check_tensor("x", x, finite=True)
    check_tensor(name_out, out, finite=True)
    check_same_shape(("x", name_out), x, out)
    if x.dim() < 2:
        raise ValueError(f"x must have a batch dimension and at least one data dimension, got shape {tuple(x.shape)}")


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | z) = sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)], p = sigmoid(logits), per example.

    ``x`` (batch, ...) holds values in [0, 1]; ``logits`` has the same shape (logits, not
    probabilities, for numerical stability). Both must be finite. Grey levels are accepted
    (the cross-entropy loss commonly used on MNIST), but only binary x make this a
    normalised log-probability. Returns shape (batch,): summed over every data dimension.
    """
    _check_pair(x, logits, "logits")
    check_tensor("x", x, minimum=0.0, maximum=1.0, what="the data of a Bernoulli likelihood")
    ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return ll.flatten(1).sum(dim=1)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, sigma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """log N(x; mean, sigma^2 I) per example, summed over dimensions, constant included:

    -1/2 * sum_i [(x_i - mean_i)^2 / sigma^2 + log(2 pi sigma^2)].

    ``x`` and ``mean`` are finite tensors of the same shape (batch, ...). ``sigma`` is a
    finite number > 0 or a finite positive tensor that broadcasts to the shape of ``x``
    (without enlarging it: one sigma per pixel, per example or in total). Returns shape (batch,).
    """
    _check_pair(x, mean, "mean")
    if isinstance(sigma, torch.Tensor):
        check_tensor("sigma", sigma, positive=True, finite=True, what="the standard deviation")
        try:
            ok = torch.broadcast_shapes(sigma.shape, x.shape) == x.shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"sigma must broadcast to the shape of x {tuple(x.shape)} (e.g. shape "
                             f"{tuple(x.shape[1:])}, (batch, 1, ...) or a single value), got shape {tuple(sigma.shape)}")
        var = sigma.pow(2)
        log_var = torch.log(var)
    else:
        sigma = check_number("sigma", sigma, positive=True, what="the standard deviation")
        var = sigma**2
        log_var = 2 * math.log(sigma)
    ll = -0.5 * ((x - mean).pow(2) / var + log_var + _LOG_2PI)
    return ll.flatten(1).sum(dim=1)


def negative_elbo(log_likelihood: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0) -> LossParts:
    """The training loss from its parts: -log p(x|z) + beta * KL(q(z|x) || N(0, I)), batch means.

    This assembles the loss of a model whose pieces are already computed (``VAE.loss`` uses
    it); to evaluate a trained model use ``vae_course.evaluation.elbo(model, x)``.
    ``log_likelihood`` is the per-example log p(x | z) (shape (batch,)) for one z ~ q(z | x);
    ``mu``, ``logvar`` (batch, J) are q's parameters; the KL's reference distribution is the
    prior N(0, I) (``kl.kl_diag_gaussian_to_standard_normal``). ``beta = 1`` gives the negative
    ELBO, other values the beta-VAE objective. Returns ``LossParts(total, reconstruction, kl)``.
    """
    check_tensor("log_likelihood", log_likelihood, ndim=1, finite=True, what="log p(x | z) per example")
    beta = check_beta(beta)
    kl = kl_diag_gaussian_to_standard_normal(mu, logvar)
    if kl.shape != log_likelihood.shape:
        raise ValueError(f"log_likelihood has {len(log_likelihood)} examples but mu has {len(mu)}")
    rec = -log_likelihood.mean()
    kl = kl.mean()
    return LossParts(rec + beta * kl, rec, kl)
