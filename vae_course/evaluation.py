"""Evaluating a trained VAE beyond its training loss: log p(x) bounds and latent diagnostics.

This is the ELBO entry point for neural models: ``elbo(model, x, num_samples)``. (The
tractable linear-Gaussian model has its exact ``LinearGaussian.elbo(x, q_mean, q_cov)``;
``estimators.sgvb_elbo`` is the SGVB estimator itself, taught in notebook 06.)

- ``elbo``: the ELBO per example, E_q[log p(x|z)] (Monte Carlo, L samples) - KL (closed form);
- ``importance_weighted_bound``: the bound of Burda et al. (2016),

      L_S(x) = E[ log (1/S) sum_s p(x, z_s) / q(z_s | x) ],   z_1..z_S ~ q(z | x) independently,

  with L_1 = ELBO <= L_S <= L_{S+1} <= log p(x), and L_S -> log p(x) as S grows;
- ``kl_per_dimension`` and ``active_units``: which latent dimensions carry information
  (a dimension whose KL is ~0 for every x has collapsed onto the prior).

They work for ``vae_course.models.VAE`` with either likelihood. All values are in nats,
returned per example as float64 tensors on the CPU. The work is split into chunks, so a
large S does not need memory for S decoded copies of the data at once.

For the Bernoulli likelihood on grey levels (the cross-entropy loss usual on MNIST) these
numbers are not log-probabilities of the data: only binary x make p(x | z) normalised.
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch

from .kl import kl_diag_gaussian_to_standard_normal
from .models import VAE, ConditionalVAE
from .validation import check_generator, check_images, check_int, check_number

__all__ = ["elbo", "importance_weighted_bound", "kl_per_dimension", "active_units", "ActiveUnits"]

_LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- argument checks


def _check_model(model):
    if isinstance(model, ConditionalVAE) or not isinstance(model, VAE):
        raise TypeError(
            "model must be a vae_course.models.VAE (an unconditional VAE), "
            f"got {type(model).__name__}"
        )


def _check_data(model, x):
    """The images as (N, C, H, W) (flat vectors are reshaped), finite, at least one, in [0, 1] for Bernoulli."""
    bernoulli = model.likelihood == "bernoulli"
    return check_images("x", x, model.image_shape, finite=True, nonempty=True,
                        minimum=0.0 if bernoulli else None, maximum=1.0 if bernoulli else None,
                        what="images for a Bernoulli decoder" if bernoulli else "images")


# ----------------------------------------------------------------------------- the sampling core


@torch.no_grad()
def _per_example(model, x, num_samples, batch_size, generator, reduce):
    """Run ``reduce(log_lik, log_ratio, mu, logvar)`` chunk by chunk and concatenate the results.

    For each example, ``num_samples`` codes z = mu + sigma * eps are drawn from q(z | x);
    ``log_lik`` (S, b) holds log p(x | z) and ``log_ratio`` (S, b) holds log p(z) - log q(z | x).
    At most ``batch_size`` images are decoded in one pass.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        per_chunk = max(1, batch_size // num_samples)  # examples per chunk
        step = min(num_samples, batch_size)  # samples per decoder pass
        results = []
        for start in range(0, len(x), per_chunk):
            xb = x[start : start + per_chunk].to(device)
            b = len(xb)
            mu, logvar = model.encode(xb)
            std = torch.exp(0.5 * logvar)
            log_lik, log_ratio = [], []
            for s0 in range(0, num_samples, step):
                s = min(step, num_samples - s0)
                eps = torch.randn(
                    (s, b, model.latent_dim),
                    generator=generator,
                    device=generator.device if generator is not None else device,
                    dtype=mu.dtype,
                ).to(device)
                z = mu + std * eps  # (s, b, J)
                out = model.decode(z.reshape(s * b, -1))
                x_rep = xb.unsqueeze(0).expand(s, *xb.shape).reshape(s * b, *xb.shape[1:])
                log_lik.append(model.log_likelihood(x_rep, out).view(s, b))
                # log N(z; 0, I) - log N(z; mu, sigma^2): the 2 pi terms cancel.
                log_ratio.append(0.5 * (eps.pow(2) + logvar - z.pow(2)).sum(dim=-1))
            results.append(reduce(torch.cat(log_lik).double(), torch.cat(log_ratio).double(), mu, logvar).cpu())
        return torch.cat(results)
    finally:
        model.train(was_training)


# ----------------------------------------------------------------------------- public functions


def elbo(model, x: torch.Tensor, num_samples: int = 1, batch_size: int = 4096, generator=None) -> torch.Tensor:
    """The ELBO of each image in nats: (1/L) sum_l log p(x | z_l) - KL(q(z | x) || p(z)).

    ``model`` is a ``vae_course.models.VAE``; ``x`` its images (N, C, H, W) or flat (N, C*H*W),
    finite, in [0, 1] for a Bernoulli decoder. The reconstruction term is a Monte Carlo
    estimate with ``num_samples`` = L codes z_l ~ q(z | x), drawn from ``generator`` (or
    torch's global generator when None); the KL term is the closed form, its reference
    distribution the prior p(z) = N(0, I). At most ``batch_size`` images are decoded in one
    pass. Returns a float64 tensor of shape (N,) on the CPU (the negative of the training loss).
    """
    _check_model(model)
    x = _check_data(model, x)
    num_samples = check_int("num_samples", num_samples, minimum=1, what="the number L of Monte Carlo samples per image")
    batch_size = check_int("batch_size", batch_size, minimum=1, what="the largest number of images decoded in one pass")
    check_generator("generator", generator)

    def reduce(log_lik, log_ratio, mu, logvar):
        return log_lik.mean(dim=0) - kl_diag_gaussian_to_standard_normal(mu, logvar).double()

    return _per_example(model, x, num_samples, batch_size, generator, reduce)


def importance_weighted_bound(model, x: torch.Tensor, S: int | None = None, batch_size: int = 4096, generator=None,
                              *, K: int | None = None) -> torch.Tensor:
    """The importance-weighted lower bound on log p(x) of each image, in nats.

    One estimate per image of  L_S = log (1/S) sum_s p(x | z_s) p(z_s) / q(z_s | x)  with
    z_s ~ q(z | x) drawn independently (the proposal is the encoder): ``S`` importance
    samples per image, as in the course's notation. Its expectation is the ELBO for S = 1,
    rises with S and tends to log p(x). The log-mean-exp is taken in float64. At most
    ``batch_size`` images are decoded in one pass (lower it to save memory). Returns a
    float64 tensor of shape (N,) on the CPU; ``-bound.mean()`` is an estimate (from above,
    in expectation) of the negative log-likelihood in nats per image.

    ``S`` defaults to 100. ``K=`` is the keyword's earlier name; it still works and warns
    (``DeprecationWarning``).
    """
    if K is not None:
        if S is not None:
            raise TypeError("importance_weighted_bound: give the number of importance samples once, as S "
                            "(K is its deprecated name)")
        warnings.warn("importance_weighted_bound(K=...) is deprecated: the number of importance samples is S",
                      DeprecationWarning, stacklevel=2)
        S = K
    elif S is None:
        S = 100
    _check_model(model)
    x = _check_data(model, x)
    S = check_int("S", S, minimum=1, what="the number of importance samples per image")
    batch_size = check_int("batch_size", batch_size, minimum=1, what="the largest number of images decoded in one pass")
    check_generator("generator", generator)

    def reduce(log_lik, log_ratio, mu, logvar):
        return torch.logsumexp(log_lik + log_ratio, dim=0) - math.log(S)

    return _per_example(model, x, S, batch_size, generator, reduce)


@torch.no_grad()
def _encode_all(model, x, batch_size):
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        mus, logvars = [], []
        for start in range(0, len(x), batch_size):
            mu, logvar = model.encode(x[start : start + batch_size].to(device))
            mus.append(mu.double().cpu())
            logvars.append(logvar.double().cpu())
        return torch.cat(mus), torch.cat(logvars)
    finally:
        model.train(was_training)


def kl_per_dimension(model, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """KL(q(z_j | x) || N(0, 1)) for each latent dimension j, averaged over the images ``x``.

    Returns a float64 tensor of shape (J,) on the CPU; its sum is the mean KL term of the
    ELBO. A dimension whose value is close to 0 has collapsed onto the prior: the encoder
    says the same thing about it for every image, so it carries no information about x.
    """
    _check_model(model)
    x = _check_data(model, x)
    batch_size = check_int("batch_size", batch_size, minimum=1, what="the number of images encoded in one pass")
    mu, logvar = _encode_all(model, x, batch_size)
    return kl_diag_gaussian_to_standard_normal(mu, logvar, per_dim=True).mean(dim=0)


class ActiveUnits(NamedTuple):
    """How many latent dimensions are active, and the activity Var_x(E_q[z_j | x]) of each."""

    count: int
    activity: torch.Tensor


def active_units(model, x: torch.Tensor, threshold: float = 0.01, batch_size: int = 1024) -> ActiveUnits:
    """Count the active latent dimensions (Burda et al., 2016).

    Dimension j is active when the variance over the images of the posterior mean,
    Var_x(mu_j(x)), exceeds ``threshold`` (0.01 in the paper): its code moves with the input.
    Needs at least two images.
    """
    _check_model(model)
    x = _check_data(model, x)
    batch_size = check_int("batch_size", batch_size, minimum=1, what="the number of images encoded in one pass")
    threshold = check_number("threshold", threshold, minimum=0)
    if len(x) < 2:
        raise ValueError(f"x must hold at least two images to measure a variance, got {len(x)}")
    mu, _ = _encode_all(model, x, batch_size)
    activity = mu.var(dim=0, unbiased=True)
    return ActiveUnits(int((activity > threshold).sum()), activity)
