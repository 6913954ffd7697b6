"""Variational inference on small models: fitting a Gaussian to a 1-D mixture by forward or
reverse KL, and mean-field VI by coordinate ascent (CAVI).

- ``mixture_logpdf``: the log density of a 1-D Gaussian mixture (the target of the fits);
- ``fit_gaussian_kl``: the Gaussian q that minimises KL(p || q) ('forward', moment matching) or
  KL(q || p) ('reverse', numerically, mode-seeking);
- ``cavi_gaussian``: mean-field VI of a correlated Gaussian target (closed-form updates);
- ``cavi_normal_gamma``: mean-field VI for a univariate Gaussian with unknown mean and precision
  under a Normal-Gamma prior, with ``normal_gamma_posterior``, ``normal_gamma_log_evidence`` and
  ``normal_gamma_elbo`` for the exact answer and the bound.

The KL divergences themselves live in ``vae_course.kl``; the old names here
(``kl_discrete``, ``kl_normal``, ``kl_mvn``, ``kl_mixture_gaussian``) are deprecated aliases.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from . import kl as _kl
from ._deprecation import deprecated_alias
from .kl import _COARSE, _EPS, _W, _mixture, _mixture_logpdf_grad, _reverse_kl_derivatives
from .validation import check_array, check_choice, check_covariance, check_int, check_number

__all__ = [
    "MeanFieldGaussian",
    "MeanFieldNormalGamma",
    "cavi_gaussian",
    "cavi_normal_gamma",
    "fit_gaussian_kl",
    "mixture_logpdf",
    "normal_gamma_elbo",
    "normal_gamma_log_evidence",
    "normal_gamma_posterior",
]

_LOG_2PI = np.log(2.0 * np.pi)

kl_discrete = deprecated_alias(_kl.kl_discrete, "vae_course.inference.kl_discrete", "vae_course.kl.kl_discrete")
kl_normal = deprecated_alias(_kl.kl_normal, "vae_course.inference.kl_normal", "vae_course.kl.kl_normal")
kl_mvn = deprecated_alias(_kl.kl_mvn, "vae_course.inference.kl_mvn", "vae_course.kl.kl_mvn")
kl_mixture_gaussian = deprecated_alias(_kl.kl_mixture_gaussian, "vae_course.inference.kl_mixture_gaussian",
                                       "vae_course.kl.kl_mixture_gaussian")


# ----------------------------------------------------------------------------- 1-D mixtures


def mixture_logpdf(x, weights, means, stds):
    """log p(x) of the 1-D mixture sum_k weights[k] N(x | means[k], stds[k]^2), any shape of x.

    ``weights`` (K,) sum to 1, ``means`` (K,), ``stds`` (K,) > 0. Returns a float for a
    number, else an array of the shape of ``x``.
    """
    x = check_array("x", x)
    weights, means, stds = _mixture(weights, means, stds)
    out = _mixture_logpdf_grad(x, weights, means, stds)[0]
    return float(out) if out.ndim == 0 else out


def _saddle_free_step(g, H):
    """-|H|^{-1} g for a batch of 2x2 symmetric H, where |H| has the absolute eigenvalues of H:
    a descent direction even where H is not positive definite (near saddles and maxima)."""
    a, b, c = H[:, 0, 0], H[:, 0, 1], H[:, 1, 1]
    mid, disc = (a + c) / 2, np.sqrt(((a - c) / 2) ** 2 + b**2)
    lam1, lam2 = mid - disc, mid + disc
    theta = 0.5 * np.arctan2(2 * b, a - c)  # eigenvector of lam2 is (cos, sin)
    v2 = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    v1 = np.stack([-v2[:, 1], v2[:, 0]], axis=1)
    l1 = np.maximum(np.abs(lam1), 1e-8)[:, None]
    l2 = np.maximum(np.abs(lam2), 1e-8)[:, None]
    return -(v1 * np.sum(v1 * g, axis=1, keepdims=True) / l1 + v2 * np.sum(v2 * g, axis=1, keepdims=True) / l2)


def _minimise_reverse_kl(starts, weights, means, stds, rule=(_EPS, _W), gtol=1e-10, max_iter=100):
    """Minimise KL(q || p) from a batch of starts (S, 2) at once: saddle-free Newton steps with
    backtracking, vectorised over the starts. Returns the end points (S, 2) and their KL (S,).
    Plain numpy on 2x2 systems: fast and deterministic (scipy's L-BFGS-B can be slowed down a
    lot by BLAS threads on a busy machine)."""
    x = np.array(starts, dtype=np.float64).reshape(-1, 2)
    f, g, H = _reverse_kl_derivatives(x, weights, means, stds, True, rule)
    active = np.abs(g).max(axis=1) >= gtol
    for _ in range(max_iter):
        if not active.any():
            break
        step = _saddle_free_step(g, H)
        step *= np.minimum(1.0, 2.0 / np.maximum(np.abs(step).max(axis=1), 1e-300))[:, None]
        slope = np.sum(g * step, axis=1)
        t = np.ones(len(x))
        accepted = ~active
        x_new, f_new = x.copy(), f.copy()
        for _ in range(40):
            trial = x + t[:, None] * step
            f_trial = _reverse_kl_derivatives(trial, weights, means, stds, False, rule)[0]
            ok = ~accepted & (f_trial <= f + 1e-4 * t * slope)
            x_new[ok], f_new[ok] = trial[ok], f_trial[ok]
            accepted |= ok
            if accepted.all():
                break
            t = np.where(accepted, t, 0.5 * t)
        moved = active & accepted
        tiny = (f - f_new < 1e-14) & (np.abs(x_new - x).max(axis=1) < 1e-9)
        x, f = x_new, f_new
        f, g, H = _reverse_kl_derivatives(x, weights, means, stds, True, rule)
        active = moved & ~tiny & (np.abs(g).max(axis=1) >= gtol)  # no decrease possible: done
    return x, f


def fit_gaussian_kl(weights, means, stds, direction="forward"):
    """Fit q = N(mu, sigma^2) to the 1-D mixture p = sum_k weights[k] N(means[k], stds[k]^2).

    ``direction='forward'`` minimises KL(p || q): the exact answer matches moments,
    mu = E_p[x] and sigma^2 = Var_p[x] (mass-covering). ``direction='reverse'`` minimises
    KL(q || p) numerically (Newton's method on (mu, log sigma), expectations by quadrature
    on a fine grid, with exact derivatives), from one start at every component and one at the
    moment-matched fit; the best local minimum wins, typically one mode (mode-seeking).
    Returns ``(mu, sigma)`` as floats. A call takes a few milliseconds.
    """
    weights, means, stds = _mixture(weights, means, stds)
    mean = float(np.dot(weights, means))
    var = float(np.dot(weights, stds**2 + means**2) - mean**2)
    var = max(var, float(np.min(stds)) ** 2 * 1e-12)  # guards rounding; var >= min std^2 in exact arithmetic
    if check_choice("direction", direction, ("forward", "reverse"),
                    what="'forward' for KL(p||q), 'reverse' for KL(q||p)") == "forward":
        return mean, float(np.sqrt(var))
    starts = [(m, np.log(s)) for w, m, s in zip(weights, means, stds) if w > 0]
    starts.append((mean, 0.5 * np.log(var)))
    x, f = _minimise_reverse_kl(starts, weights, means, stds, rule=_COARSE, gtol=1e-6)  # cheap search
    best, _ = _minimise_reverse_kl(x[np.argmin(f)], weights, means, stds)  # polish the best end point
    return float(best[0, 0]), float(np.exp(best[0, 1]))


# ----------------------------------------------------------------------------- CAVI: Gaussian target


@dataclass
class MeanFieldGaussian:
    """The result of ``cavi_gaussian``: q(z) = prod_j N(z_j | means[j], variances[j]).

    ``elbo_history[t]`` is the ELBO after t sweeps (t = 0 is the initialisation);
    ``path`` holds the means after every single coordinate update, starting with the init
    ((1 + sweeps * d, d)); ``elbo_path`` the ELBO at the same moments.
    """

    means: np.ndarray
    variances: np.ndarray
    elbo_history: list
    path: np.ndarray
    elbo_path: list
    n_sweeps: int
    converged: bool


def _gaussian_elbo(m, v, mean, cov, chol):
    """ELBO of q = N(m, diag v) for the normalised target N(mean, cov): E_q log p + H(q) = -KL(q || p)."""
    d = len(m)
    inv = np.linalg.inv(cov)
    diff = mean - m
    logdet_p = 2 * np.sum(np.log(np.diag(chol)))
    kl = 0.5 * (np.sum(np.diag(inv) * v) + diff @ inv @ diff - d + logdet_p - np.sum(np.log(v)))
    return float(-kl)


def cavi_gaussian(mean, covariance, init=None, n_sweeps=100, tol=1e-12):
    """Mean-field VI (coordinate ascent) for a Gaussian target p(z) = N(mean, covariance).

    With the precision Lambda = covariance^{-1}, the optimal factor is
    q*(z_j) = N(m_j, 1 / Lambda_jj) with m_j = mean_j - (1 / Lambda_jj) sum_{i != j} Lambda_ji (m_i - mean_i):
    the variances are fixed at 1 / Lambda_jj (smaller than the true marginal variances when
    the target is correlated) and the means are updated one coordinate at a time.
    ``init``: starting means (d,) (default: zeros). Stops when a sweep raises the ELBO by less
    than ``tol`` or after ``n_sweeps`` sweeps. The target is normalised, so ELBO = -KL(q || p).
    """
    mean = check_array("mean", mean, ndim=1, nonempty=True)
    d = mean.shape[0]
    cov = check_array("covariance", covariance, shape=(d, d))
    chol = check_covariance("covariance", cov, batched=False)
    m = np.zeros(d) if init is None else check_array("init", init, ndim=1).copy()
    if m.shape != (d,):
        raise ValueError(f"init must have shape {(d,)} like mean, got {m.shape}")
    n_sweeps = check_int("n_sweeps", n_sweeps, minimum=1)
    tol = check_number("tol", tol, minimum=0)
    prec = np.linalg.inv(cov)
    v = 1.0 / np.diag(prec)
    elbo = _gaussian_elbo(m, v, mean, cov, chol)
    history, path, elbo_path = [elbo], [m.copy()], [elbo]
    converged, sweep = False, 0
    for sweep in range(1, n_sweeps + 1):
        for j in range(d):
            others = np.arange(d) != j
            m[j] = mean[j] - (prec[j, others] @ (m[others] - mean[others])) / prec[j, j]
            path.append(m.copy())
            elbo_path.append(_gaussian_elbo(m, v, mean, cov, chol))
        new = elbo_path[-1]
        history.append(new)
        if new - elbo < tol:
            converged = True
            break
        elbo = new
    return MeanFieldGaussian(m, v, history, np.array(path), elbo_path, sweep, converged)


# ----------------------------------------------------------------------------- CAVI: Normal-Gamma


def _check_prior(mu0, lambda0, a0, b0):
    return (check_number("mu0", mu0), check_number("lambda0", lambda0, positive=True), check_number("a0", a0, positive=True),
            check_number("b0", b0, positive=True))


def _check_data(x):
    x = check_array("x", x, ndim=1, nonempty=True, what="the observations")
    return x


def normal_gamma_posterior(x, mu0=0.0, lambda0=1.0, a0=1.0, b0=1.0):
    """The exact posterior of x_n ~ N(mu, 1/tau), mu | tau ~ N(mu0, 1/(lambda0 tau)), tau ~ Gamma(a0, b0).

    It is Normal-Gamma again; returns its parameters ``(mu_N, lambda_N, a_N, b_N)`` with
    mu_N = (lambda0 mu0 + N xbar)/(lambda0 + N), lambda_N = lambda0 + N, a_N = a0 + N/2,
    b_N = b0 + 1/2 sum (x_n - xbar)^2 + lambda0 N (xbar - mu0)^2 / (2 (lambda0 + N)).
    (Gamma uses the rate b: density b^a tau^(a-1) e^(-b tau) / Gamma(a).)
    """
    x = _check_data(x)
    mu0, lambda0, a0, b0 = _check_prior(mu0, lambda0, a0, b0)
    N, xbar = len(x), float(x.mean())
    mu_N = (lambda0 * mu0 + N * xbar) / (lambda0 + N)
    b_N = b0 + 0.5 * float(np.sum((x - xbar) ** 2)) + lambda0 * N * (xbar - mu0) ** 2 / (2 * (lambda0 + N))
    return mu_N, lambda0 + N, a0 + N / 2, b_N


def normal_gamma_log_evidence(x, mu0=0.0, lambda0=1.0, a0=1.0, b0=1.0):
    """log p(x_1..x_N) of the Normal-Gamma model, in closed form."""
    x = _check_data(x)
    mu0, lambda0, a0, b0 = _check_prior(mu0, lambda0, a0, b0)
    _, lam_n, a_n, b_n = normal_gamma_posterior(x, mu0, lambda0, a0, b0)
    N = len(x)
    return float(special.gammaln(a_n) - special.gammaln(a0) + a0 * np.log(b0) - a_n * np.log(b_n)
                 + 0.5 * np.log(lambda0 / lam_n) - 0.5 * N * _LOG_2PI)


def _ng_elbo(x, mu0, lambda0, a0, b0, m, lam, a, b):
    N = len(x)
    e_tau = a / b
    e_log_tau = special.digamma(a) - np.log(b)
    e_sq_data = np.sum((x - m) ** 2) + N / lam  # E_q(mu) sum_n (x_n - mu)^2
    e_sq_prior = (m - mu0) ** 2 + 1.0 / lam  # E_q(mu) (mu - mu0)^2
    e_log_lik = 0.5 * N * (e_log_tau - _LOG_2PI) - 0.5 * e_tau * e_sq_data
    e_log_prior_mu = 0.5 * (np.log(lambda0) + e_log_tau - _LOG_2PI) - 0.5 * lambda0 * e_tau * e_sq_prior
    e_log_prior_tau = a0 * np.log(b0) - special.gammaln(a0) + (a0 - 1) * e_log_tau - b0 * e_tau
    h_mu = 0.5 * (_LOG_2PI + 1.0 - np.log(lam))
    h_tau = a - np.log(b) + special.gammaln(a) + (1 - a) * special.digamma(a)
    return float(e_log_lik + e_log_prior_mu + e_log_prior_tau + h_mu + h_tau)


def normal_gamma_elbo(x, m, lam, a, b, mu0=0.0, lambda0=1.0, a0=1.0, b0=1.0):
    """The ELBO E_q[log p(x, mu, tau)] - E_q[log q(mu) q(tau)] of q(mu) = N(m, 1/lam), q(tau) = Gamma(a, b)."""
    x = _check_data(x)
    mu0, lambda0, a0, b0 = _check_prior(mu0, lambda0, a0, b0)
    m = check_number("m", m)
    lam, a, b = check_number("lam", lam, positive=True), check_number("a", a, positive=True), check_number("b", b, positive=True)
    return _ng_elbo(x, mu0, lambda0, a0, b0, m, lam, a, b)


@dataclass
class MeanFieldNormalGamma:
    """The result of ``cavi_normal_gamma``: q(mu) = N(m, 1/lam) and q(tau) = Gamma(a, b) (rate b).

    ``elbo_history[t]``: the ELBO after t sweeps (t = 0: the initial q); ``elbo_steps``: the
    ELBO after every single factor update (init, q(mu), q(tau), q(mu), ...).
    """

    m: float
    lam: float
    a: float
    b: float
    elbo_history: list
    elbo_steps: list = field(default_factory=list)
    n_sweeps: int = 0
    converged: bool = False


def cavi_normal_gamma(x, mu0=0.0, lambda0=1.0, a0=1.0, b0=1.0, init=None, n_sweeps=100, tol=1e-12):
    """CAVI for x_n ~ N(mu, 1/tau), mu | tau ~ N(mu0, 1/(lambda0 tau)), tau ~ Gamma(a0, b0), q = q(mu) q(tau).

    Each sweep updates, with E[tau] = a/b under q(tau),
      q(mu)  = N(m, 1/lam):  m = (lambda0 mu0 + N xbar)/(lambda0 + N), lam = (lambda0 + N) E[tau];
      q(tau) = Gamma(a, b):  a = a0 + (N + 1)/2,
                             b = b0 + 1/2 E_mu[sum_n (x_n - mu)^2 + lambda0 (mu - mu0)^2].
    ``init``: a dict with keys 'm', 'lam', 'a', 'b' for the initial q (default: the prior's
    values mu0, lambda0, a0, b0). Stops when a sweep raises the ELBO by less than ``tol``.
    """
    x = _check_data(x)
    mu0, lambda0, a0, b0 = _check_prior(mu0, lambda0, a0, b0)
    n_sweeps = check_int("n_sweeps", n_sweeps, minimum=1)
    tol = check_number("tol", tol, minimum=0)
    if init is None:
        m, lam, a, b = mu0, lambda0, a0, b0
    else:
        if not isinstance(init, dict) or set(init) != {"m", "lam", "a", "b"}:
            raise ValueError("init must be a dict with exactly the keys 'm', 'lam', 'a', 'b'")
        m = check_number("init['m']", init["m"])
        lam, a, b = (check_number(f"init[{k!r}]", init[k], positive=True) for k in ("lam", "a", "b"))
    N, xbar = len(x), float(x.mean())

    def elbo_now():
        return _ng_elbo(x, mu0, lambda0, a0, b0, m, lam, a, b)

    elbo = elbo_now()
    history, steps = [elbo], [elbo]
    converged, sweep = False, 0
    for sweep in range(1, n_sweeps + 1):
        # q(mu): E_tau[log p] is quadratic in mu
        m = (lambda0 * mu0 + N * xbar) / (lambda0 + N)
        lam = (lambda0 + N) * a / b
        steps.append(elbo_now())
        # q(tau): E_mu[log p] is (a - 1) log tau - b tau
        a = a0 + (N + 1) / 2
        b = b0 + 0.5 * (np.sum((x - m) ** 2) + N / lam + lambda0 * ((m - mu0) ** 2 + 1 / lam))
        new = elbo_now()
        steps.append(new)
        history.append(new)
        if new - elbo < tol:
            converged = True
            break
        elbo = new
    return MeanFieldNormalGamma(float(m), float(lam), float(a), float(b), history, steps, sweep, converged)
