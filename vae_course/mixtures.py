"""Gaussian mixtures fitted by expectation-maximisation (EM), from scratch, in log space.

The model: z_n ~ Categorical(weights), x_n | z_n = k ~ N(means[k], covariances[k]).

- ``log_sum_exp``: a stable log(sum(exp(a))) along an axis;
- ``log_gaussian_density``: log N(x_n | mu_k, Sigma_k) for every point and component, (N, K);
- ``mixture_log_density``: log p(x_n) per point, by log-sum-exp over components;
- ``e_step``: responsibilities r_nk = p(z_n = k | x_n, theta) and log p(x_n);
- ``m_step``: the weights, means and covariances that maximise Q(theta | theta_old);
- ``GaussianMixtureEM``: a scikit-learn-like estimator built on the two steps.

Everything works with logarithms of densities, so that points far from every component and
very small variances give finite numbers instead of 0/0 = NaN.
"""
from __future__ import annotations

import numpy as np

from .validation import check_array, check_bool, check_covariance, check_int, check_number, check_probability_vector

__all__ = [
    "CollapsedComponentError",
    "GaussianMixtureEM",
    "e_step",
    "log_gaussian_density",
    "log_sum_exp",
    "m_step",
    "mixture_log_density",
]

_LOG_2PI = np.log(2.0 * np.pi)


class CollapsedComponentError(ValueError):
    """A component's covariance stopped being positive definite during EM.

    This happens when a component collapses onto a few points (for example one point, or
    points on a line in 2-D) and ``reg_covar`` is 0 or too small to keep it invertible.
    """


# ----------------------------------------------------------------------------- argument checks


def _check_array(name, value, ndim, shape_doc):
    """A finite float64 array with ``ndim`` dimensions (``shape_doc`` names them in the message)."""
    arr = check_array(name, value)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_doc} ({ndim} dimensions), got shape {arr.shape}")
    return arr


def _check_X(X, name="X"):
    X = _check_array(name, X, 2, "(N, d)")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must have at least one point and one feature, got shape {X.shape}")
    return X


def _check_covariances(covariances, K, d):
    covariances = _check_array("covariances", covariances, 3, "(K, d, d)")
    if covariances.shape != (K, d, d):
        raise ValueError(f"covariances must have shape (K, d, d) = {(K, d, d)}, got {covariances.shape}")
    check_covariance("covariances", covariances, rtol=1e-8, atol=1e-10)
    return covariances


def _check_parameters(weights, means, covariances, d=None):
    """Validate mixture parameters; return them as float arrays (K,), (K, d), (K, d, d)."""
    weights = _check_array("weights", weights, 1, "(K,)")
    means = _check_array("means", means, 2, "(K, d)")
    K = weights.shape[0]
    if K < 1:
        raise ValueError("weights must hold at least one component, got an empty array")
    if means.shape[0] != K:
        raise ValueError(f"means must have one row per component: weights has K={K}, means has shape {means.shape}")
    dm = means.shape[1]
    if d is not None and dm != d:
        raise ValueError(f"means must have d={d} columns (the number of features of X), got shape {means.shape}")
    weights = check_probability_vector("weights", weights)
    return weights, means, _check_covariances(covariances, K, dm)


def _cholesky(covariances, name, error=ValueError):
    """Lower Cholesky factors of (K, d, d) matrices; ``error`` (naming the first bad component) if one is not PD."""
    try:
        return check_covariance(name, covariances, rtol=1e-6, atol=1e-8)
    except ValueError as err:
        if error is ValueError:
            raise
        raise error(str(err)) from None


def _check_responsibilities(resp, N):
    resp = _check_array("responsibilities", resp, 2, "(N, K)")
    if resp.shape[0] != N:
        raise ValueError(f"responsibilities must have one row per point of X (N={N}), got shape {resp.shape}")
    return check_probability_vector("responsibilities", resp, what="each row a distribution over the K components")


def _check_nonneg_number(name, value):
    return check_number(name, value, minimum=0)


def _check_int(name, value, minimum):
    return check_int(name, value, minimum=minimum)


# ----------------------------------------------------------------------------- the two steps


def log_sum_exp(a, axis=-1):
    """log(sum(exp(a))) along ``axis``, computed as m + log(sum(exp(a - m))) with m the maximum.

    Subtracting the maximum keeps the largest term at exp(0) = 1, so the sum neither
    underflows to 0 (log 0 = -inf) nor overflows. Rows that are all -inf give -inf.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        raise ValueError("a must have at least one dimension to sum over, got a scalar")
    if np.any(np.isnan(a)) or np.any(a == np.inf):
        raise ValueError("a must not hold NaN or +inf")
    m = np.max(a, axis=axis, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m_safe), axis=axis, keepdims=True)) + m_safe
    return np.squeeze(out, axis=axis)


def _log_gaussian(X, means, chol):
    """(N, K) log densities given Cholesky factors ``chol`` (K, d, d); no checks."""
    d = X.shape[1]
    inv_chol = np.linalg.inv(chol)  # (K, d, d), lower triangular
    diff = X[None, :, :] - means[:, None, :]  # (K, N, d)
    y = np.einsum("kij,knj->kni", inv_chol, diff)  # L^{-1}(x - mu)
    maha = np.sum(y * y, axis=2)  # (K, N) squared Mahalanobis distances
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)  # (K,)
    return (-0.5 * (d * _LOG_2PI + log_det[:, None] + maha)).T


def log_gaussian_density(X, means, covariances):
    """log N(x_n | means[k], covariances[k]) for every point and component, shape (N, K).

    Uses the Cholesky factor L of each covariance: log det Sigma = 2 sum log L_ii and
    (x - mu)^T Sigma^{-1} (x - mu) = |L^{-1}(x - mu)|^2, so no density is ever exponentiated.
    """
    X = _check_X(X)
    means = _check_array("means", means, 2, "(K, d)")
    K, d = means.shape
    if d != X.shape[1]:
        raise ValueError(f"means must have d={X.shape[1]} columns (the features of X), got shape {means.shape}")
    covariances = _check_covariances(covariances, K, d)  # symmetric and positive definite, as in e_step
    return _log_gaussian(X, means, _cholesky(covariances, "covariances"))


def _log_joint(X, weights, means, covariances, error=ValueError):
    chol = _cholesky(covariances, "covariances", error)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return _log_gaussian(X, means, chol) + log_w[None, :]


def mixture_log_density(X, weights, means, covariances):
    """log p(x_n | theta) = log sum_k weights[k] N(x_n | means[k], covariances[k]) per point, shape (N,)."""
    X = _check_X(X)
    weights, means, covariances = _check_parameters(weights, means, covariances, d=X.shape[1])
    return log_sum_exp(_log_joint(X, weights, means, covariances), axis=1)


def _e_step(X, weights, means, covariances, error=ValueError):
    log_joint = _log_joint(X, weights, means, covariances, error)  # log tau_k + log N(x_n | k)
    log_px = log_sum_exp(log_joint, axis=1)  # (N,)
    return np.exp(log_joint - log_px[:, None]), log_px


def e_step(X, weights, means, covariances):
    """The E-step: responsibilities and per-point log-likelihoods.

    Returns ``(resp, log_px)``: ``resp[n, k] = p(z_n = k | x_n, theta)``, shape (N, K), rows
    summing to 1, computed as exp(log tau_k + log N(x_n | k) - log p(x_n)); and
    ``log_px[n] = log p(x_n | theta)``, shape (N,).
    """
    X = _check_X(X)
    weights, means, covariances = _check_parameters(weights, means, covariances, d=X.shape[1])
    return _e_step(X, weights, means, covariances)


def _m_step(X, resp, reg_covar):
    N, d = X.shape
    nk = resp.sum(axis=0)  # effective number of points per component
    if np.any(nk <= 0):
        bad = int(np.argmin(nk))
        raise CollapsedComponentError(
            f"component {bad} has no responsibility left (sum of r_nk = {nk[bad]:.3g}); it cannot be "
            "re-estimated. Use fewer components or another initialisation."
        )
    weights = nk / N
    means = (resp.T @ X) / nk[:, None]
    diff = X[None, :, :] - means[:, None, :]  # (K, N, d)
    weighted = resp.T[:, :, None] * diff
    covariances = np.einsum("kni,knj->kij", weighted, diff) / nk[:, None, None]
    covariances = 0.5 * (covariances + np.swapaxes(covariances, 1, 2))
    covariances += reg_covar * np.eye(d)[None, :, :]
    return weights, means, covariances


def m_step(X, responsibilities, reg_covar=0.0):
    """The M-step: the parameters that maximise Q(theta | theta_old) for given responsibilities.

    With N_k = sum_n r_nk: weights_k = N_k / N, means_k = sum_n r_nk x_n / N_k and
    covariances_k = sum_n r_nk (x_n - means_k)(x_n - means_k)^T / N_k + reg_covar * I.
    Returns ``(weights, means, covariances)``.
    """
    X = _check_X(X)
    resp = _check_responsibilities(responsibilities, X.shape[0])
    reg_covar = _check_nonneg_number("reg_covar", reg_covar)
    return _m_step(X, resp, reg_covar)


# ----------------------------------------------------------------------------- initialisation


def _kmeans_labels(X, K, rng, n_iter=100):
    """Hard labels from k-means (k-means++ seeding, then Lloyd's iterations)."""
    N = X.shape[0]
    centers = np.empty((K, X.shape[1]))
    centers[0] = X[rng.integers(N)]
    closest = np.sum((X - centers[0]) ** 2, axis=1)
    for j in range(1, K):
        total = closest.sum()
        idx = rng.choice(N, p=closest / total) if total > 0 else rng.integers(N)
        centers[j] = X[idx]
        closest = np.minimum(closest, np.sum((X - centers[j]) ** 2, axis=1))
    labels = np.full(N, -1)
    for _ in range(n_iter):
        dist = np.sum((X[:, None, :] - centers[None, :, :]) ** 2, axis=2)
        new = np.argmin(dist, axis=1)
        counts = np.bincount(new, minlength=K)
        for j in np.flatnonzero(counts == 0):  # an empty cluster takes the worst-served point
            far = int(np.argmax(dist[np.arange(N), new]))
            new[far] = j
            dist[far] = 0.0
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(K):
            centers[j] = X[labels == j].mean(axis=0)
    return labels


class GaussianMixtureEM:
    """A Gaussian mixture with full covariances, fitted by EM in log space.

    Parameters
    ----------
    n_components : int
        K, the number of components (1 <= K <= number of points).
    max_iter : int
        The most EM iterations (E-step + M-step) to run.
    tol : float
        Stop when the MEAN log-likelihood per point changes by less than ``tol``.
    reg_covar : float
        A ridge added to the diagonal of every covariance at each M-step, so that a component
        that collapses onto a few points keeps an invertible covariance.
    init : 'kmeans', 'random' or dict
        'kmeans': responsibilities from k-means labels, then one M-step; 'random': K distinct
        data points as means, the covariance of all the data for every component, equal
        weights; a dict ``{'weights': (K,), 'means': (K, d), 'covariances': (K, d, d)}``: these
        starting parameters (checked: weights sum to 1, covariances positive definite).
    seed : int
        Seeds the random choices of 'kmeans' and 'random'.
    keep_snapshots : bool
        Keep ``snapshots_``: the parameters and mean log-likelihood at the initialisation and
        after every iteration.

    Attributes (after ``fit``)
    --------------------------
    weights_ (K,), means_ (K, d), covariances_ (K, d, d)
        The fitted parameters (after the last M-step).
    log_likelihood_history_ : list of float
        The MEAN log-likelihood per point, (1/N) sum_n log p(x_n | theta^(t)), for
        t = 0 (the initialisation), 1, ..., n_iter_; the last entry belongs to the fitted
        parameters. EM guarantees that it never decreases.
    converged_ : bool
        Whether the change in mean log-likelihood fell below ``tol`` within ``max_iter``.
    n_iter_ : int
        The number of EM iterations run (M-steps).
    snapshots_ : list of dict (only when ``keep_snapshots=True``)
        ``{'weights', 'means', 'covariances', 'log_likelihood'}`` for t = 0, ..., n_iter_, the
        same t as ``log_likelihood_history_`` (the log-likelihood is the mean per point).
    """

    _INITS = ("kmeans", "random")

    def __init__(self, n_components, max_iter=100, tol=1e-6, reg_covar=1e-6, init="kmeans", seed=0,
                 keep_snapshots=False):
        self.n_components = _check_int("n_components", n_components, 1)
        self.max_iter = _check_int("max_iter", max_iter, 1)
        self.tol = _check_nonneg_number("tol", tol)
        self.reg_covar = _check_nonneg_number("reg_covar", reg_covar)
        if isinstance(init, str):
            if init not in self._INITS:
                raise ValueError(f"init must be 'kmeans', 'random' or a dict of parameters, got {init!r}")
        elif isinstance(init, dict):
            missing = {"weights", "means", "covariances"} - set(init)
            extra = set(init) - {"weights", "means", "covariances"}
            if missing or extra:
                raise ValueError(
                    "init as a dict must have exactly the keys 'weights', 'means', 'covariances'; "
                    f"missing {sorted(missing)}, unknown {sorted(extra)}"
                )
            weights, means, covs = _check_parameters(init["weights"], init["means"], init["covariances"])
            if weights.shape[0] != self.n_components:
                raise ValueError(
                    f"init has {weights.shape[0]} components but n_components={self.n_components}"
                )
            init = {"weights": weights, "means": means, "covariances": covs}
        else:
            raise TypeError(f"init must be 'kmeans', 'random' or a dict of parameters, got {type(init).__name__}")
        self.init = init
        self.seed = _check_int("seed", seed, 0)
        self.keep_snapshots = check_bool("keep_snapshots", keep_snapshots)

    def __repr__(self):
        init = "dict(...)" if isinstance(self.init, dict) else repr(self.init)
        return (f"GaussianMixtureEM(n_components={self.n_components}, max_iter={self.max_iter}, tol={self.tol}, "
                f"reg_covar={self.reg_covar}, init={init}, seed={self.seed})")

    # -- fitting

    def _initial_parameters(self, X):
        N, d = X.shape
        K = self.n_components
        if isinstance(self.init, dict):
            if self.init["means"].shape[1] != d:
                raise ValueError(
                    f"init['means'] has {self.init['means'].shape[1]} columns but X has d={d} features"
                )
            return self.init["weights"].copy(), self.init["means"].copy(), self.init["covariances"].copy()
        rng = np.random.default_rng(self.seed)
        if self.init == "kmeans":
            labels = _kmeans_labels(X, K, rng)
            resp = np.zeros((N, K))
            resp[np.arange(N), labels] = 1.0
            return self._m_step_checked(X, resp, 0)
        # 'random'
        idx = rng.choice(N, size=K, replace=False)
        cov = np.atleast_2d(np.cov(X, rowvar=False, bias=True)) + self.reg_covar * np.eye(d)
        if np.linalg.eigvalsh(cov).min() <= 0:
            cov = cov + 1e-6 * max(1.0, np.trace(cov) / d) * np.eye(d)
        return np.full(K, 1.0 / K), X[idx].copy(), np.repeat(cov[None], K, axis=0)

    def _m_step_checked(self, X, resp, iteration):
        weights, means, covs = _m_step(X, resp, self.reg_covar)
        try:
            _cholesky(covs, "covariances", CollapsedComponentError)
        except CollapsedComponentError as err:
            where = "the initialisation" if iteration == 0 else f"iteration {iteration}"
            raise CollapsedComponentError(
                f"EM failed at {where}: {err}. A component has collapsed onto too few points; "
                f"increase reg_covar (now {self.reg_covar}), use fewer components or another init."
            ) from None
        return weights, means, covs

    def _snapshot(self, weights, means, covs, ll):
        return {"weights": weights.copy(), "means": means.copy(), "covariances": covs.copy(),
                "log_likelihood": float(ll)}

    def fit(self, X):
        """Run EM on ``X`` (N, d) from the initialisation; return ``self``."""
        X = _check_X(X)
        N = X.shape[0]
        if self.n_components > N:
            raise ValueError(
                f"n_components={self.n_components} is larger than the number of points N={N}; "
                "use at most N components"
            )
        weights, means, covs = self._initial_parameters(X)
        resp, log_px = _e_step(X, weights, means, covs, CollapsedComponentError)
        ll = float(log_px.mean())
        history = [ll]
        snapshots = [self._snapshot(weights, means, covs, ll)] if self.keep_snapshots else None
        converged = False
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            weights, means, covs = self._m_step_checked(X, resp, n_iter)
            resp, log_px = _e_step(X, weights, means, covs, CollapsedComponentError)
            new_ll = float(log_px.mean())
            history.append(new_ll)
            if snapshots is not None:
                snapshots.append(self._snapshot(weights, means, covs, new_ll))
            if abs(new_ll - ll) < self.tol:
                converged = True
                break
            ll = new_ll
        self.weights_, self.means_, self.covariances_ = weights, means, covs
        self.log_likelihood_history_ = history
        self.converged_ = converged
        self.n_iter_ = n_iter
        if snapshots is not None:
            self.snapshots_ = snapshots
        return self

    # -- using the fitted model

    def _check_fitted_X(self, X):
        if not hasattr(self, "means_"):
            raise RuntimeError("this GaussianMixtureEM is not fitted yet; call fit(X) first")
        X = _check_X(X)
        d = self.means_.shape[1]
        if X.shape[1] != d:
            raise ValueError(f"X must have d={d} features like the data the model was fitted on, got shape {X.shape}")
        return X

    def predict_proba(self, X):
        """Responsibilities p(z = k | x_n) under the fitted parameters, shape (N, K)."""
        X = self._check_fitted_X(X)
        return _e_step(X, self.weights_, self.means_, self.covariances_)[0]

    def score_samples(self, X):
        """log p(x_n) under the fitted mixture, per point, shape (N,)."""
        X = self._check_fitted_X(X)
        return _e_step(X, self.weights_, self.means_, self.covariances_)[1]

    def score(self, X):
        """The mean log-likelihood per point (as scikit-learn's ``GaussianMixture.score``)."""
        return float(self.score_samples(X).mean())

    def predict(self, X):
        """The most responsible component of each point, shape (N,)."""
        return np.argmax(self.predict_proba(X), axis=1)
