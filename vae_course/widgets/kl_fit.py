"""The forward / reverse KL explorer: Gaussians fitted to a two-component 1-D mixture."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .base import Explorer, _check_number, _slider

__all__ = ["KLFitExplorer", "kl_fit_explorer"]


def _mixture_pdf(x, weights, means, stds):
    x = np.asarray(x)[:, None]
    w, m, s = (np.asarray(a, dtype=float)[None] for a in (weights, means, stds))
    return (w * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))).sum(axis=1)


def _normal_pdf(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def _check_pair(name, value, positive=False):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a pair of numbers, got {type(value).__name__}")
    if len(value) != 2:
        raise ValueError(f"{name} must have 2 entries (one per mixture component), got {len(value)}")
    out = tuple(_check_number(f"{name}[{i}]", v, positive=positive) for i, v in enumerate(value))
    return out


class KLFitExplorer(Explorer):
    """A two-component 1-D mixture p and the Gaussians q fitted by forward KL(p||q) and
    reverse KL(q||p). Sliders: ``separation`` (distance between the means), ``weight``
    (of the left component) and ``width`` (component standard deviation; with unequal
    ``stds`` both are scaled, keeping their ratio).

    ``update(separation=..., weight=..., width=...)`` returns ``{'weights', 'means',
    'stds', 'forward': (mu, sigma), 'reverse': (mu, sigma), 'x', 'p', 'q_forward',
    'q_reverse'}``.
    """

    figsize = (5.4, 3.0)

    def __init__(self, weights=(0.5, 0.5), means=(-2.0, 2.0), stds=(0.7, 0.7),
                 fit_fn: Callable | None = None):
        super().__init__()
        weights = _check_pair("weights", weights)
        if min(weights) <= 0:
            raise ValueError(f"weights must be > 0, got {weights}")
        if abs(sum(weights) - 1) > 1e-6:
            raise ValueError(f"weights must sum to 1, got {weights} (sum {sum(weights)})")
        means = _check_pair("means", means)
        stds = _check_pair("stds", stds, positive=True)
        if fit_fn is None:
            from ..inference import fit_gaussian_kl as fit_fn  # written in vae_course/inference.py
        self.fit_fn = fit_fn
        self.center = 0.5 * (means[0] + means[1])
        lo_first = means[0] <= means[1]
        # order so that component 0 is the left one
        if not lo_first:
            weights, means, stds = weights[::-1], means[::-1], stds[::-1]
        self.std_ratio = np.array(stds) / np.mean(stds)
        sep0, w0, width0 = means[1] - means[0], weights[0], float(np.mean(stds))
        sep_max = max(8.0, math.ceil(sep0 * 1.5))
        width_max = max(2.0, math.ceil(width0 * 2))
        self.controls["separation"] = _slider("separation", sep0, 0.0, sep_max, 0.1)
        self.controls["weight"] = _slider("weight", w0, 0.05, 0.95, 0.05)
        self.controls["width"] = _slider("width", width0, 0.1, width_max, 0.05)
        half = sep_max / 2 + 3 * width_max * float(self.std_ratio.max())
        self.x = np.linspace(self.center - half, self.center + half, 600)

        ax = self.ax = self.figure.add_axes([0.08, 0.14, 0.9, 0.76])
        zeros = np.zeros_like(self.x)
        (self._p,) = ax.plot(self.x, zeros, color="k", lw=2, label="target p (mixture)")
        (self._qf,) = ax.plot(self.x, zeros, color="C0", lw=1.8, label="forward KL(p‖q): mass-covering")
        (self._qr,) = ax.plot(self.x, zeros, color="C3", lw=1.8, ls="--", label="reverse KL(q‖p): mode-seeking")
        ax.set_xlim(self.x[0], self.x[-1])
        # no y tick labels: the y range follows the curves without redrawing the static axes
        ax.set_yticks([])
        ax.set_ylabel("density", fontsize=8)
        ax.set_xlabel("x", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper left", frameon=False)
        self._title = ax.set_title("", fontsize=8)
        self._animate(self._p, self._qf, self._qr, self._title)
        self._build_controls()
        self._redraw()

    def mixture(self, values=None):
        """(weights, means, stds) of the target for the given (or current) slider values."""
        values = self.values() if values is None else values
        s, w, width = values["separation"], values["weight"], values["width"]
        weights = (float(w), float(1 - w))
        means = (self.center - s / 2, self.center + s / 2)
        stds = tuple(float(width * r) for r in self.std_ratio)
        return weights, means, stds

    def _draw(self, values):
        weights, means, stds = self.mixture(values)
        fwd = tuple(float(v) for v in self.fit_fn(weights, means, stds, direction="forward"))
        rev = tuple(float(v) for v in self.fit_fn(weights, means, stds, direction="reverse"))
        p = _mixture_pdf(self.x, weights, means, stds)
        qf = _normal_pdf(self.x, *fwd)
        qr = _normal_pdf(self.x, *rev)
        self._p.set_ydata(p)
        self._qf.set_ydata(qf)
        self._qr.set_ydata(qr)
        top = 1.6 * max(p.max(), qf.max(), qr.max())  # room for the legend
        lo, hi = self.ax.get_ylim()
        if top > hi or top < 0.5 * hi:  # rescale only on a large change (less jumping)
            self.ax.set_ylim(0, top)
        self._title.set_text(f"forward: μ={fwd[0]:+.2f}, σ={fwd[1]:.2f}    reverse: μ={rev[0]:+.2f}, σ={rev[1]:.2f}")
        return {"weights": weights, "means": means, "stds": stds, "forward": fwd, "reverse": rev,
                "x": self.x, "p": p, "q_forward": qf, "q_reverse": qr}


def kl_fit_explorer(weights=(0.5, 0.5), means=(-2.0, 2.0), stds=(0.7, 0.7)) -> KLFitExplorer:
    """The forward/reverse KL fitting explorer.

    The target is the mixture ``sum_k weights[k] N(means[k], stds[k]^2)``; sliders move its
    separation, the weight of the left component and the width. The Gaussian that minimises
    KL(p||q) (moment matching: covers both modes) and one that minimises KL(q||p) (locks
    onto a mode when they are far apart) come from ``vae_course.inference.fit_gaussian_kl``.
    """
    return KLFitExplorer(weights=weights, means=means, stds=stds)
