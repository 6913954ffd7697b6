"""KL divergences, fitting a Gaussian by forward or reverse KL, and mean-field VI (CAVI).

- ``kl_discrete(p, q)``: KL(p || q) = sum_x p(x) log(p(x) / q(x)) for probability vectors;
- ``kl_normal`` / ``kl_mvn``: KL between two (univariate / multivariate) Gaussians, closed form;
- ``mixture_logpdf``: the log density of a 1-D Gaussian mixture;
- ``kl_mixture_gaussian``: KL(p || q) or KL(q || p) between a 1-D mixture p and a Gaussian q;
- ``fit_gaussian_kl``: the Gaussian q that minimises KL(p || q) ('forward', moment matching) or
  KL(q || p) ('reverse', numerically, mode-seeking);
- ``cavi_gaussian``: mean-field VI of a correlated Gaussian target (closed-form updates);
- ``cavi_normal_gamma``: mean-field VI for a univariate Gaussian with unknown mean and precision
  under a Normal-Gamma prior, with ``normal_gamma_posterior``, ``normal_gamma_log_evidence`` and
  ``normal_gamma_elbo`` for the exact answer and the bound.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy import special

__all__ = [
    "MeanFieldGaussian",
    "MeanFieldNormalGamma",
    "cavi_gaussian",
    "cavi_normal_gamma",
    "fit_gaussian_kl",
    "kl_discrete",
    "kl_mixture_gaussian",
    "kl_mvn",
    "kl_normal",
    "mixture_logpdf",
    "normal_gamma_elbo",
    "normal_gamma_log_evidence",
    "normal_gamma_posterior",
]

_LOG_2PI = np.log(2.0 * np.pi)
# E_{N(m, s^2)}[f(z)] ~ sum_i w_i f(m + s * eps_i): the trapezoid rule on a fine grid of
# standardised points eps_i in [-10, 10]. It copes with the sharp bends of log p(z) between
# well-separated modes, where Gauss-Hermite quadrature with a wide q is off by 1e-2.
def _trapezoid_rule(n, half_width):
    eps = np.linspace(-half_width, half_width, n)
    return eps, np.exp(-0.5 * eps**2) / np.sqrt(2.0 * np.pi) * (eps[1] - eps[0])


_EPS, _W = _trapezoid_rule(2001, 10.0)  # accurate: for values and the final polish
_COARSE = _trapezoid_rule(321, 8.0)  # cheap: for the search from several starts


# ----------------------------------------------------------------------------- checks


def _array(name, value, ndim=None):
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a number or an array of numbers, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as err:
        raise TypeError(f"{name} must be an array of numbers: {err}") from err
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) \
            or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; it holds NaN or inf values")
    return arr


def _positive(name, value):
    arr = _array(name, value)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {value}")
    return arr


def _scalar(name, value, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _probability_vector(name, p):
    p = _array(name, p)
    if p.ndim < 1 or p.shape[-1] < 1:
        raise ValueError(f"{name} must be a probability vector (at least one entry), got shape {p.shape}")
    if np.any(p < 0):
        raise ValueError(f"{name} must be non-negative")
    if not np.allclose(p.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError(f"{name} must sum to 1 along its last axis (within 1e-6), sums are {p.sum(axis=-1)}")
    return p


def _mixture(weights, means, stds):
    weights = _probability_vector("weights", weights)
    if weights.ndim != 1:
        raise ValueError(f"weights must be a 1-D array (K,), got shape {weights.shape}")
    means = _array("means", means, 1)
    stds = _array("stds", stds, 1)
    K = weights.shape[0]
    if means.shape != (K,) or stds.shape != (K,):
        raise ValueError(
            f"weights, means and stds must have the same length K; got {weights.shape}, {means.shape}, {stds.shape}"
        )
    if np.any(stds <= 0):
        raise ValueError(f"stds must all be > 0, got {stds}")
    return weights, means, stds


# ----------------------------------------------------------------------------- KL divergences


def kl_discrete(p, q):
    """KL(p || q) = sum_x p(x) log(p(x) / q(x)) along the last axis, in nats.

    Terms with p(x) = 0 count 0 (0 log 0 = 0); p(x) > 0 where q(x) = 0 gives +inf.
    ``p`` and ``q`` are probability vectors of the same shape (or stacks of them, (..., n)).
    """
    p = _probability_vector("p", p)
    q = _probability_vector("q", q)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    out = terms.sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def kl_normal(mu_p, sigma_p, mu_q, sigma_q):
    """KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)) in closed form (broadcasts over arrays).

    = log(sigma_q / sigma_p) + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 1/2.
    """
    mu_p, mu_q = _array("mu_p", mu_p), _array("mu_q", mu_q)
    sigma_p, sigma_q = _positive("sigma_p", sigma_p), _positive("sigma_q", sigma_q)
    out = np.log(sigma_q / sigma_p) + (sigma_p**2 + (mu_p - mu_q) ** 2) / (2 * sigma_q**2) - 0.5
    return float(out) if np.ndim(out) == 0 else out


def _check_mvn(prefix, mean, cov):
    mean = _array(f"mean_{prefix}", mean, 1)
    cov = _array(f"cov_{prefix}", cov, 2)
    d = mean.shape[0]
    if cov.shape != (d, d):
        raise ValueError(f"cov_{prefix} must have shape {(d, d)} to match mean_{prefix}, got {cov.shape}")
    if not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12):
        raise ValueError(f"cov_{prefix} must be symmetric")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError(f"cov_{prefix} must be positive definite (smallest eigenvalue "
                         f"{np.linalg.eigvalsh(cov).min():.3g})") from None
    return mean, cov, chol


def kl_mvn(mean_p, cov_p, mean_q, cov_q):
    """KL(N(mean_p, cov_p) || N(mean_q, cov_q)) for d-dimensional Gaussians, closed form.

    = 1/2 [tr(S_q^{-1} S_p) + (m_q - m_p)^T S_q^{-1} (m_q - m_p) - d + log det S_q - log det S_p].
    """
    mean_p, cov_p, chol_p = _check_mvn("p", mean_p, cov_p)
    mean_q, cov_q, chol_q = _check_mvn("q", mean_q, cov_q)
    if mean_p.shape != mean_q.shape:
        raise ValueError(f"mean_p and mean_q must have the same dimension, got {mean_p.shape} and {mean_q.shape}")
    d = mean_p.shape[0]
    inv_q = np.linalg.inv(cov_q)
    diff = mean_q - mean_p
    logdet_p = 2 * np.sum(np.log(np.diag(chol_p)))
    logdet_q = 2 * np.sum(np.log(np.diag(chol_q)))
    return float(0.5 * (np.trace(inv_q @ cov_p) + diff @ inv_q @ diff - d + logdet_q - logdet_p))


# ----------------------------------------------------------------------------- 1-D mixtures


def _mixture_logpdf_grad(z, weights, means, stds, hessian=False):
    """log p(z), d/dz log p(z) (and d2/dz2 log p(z)) of a 1-D mixture, no checks; z any shape."""
    z = np.asarray(z, dtype=np.float64)[..., None]
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    u = (z - means) / stds
    log_terms = log_w - np.log(stds) - 0.5 * _LOG_2PI - 0.5 * u**2
    top = log_terms.max(axis=-1)
    log_p = top + np.log(np.exp(log_terms - top[..., None]).sum(axis=-1))  # log-sum-exp over components
    post = np.exp(log_terms - log_p[..., None])  # p(k | z)
    slope = -u / stds  # d/dz log N(z | mu_k, s_k^2)
    grad = np.sum(post * slope, axis=-1)
    if not hessian:
        return log_p, grad
    curv = np.sum(post * (slope**2 - 1.0 / stds**2), axis=-1) - grad**2  # p''/p - (p'/p)^2
    return log_p, grad, curv


def mixture_logpdf(x, weights, means, stds):
    """log p(x) of the 1-D mixture sum_k weights[k] N(x | means[k], stds[k]^2), any shape of x."""
    x = _array("x", x)
    weights, means, stds = _mixture(weights, means, stds)
    out = _mixture_logpdf_grad(x, weights, means, stds)[0]
    return float(out) if out.ndim == 0 else out


def _reverse_kl_derivatives(params, weights, means, stds, hessian=False, rule=(_EPS, _W)):
    """KL(q || p) for q = N(mu, exp(log_sigma)^2), with its gradient (and Hessian) in (mu, log_sigma).

    ``params`` is (2,) or a batch (S, 2). With z = mu + sigma * eps:
    KL = -H(q) - E[log p(z)], where H(q) = 1/2 log(2 pi e) + log sigma.
    """
    eps, w = rule
    params = np.asarray(params, dtype=np.float64)
    mu, log_sigma = params[..., 0:1], params[..., 1:2]
    sigma = np.exp(log_sigma)
    out = _mixture_logpdf_grad(mu + sigma * eps, weights, means, stds, hessian)
    log_p, g = out[0], out[1]
    kl = -0.5 * (_LOG_2PI + 1.0) - log_sigma[..., 0] - log_p @ w
    e_g_eps = (g * eps) @ w
    grad = np.stack([-(g @ w), -1.0 - sigma[..., 0] * e_g_eps], axis=-1)
    if not hessian:
        return kl, grad
    h = out[2]
    s = sigma[..., 0]
    h_ms = -s * ((h * eps) @ w)
    hess = np.stack([np.stack([-(h @ w), h_ms], axis=-1),
                     np.stack([h_ms, -s * e_g_eps - s**2 * ((h * eps**2) @ w)], axis=-1)], axis=-2)
    return kl, grad, hess


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


def _forward_kl(mu, sigma, weights, means, stds):
    """KL(p || q): E_p[log p] by quadrature per component, E_p[log q] in closed form."""
    z = means[:, None] + stds[:, None] * _EPS[None, :]  # (K, nodes)
    log_p = _mixture_logpdf_grad(z, weights, means, stds)[0]
    e_log_p = np.sum(weights * (log_p @ _W))
    e_log_q = np.sum(weights * (-0.5 * _LOG_2PI - np.log(sigma) - ((means - mu) ** 2 + stds**2) / (2 * sigma**2)))
    return float(e_log_p - e_log_q)


def _direction(direction):
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be 'forward' (KL(p||q)) or 'reverse' (KL(q||p)), got {direction!r}")
    return direction


def kl_mixture_gaussian(weights, means, stds, mu, sigma, direction="forward"):
    """KL between the 1-D mixture p (weights, means, stds) and q = N(mu, sigma^2).

    ``direction='forward'``: KL(p || q); ``'reverse'``: KL(q || p). The parts that have a
    closed form use it; the expectations of log p use the trapezoid rule on 2001 points within
    10 standard deviations (accurate to about 1e-6 or better for mixtures with a few components).
    """
    weights, means, stds = _mixture(weights, means, stds)
    mu = _scalar("mu", mu)
    sigma = _scalar("sigma", sigma, positive=True)
    if _direction(direction) == "forward":
        return _forward_kl(mu, sigma, weights, means, stds)
    return float(_reverse_kl_derivatives(np.array([mu, np.log(sigma)]), weights, means, stds)[0])


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
    if _direction(direction) == "forward":
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
    mean, cov, chol = _check_mvn("target", mean, covariance)
    d = mean.shape[0]
    m = np.zeros(d) if init is None else _array("init", init, 1).copy()
    if m.shape != (d,):
        raise ValueError(f"init must have shape {(d,)} like mean, got {m.shape}")
    n_sweeps = _int("n_sweeps", n_sweeps, 1)
    tol = _scalar("tol", tol)
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
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
    return (_scalar("mu0", mu0), _scalar("lambda0", lambda0, True), _scalar("a0", a0, True),
            _scalar("b0", b0, True))


def _check_data(x):
    x = _array("x", x, 1)
    if x.shape[0] < 1:
        raise ValueError("x must hold at least one observation")
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
    m = _scalar("m", m)
    lam, a, b = _scalar("lam", lam, True), _scalar("a", a, True), _scalar("b", b, True)
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
    n_sweeps = _int("n_sweeps", n_sweeps, 1)
    tol = _scalar("tol", tol)
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if init is None:
        m, lam, a, b = mu0, lambda0, a0, b0
    else:
        if not isinstance(init, dict) or set(init) != {"m", "lam", "a", "b"}:
            raise ValueError("init must be a dict with exactly the keys 'm', 'lam', 'a', 'b'")
        m = _scalar("init['m']", init["m"])
        lam, a, b = (_scalar(f"init[{k!r}]", init[k], True) for k in ("lam", "a", "b"))
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
