"""Tests of vae_course.shapes: images of shapes with known, independent generative factors."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency, chisquare

from vae_course.shapes import FACTOR_NAMES, SHAPE_NAMES, factor_grid, factor_values, make_shapes, render_shapes

SIZE = 28
RADIUS0 = 0.25 * SIZE  # a shape's radius at scale 1 (the module's convention)
AREA = {  # area in units of radius^2: square of half-side 0.75, ellipse 1 x 0.5, equilateral triangle of circumradius 1
    "square": 1.5**2,
    "ellipse": math.pi * 0.5,
    "triangle": 3 * math.sqrt(3) / 4,
}


@pytest.fixture(scope="module")
def data():
    return make_shapes(3000, seed=0, antialias=2)


def moments(img):
    """Mass, centre (column, row) and the covariance in (x right, y up) coordinates of one image."""
    img = img.double()
    rows, cols = torch.meshgrid(torch.arange(SIZE, dtype=torch.float64) + 0.5, torch.arange(SIZE, dtype=torch.float64) + 0.5, indexing="ij")
    mass = img.sum()
    cx, cy = (img * cols).sum() / mass, (img * rows).sum() / mass
    dx, dy = cols - cx, -(rows - cy)
    cov = torch.tensor([[(img * dx * dx).sum(), (img * dx * dy).sum()], [(img * dx * dy).sum(), (img * dy * dy).sum()]]) / mass
    return mass.item(), cx.item(), cy.item(), cov


def test_images_factors_and_values_have_the_documented_form(data):
    assert data.images.shape == (3000, 1, SIZE, SIZE) and data.images.dtype == torch.float32
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert data.factors.shape == (3000, 5) and data.factors.dtype == torch.int64
    assert data.values.shape == (3000, 5)
    assert data.names == FACTOR_NAMES
    assert data.sizes == (3, 6, 8, 8, 8)
    for k, grid in enumerate(data.grid):
        assert data.factors[:, k].min() >= 0 and data.factors[:, k].max() < len(grid)
        np.testing.assert_allclose(data.values[:, k].numpy(), grid[data.factors[:, k].numpy()], rtol=1e-6)
    assert len(data) == 3000 and "shape=3" in repr(data)


def test_factor_grids_hold_the_documented_values():
    shape, scale, rotation, x, y = factor_values(SIZE)
    np.testing.assert_array_equal(shape, [0, 1, 2])
    np.testing.assert_allclose(scale, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    np.testing.assert_allclose(rotation, np.arange(8) * (math.pi / 2) / 8)
    np.testing.assert_allclose(np.diff(x), np.full(7, x[1] - x[0]))  # evenly spaced
    np.testing.assert_allclose(x + x[::-1], np.full(8, SIZE))  # symmetric about the image centre
    np.testing.assert_array_equal(x, y)


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_shapes(50, seed=3), make_shapes(50, seed=3), make_shapes(50, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    assert not torch.equal(a.factors, c.factors)


def test_factors_are_uniform_and_pairwise_independent(data):
    f = data.factors.numpy()
    for k, s in enumerate(data.sizes):
        counts = np.bincount(f[:, k], minlength=s)
        assert chisquare(counts).pvalue > 1e-3, f"factor {FACTOR_NAMES[k]} is not uniform: {counts}"
    for i, j in itertools.combinations(range(5), 2):
        table = np.zeros((data.sizes[i], data.sizes[j]))
        np.add.at(table, (f[:, i], f[:, j]), 1)
        assert chi2_contingency(table).pvalue > 1e-3, f"factors {FACTOR_NAMES[i]} and {FACTOR_NAMES[j]} look dependent"


def test_the_image_centre_of_mass_is_the_position_factor(data):
    fine = render_shapes(data.factors[:60], antialias=16)  # fine supersampling: coverage close to exact
    for i in range(60):
        _, cx, cy, _ = moments(fine[i, 0])
        assert abs(cx - data.values[i, 3].item()) < 0.06, (i, cx, data.values[i, 3].item())
        assert abs(cy - data.values[i, 4].item()) < 0.06, (i, cy, data.values[i, 4].item())


@pytest.mark.parametrize("shape", range(3))
def test_the_area_is_the_closed_form_area_of_each_shape_at_its_scale(shape):
    f = factor_grid((1, 6, 8, 1, 1))
    f[:, 0] = shape
    f[:, 3:] = 4
    imgs = render_shapes(f, antialias=16)
    scales = torch.tensor(factor_values()[1], dtype=torch.float32)[f[:, 1]]
    expected = AREA[SHAPE_NAMES[shape]] * (scales * RADIUS0) ** 2
    got = imgs.sum(dim=(1, 2, 3))
    rel = ((got - expected) / expected).abs().max().item()
    assert rel < 0.015, f"{SHAPE_NAMES[shape]}: largest relative area error {rel:.3f}"


def test_the_ellipse_major_axis_points_along_the_rotation_counterclockwise():
    f = factor_grid((1, 1, 8, 1, 1))
    f[:, 0] = SHAPE_NAMES.index("ellipse")
    f[:, 1] = 5
    f[:, 3:] = 4
    imgs = render_shapes(f, antialias=4)
    angles = factor_values()[2]
    for img, angle in zip(imgs, angles):
        _, _, _, cov = moments(img[0])
        evals, evecs = torch.linalg.eigh(cov)
        major = evecs[:, -1]
        got = math.atan2(major[1].item(), major[0].item()) % math.pi
        diff = min(abs(got - angle), math.pi - abs(got - angle))
        assert diff < math.radians(1.5), f"rotation {math.degrees(angle):.1f} deg: major axis at {math.degrees(got):.1f} deg"
        # semi-axes 1 and 0.5 (times the radius): the variances of a filled ellipse are a^2/4 and b^2/4
        np.testing.assert_allclose(evals.numpy(), [(0.5 * RADIUS0) ** 2 / 4, RADIUS0**2 / 4], rtol=0.05)


def test_the_unrotated_triangle_points_up():
    f = torch.tensor([[SHAPE_NAMES.index("triangle"), 5, 0, 4, 4]])
    img = render_shapes(f, antialias=1)[0, 0]
    ink_rows = img.sum(dim=1).nonzero().flatten()
    top, bottom = img[ink_rows[0]].sum(), img[ink_rows[-1]].sum()
    assert top < bottom, "the vertex (narrow end) should be at the top of the unrotated triangle"


def test_every_shape_stays_inside_the_image():
    f = factor_grid((3, 1, 8, 2, 2))
    f[:, 1] = 5  # the largest scale
    f[:, 3:] *= 7  # the extreme positions 0 and 7
    imgs = render_shapes(f, antialias=2)[:, 0]
    border = torch.cat([imgs[:, 0], imgs[:, -1], imgs[:, :, 0], imgs[:, :, -1]], dim=1)
    assert border.max() == 0, "a shape touches the image border"
    assert (imgs.sum(dim=(1, 2)) > 0).all()


def test_antialias_one_gives_binary_images():
    imgs = make_shapes(20, antialias=1).images
    assert set(imgs.unique().tolist()) <= {0.0, 1.0}


def test_a_subset_of_shapes_and_other_grid_sizes():
    d = make_shapes(40, shapes=("ellipse",), n_scale=2, n_rotation=3, n_position=5)
    assert d.sizes == (1, 2, 3, 5, 5)
    assert (d.factors[:, 0] == 0).all()


def test_factor_grid_lists_every_combination_once():
    g = factor_grid((2, 3, 4))
    assert g.shape == (24, 3)
    assert g.tolist() == [list(t) for t in itertools.product(range(2), range(3), range(4))]


def test_render_accepts_numpy_indices():
    f = np.array([[0, 1, 2, 3, 4]])
    assert torch.equal(render_shapes(f), render_shapes(torch.from_numpy(f)))


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"n": 0}, ValueError, "n must be an int >= 1"),
        ({"n": 2.0}, TypeError, "n must be an int"),
        ({"n": 5, "size": 8}, ValueError, "size must be an int >= 16"),
        ({"n": 5, "shapes": ("square", "star")}, ValueError, "unknown names ['star']"),
        ({"n": 5, "shapes": "square"}, TypeError, "shapes must be"),
        ({"n": 5, "shapes": ("square", "square")}, ValueError, "must not repeat"),
        ({"n": 5, "antialias": 0}, ValueError, "antialias must be an int >= 1"),
        ({"n": 5, "seed": -1}, ValueError, "seed must be an int >= 0"),
        ({"n": 5, "n_rotation": 0}, ValueError, "n_rotation must be an int >= 1"),
    ],
)
def test_make_shapes_rejects_bad_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        make_shapes(**kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "factors, error, words",
    [
        (torch.zeros(3, 5), TypeError, "integer indices"),
        (torch.zeros(3, 4, dtype=torch.long), ValueError, "shape (N, 5)"),
        (torch.zeros(5, dtype=torch.long), ValueError, "shape (N, 5)"),
        (torch.tensor([[0, 6, 0, 0, 0]]), ValueError, "the scale index) must be in 0..5"),
        (torch.tensor([[-1, 0, 0, 0, 0]]), ValueError, "the shape index) must be in 0..2"),
        ([[0, 0, 0, 0, 0]], TypeError, "torch.Tensor or numpy array"),
    ],
)
def test_render_shapes_rejects_bad_factors(factors, error, words):
    with pytest.raises(error) as info:
        render_shapes(factors)
    assert words in str(info.value)


def test_factor_grid_rejects_bad_sizes():
    with pytest.raises(TypeError):
        factor_grid(3)
    with pytest.raises(ValueError, match="sizes\\[1\\] must be an int >= 1"):
        factor_grid((2, 0))
