"""Tests of vae_course.disentanglement: the Mutual Information Gap on cases with a known answer."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import mutual_info_score

from vae_course.disentanglement import (
    MIGResult,
    discretize,
    entropy,
    mutual_information,
    mutual_information_gap,
    mutual_information_matrix,
)
from vae_course.shapes import factor_grid

SIZES = (3, 6, 8, 4)
GOOD = np.tile([[0, 1], [1, 0]], (5, 1))  # 10 examples of 2 valid factors


@pytest.fixture(scope="module")
def grid():
    """The full factorial design: every combination of factor values once, so the factors are exactly independent."""
    return factor_grid(SIZES).numpy()


# ----------------------------------------------------------------------------- pieces


def test_discretize_uses_equal_width_bins_over_each_column_range():
    z = np.array([[0.0, 5.0], [0.49, 5.0], [0.5, 5.0], [1.0, 5.0]])
    got = discretize(z, n_bins=2)
    np.testing.assert_array_equal(got[:, 0], [0, 0, 1, 1])  # the maximum goes to the last bin
    np.testing.assert_array_equal(got[:, 1], [0, 0, 0, 0])  # a constant column is one bin
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 3))
    b = discretize(z, n_bins=7)
    assert b.min() == 0 and b.max() == 6 and b.dtype == np.int64
    edges = [np.linspace(z[:, j].min(), z[:, j].max(), 8) for j in range(3)]
    for j in range(3):  # numpy's histogram with the same equal-width edges counts the same
        np.testing.assert_array_equal(np.bincount(b[:, j], minlength=7), np.histogram(z[:, j], bins=edges[j])[0])


def test_discretize_is_unchanged_by_an_increasing_affine_map():
    z = np.random.default_rng(1).normal(size=(300, 2))
    np.testing.assert_array_equal(discretize(z, 10), discretize(3.0 * z - 2.0, 10))


def test_entropy_matches_scipy_and_the_uniform_case():
    a = np.random.default_rng(2).integers(0, 5, size=1000)
    assert entropy(a) == pytest.approx(scipy_entropy(np.bincount(a)), abs=1e-12)
    assert entropy(np.repeat(np.arange(8), 3)) == pytest.approx(math.log(8), abs=1e-12)
    assert entropy(np.zeros(10, dtype=int)) == 0.0


def test_mutual_information_matches_scikit_learn():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 6, size=2000)
    b = (a + rng.integers(0, 3, size=2000)) % 6
    assert mutual_information(a, b) == pytest.approx(mutual_info_score(a, b), abs=1e-10)
    assert mutual_information(a, a) == pytest.approx(entropy(a), abs=1e-10)  # I(a; a) = H(a)
    assert mutual_information(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(mutual_info_score(a, b), abs=1e-10)


def test_mutual_information_is_zero_for_exactly_independent_labels(grid):
    assert mutual_information(grid[:, 0], grid[:, 1]) == pytest.approx(0.0, abs=1e-12)


def test_mutual_information_matrix_matches_scikit_learn_entrywise():
    rng = np.random.default_rng(4)
    codes, factors = rng.integers(0, 4, size=(400, 3)), rng.integers(0, 3, size=(400, 2))
    codes[:, 1] = factors[:, 0]
    m = mutual_information_matrix(codes, factors)
    assert m.shape == (3, 2)
    for j in range(3):
        for k in range(2):
            assert m[j, k] == pytest.approx(mutual_info_score(codes[:, j], factors[:, k]), abs=1e-10)


# ----------------------------------------------------------------------------- the score


def test_latents_equal_to_the_factors_score_exactly_one(grid):
    result = mutual_information_gap(grid.astype(float), grid, n_bins=20)
    assert isinstance(result, MIGResult)
    assert result.score == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(result.gaps, np.ones(len(SIZES)), atol=1e-9)
    np.testing.assert_allclose(result.factor_entropy, np.log(SIZES), atol=1e-12)
    np.testing.assert_allclose(np.diag(result.mutual_info), np.log(SIZES), atol=1e-9)
    np.testing.assert_array_equal(result.best_latent, np.arange(len(SIZES)))


def test_noisy_copies_of_random_factors_plus_nuisance_latents_score_near_one():
    rng = np.random.default_rng(5)
    factors = np.stack([rng.integers(0, s, size=5000) for s in SIZES], axis=1)
    latents = np.concatenate([factors + 0.05 * rng.normal(size=factors.shape), rng.normal(size=(5000, 3))], axis=1)
    result = mutual_information_gap(latents, factors)
    assert result.score > 0.95, result.gaps
    assert result.mutual_info.shape == (len(SIZES) + 3, len(SIZES))


def test_latents_independent_of_the_factors_score_near_zero():
    rng = np.random.default_rng(6)
    factors = np.stack([rng.integers(0, s, size=5000) for s in SIZES], axis=1)
    result = mutual_information_gap(rng.normal(size=(5000, 6)), factors)
    assert 0.0 <= result.score < 0.03, result.gaps


def test_a_factor_copied_into_two_latents_has_gap_zero(grid):
    latents = np.stack([grid[:, 0], grid[:, 0], grid[:, 1], grid[:, 2], grid[:, 3]], axis=1).astype(float)
    result = mutual_information_gap(latents, grid)
    assert result.gaps[0] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(result.gaps[1:], 1.0, atol=1e-9)
    assert result.score == pytest.approx(0.75, abs=1e-9)


def test_a_rotated_pair_of_latents_scores_lower_than_the_aligned_pair(grid):
    x, y = grid[:, 2].astype(float), grid[:, 3].astype(float) * 7 / 3  # two factors with 8 and 4 values
    aligned = mutual_information_gap(np.stack([x, y], axis=1), grid[:, 2:])
    c = s = math.sqrt(0.5)
    rotated = mutual_information_gap(np.stack([c * x - s * y, s * x + c * y], axis=1), grid[:, 2:])
    assert aligned.score == pytest.approx(1.0, abs=1e-9)
    assert rotated.score < 0.5 * aligned.score


def test_the_score_ignores_the_order_sign_and_scale_of_the_latents():
    rng = np.random.default_rng(7)
    factors = np.stack([rng.integers(0, s, size=3000) for s in SIZES], axis=1)
    latents = np.concatenate([factors + 0.5 * rng.normal(size=factors.shape), rng.normal(size=(3000, 2))], axis=1)
    base = mutual_information_gap(latents, factors)
    perm = rng.permutation(latents.shape[1])
    moved = mutual_information_gap(-2.5 * latents[:, perm] + 1.0, factors)
    assert moved.score == pytest.approx(base.score, abs=1e-12)
    np.testing.assert_array_equal(perm[moved.best_latent], base.best_latent)


def test_tensors_and_arrays_give_the_same_score(grid):
    z = grid + np.random.default_rng(8).normal(size=grid.shape)
    a = mutual_information_gap(z, grid)
    b = mutual_information_gap(torch.from_numpy(z).float(), torch.from_numpy(grid))
    assert a.score == pytest.approx(b.score, abs=1e-6)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "latents, factors, kwargs, error, words",
    [
        (np.zeros(10), np.zeros((10, 2), int), {}, ValueError, "latents must have shape (N, J)"),
        (np.zeros((10, 3)), np.zeros((10, 2)), {}, TypeError, "factors must hold integer indices"),
        (np.zeros((10, 3)), np.zeros(10, int), {}, ValueError, "factors must have shape (N, K)"),
        (np.zeros((10, 3)), GOOD[:9], {}, ValueError, "same number of rows"),
        (np.zeros((10, 1)), GOOD, {}, ValueError, "at least 2 columns"),
        (np.full((10, 3), np.nan), GOOD, {}, ValueError, "NaN or inf"),
        (np.zeros((10, 3)), np.tile([[0, 1], [1, 1]], (5, 1)), {}, ValueError, "factors [1] take a single value"),
        (np.zeros((10, 3)), GOOD, {"n_bins": 1}, ValueError, "n_bins must be an int >= 2"),
        (np.zeros((10, 3)), GOOD, {"n_bins": 2.5}, TypeError, "n_bins must be an int"),
        ([[0.0, 1.0]], np.zeros((1, 1), int), {}, TypeError, "latents must be a numpy array or a torch.Tensor"),
        (np.zeros((10, 3), bool), GOOD, {}, TypeError, "latents must hold real numbers"),
    ],
)
def test_mig_rejects_bad_input_with_a_message(latents, factors, kwargs, error, words):
    with pytest.raises(error) as info:
        mutual_information_gap(latents, factors, **kwargs)
    assert words in str(info.value)


def test_the_pieces_reject_bad_input():
    with pytest.raises(ValueError, match="same length"):
        mutual_information(np.zeros(3, int), np.zeros(4, int))
    with pytest.raises(TypeError, match="integer indices"):
        mutual_information(np.zeros(3), np.zeros(3, int))
    with pytest.raises(ValueError, match="must not be empty"):
        entropy(np.zeros(0, int))
    with pytest.raises(ValueError, match="same number of rows"):
        mutual_information_matrix(np.zeros((3, 2), int), np.zeros((4, 2), int))
