"""A latent-variable model where everything is tractable: the linear-Gaussian model
(probabilistic PCA when the noise is isotropic),

    z ~ N(0, I_J),        x | z ~ N(W z + b, s^2 I_D),

with ``W`` of shape (D, J). Its marginal p(x), its posterior p(z | x) and the ELBO of any
Gaussian q(z) are closed forms, so the gap log p(x) - ELBO(q) = KL(q || p(z | x)) can be
measured exactly (notebook 05) and Monte Carlo estimators can be checked against exact
values (notebook 06).

Tensors are batched along the first dimension: ``x`` is (N, D), a Gaussian q(z) is given
by ``q_mean`` (N, J) and ``q_cov`` (J, J) shared by every point or (N, J, J) per point.
Use float64 for checks to many digits.
"""
from __future__ import annotations

import math

import torch

from ._deprecation import deprecated_alias
from .kl import kl_mvn
from .validation import check_covariance, check_generator, check_int, check_number, check_tensor

__all__ = ["LinearGaussian"]

_LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- checks


def _check_float_tensor(name, t, dim=None):
    check_tensor(name, t, ndim=dim, finite=True)


def _cholesky(name, cov):
    return check_covariance(name, cov)


def _logdet_from_chol(chol):
    return 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)


gaussian_kl_full = deprecated_alias(kl_mvn, "vae_course.linear_gaussian.gaussian_kl_full", "vae_course.kl.kl_mvn")


# ----------------------------------------------------------------------------- the model


class LinearGaussian:
    """The linear-Gaussian latent model z ~ N(0, I_J), x | z ~ N(W z + b, noise_std^2 I_D).

    Parameters
    ----------
    weight : tensor (D, J)
        The decoder's matrix W (theta = (W, b, noise_std)).
    bias : tensor (D,) or None
        The offset b (zeros when None).
    noise_std : float > 0
        The decoder's noise standard deviation s.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None, noise_std: float = 1.0):
        _check_float_tensor("weight", weight, 2)
        d, j = weight.shape
        if d < 1 or j < 1:
            raise ValueError(f"weight must have shape (D, J) with D, J >= 1, got {tuple(weight.shape)}")
        if bias is None:
            bias = torch.zeros(d, dtype=weight.dtype)
        _check_float_tensor("bias", bias, 1)
        if bias.shape != (d,):
            raise ValueError(f"bias must have shape ({d},) to match weight {tuple(weight.shape)}, got {tuple(bias.shape)}")
        if bias.dtype != weight.dtype:
            raise TypeError(f"bias must have the dtype of weight ({weight.dtype}), got {bias.dtype}")
        noise_std = check_number("noise_std", noise_std, positive=True, what="the decoder's noise standard deviation")
        self.weight, self.bias, self.noise_std = weight, bias, noise_std

    # --------------------------------------------------------------- sizes and checks

    @property
    def data_dim(self) -> int:
        """D, the dimension of x."""
        return self.weight.shape[0]

    @property
    def latent_dim(self) -> int:
        """J, the dimension of z."""
        return self.weight.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's tensors; inputs must have it too."""
        return self.weight.dtype

    def __repr__(self) -> str:
        return f"LinearGaussian(D={self.data_dim}, J={self.latent_dim}, noise_std={self.noise_std:g})"

    def _check_x(self, x, name="x"):
        _check_float_tensor(name, x, 2)
        if x.shape[1] != self.data_dim:
            raise ValueError(f"{name} must have shape (N, {self.data_dim}), got {tuple(x.shape)}")
        if x.dtype != self.dtype:
            raise TypeError(f"{name} must have the model's dtype {self.dtype}, got {x.dtype}")

    def _check_q(self, q_mean, q_cov, n=None):
        _check_float_tensor("q_mean", q_mean, 2)
        j = self.latent_dim
        if q_mean.shape[1] != j or (n is not None and q_mean.shape[0] != n):
            want = f"({n if n is not None else 'N'}, {j})"
            raise ValueError(f"q_mean must have shape {want}, got {tuple(q_mean.shape)}")
        _check_float_tensor("q_cov", q_cov, (2, 3))
        if q_cov.shape not in ((j, j), (q_mean.shape[0], j, j)):
            raise ValueError(
                f"q_cov must have shape ({j}, {j}) (shared) or ({q_mean.shape[0]}, {j}, {j}) (one per point), "
                f"got {tuple(q_cov.shape)}"
            )
        for name, t in (("q_mean", q_mean), ("q_cov", q_cov)):
            if t.dtype != self.dtype:
                raise TypeError(f"{name} must have the model's dtype {self.dtype}, got {t.dtype}")
        return _cholesky("q_cov", q_cov)

    # --------------------------------------------------------------- exact quantities

    def marginal_cov(self) -> torch.Tensor:
        """Cov[x] = W W^T + s^2 I (D x D)."""
        return self.weight @ self.weight.T + self.noise_std**2 * torch.eye(self.data_dim, dtype=self.dtype)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = log N(x; b, W W^T + s^2 I), one value per row of ``x`` (shape (N,))."""
        self._check_x(x)
        chol = torch.linalg.cholesky(self.marginal_cov())
        r = torch.linalg.solve_triangular(chol, (x - self.bias).T, upper=False)  # D x N
        return -0.5 * (r.pow(2).sum(0) + _logdet_from_chol(chol) + self.data_dim * _LOG_2PI)

    def posterior_precision(self) -> torch.Tensor:
        """The posterior precision I + W^T W / s^2 (J x J), the same for every x."""
        return torch.eye(self.latent_dim, dtype=self.dtype) + self.weight.T @ self.weight / self.noise_std**2

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | x) = N(mean, cov): ``mean`` (N, J) = cov W^T (x - b) / s^2 and ``cov`` (J, J)."""
        self._check_x(x)
        cov = torch.linalg.inv(self.posterior_precision())
        cov = 0.5 * (cov + cov.T)
        mean = (x - self.bias) @ self.weight @ cov / self.noise_std**2
        return mean, cov

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` pairs from the model: ``(x, z)`` of shapes (n, D) and (n, J)."""
        n = check_int("n", n, minimum=1, what="the number of pairs to draw")
        check_generator("generator", generator)
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=self.dtype)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=self.dtype)
        return z @ self.weight.T + self.bias + self.noise_std * noise, z

    # --------------------------------------------------------------- densities at given z

    def _check_z(self, z, n):
        _check_float_tensor("z", z)
        if z.dim() < 2 or z.shape[-1] != self.latent_dim or z.shape[-2] != n:
            raise ValueError(f"z must have shape (..., {n}, {self.latent_dim}) to match x, got {tuple(z.shape)}")
        if z.dtype != self.dtype:
            raise TypeError(f"z must have the model's dtype {self.dtype}, got {z.dtype}")

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = log N(x; W z + b, s^2 I). ``z`` is (..., N, J); returns (..., N)."""
        self._check_x(x)
        self._check_z(z, x.shape[0])
        mean = z @ self.weight.T + self.bias
        s2 = self.noise_std**2
        return -0.5 * ((x - mean).pow(2).sum(-1) / s2 + self.data_dim * (_LOG_2PI + math.log(s2)))

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = log N(z; 0, I), summed over the J coordinates (shape z.shape[:-1])."""
        _check_float_tensor("z", z)
        if z.dim() < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have shape (..., {self.latent_dim}), got {tuple(z.shape)}")
        return -0.5 * (z.pow(2).sum(-1) + self.latent_dim * _LOG_2PI)

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) = log p(x | z) + log p(z); ``z`` is (..., N, J), returns (..., N)."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    # --------------------------------------------------------------- the ELBO of a Gaussian q

    def expected_log_likelihood(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """E_q[log p(x | z)] for q = N(q_mean, q_cov), in closed form (shape (N,)):

        -D/2 log(2 pi s^2) - ( ||x - b - W m||^2 + tr(W S W^T) ) / (2 s^2).
        """
        self._check_x(x)
        self._check_q(q_mean, q_cov, n=x.shape[0])
        s2 = self.noise_std**2
        resid = (x - self.bias - q_mean @ self.weight.T).pow(2).sum(-1)
        trace = torch.einsum("dj,...jk,dk->...", self.weight, q_cov, self.weight)
        return -0.5 * (self.data_dim * (_LOG_2PI + math.log(s2)) + (resid + trace) / s2)

    def kl_to_prior(self, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """KL(q || p(z)) = 1/2 (tr S + ||m||^2 - J - log det S) for q = N(m, S) (shape (N,)).

        Reference distribution: the prior p(z) = N(0, I_J). ``q_mean`` is (N, J), ``q_cov``
        (J, J) shared or (N, J, J), symmetric positive definite, in the model's dtype.
        """
        chol = self._check_q(q_mean, q_cov)
        trace = torch.diagonal(q_cov, dim1=-2, dim2=-1).sum(-1)
        return 0.5 * (trace + q_mean.pow(2).sum(-1) - self.latent_dim - _logdet_from_chol(chol))

    def elbo(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """ELBO(q) = E_q[log p(x | z)] - KL(q || p(z)), exactly, one value per point (shape (N,)).

        The ELBO entry point for the tractable model. ``x`` (N, D); q = N(q_mean, q_cov) with
        ``q_mean`` (N, J) and ``q_cov`` (J, J) or (N, J, J). The KL's reference distribution is
        the prior N(0, I_J). For a neural model use ``vae_course.evaluation.elbo(model, x)``.
        """
        return self.expected_log_likelihood(x, q_mean, q_cov) - self.kl_to_prior(q_mean, q_cov)

    def kl_to_posterior(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """KL(q || p(z | x)) in closed form (shape (N,)); equals log p(x) - ELBO(q).

        Reference distribution: the exact posterior p(z | x) of each point (``posterior``);
        computed with ``vae_course.kl.kl_mvn``.
        """
        self._check_x(x)
        self._check_q(q_mean, q_cov, n=x.shape[0])
        post_mean, post_cov = self.posterior(x)
        return kl_mvn(q_mean, q_cov, post_mean, post_cov)
