"""Tests of vae_course.metrics: the Fréchet distance against closed forms and scipy, the
feature statistics against numpy, precision / recall against brute force and known cases."""
import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.neighbors import NearestNeighbors

from vae_course import metrics


def random_spd(rng, d, rank=None, jitter=0.0):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d + jitter * np.eye(d)


# ----------------------------------------------------------------------------- sqrtm_psd


def test_sqrtm_psd_squares_back_and_matches_scipy():
    rng = np.random.default_rng(0)
    a = random_spd(rng, 6, jitter=0.1)
    s = metrics.sqrtm_psd(a)
    assert np.allclose(s, s.T, atol=1e-12)
    assert np.allclose(s @ s, a, atol=1e-10)
    assert np.allclose(s, np.real(scipy.linalg.sqrtm(a)), atol=1e-8)
    assert np.linalg.eigvalsh(s).min() > 0  # the principal (PSD) root


def test_sqrtm_psd_of_a_diagonal_matrix_is_elementwise():
    d = np.array([4.0, 9.0, 0.25, 0.0])
    assert np.allclose(metrics.sqrtm_psd(np.diag(d)), np.diag(np.sqrt(d)), atol=1e-12)


def test_sqrtm_psd_is_real_and_exact_for_singular_matrices():
    rng = np.random.default_rng(1)
    a = random_spd(rng, 8, rank=3)  # rank 3: five zero eigenvalues, rounding makes some negative
    s = metrics.sqrtm_psd(a)
    assert np.isrealobj(s) and np.all(np.isfinite(s))
    assert np.allclose(s @ s, a, atol=1e-10)


def test_sqrtm_psd_accepts_torch_tensors():
    a = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    s = metrics.sqrtm_psd(a)
    assert np.allclose(s @ s, a.numpy(), atol=1e-12)


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (np.array([[1.0, 0.0], [0.0, -1.0]]), ValueError, "positive semi-definite"),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), ValueError, "symmetric"),
        (np.ones((2, 3)), ValueError, "square"),
        (np.ones(3), ValueError, "matrix"),
        (np.array([[np.nan, 0.0], [0.0, 1.0]]), ValueError, "NaN"),
        ("not a matrix", TypeError, "numpy array"),
        (np.array([[True, False], [False, True]]), TypeError, "real numbers"),
    ],
)
def test_sqrtm_psd_rejects_bad_input(bad, error, words):
    with pytest.raises(error, match=words):
        metrics.sqrtm_psd(bad)


# ----------------------------------------------------------------------------- gaussian_statistics


def test_gaussian_statistics_match_numpy():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(50, 4)) * [1.0, 2.0, 0.5, 3.0] + [5.0, -1.0, 0.0, 2.0]
    mu, sigma = metrics.gaussian_statistics(f)
    assert np.allclose(mu, f.mean(axis=0))
    assert np.allclose(sigma, np.cov(f, rowvar=False))  # centred, 1 / (N - 1)
    mu_t, sigma_t = metrics.gaussian_statistics(torch.tensor(f, dtype=torch.float32))
    assert mu_t.dtype == np.float64 and np.allclose(sigma_t, sigma, rtol=1e-5, atol=1e-5)


def test_gaussian_statistics_are_the_covariance_not_the_second_moment():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(400, 3))
    _, s0 = metrics.gaussian_statistics(f)
    _, s1 = metrics.gaussian_statistics(f + 10.0)  # a shift moves the mean only
    assert np.allclose(s0, s1, atol=1e-10)
    second_moment = (f + 10.0).T @ (f + 10.0) / len(f)
    assert not np.allclose(s1, second_moment, atol=1.0)


@pytest.mark.parametrize("bad", [np.ones((1, 3)), np.ones(4), np.ones((3, 0))])
def test_gaussian_statistics_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match="features"):
        metrics.gaussian_statistics(bad)


# ----------------------------------------------------------------------------- frechet_distance


@pytest.mark.parametrize("method", metrics.METHODS)
def test_frechet_distance_one_dimensional_formula(method):
    # d^2 = (m1 - m2)^2 + (s1 - s2)^2 for N(m1, s1^2) and N(m2, s2^2)
    m1, s1, m2, s2 = 1.5, 2.0, -0.5, 0.7
    got = metrics.frechet_distance([m1], [[s1**2]], [m2], [[s2**2]], method=method)
    assert got == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-10)


@pytest.mark.parametrize("method", metrics.METHODS)
def test_frechet_distance_diagonal_closed_form(method):
    rng = np.random.default_rng(4)
    a, b = rng.uniform(0.1, 3.0, size=5), rng.uniform(0.1, 3.0, size=5)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = metrics.frechet_distance(m1, np.diag(a), m2, np.diag(b), method=method)
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("method", metrics.METHODS)
def test_frechet_distance_commuting_covariances(method):
    # S1 = Q diag(a) Q^T and S2 = Q diag(b) Q^T commute: the trace term is |S1^1/2 - S2^1/2|_F^2
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    a, b = rng.uniform(0.1, 2.0, size=6), rng.uniform(0.1, 2.0, size=6)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert np.allclose(s1 @ s2, s2 @ s1, atol=1e-12)
    mu = rng.normal(size=6)
    got = metrics.frechet_distance(mu, s1, mu + 1.0, s2, method=method)
    assert got == pytest.approx(6.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-9)


@pytest.mark.parametrize("method", metrics.METHODS)
def test_frechet_distance_is_zero_for_identical_inputs(method):
    rng = np.random.default_rng(6)
    s = random_spd(rng, 20, jitter=0.01)
    mu = rng.normal(size=20)
    got = metrics.frechet_distance(mu, s, mu, s, method=method)
    assert 0.0 <= got < 1e-8 * np.trace(s)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method", metrics.METHODS)
def test_frechet_distance_matches_the_textbook_formula_with_scipy(seed, method):
    rng = np.random.default_rng(10 + seed)
    d = 7
    s1, s2 = random_spd(rng, d, jitter=0.05), random_spd(rng, d, jitter=0.05)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    root1 = np.real(scipy.linalg.sqrtm(s1))
    inner = np.real(scipy.linalg.sqrtm(root1 @ s2 @ root1))
    expected = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * inner)
    got = metrics.frechet_distance(m1, s1, m2, s2, method=method)
    assert got == pytest.approx(expected, rel=1e-8)
    # a distance: symmetric in its two arguments
    assert metrics.frechet_distance(m2, s2, m1, s1, method=method) == pytest.approx(got, rel=1e-8)


def test_frechet_distance_is_the_cost_of_the_optimal_transport_map():
    # T(x) = m2 + A (x - m1), A = S1^-1/2 (S1^1/2 S2 S1^1/2)^1/2 S1^-1/2, pushes N(m1, S1) onto N(m2, S2);
    # its cost E|X - T(X)|^2 is the squared 2-Wasserstein distance, computed here in closed form.
    rng = np.random.default_rng(7)
    s1, s2 = random_spd(rng, 4, jitter=0.2), random_spd(rng, 4, jitter=0.2)
    m1, m2 = rng.normal(size=4), rng.normal(size=4)
    r = np.real(scipy.linalg.sqrtm(s1))
    r_inv = np.linalg.inv(r)
    a = r_inv @ np.real(scipy.linalg.sqrtm(r @ s2 @ r)) @ r_inv
    assert np.allclose(a @ s1 @ a.T, s2, atol=1e-9)  # T(X) has covariance S2
    # E|X - T(X)|^2 = |m1 - m2|^2 + Tr((I - A) S1 (I - A)^T)
    eye = np.eye(4)
    cost = np.sum((m1 - m2) ** 2) + np.trace((eye - a) @ s1 @ (eye - a).T)
    assert metrics.frechet_distance(m1, s1, m2, s2) == pytest.approx(cost, rel=1e-8)
    # the independent coupling costs more: |m1 - m2|^2 + Tr S1 + Tr S2
    independent = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2)
    assert cost < independent


def test_frechet_distance_one_dimensional_equals_sorted_sample_transport():
    # in 1-D the optimal coupling of two samples of equal size pairs them in sorted order
    rng = np.random.default_rng(8)
    x = np.sort(rng.normal(1.0, 2.0, size=200_000))
    y = np.sort(rng.normal(-1.0, 0.5, size=200_000))
    w2_squared = np.mean((x - y) ** 2)
    assert metrics.frechet_distance([1.0], [[4.0]], [-1.0], [[0.25]]) == pytest.approx(w2_squared, rel=0.01)


def test_eigh_method_handles_singular_covariances():
    rng = np.random.default_rng(9)
    # rank-deficient covariances: fewer samples than dimensions
    f1, f2 = rng.normal(size=(10, 30)), rng.normal(size=(12, 30)) + 0.5
    got = metrics.frechet_distance_from_features(f1, f2)
    assert np.isfinite(got) and got > 0
    # singular diagonal case against the closed form
    a, b = np.array([1.0, 4.0, 0.0, 0.0]), np.array([9.0, 0.0, 1.0, 0.0])
    got = metrics.frechet_distance(np.zeros(4), np.diag(a), np.zeros(4), np.diag(b))
    assert got == pytest.approx(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-10)


def test_scipy_method_agrees_with_eigh_on_rank_deficient_features():
    rng = np.random.default_rng(10)
    f1, f2 = rng.normal(size=(40, 20)), rng.normal(size=(40, 20)) * 1.3
    mu1, s1 = metrics.gaussian_statistics(f1)
    mu2, s2 = metrics.gaussian_statistics(f2)
    e = metrics.frechet_distance(mu1, s1, mu2, s2, method="eigh")
    s = metrics.frechet_distance(mu1, s1, mu2, s2, method="scipy")
    assert s == pytest.approx(e, rel=1e-6)


def test_frechet_distance_from_features_uses_mean_and_covariance():
    rng = np.random.default_rng(11)
    f1, f2 = rng.normal(size=(300, 3)), rng.normal(size=(200, 3)) * 2 + 1
    expected = metrics.frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))
    assert metrics.frechet_distance_from_features(f1, f2) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "args, error, words",
    [
        (([0.0, 0.0], np.eye(2), [0.0], np.eye(1)), ValueError, "same length"),
        (([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2)), ValueError, "sigma1 must have shape"),
        (([[0.0, 0.0]], np.eye(2), [0.0, 0.0], np.eye(2)), ValueError, r"mu1 \(a vector \(D,\)\) must have 1 dimension"),
        (([0.0, 0.0], np.eye(2), [0.0, 0.0], -np.eye(2)), ValueError, "positive semi-definite"),
        (([0.0, 0.0], np.eye(2), [0.0, np.inf], np.eye(2)), ValueError, "must hold finite values; it holds NaN or inf"),
    ],
)
def test_frechet_distance_rejects_bad_input(args, error, words):
    with pytest.raises(error, match=words):
        metrics.frechet_distance(*args)


def test_frechet_distance_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        metrics.frechet_distance([0.0], [[1.0]], [0.0], [[1.0]], method="svd")


def test_frechet_distance_from_features_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="same dimension"):
        metrics.frechet_distance_from_features(np.ones((5, 3)), np.ones((5, 4)))


# ----------------------------------------------------------------------------- features of images


def test_extract_features_and_feature_frechet_distance_with_a_flattening_feature_map():
    gen = torch.Generator().manual_seed(0)
    x1 = torch.rand(30, 1, 3, 3, generator=gen)
    x2 = torch.rand(25, 1, 3, 3, generator=gen) * 0.5
    flat = metrics.extract_features(lambda x: x.flatten(1), x1, batch_size=7)
    assert flat.shape == (30, 9) and flat.dtype == np.float64
    assert np.allclose(flat, x1.flatten(1).double().numpy())
    got = metrics.feature_frechet_distance(x1, x2, lambda x: x.flatten(1), batch_size=8)
    expected = metrics.frechet_distance_from_features(x1.flatten(1).numpy(), x2.flatten(1).numpy())
    assert got == pytest.approx(expected, rel=1e-6)


def test_extract_features_rejects_bad_feature_maps_and_images():
    x = torch.rand(4, 1, 2, 2)
    with pytest.raises(ValueError, match=r"\(batch, D\)"):
        metrics.extract_features(lambda b: b, x)  # 4-D output, not flattened
    with pytest.raises(TypeError, match="callable"):
        metrics.extract_features("inception", x)
    with pytest.raises(TypeError, match="torch.Tensor"):
        metrics.extract_features(lambda b: b.flatten(1), x.numpy())
    with pytest.raises(ValueError, match="N, C, H, W"):
        metrics.extract_features(lambda b: b.flatten(1), x[0])
    with pytest.raises(TypeError, match="return a torch.Tensor"):
        metrics.extract_features(lambda b: b.flatten(1).numpy(), x)


# ----------------------------------------------------------------------------- precision and recall


def test_precision_recall_identical_sets_give_one():
    rng = np.random.default_rng(12)
    f = rng.normal(size=(100, 5))
    assert metrics.precision_recall(f, f, k=3) == (1.0, 1.0)


def test_precision_recall_far_apart_sets_give_zero():
    rng = np.random.default_rng(13)
    real = rng.normal(size=(80, 4))
    fake = rng.normal(size=(60, 4)) + 100.0
    assert metrics.precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_is_one_for_a_subset_of_the_real_set():
    rng = np.random.default_rng(14)
    real = rng.normal(size=(100, 3))
    pr = metrics.precision_recall(real, real[:40], k=3)
    assert pr.precision == 1.0 and pr.recall < 1.0


def test_precision_recall_against_brute_force_with_scikit_learn():
    rng = np.random.default_rng(15)
    real = rng.normal(size=(70, 3))
    fake = rng.normal(size=(50, 3)) * 1.5 + 0.7
    k = 4

    def radii(f):
        # the k-th neighbour other than the point itself: ask for k + 1 neighbours
        dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(f).kneighbors(f)
        return dist[:, k]

    def share_inside(points, centres, r):
        hits = [any(np.linalg.norm(p - c) <= rc for c, rc in zip(centres, r)) for p in points]
        return float(np.mean(hits))

    expected = (share_inside(fake, real, radii(real)), share_inside(real, fake, radii(fake)))
    got = metrics.precision_recall(real, fake, k=k, chunk=16)
    assert got == pytest.approx(expected, abs=1e-12)
    assert np.allclose(metrics.knn_radii(real, k, chunk=9), radii(real))


def test_precision_recall_mode_dropping_keeps_precision_and_loses_recall():
    rng = np.random.default_rng(16)
    real = np.concatenate([rng.normal(size=(300, 2)) - [6, 0], rng.normal(size=(300, 2)) + [6, 0]])
    one_mode = rng.normal(size=(600, 2)) - [6, 0]
    pr = metrics.precision_recall(real, one_mode, k=3)
    assert pr.precision > 0.9 and 0.35 < pr.recall < 0.65


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"k": 0}, ValueError, "k must be an int >= 1"),
        ({"k": 1.5}, TypeError, "k must be an int"),
        ({"k": 10}, ValueError, "at least k \\+ 1"),
    ],
)
def test_precision_recall_rejects_bad_k(kwargs, error, words):
    f = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(error, match=words):
        metrics.precision_recall(f, f, **kwargs)


def test_precision_recall_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="same dimension"):
        metrics.precision_recall(np.zeros((10, 2)), np.zeros((10, 3)))


def test_knn_radii_rejects_k_too_large():
    with pytest.raises(ValueError, match="N - 1"):
        metrics.knn_radii(np.zeros((4, 2)), k=4)


def test_the_mig_lives_in_disentanglement_and_the_old_names_warn():
    from vae_course import disentanglement, metrics

    assert "mutual_information_gap" not in metrics.__all__ and "MIGResult" not in metrics.__all__
    with pytest.warns(DeprecationWarning, match="use vae_course.disentanglement.MIGResult"):
        assert metrics.MIGResult is disentanglement.MIGResult
    factors = np.repeat(np.arange(4), 10)[:, None]
    latents = np.column_stack([factors[:, 0] + 0.0, np.zeros(40)])
    latents[:, 1] = np.linspace(0, 1, 40) % 0.3
    with pytest.warns(DeprecationWarning, match="use vae_course.disentanglement.mutual_information_gap"):
        old = metrics.mutual_information_gap(latents, factors)
    assert old.score == disentanglement.mutual_information_gap(latents, factors).score
