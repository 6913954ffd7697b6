"""The EM stepper: step through the iterations of EM on 2-D data."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.patches import Ellipse

from ..validation import check_array
from .base import Explorer, _widgets

__all__ = ["EMStepper", "em_stepper"]


_SNAPSHOT_KEYS = ("weights", "means", "covariances", "log_likelihood")


def _check_snapshots(snapshots):
    if isinstance(snapshots, dict) or not hasattr(snapshots, "__len__"):
        raise TypeError(f"snapshots must be a list of dicts with keys {_SNAPSHOT_KEYS}, got {type(snapshots).__name__}")
    if len(snapshots) == 0:
        raise ValueError("snapshots must hold at least one iteration")
    out, k = [], None
    for i, s in enumerate(snapshots):
        if not isinstance(s, dict):
            raise TypeError(f"snapshots[{i}] must be a dict, got {type(s).__name__}")
        missing = [key for key in _SNAPSHOT_KEYS if key not in s]
        if missing:
            raise ValueError(f"snapshots[{i}] lacks the key(s) {missing}; each needs {_SNAPSHOT_KEYS}")
        w = np.asarray(s["weights"], dtype=float)
        m = np.asarray(s["means"], dtype=float)
        c = np.asarray(s["covariances"], dtype=float)
        k = len(w) if k is None else k
        if w.shape != (k,) or m.shape != (k, 2) or c.shape != (k, 2, 2):
            raise ValueError(f"snapshots[{i}] must have weights ({k},), means ({k}, 2), covariances ({k}, 2, 2); "
                             f"got {w.shape}, {m.shape}, {c.shape}")
        ll = s["log_likelihood"]
        ll = float("nan") if ll is None else float(ll)
        out.append({"weights": w, "means": m, "covariances": c, "log_likelihood": ll})
    return out


def _ellipse_params(cov, nsd):
    """(width, height, angle in degrees) of the nsd-standard-deviation ellipse of a 2x2 cov."""
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals, 0, None)
    angle = math.degrees(math.atan2(vecs[1, 1], vecs[0, 1]))
    return 2 * nsd * math.sqrt(vals[1]), 2 * nsd * math.sqrt(vals[0]), angle


def _responsibilities(X, weights, means, covs):
    k = len(weights)
    logp = np.empty((len(X), k))
    for j in range(k):
        cov = covs[j]
        det = np.linalg.det(cov)
        if det <= 0:
            logp[:, j] = -np.inf
            continue
        d = X - means[j]
        sol = np.linalg.solve(cov, d.T).T
        logp[:, j] = np.log(weights[j] + 1e-300) - 0.5 * (d * sol).sum(1) - 0.5 * math.log(det) - math.log(2 * math.pi)
    logp -= logp.max(axis=1, keepdims=True)
    r = np.exp(logp)
    return r / r.sum(axis=1, keepdims=True)


class EMStepper(Explorer):
    """Step through EM iterations on 2-D points: a slider and previous/next buttons.

    Points are coloured by their responsibilities; each component shows its mean and 1- and
    2-standard-deviation ellipses; a small panel traces the log-likelihood.
    ``update(step=t)`` returns ``{'step', 'weights', 'means', 'covariances',
    'log_likelihood', 'responsibilities'}`` of snapshot ``t``.
    """

    figsize = (6.4, 3.2)

    def __init__(self, X, snapshots):
        super().__init__()
        W = _widgets()
        X = check_array("X", X, shape=("N", 2), nonempty=True)
        self.X = X
        self.snapshots = _check_snapshots(snapshots)
        self.k = len(self.snapshots[0]["weights"])
        n = len(self.snapshots)
        self.controls["step"] = W.IntSlider(value=0, min=0, max=n - 1, step=1, description="iteration",
                                            continuous_update=True, layout=W.Layout(width="320px"))
        self.prev_button = W.Button(description="◀ previous", layout=W.Layout(width="100px"))
        self.next_button = W.Button(description="next ▶", layout=W.Layout(width="100px"))
        self.prev_button.on_click(lambda _: self.step(-1))
        self.next_button.on_click(lambda _: self.step(+1))

        fig = self.figure
        ax = self.ax = fig.add_axes([0.06, 0.08, 0.52, 0.84])
        ax_ll = fig.add_axes([0.68, 0.2, 0.3, 0.66])
        self._base_colors = np.array([(*c[:3],) for c in _component_colors(self.k)])
        self._scatter = ax.scatter(X[:, 0], X[:, 1], s=8, c=np.tile([[0.5, 0.5, 0.5]], (len(X), 1)), lw=0)
        self._ellipses = []
        for j in range(self.k):
            pair = []
            for nsd, ls in ((1.0, "-"), (2.0, "--")):
                e = Ellipse((0, 0), 1, 1, fill=False, lw=1.6, ls=ls, color=self._base_colors[j])
                ax.add_patch(e)
                pair.append((nsd, e))
            self._ellipses.append(pair)
        (self._means,) = ax.plot([], [], "kx", ms=8, mew=2)
        pad = 0.1 * (X.max(0) - X.min(0) + 1e-9)
        ax.set_xlim(X[:, 0].min() - pad[0], X[:, 0].max() + pad[0])
        ax.set_ylim(X[:, 1].min() - pad[1], X[:, 1].max() + pad[1])
        ax.tick_params(labelsize=7)
        self._title = ax.set_title("", fontsize=9)
        lls = np.array([s["log_likelihood"] for s in self.snapshots])
        self.log_likelihoods = lls
        ax_ll.plot(np.arange(n), lls, "-", color="0.4", lw=1.2)
        (self._ll_marker,) = ax_ll.plot([0], [lls[0]], "o", color="C3")
        ax_ll.set_xlabel("iteration", fontsize=8)
        ax_ll.set_title("log-likelihood", fontsize=9)
        ax_ll.tick_params(labelsize=7)
        if n == 1:
            ax_ll.set_xlim(-0.5, 0.5)
        self._animate(self._scatter, *[e for pair in self._ellipses for _, e in pair], self._means,
                      self._ll_marker, self._title)
        self._build_controls()
        self._redraw()

    def _layout(self):
        W = _widgets()
        return W.VBox([W.HBox([self.prev_button, self.controls["step"], self.next_button]), self.image])

    def close(self):
        """Close the widgets, the two buttons included."""
        self.prev_button.close()
        self.next_button.close()
        super().close()

    def step(self, delta: int = 1) -> dict:
        """Move ``delta`` iterations (stops at the first and the last)."""
        s = self.controls["step"]
        return self.update(step=int(min(max(s.value + int(delta), s.min), s.max)))

    def _draw(self, values):
        t = int(values["step"])
        snap = self.snapshots[t]
        w, m, c = snap["weights"], snap["means"], snap["covariances"]
        r = _responsibilities(self.X, w, m, c)
        self._scatter.set_facecolor(np.clip(r @ self._base_colors, 0, 1))
        for j in range(self.k):
            for nsd, e in self._ellipses[j]:
                width, height, angle = _ellipse_params(c[j], nsd)
                e.set_center(m[j])
                e.width, e.height, e.angle = width, height, angle
        self._means.set_data(m[:, 0], m[:, 1])
        ll = snap["log_likelihood"]
        self._ll_marker.set_data([t], [ll])
        self._title.set_text(f"iteration {t}   log-likelihood {ll:.2f}")
        return {"step": t, **snap, "responsibilities": r}


def _component_colors(k):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(j % 10) for j in range(k)]


def em_stepper(X, snapshots) -> EMStepper:
    """The EM stepper: step through EM's iterations on 2-D points ``X`` (N x 2).

    ``snapshots`` is one dict per iteration with keys ``'weights'`` (K,), ``'means'`` (K, 2),
    ``'covariances'`` (K, 2, 2) and ``'log_likelihood'`` (a number; None is shown as missing),
    e.g. ``GaussianMixtureEM(..., keep_snapshots=True).fit(X).snapshots_``.
    """
    return EMStepper(X, snapshots)
