"""Unit tests of vae_course.mixtures against known answers: scipy densities, scikit-learn's
GaussianMixture from the same initialisation, weighted moments, closed-form responsibilities."""
import itertools
import warnings

import numpy as np
import pytest
import torch
from scipy import special, stats
from sklearn.mixture import GaussianMixture

from vae_course import data
from vae_course.mixtures import (
    CollapsedComponentError,
    GaussianMixtureEM,
    e_step,
    log_gaussian_density,
    log_sum_exp,
    m_step,
    mixture_log_density,
)


@pytest.fixture(scope="module")
def mixture():
    X, z, params = data.sample_gmm_2d(n=400, k=3, seed=1)
    return X, z, params


def poor_init(X, K=3):
    """A deterministic starting point that needs many EM iterations."""
    offsets = 0.5 * np.array([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, -1.0]])[:K]
    return {"weights": np.full(K, 1.0 / K), "means": X.mean(axis=0) + offsets,
            "covariances": np.repeat(np.eye(2)[None], K, axis=0)}


def sklearn_from(init, X, n_iter, reg_covar):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it stops at max_iter on purpose
        return GaussianMixture(
            n_components=len(init["weights"]), covariance_type="full", tol=0.0, max_iter=n_iter,
            reg_covar=reg_covar, weights_init=init["weights"], means_init=init["means"],
            precisions_init=np.linalg.inv(init["covariances"]),
        ).fit(X)


# ----------------------------------------------------------------------------- building blocks


def test_log_sum_exp_matches_scipy_and_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 5)) * 30
    np.testing.assert_allclose(log_sum_exp(a, axis=1), special.logsumexp(a, axis=1), rtol=1e-13)
    np.testing.assert_allclose(log_sum_exp(a, axis=0), special.logsumexp(a, axis=0), rtol=1e-13)
    b = np.array([-1000.0, -1001.0, -1003.0])
    assert log_sum_exp(b) == pytest.approx(-1000.0 + np.log1p(np.exp(-1.0) + np.exp(-3.0)), abs=1e-12)
    assert log_sum_exp(np.array([[-np.inf, -np.inf]]), axis=1)[0] == -np.inf


def test_log_sum_exp_rejects_nan_and_scalars():
    with pytest.raises(ValueError, match="NaN"):
        log_sum_exp(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="scalar"):
        log_sum_exp(1.0)


def test_log_gaussian_density_matches_scipy(mixture):
    X, _, p = mixture
    got = log_gaussian_density(X, p["means"], p["covariances"])
    assert got.shape == (len(X), 3)
    for k in range(3):
        ref = stats.multivariate_normal(p["means"][k], p["covariances"][k]).logpdf(X)
        np.testing.assert_allclose(got[:, k], ref, rtol=1e-12, atol=1e-10)


def test_e_step_matches_the_naive_computation(mixture):
    X, _, p = mixture
    resp, log_px = e_step(X, p["weights"], p["means"], p["covariances"])
    dens = np.stack([w * stats.multivariate_normal(m, c).pdf(X)
                     for w, m, c in zip(p["weights"], p["means"], p["covariances"])], axis=1)
    np.testing.assert_allclose(resp, dens / dens.sum(axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(log_px, np.log(dens.sum(axis=1)), rtol=1e-12)
    np.testing.assert_allclose(mixture_log_density(X, p["weights"], p["means"], p["covariances"]), log_px)


def test_e_step_far_away_points_and_tiny_variances_stay_finite():
    # 1-D, two components with equal variance s^2: log-odds of component 0 is a closed form
    means = np.array([[0.0], [1.0]])
    s2 = 1e-6
    covs = np.full((2, 1, 1), s2)
    weights = np.array([0.3, 0.7])
    X = np.array([[500.0], [-300.0], [0.5], [0.50001]])
    resp, log_px = e_step(X, weights, means, covs)
    assert np.all(np.isfinite(resp)) and np.all(np.isfinite(log_px))
    log_odds = np.log(0.3 / 0.7) - ((X[:, 0] - 0.0) ** 2 - (X[:, 0] - 1.0) ** 2) / (2 * s2)
    np.testing.assert_allclose(resp[:, 0], special.expit(log_odds), atol=1e-12)
    ref = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(probs=torch.tensor(weights)),
        torch.distributions.Normal(torch.tensor(means[:, 0]), torch.tensor(np.sqrt(s2))),
    ).log_prob(torch.tensor(X[:, 0])).numpy()
    np.testing.assert_allclose(log_px, ref, rtol=1e-10)
    # the naive computation gives 0/0 here
    with np.errstate(all="ignore"):
        dens = weights * stats.norm.pdf(X, means[:, 0], np.sqrt(s2))
        naive = dens / dens.sum(axis=1, keepdims=True)
    assert np.isnan(naive[0]).all()


def test_m_step_matches_weighted_moments(mixture):
    X, _, p = mixture
    resp, _ = e_step(X, p["weights"], p["means"], p["covariances"])
    weights, means, covs = m_step(X, resp, reg_covar=0.0)
    for k in range(3):
        w = resp[:, k]
        assert weights[k] == pytest.approx(w.mean(), rel=1e-12)
        np.testing.assert_allclose(means[k], np.average(X, axis=0, weights=w), rtol=1e-12)
        np.testing.assert_allclose(covs[k], np.cov(X, rowvar=False, aweights=w, bias=True), rtol=1e-10, atol=1e-12)
    _, _, covs_reg = m_step(X, resp, reg_covar=0.5)
    np.testing.assert_allclose(covs_reg - covs, np.repeat(0.5 * np.eye(2)[None], 3, axis=0), atol=1e-12)


def test_m_step_maximises_q(mixture):
    X, _, p = mixture
    resp, _ = e_step(X, p["weights"], p["means"], p["covariances"])

    def Q(weights, means, covs):
        return np.sum(resp * (np.log(weights) + log_gaussian_density(X, means, covs)))

    best = m_step(X, resp)
    q_best = Q(*best)
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = best[0] * np.exp(0.05 * rng.normal(size=3))
        w /= w.sum()
        mu = best[1] + 0.05 * rng.normal(size=best[1].shape)
        A = 0.05 * rng.normal(size=(3, 2, 2))
        cov = best[2] + A @ np.swapaxes(A, 1, 2) - 0.02 * np.eye(2) * rng.uniform(size=(3, 1, 1))
        assert Q(w, mu, cov) < q_best


# ----------------------------------------------------------------------------- the estimator


def test_fit_agrees_with_sklearn_from_the_same_initialisation(mixture):
    X, _, _ = mixture
    init = poor_init(X)
    ours = GaussianMixtureEM(3, init=init, tol=1e-10, max_iter=500, reg_covar=0.0).fit(X)
    assert ours.converged_ and ours.n_iter_ > 5
    sk = sklearn_from(init, X, ours.n_iter_, reg_covar=0.0)
    np.testing.assert_allclose(ours.weights_, sk.weights_, atol=1e-9)
    np.testing.assert_allclose(ours.means_, sk.means_, atol=1e-8)
    np.testing.assert_allclose(ours.covariances_, sk.covariances_, atol=1e-8)
    assert ours.log_likelihood_history_[-1] == pytest.approx(sk.score(X), abs=1e-10)
    assert ours.score(X) == pytest.approx(sk.score(X), abs=1e-10)
    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X), atol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-8)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


@pytest.mark.parametrize("n_iter", [1, 3])
def test_each_iteration_equals_sklearn_with_reg_covar(mixture, n_iter):
    X, _, _ = mixture
    init = poor_init(X)
    ours = GaussianMixtureEM(3, init=init, tol=0.0, max_iter=n_iter, reg_covar=1e-3).fit(X)
    assert ours.n_iter_ == n_iter and not ours.converged_
    sk = sklearn_from(init, X, n_iter, reg_covar=1e-3)
    np.testing.assert_allclose(ours.covariances_, sk.covariances_, atol=1e-10)
    np.testing.assert_allclose(ours.means_, sk.means_, atol=1e-10)


def test_history_is_monotone_and_snapshots_match(mixture):
    X, _, _ = mixture
    init = poor_init(X)
    gmm = GaussianMixtureEM(3, init=init, tol=1e-9, max_iter=300, reg_covar=0.0, keep_snapshots=True).fit(X)
    hist = np.array(gmm.log_likelihood_history_)
    assert len(hist) == gmm.n_iter_ + 1
    assert np.all(np.diff(hist) >= -1e-12), "EM decreased the log-likelihood"
    assert len(gmm.snapshots_) == gmm.n_iter_ + 1
    first = gmm.snapshots_[0]
    for key in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(first[key], init[key])
        np.testing.assert_array_equal(gmm.snapshots_[-1][key], getattr(gmm, key + "_"))
    for snap, ll in zip(gmm.snapshots_, hist):
        assert set(snap) == {"weights", "means", "covariances", "log_likelihood"}
        assert snap["log_likelihood"] == ll
        assert ll == pytest.approx(mixture_log_density(X, snap["weights"], snap["means"], snap["covariances"]).mean(),
                                   abs=1e-12)
    assert not hasattr(GaussianMixtureEM(3).fit(X), "snapshots_")


def test_recovers_the_true_parameters():
    X, _, p = data.sample_gmm_2d(n=3000, k=3, seed=0)
    gmm = GaussianMixtureEM(3, seed=0).fit(X)
    best = min(itertools.permutations(range(3)), key=lambda perm: np.abs(gmm.means_[list(perm)] - p["means"]).sum())
    perm = list(best)
    np.testing.assert_allclose(gmm.means_[perm], p["means"], atol=0.1)
    np.testing.assert_allclose(gmm.weights_[perm], p["weights"], atol=0.03)
    np.testing.assert_allclose(gmm.covariances_[perm], p["covariances"], atol=0.15)


@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_inits_are_seeded_and_reproducible(mixture, init):
    X, _, _ = mixture
    a = GaussianMixtureEM(3, init=init, seed=4).fit(X)
    b = GaussianMixtureEM(3, init=init, seed=4).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.log_likelihood_history_ == b.log_likelihood_history_


def test_one_component_is_the_sample_mean_and_covariance(mixture):
    X, _, _ = mixture
    gmm = GaussianMixtureEM(1, reg_covar=0.0).fit(X)
    np.testing.assert_allclose(gmm.means_[0], X.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(gmm.covariances_[0], np.cov(X, rowvar=False, bias=True), atol=1e-12)
    ref = stats.multivariate_normal(X.mean(axis=0), np.cov(X, rowvar=False, bias=True)).logpdf(X).mean()
    assert gmm.log_likelihood_history_[-1] == pytest.approx(ref, abs=1e-10)


def test_far_away_points_give_finite_scores(mixture):
    X, _, _ = mixture
    gmm = GaussianMixtureEM(3, seed=0).fit(X)
    far = np.array([[1e4, -1e4], [3e3, 0.0]])
    assert np.all(np.isfinite(gmm.score_samples(far)))
    assert np.allclose(gmm.predict_proba(far).sum(axis=1), 1.0)


def test_collapse_without_ridge_raises_and_a_ridge_prevents_it(mixture):
    X, _, p = mixture
    Xo = np.vstack([X, [[15.0, 15.0]]])
    init = {"weights": np.r_[0.01, 0.99 * p["weights"]], "means": np.vstack([[15.0, 15.0], p["means"]]),
            "covariances": np.concatenate([0.05 * np.eye(2)[None], p["covariances"]])}
    with pytest.raises(CollapsedComponentError, match="reg_covar"):
        GaussianMixtureEM(4, init=init, reg_covar=0.0).fit(Xo)
    gmm = GaussianMixtureEM(4, init=init, reg_covar=1e-3).fit(Xo)
    assert np.all(np.isfinite(gmm.log_likelihood_history_))
    np.testing.assert_allclose(gmm.covariances_[0], 1e-3 * np.eye(2), atol=1e-12)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_components": 0}, ValueError, "n_components"),
        ({"n_components": 2.0}, TypeError, "n_components"),
        ({"n_components": True}, TypeError, "n_components"),
        ({"n_components": 2, "max_iter": 0}, ValueError, "max_iter"),
        ({"n_components": 2, "tol": -1.0}, ValueError, "tol"),
        ({"n_components": 2, "reg_covar": -1e-6}, ValueError, "reg_covar"),
        ({"n_components": 2, "reg_covar": "small"}, TypeError, "reg_covar"),
        ({"n_components": 2, "init": "kmeans++"}, ValueError, "init"),
        ({"n_components": 2, "init": 3}, TypeError, "init"),
        ({"n_components": 2, "seed": -1}, ValueError, "seed"),
        ({"n_components": 2, "keep_snapshots": "yes"}, TypeError, "keep_snapshots"),
    ],
)
def test_bad_hyperparameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        GaussianMixtureEM(**kwargs)


def test_bad_explicit_init():
    good = {"weights": np.array([0.5, 0.5]), "means": np.zeros((2, 2)), "covariances": np.repeat(np.eye(2)[None], 2, 0)}
    with pytest.raises(ValueError, match="keys"):
        GaussianMixtureEM(2, init={"weights": good["weights"], "means": good["means"]})
    not_pd = dict(good, covariances=np.array([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]))
    with pytest.raises(ValueError, match=r"covariances\[1\] must be positive definite"):
        GaussianMixtureEM(2, init=not_pd)
    not_sym = dict(good, covariances=np.array([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]]))
    with pytest.raises(ValueError, match="symmetric"):
        GaussianMixtureEM(2, init=not_sym)
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixtureEM(2, init=dict(good, weights=np.array([0.5, 0.6])))
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixtureEM(3, init=good)
    with pytest.raises(ValueError, match=r"shape \(K, d, d\)"):
        GaussianMixtureEM(2, init=dict(good, covariances=np.eye(2)[None]))
    with pytest.raises(ValueError, match="columns but X has d=3"):
        GaussianMixtureEM(2, init=good).fit(np.zeros((10, 3)) + np.arange(10)[:, None])


def test_bad_data(mixture):
    X, _, _ = mixture
    gmm = GaussianMixtureEM(3)
    with pytest.raises(ValueError, match=r"shape \(N, d\)"):
        gmm.fit(X[:, 0])
    with pytest.raises(ValueError, match=r"shape \(N, d\)"):
        gmm.fit(X[None])
    with pytest.raises(ValueError, match="finite"):
        gmm.fit(np.vstack([X, [[np.nan, 0.0]]]))
    with pytest.raises(TypeError, match="real numbers"):
        gmm.fit(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="larger than the number of points N=2"):
        gmm.fit(X[:2])
    with pytest.raises(RuntimeError, match="not fitted"):
        GaussianMixtureEM(2).predict(X)
    gmm.fit(X)
    with pytest.raises(ValueError, match="d=2 features"):
        gmm.score_samples(np.zeros((4, 3)))


def test_bad_arguments_to_the_step_functions(mixture):
    X, _, p = mixture
    with pytest.raises(ValueError, match="one row per point"):
        m_step(X, np.full((len(X) - 1, 3), 1 / 3))
    with pytest.raises(ValueError, match="sum to 1"):
        m_step(X, np.full((len(X), 3), 0.5))
    with pytest.raises(ValueError, match="must hold probabilities >= 0"):
        m_step(X, np.tile([1.5, -0.5, 0.0], (len(X), 1)))
    with pytest.raises(ValueError, match="d=2 columns"):
        e_step(X, p["weights"], np.zeros((3, 3)), np.repeat(np.eye(3)[None], 3, 0))
    with pytest.raises(ValueError, match="must be positive definite"):
        e_step(X, p["weights"], p["means"], np.repeat(-np.eye(2)[None], 3, 0))
    with pytest.raises(ValueError, match="one row per component"):
        mixture_log_density(X, p["weights"], p["means"][:2], p["covariances"])
    with pytest.raises(CollapsedComponentError, match="no responsibility"):
        m_step(X, np.tile([1.0, 0.0, 0.0], (len(X), 1)))


def test_log_gaussian_density_rejects_a_non_symmetric_covariance_like_e_step():
    X = np.zeros((3, 2))
    means = np.zeros((1, 2))
    bad = np.array([[[1.0, 0.5], [0.0, 1.0]]])  # positive definite in its lower triangle, not symmetric
    with pytest.raises(ValueError, match="covariances must be symmetric"):
        log_gaussian_density(X, means, bad)
    with pytest.raises(ValueError, match="covariances must be symmetric"):
        e_step(X, np.ones(1), means, bad)
