"""Interactive explorers for the lectures: one call each, built on ipywidgets and matplotlib.

- :func:`latent_explorer` (VAE): one slider per latent dimension, the decoded image redraws.
- :func:`traversal_explorer` (beta-VAE): pick a dimension, slide its value; a row of
  traversal images shows the whole sweep.
- :func:`kl_fit_explorer`: forward and reverse KL fits of one Gaussian to a two-component
  1-D mixture whose separation, weight and width move with sliders.
- :func:`em_stepper`: step through the iterations of EM on 2-D data.
- :func:`denoising_explorer` (denoising autoencoder): noise kind and level; input,
  corrupted input and reconstruction redraw.

Each function returns an explorer object. It shows itself when it is the last expression
of a notebook cell (``explorer.widget`` is the ipywidgets box). The picture is a matplotlib
figure drawn off-screen (Agg) and sent to the page as PNG bytes in an ``ipywidgets.Image``:
this renders in JupyterLab, Voila, headless nbclient/nbval, and in static HTML exported with
the widget state. The figure and its artists are made once; a redraw only changes their data.

``explorer.update(**values)`` sets the controls to the given values (names as in
``explorer.controls``), redraws, and returns the data drawn (a dict of numpy arrays and
numbers), so the explorers can be tested and benchmarked without a browser.
"""
from __future__ import annotations

import contextlib
import io
import math
import numbers
from typing import Any, Callable

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

__all__ = [
    "Explorer",
    "LatentExplorer",
    "TraversalExplorer",
    "KLFitExplorer",
    "EMStepper",
    "DenoisingExplorer",
    "latent_explorer",
    "traversal_explorer",
    "kl_fit_explorer",
    "em_stepper",
    "denoising_explorer",
    "MAX_SLIDERS",
]

#: How many latent dimensions get a slider when ``dims`` is not given.
MAX_SLIDERS = 10
_DPI = 72


def _widgets():
    import ipywidgets  # imported lazily: the rest of vae_course does not need it

    return ipywidgets


# ----------------------------------------------------------------------------- argument checks


def _check_number(name, value, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _check_vae(model):
    from .models import VAE, ConditionalVAE

    if not isinstance(model, VAE):
        raise TypeError(f"model must be a vae_course.models.VAE, got {type(model).__name__}")
    if isinstance(model, ConditionalVAE):
        raise TypeError("model must be an unconditional VAE; a ConditionalVAE's decoder also needs a label y")
    return model


def _check_z0(z0, latent_dim, limit):
    if z0 is None:
        return np.zeros(latent_dim)
    if isinstance(z0, torch.Tensor):
        z0 = z0.detach().cpu().numpy()
    try:
        arr = np.asarray(z0, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"z0 must be a sequence of {latent_dim} numbers, got {type(z0).__name__}") from None
    if arr.ndim == 2 and arr.shape[0] == 1:
        raise ValueError(f"z0 must be one latent vector of shape ({latent_dim},), got shape {arr.shape}; use z0[0]")
    if arr.shape != (latent_dim,):
        raise ValueError(f"z0 must have shape ({latent_dim},) (the model's latent_dim), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("z0 must hold finite numbers")
    if np.any(np.abs(arr) > limit):
        raise ValueError(f"z0 must lie within the slider range [-limit, limit] = [{-limit}, {limit}], "
                         f"got max |z0| = {np.abs(arr).max():.3g}; raise limit")
    return arr.copy()


def _check_dims(dims, latent_dim):
    if dims is None:
        return list(range(min(latent_dim, MAX_SLIDERS)))
    if isinstance(dims, (str, bytes)) or not hasattr(dims, "__iter__"):
        raise TypeError(f"dims must be a sequence of latent dimension indices, got {type(dims).__name__}")
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"dims must hold ints, got {d!r} ({type(d).__name__})")
        if not 0 <= int(d) < latent_dim:
            raise ValueError(f"dims must hold indices in 0..{latent_dim - 1} (latent_dim={latent_dim}), got {d}")
        out.append(int(d))
    if not out:
        raise ValueError("dims must name at least one latent dimension")
    if len(set(out)) != len(out):
        raise ValueError(f"dims must not repeat a dimension, got {list(dims)}")
    return out


def _to_display(img: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) for one channel, (H, W, C) for three."""
    if img.shape[0] == 1:
        return img[0]
    if img.shape[0] == 3:
        return np.transpose(img, (1, 2, 0))
    raise ValueError(f"images must have 1 or 3 channels to be shown, got {img.shape[0]}")


@contextlib.contextmanager
def _eval_mode(model):
    """Eval mode, no gradients, and one CPU thread for the course's small networks: a redraw
    is a few small matrix products, and on a busy 2-core machine torch's thread pool waits far
    longer than it saves (measured: p95 8 ms with one thread, 60-150 ms with two)."""
    was_training = model.training
    threads = torch.get_num_threads()
    model.eval()
    try:
        if threads != 1:
            torch.set_num_threads(1)
        with torch.no_grad():
            yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)
        model.train(was_training)


def _device(model):
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _decode_mean(model, z) -> np.ndarray:
    """E[x | z] for latent vectors ``z`` (n x J) as a float numpy array (n, C, H, W)."""
    z = torch.as_tensor(np.asarray(z), dtype=torch.float32, device=_device(model))
    if z.dim() == 1:
        z = z[None]
    with _eval_mode(model):
        return model.mean_image(model.decode(z)).float().cpu().numpy()


# ----------------------------------------------------------------------------- base class


class Explorer:
    """An interactive figure: controls (ipywidgets), a matplotlib figure, and ``update``.

    Subclasses build their controls in ``self.controls`` (name -> widget), their artists on
    ``self.figure`` and implement ``_draw(values) -> dict``. Moving a control calls
    ``update``; calling ``update(name=value, ...)`` moves the controls and redraws.
    """

    figsize = (4.0, 3.0)

    def __init__(self):
        self.figure = Figure(figsize=self.figsize, dpi=_DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.controls: dict[str, Any] = {}
        self.png: bytes = b""
        self.last: dict = {}
        self._holding = False
        self._image = None
        self._widget = None
        self._animated: list = []  # artists redrawn on every update (blitted over a cached background)
        self._background = None
        self._needs_full_draw = True

    def _animate(self, *artists):
        """Mark artists that change on updates: the rest of the figure is drawn once and cached."""
        for a in artists:
            a.set_animated(True)
            self._animated.append(a)
        self._needs_full_draw = True

    # -- widgets ------------------------------------------------------------------------

    def _build_controls(self):
        """Called after the controls exist: observe them and make the first picture."""
        for w in self.controls.values():
            w.observe(self._on_change, names="value")

    def _layout(self):
        W = _widgets()
        return W.HBox([W.VBox(list(self.controls.values())), self.image])

    @property
    def image(self):
        """The ``ipywidgets.Image`` that shows the figure."""
        if self._image is None:
            W = _widgets()
            self._image = W.Image(value=self.png, format="png")
            self._image.add_class("vae-explorer-image")
        return self._image

    @property
    def widget(self):
        """The ipywidgets box holding the controls and the picture."""
        if self._widget is None:
            self._widget = self._layout()
            self._widget.add_class("vae-explorer")
        return self._widget

    def _repr_mimebundle_(self, **kwargs):
        """The widget view, plus the current picture as a PNG for frontends without widgets
        (static HTML without widget state, GitHub's viewer); JupyterLab and Voila show the widget."""
        import base64

        data = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        data["image/png"] = base64.b64encode(self.png).decode("ascii")
        data["text/plain"] = f"<{type(self).__name__}: run the notebook in JupyterLab or Voila to use the controls>"
        return data

    def close(self):
        """Close the widgets (frees the kernel-side comms)."""
        for w in self.controls.values():
            w.close()
        if self._image is not None:
            self._image.close()
        if self._widget is not None:
            self._widget.close()

    # -- drawing ------------------------------------------------------------------------

    def values(self) -> dict:
        """The controls' current values."""
        return {name: w.value for name, w in self.controls.items()}

    def _on_change(self, change):
        if not self._holding:
            self._redraw()

    def _check_value(self, name, value):
        w = self.controls[name]
        if hasattr(w, "options"):  # Dropdown
            allowed = [opt[1] if isinstance(opt, tuple) else opt for opt in w.options]
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
            return value
        if isinstance(w.value, numbers.Integral):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            value = int(value)
        else:
            value = _check_number(name, value)
        if not w.min <= value <= w.max:
            raise ValueError(f"{name} must be in [{w.min}, {w.max}] (the slider's range), got {value}")
        return value

    def update(self, **values) -> dict:
        """Set controls (by name) to ``values``, redraw, and return the data drawn."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"unknown control(s) {unknown}; this explorer has {list(self.controls)}")
        checked = {name: self._check_value(name, v) for name, v in values.items()}
        self._holding = True
        try:
            for name, v in checked.items():
                self.controls[name].value = v
        finally:
            self._holding = False
        return self._redraw()

    def _redraw(self) -> dict:
        self.last = self._draw(self.values())
        self.png = self._render()
        if self._image is not None:
            self._image.value = self.png
        return self.last

    def _draw(self, values: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _render(self) -> bytes:
        """Draw the figure with Agg and encode it as PNG (fast settings).

        Blitting: the static part (axes, ticks, labels) is drawn once and kept as a background;
        an update restores it and draws only the animated artists on top.
        """
        from PIL import Image as PILImage

        if self._needs_full_draw or self._background is None:
            self.canvas.draw()  # skips animated artists
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
            self._needs_full_draw = False
        else:
            self.canvas.restore_region(self._background)
        for a in self._animated:
            if a.get_visible():
                self.figure.draw_artist(a)
        buf = self.canvas.buffer_rgba()
        w, h = self.canvas.get_width_height(physical=True)
        img = PILImage.frombuffer("RGBA", (w, h), buf, "raw", "RGBA", 0, 1)
        out = io.BytesIO()
        img.save(out, format="PNG", compress_level=1)
        return out.getvalue()

    def rgba(self) -> np.ndarray:
        """The picture as last sent to the page, an (H, W, 4) uint8 array."""
        from PIL import Image as PILImage

        return np.asarray(PILImage.open(io.BytesIO(self.png)).convert("RGBA")).copy()


def _slider(description, value, lo, hi, step, fmt=".2f"):
    W = _widgets()
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         continuous_update=True, readout_format=fmt,
                         style={"description_width": "initial"}, layout=W.Layout(width="260px"))


def _slider_step(limit):
    return float(f"{limit / 30:.2g}")


# ----------------------------------------------------------------------------- VAE latent explorer


class LatentExplorer(Explorer):
    """Sliders for latent dimensions ``dims``; the VAE's decoded mean image redraws.

    ``update(z0=..., z1=...)`` (names ``f"z{j}"``) returns ``{'z': (J,), 'image': (H, W)}``
    with ``image`` equal to ``model.mean_image(model.decode(z))`` for the current ``z``.
    """

    figsize = (4.6, 2.6)

    def __init__(self, model, z0=None, limit=3.0, dims=None):
        super().__init__()
        self.model = _check_vae(model)
        self.limit = _check_number("limit", limit, positive=True)
        self.latent_dim = int(model.latent_dim)
        self.z = _check_z0(z0, self.latent_dim, self.limit)
        self.dims = _check_dims(dims, self.latent_dim)
        step = _slider_step(self.limit)
        for j in self.dims:
            self.controls[f"z{j}"] = _slider(f"z{j}", float(self.z[j]), -self.limit, self.limit, step)

        fig = self.figure
        ax_z = fig.add_axes([0.08, 0.14, 0.36, 0.74])
        ax_img = fig.add_axes([0.52, 0.04, 0.46, 0.86])
        first = _to_display(_decode_mean(model, self.z)[0])
        self._img = ax_img.imshow(first, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax_img.set_axis_off()
        ax_img.set_title("decoded E[x | z]", fontsize=9)
        if len(self.dims) == 2:
            a, b = self.dims
            for r in (1.0, 2.0):
                ax_z.add_patch(Ellipse((0, 0), 2 * r, 2 * r, fill=False, ls=":", color="0.6"))
            (self._marker,) = ax_z.plot([self.z[a]], [self.z[b]], "o", color="C3")
            ax_z.set_xlim(-self.limit, self.limit)
            ax_z.set_ylim(-self.limit, self.limit)
            ax_z.set_aspect("equal")
            ax_z.set_xlabel(f"z{a}", fontsize=8)
            ax_z.set_ylabel(f"z{b}", fontsize=8, labelpad=1)
            ax_z.set_title("z in the latent plane", fontsize=9)
            self._bars = None
        else:
            pos = np.arange(len(self.dims))
            ax_z.axvspan(-1, 1, color="0.9")
            self._bars = ax_z.barh(pos, self.z[self.dims], color="C0")
            ax_z.set_yticks(pos, [f"z{j}" for j in self.dims], fontsize=7)
            ax_z.set_xlim(-self.limit, self.limit)
            ax_z.invert_yaxis()
            ax_z.set_title("z (shaded: ±1 prior sd)", fontsize=9)
            self._marker = None
        ax_z.tick_params(labelsize=7)
        self._animate(self._img, *([self._marker] if self._marker is not None else list(self._bars)))
        self._build_controls()
        self._redraw()

    def _draw(self, values):
        z = self.z.copy()
        for j in self.dims:
            z[j] = values[f"z{j}"]
        image = _to_display(_decode_mean(self.model, z)[0])
        self._img.set_data(image)
        if self._marker is not None:
            a, b = self.dims
            self._marker.set_data([z[a]], [z[b]])
        else:
            for bar, j in zip(self._bars, self.dims):
                bar.set_width(z[j])
        return {"z": z, "image": image}


def latent_explorer(model, z0=None, limit=3.0, dims=None) -> LatentExplorer:
    """The VAE latent explorer: one slider per latent dimension, the decoded image redraws.

    Parameters
    ----------
    model : vae_course.models.VAE
        The decoder used is ``model.mean_image(model.decode(z))``.
    z0 : sequence of ``latent_dim`` numbers, optional
        The starting latent vector (default: the prior mean 0). Dimensions without a slider
        stay at their ``z0`` value.
    limit : float
        Each slider covers ``[-limit, limit]``.
    dims : sequence of int, optional
        The dimensions that get a slider (default: the first ``MAX_SLIDERS``).
    """
    return LatentExplorer(model, z0=z0, limit=limit, dims=dims)


# ----------------------------------------------------------------------------- beta-VAE traversal


class TraversalExplorer(Explorer):
    """Choose a latent dimension and slide its value; all other dimensions stay at ``z0``.

    ``update(dim=j, value=v)`` returns ``{'z', 'image', 'row', 'row_values'}``: the decoded
    image at the current z and the row of ``steps`` images sweeping dimension ``dim``.
    """

    figsize = (5.6, 3.0)

    def __init__(self, model, z0=None, limit=3.0, steps=7):
        super().__init__()
        W = _widgets()
        self.model = _check_vae(model)
        self.limit = _check_number("limit", limit, positive=True)
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 2:
            raise ValueError(f"steps must be an int >= 2, got {steps!r}")
        self.latent_dim = int(model.latent_dim)
        self.z = _check_z0(z0, self.latent_dim, self.limit)
        self.row_values = np.linspace(-self.limit, self.limit, int(steps))
        self.controls["dim"] = W.Dropdown(options=[(f"z{j}", j) for j in range(self.latent_dim)], value=0,
                                          description="dimension", layout=W.Layout(width="260px"))
        self.controls["value"] = _slider("value", float(self.z[0]), -self.limit, self.limit,
                                         _slider_step(self.limit))
        self._row_dim = None

        fig = self.figure
        ax_img = fig.add_axes([0.3, 0.36, 0.4, 0.56])
        ax_row = fig.add_axes([0.02, 0.02, 0.96, 0.28])
        shape = model.image_shape
        blank = _to_display(np.zeros(shape, dtype=np.float32))
        self._img = ax_img.imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax_img.set_axis_off()
        self._title = ax_img.set_title("", fontsize=9)
        h, w = blank.shape[:2]
        row_blank = np.zeros((h, w * len(self.row_values)) + blank.shape[2:], dtype=np.float32)
        self._row = ax_row.imshow(row_blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest",
                                  extent=(-0.5, len(self.row_values) - 0.5, h - 0.5, -0.5), aspect="auto")
        ax_row.set_axis_off()
        (self._cursor,) = ax_row.plot([0, 0], [-0.5, h - 0.5], color="C3", lw=2)
        self._row_h = h
        self._animate(self._img, self._title, self._row, self._cursor)
        self._build_controls()
        self._redraw()

    def _draw(self, values):
        j, v = int(values["dim"]), float(values["value"])
        if j != self._row_dim:
            zs = np.repeat(self.z[None], len(self.row_values), axis=0)
            zs[:, j] = self.row_values
            imgs = [_to_display(im) for im in _decode_mean(self.model, zs)]
            self._row_images = np.concatenate(imgs, axis=1)
            self._row.set_data(self._row_images)
            self._row_dim = j
        z = self.z.copy()
        z[j] = v
        image = _to_display(_decode_mean(self.model, z)[0])
        self._img.set_data(image)
        # position of v along the row, in image-index units
        x = (v + self.limit) / (2 * self.limit) * (len(self.row_values) - 1)
        self._cursor.set_xdata([x, x])
        self._title.set_text(f"z{j} = {v:+.2f}")
        return {"z": z, "image": image, "row": self._row_images, "row_values": self.row_values.copy()}


def traversal_explorer(model, z0=None, limit=3.0) -> TraversalExplorer:
    """The beta-VAE traversal explorer: a dropdown picks a latent dimension, a slider its value.

    The decoded image ``model.mean_image(model.decode(z))`` redraws; below it a row of images
    sweeps the chosen dimension over ``[-limit, limit]`` with the others held at ``z0``
    (default 0), and a red line marks the slider's value. The slider's value carries over
    when another dimension is chosen, so dimensions can be compared at the same value.
    """
    return TraversalExplorer(model, z0=z0, limit=limit)


# ----------------------------------------------------------------------------- forward / reverse KL


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
            from .inference import fit_gaussian_kl as fit_fn  # written in vae_course/inference.py
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


# ----------------------------------------------------------------------------- EM stepper


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
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"X must be an (N, 2) array of numbers, got {type(X).__name__}") from None
        if X.ndim != 2 or X.shape[1] != 2 or len(X) == 0:
            raise ValueError(f"X must have shape (N, 2) with N >= 1, got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X must hold finite numbers")
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


# ----------------------------------------------------------------------------- denoising autoencoder


class DenoisingExplorer(Explorer):
    """Noise kind (dropdown) and level (slider): input, corrupted input and the
    autoencoder's reconstruction of the corrupted input redraw. The noise is drawn with a
    fixed seed, so a setting always shows the same corruption.

    ``update(kind=..., level=...)`` returns ``{'input', 'corrupted', 'denoised'}`` (each
    n x C x H x W) with ``denoised = model(corrupted)``.
    """

    def __init__(self, model, images, kinds=("mask", "gaussian", "salt_pepper"), seed=0, max_images=8):
        super().__init__()
        from .data import CORRUPTIONS
        from .models import Autoencoder

        W = _widgets()
        if not isinstance(model, Autoencoder):
            raise TypeError(f"model must be a vae_course.models.Autoencoder, got {type(model).__name__}")
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor (n, C, H, W), got {type(images).__name__}")
        if not images.is_floating_point():
            raise TypeError(f"images must be a floating-point tensor, got dtype {images.dtype}")
        if images.dim() != 4 or tuple(images.shape[1:]) != tuple(model.image_shape) or len(images) == 0:
            raise ValueError(f"images must have shape (n, {', '.join(map(str, model.image_shape))}) with n >= 1, "
                             f"got {tuple(images.shape)}")
        if len(images) > max_images:
            raise ValueError(f"images must hold at most {max_images} images (one row of the explorer), got {len(images)}; "
                             f"pass e.g. images[:{max_images}]")
        if isinstance(kinds, str) or not hasattr(kinds, "__iter__"):
            raise TypeError(f"kinds must be a sequence of noise kinds from {CORRUPTIONS}, got {kinds!r}")
        kinds = tuple(kinds)
        if not kinds or any(k not in CORRUPTIONS for k in kinds):
            raise ValueError(f"kinds must be a non-empty sequence drawn from {CORRUPTIONS}, got {kinds}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.model, self.seed = model, int(seed)
        self.images = images.detach().float().cpu()
        n = len(self.images)
        self.controls["kind"] = W.Dropdown(options=list(kinds), value=kinds[0], description="noise",
                                           layout=W.Layout(width="260px"))
        self.controls["level"] = _slider("level", 0.3, 0.0, 1.0, 0.05)

        self.figsize = (max(3.0, 0.9 * n + 0.8), 3.0)
        self.figure.set_size_inches(*self.figsize)
        strip = lambda x: np.concatenate([_to_display(im) for im in x.numpy()], axis=1)  # noqa: E731
        self._strip = strip
        clean = strip(self.images)
        self._axes, self._artists = [], []
        for i, title in enumerate(("input x", "corrupted x̃", "reconstruction from x̃")):
            ax = self.figure.add_axes([0.01, 1 - (i + 1) * 0.325 + 0.005, 0.98, 0.26])
            art = ax.imshow(clean, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="equal")
            ax.set_axis_off()
            ax.set_title(title, fontsize=8, pad=2)
            self._artists.append(art)
        self._animate(self._artists[1], self._artists[2])
        self._build_controls()
        self._redraw()

    def corrupted(self, kind, level):
        """The corrupted images for a noise kind and level (seeded: same call, same noise)."""
        from .data import corrupt

        gen = torch.Generator().manual_seed(self.seed)
        return corrupt(self.images, kind, float(level), generator=gen)

    def _draw(self, values):
        noisy = self.corrupted(values["kind"], values["level"])
        dev = _device(self.model)
        with _eval_mode(self.model):
            denoised = self.model(noisy.to(dev)).float().cpu()
        self._artists[1].set_data(self._strip(noisy))
        self._artists[2].set_data(self._strip(denoised))
        return {"input": self.images.numpy(), "corrupted": noisy.numpy(), "denoised": denoised.numpy()}


def denoising_explorer(model, images, kinds=("mask", "gaussian", "salt_pepper")) -> DenoisingExplorer:
    """The denoising explorer: noise kind (dropdown) and level (slider) for up to 8 ``images``.

    Rows: the input, its corruption by ``vae_course.data.corrupt`` (fixed seed 0) and the
    reconstruction ``model(corrupted)`` of a ``vae_course.models.Autoencoder``. For
    ``'gaussian'`` the level is the noise standard deviation; otherwise the fraction of
    pixels hit.
    """
    return DenoisingExplorer(model, images, kinds=kinds)
