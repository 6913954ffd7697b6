"""Small images of simple shapes whose generative factors are known (for disentanglement).

Every image shows one white shape on a black background. Five factors, drawn independently
and uniformly from a grid of values, decide the picture:

====== ======================================================== =========================
factor values                                                   default number of values
====== ======================================================== =========================
shape  square, ellipse, triangle (categorical)                  3
scale  0.5 .. 1 (relative size), evenly spaced                  6
rotation  0 .. pi/2 (radians, counterclockwise), endpoint left out  8
x      centre column in pixels, evenly spaced                   8
y      centre row in pixels (down the image), evenly spaced     8
====== ======================================================== =========================

Because each image's factors are known, a metric such as the Mutual Information Gap can
ask which latent dimension of a model carries which factor.  Note the symmetries: a square
rotated by pi/2 equals the unrotated one, so for squares the rotation factor wraps around.

``make_shapes(n)`` draws ``n`` random images; ``factor_grid()`` lists every combination of
factor indices (the full factorial data set) and ``render_shapes(factors)`` draws images
for given factor indices.  Rendering is vectorised over images (torch), with optional
supersampling for anti-aliased edges.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .validation import check_int

__all__ = [
    "FACTOR_NAMES",
    "SHAPE_NAMES",
    "ShapesData",
    "factor_values",
    "factor_grid",
    "render_shapes",
    "make_shapes",
]

FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")
SHAPE_NAMES = ("square", "ellipse", "triangle")

_SCALE_RANGE = (0.5, 1.0)
_ROTATION_RANGE = (0.0, math.pi / 2)  # endpoint excluded
_RADIUS_FRACTION = 0.25  # radius of the shape at scale 1, as a fraction of the image size
_EXTENT = 0.75 * math.sqrt(2)  # the farthest any shape reaches, in units of its radius (square corner)
_CHUNK = 512  # images rendered at once (bounds the memory of supersampling)


@dataclass
class ShapesData:
    """Images of shapes and their generative factors.

    - ``images``: float32 tensor (N, 1, size, size) in [0, 1];
    - ``factors``: int64 tensor (N, 5), the index of each factor's value on its grid
      (columns in the order of ``names``);
    - ``values``: float32 tensor (N, 5), the factor values themselves (shape index, relative
      scale, rotation in radians, centre column and centre row in pixels);
    - ``names``: the factor names; ``sizes``: how many values each factor takes;
    - ``grid``: per factor, the 1-D array of its possible values (``values[:, k] ==
      grid[k][factors[:, k]]``).
    """

    images: torch.Tensor
    factors: torch.Tensor
    values: torch.Tensor
    names: tuple
    sizes: tuple
    grid: tuple

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={s}" for n, s in zip(self.names, self.sizes))
        return f"ShapesData(n={len(self)}, image_size={self.images.shape[-1]}, factors: {sizes})"


# ----------------------------------------------------------------------------- checks


def _check_int(name, value, minimum):
    return check_int(name, value, minimum=minimum)


def _check_shapes(shapes):
    if isinstance(shapes, str) or not isinstance(shapes, (tuple, list)) or not shapes:
        raise TypeError(f"shapes must be a non-empty tuple or list of names from {SHAPE_NAMES}, got {shapes!r}")
    unknown = [s for s in shapes if s not in SHAPE_NAMES]
    if unknown:
        raise ValueError(f"shapes holds unknown names {unknown}; allowed: {SHAPE_NAMES}")
    if len(set(shapes)) != len(shapes):
        raise ValueError(f"shapes must not repeat a name, got {list(shapes)}")
    return tuple(shapes)


def _check_size(size):
    size = _check_int("size", size, 16)
    return size


def factor_values(size: int = 28, shapes=SHAPE_NAMES, n_scale: int = 6, n_rotation: int = 8, n_position: int = 8) -> tuple:
    """The grid of values of each factor, as a tuple of five float arrays (shape, scale, rotation, x, y).

    Positions keep every shape, at every scale and rotation, inside the image.
    """
    size = _check_size(size)
    shapes = _check_shapes(shapes)
    n_scale = _check_int("n_scale", n_scale, 1)
    n_rotation = _check_int("n_rotation", n_rotation, 1)
    n_position = _check_int("n_position", n_position, 1)
    scale = np.linspace(*_SCALE_RANGE, n_scale) if n_scale > 1 else np.array([_SCALE_RANGE[1]])
    rotation = _ROTATION_RANGE[0] + (_ROTATION_RANGE[1] - _ROTATION_RANGE[0]) * np.arange(n_rotation) / n_rotation
    reach = _EXTENT * _RADIUS_FRACTION * size  # farthest pixel distance from the centre, at scale 1
    low, high = reach + 1.0, size - reach - 1.0  # at least one empty pixel on each side
    position = np.linspace(low, high, n_position) if n_position > 1 else np.array([size / 2])
    return (
        np.arange(len(shapes), dtype=np.float64),
        scale.astype(np.float64),
        rotation.astype(np.float64),
        position.astype(np.float64),
        position.astype(np.float64).copy(),
    )


def factor_grid(sizes) -> torch.Tensor:
    """Every combination of factor indices for factors with ``sizes`` values: int64 (prod(sizes), len(sizes)).

    The last factor changes fastest (like ``itertools.product``).
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (tuple, list)) or not sizes:
        raise TypeError(f"sizes must be a non-empty tuple or list of ints, got {sizes!r}")
    sizes = [_check_int(f"sizes[{i}]", s, 1) for i, s in enumerate(sizes)]
    axes = [torch.arange(s) for s in sizes]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(sizes))


# ----------------------------------------------------------------------------- rendering


def _inside(kind: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Whether local coordinates (u, v) (radius-1 units, shape unrotated) lie inside the shape."""
    if kind == "square":  # half-side 0.75
        return torch.maximum(u.abs(), v.abs()) <= 0.75
    if kind == "ellipse":  # semi-axes 1 (along u) and 0.5 (along v)
        return u.pow(2) + (v / 0.5).pow(2) <= 1.0
    # equilateral triangle, circumradius 1, centroid at the origin, one vertex up (+v):
    # inside when the projection on each outward edge normal is at most the inradius 0.5
    c30 = math.sqrt(3) / 2
    return (-v <= 0.5) & (c30 * u + 0.5 * v <= 0.5) & (-c30 * u + 0.5 * v <= 0.5)


def render_shapes(factors, size: int = 28, shapes=SHAPE_NAMES, n_scale: int = 6, n_rotation: int = 8,
                  n_position: int = 8, antialias: int = 3) -> torch.Tensor:
    """Draw one image per row of ``factors`` (int (N, 5): indices of shape, scale, rotation, x, y).

    Returns float32 images (N, 1, size, size) in [0, 1]: the fraction of each pixel the shape
    covers, estimated on an ``antialias`` x ``antialias`` grid of points inside the pixel
    (``antialias=1`` gives binary images). The grids are those of ``factor_values``.
    """
    grid = factor_values(size, shapes, n_scale, n_rotation, n_position)
    shapes = tuple(shapes)
    antialias = _check_int("antialias", antialias, 1)
    if isinstance(factors, np.ndarray):
        factors = torch.from_numpy(factors)
    if not isinstance(factors, torch.Tensor):
        raise TypeError(f"factors must be a torch.Tensor or numpy array of integer indices, got {type(factors).__name__}")
    if factors.is_floating_point() or factors.is_complex() or factors.dtype == torch.bool:
        raise TypeError(f"factors must hold integer indices, got dtype {factors.dtype}")
    if factors.dim() != 2 or factors.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"factors must have shape (N, {len(FACTOR_NAMES)}) for the factors {FACTOR_NAMES}, got {tuple(factors.shape)}")
    factors = factors.long().cpu()
    sizes = [len(g) for g in grid]
    for k, (name, s) in enumerate(zip(FACTOR_NAMES, sizes)):
        col = factors[:, k]
        if col.numel() and (col.min() < 0 or col.max() >= s):
            raise ValueError(
                f"factors[:, {k}] (the {name} index) must be in 0..{s - 1}, got min {col.min().item()} and max {col.max().item()}"
            )

    n = len(factors)
    images = torch.empty(n, 1, size, size)
    values = [torch.as_tensor(g, dtype=torch.float32) for g in grid]
    radius0 = _RADIUS_FRACTION * size
    # sample points: pixel (row i, col j) covers [j, j+1) x [i, i+1); points at its sub-grid centres
    offsets = (torch.arange(antialias, dtype=torch.float32) + 0.5) / antialias
    coords = (torch.arange(size, dtype=torch.float32)[:, None] + offsets[None, :]).reshape(-1)  # (size*a,)
    rows, cols = coords[:, None], coords[None, :]
    for start in range(0, n, _CHUNK):
        f = factors[start : start + _CHUNK]
        kind = f[:, 0]
        radius = (values[1][f[:, 1]] * radius0)[:, None, None]
        angle = values[2][f[:, 2]][:, None, None]
        cx, cy = values[3][f[:, 3]][:, None, None], values[4][f[:, 4]][:, None, None]
        dx, dy = cols - cx, cy - rows  # y measured upwards, so rotation is counterclockwise on screen
        cos, sin = torch.cos(angle), torch.sin(angle)
        u = (cos * dx + sin * dy) / radius  # rotate by -angle into the shape's own frame
        v = (-sin * dx + cos * dy) / radius
        mask = torch.zeros(u.shape, dtype=torch.bool)
        for s, name in enumerate(shapes):
            sel = kind == s
            if sel.any():
                mask[sel] = _inside(name, u[sel], v[sel])
        cover = mask.float().reshape(len(f), size, antialias, size, antialias).mean(dim=(2, 4))
        images[start : start + len(f), 0] = cover
    return images


def make_shapes(n: int, size: int = 28, seed: int = 0, shapes=SHAPE_NAMES, n_scale: int = 6, n_rotation: int = 8,
                n_position: int = 8, antialias: int = 3) -> ShapesData:
    """Draw ``n`` images whose five factors (shape, scale, rotation, x, y) are independent and uniform.

    Returns a ``ShapesData`` with the images (N, 1, size, size) in [0, 1], the factor indices,
    the factor values and the grids. The same ``seed`` gives the same data.
    """
    n = _check_int("n", n, 1)
    seed = _check_int("seed", seed, 0)
    grid = factor_values(size, shapes, n_scale, n_rotation, n_position)
    sizes = tuple(len(g) for g in grid)
    gen = torch.Generator().manual_seed(seed)
    factors = torch.stack([torch.randint(s, (n,), generator=gen) for s in sizes], dim=1)
    images = render_shapes(factors, size, shapes, n_scale, n_rotation, n_position, antialias)
    values = torch.stack([torch.as_tensor(g, dtype=torch.float32)[factors[:, k]] for k, g in enumerate(grid)], dim=1)
    return ShapesData(images, factors, values, FACTOR_NAMES, sizes, grid)
