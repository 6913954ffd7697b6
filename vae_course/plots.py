"""Plots used across the course, and ``save_figure`` for the lecture figures.

Each function draws on an ``ax`` when one is given and returns the figure.
"""
from __future__ import annotations

import re

import matplotlib
import matplotlib.figure

import matplotlib.pyplot as plt
import numpy as np
import torch

from .config import figures_dir
from .validation import check_int

__all__ = [
    "image_grid",
    "show_images",
    "show_reconstructions",
    "latent_scatter",
    "manifold_grid",
    "loss_curves",
    "save_figure",
]


def _to_numpy_images(x, name="images"):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a tensor or an array, got {type(x).__name__}")
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim == 2:
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"flat {name} must have a square number of pixels, got {x.shape[1]}")
        x = x.reshape(-1, side, side)
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (N, 1, H, W), (N, H, W) or (N, H*W), got {x.shape}")
    return x


def image_grid(images, nrow: int = 8, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tile N grey images into one array with ``nrow`` images per row."""
    x = _to_numpy_images(images)
    nrow = check_int("nrow", nrow, minimum=1)
    n, h, w = x.shape
    rows = int(np.ceil(n / nrow))
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = x[i]
    return grid


def show_images(images, nrow: int = 8, title: str | None = None, ax=None, size: float = 0.6):
    """Show images as a grid (grey levels, 0 black, 1 white)."""
    grid = image_grid(images, nrow=nrow)
    if ax is None:
        n = len(_to_numpy_images(images))
        rows = int(np.ceil(n / nrow))
        _, ax = plt.subplots(figsize=(max(2.0, size * min(nrow, n)), max(1.0, size * rows + (0.3 if title else 0))))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def show_reconstructions(x, x_hat, n: int = 10, title: str | None = None, labels=("input", "reconstruction")):
    """Inputs in the top row, their reconstructions below."""
    x, x_hat = _to_numpy_images(x, "x")[:n], _to_numpy_images(x_hat, "x_hat")[:n]
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {x.shape} and {x_hat.shape}")
    fig, axes = plt.subplots(2, 1, figsize=(0.7 * len(x) + 1, 1.8))
    for ax, imgs, lab in zip(axes, (x, x_hat), labels):
        ax.imshow(image_grid(imgs, nrow=len(imgs)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(lab, rotation=0, ha="right", va="center", fontsize=8)
        for s in ax.spines.values():
            s.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def latent_scatter(z, labels=None, ax=None, title: str | None = None, s: float = 6):
    """Scatter the first two latent coordinates, coloured by label."""
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"z must have shape (N, J) with J >= 2, got {z.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=s, alpha=0.7)
    else:
        labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        if len(labels) != len(z):
            raise ValueError(f"labels must have one entry per code: {len(z)} codes, {len(labels)} labels")
        pts = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=s, alpha=0.8, vmin=-0.5, vmax=9.5)
        ax.figure.colorbar(pts, ax=ax, ticks=range(10), label="label")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax.figure


@torch.no_grad()
def manifold_grid(decode, n: int = 15, ax=None, title: str | None = None, image_shape=None, limits=None, pad: int = 2):
    """Decode a regular n x n grid of codes in two latent dimensions and tile the images.

    ``decode(z)`` maps a (n*n, 2) tensor to images. With ``limits=None`` the grid points are
    Phi^{-1}(p) for p evenly spaced in (0, 1), so each cell holds equal prior mass (the part of
    the plane that prior samples visit). With ``limits=r`` (or ``(lo, hi)``) they are evenly
    spaced on [-r, r] (or [lo, hi]) in both coordinates, so the grid can cover where the
    encoder puts its codes; the axes then show z-coordinates at the tiles' centres, to read
    beside a scatter of codes. ``pad`` white pixels separate the tiles.
    """
    n = check_int("n", n, minimum=2)
    pad = check_int("pad", pad, minimum=0)
    if limits is None:
        p = (torch.arange(n, dtype=torch.float32) + 0.5) / n
        q = torch.distributions.Normal(0.0, 1.0).icdf(p)
    else:
        if isinstance(limits, (int, float)) and not isinstance(limits, bool):
            lo, hi = -float(limits), float(limits)
        elif isinstance(limits, (tuple, list)) and len(limits) == 2:
            lo, hi = float(limits[0]), float(limits[1])
        else:
            raise TypeError(f"limits must be None, a number r (for [-r, r]) or a pair (lo, hi), got {limits!r}")
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"limits must give finite lo < hi, got ({lo}, {hi})")
        q = torch.linspace(lo, hi, n)
    zz = torch.stack(torch.meshgrid(q, q.flip(0), indexing="xy"), dim=-1).reshape(-1, 2)
    images = decode(zz)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    grid = image_grid(images, nrow=n, pad=pad)
    if limits is None:
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
    else:
        half = (hi - lo) / (n - 1) / 2
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest",
                  extent=(lo - half, hi + half, lo - half, hi + half))
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax.figure


def loss_curves(history, parts=("total",), ax=None, title: str | None = None, logy: bool = False):
    """Training (solid) and validation (dashed) curves of the chosen loss parts per epoch."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for part in parts:
        if part not in history.train:
            raise ValueError(f"part {part!r} was not recorded; recorded parts: {sorted(history.train)}")
        epochs = np.arange(1, len(history.train[part]) + 1)
        line, = ax.plot(epochs, history.train[part], label=f"train {part}")
        if history.val.get(part):
            ax.plot(epochs, history.val[part], "--", color=line.get_color(), label=f"validation {part}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax.figure


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def save_figure(fig, name: str, formats=("png", "pdf"), dpi: int = 150):
    """Write ``fig`` as ``<figures>/<name>.png`` and ``.pdf`` (no timestamps, so byte-stable).

    ``name`` is a file stem such as ``"07_manifold"`` (letters, digits, ``_`` and ``-``).
    Returns the written paths.
    """
    if not isinstance(fig, matplotlib.figure.Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be a file stem of letters, digits, '_' or '-', got {name!r}")
    allowed = {"png", "pdf", "svg"}
    if isinstance(formats, str) or not set(formats) <= allowed or not formats:
        raise ValueError(f"formats must be a non-empty collection drawn from {sorted(allowed)}, got {formats!r}")
    out = []
    for fmt in formats:
        path = figures_dir() / f"{name}.{fmt}"
        metadata = {"pdf": {"CreationDate": None, "ModDate": None}, "png": {"Software": None}, "svg": {"Date": None}}[fmt]
        fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
        out.append(path)
    return out
