"""The base of the interactive explorers: ``Explorer`` (controls, an off-screen matplotlib
figure sent as PNG, ``update``) and the helpers the explorers share."""
from __future__ import annotations

import contextlib
import io
import numbers
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..validation import check_choice, check_int
from ..validation import check_number as _check_number

__all__ = ["Explorer", "MAX_SLIDERS"]

#: How many latent dimensions get a slider when ``dims`` is not given.
MAX_SLIDERS = 10
_DPI = 72


def _widgets():
    import ipywidgets  # imported lazily: the rest of vae_course does not need it

    return ipywidgets


# ----------------------------------------------------------------------------- argument checks


def _check_vae(model):
    from ..models import VAE, ConditionalVAE

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
    out = [check_int(f"dims[{i}]", d, minimum=0, maximum=latent_dim - 1, what=f"a latent dimension, latent_dim={latent_dim}")
           for i, d in enumerate(dims)]
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
            return check_choice(name, value, allowed)
        if isinstance(w.value, numbers.Integral):
            return check_int(name, value, minimum=w.min, maximum=w.max)
        return _check_number(name, value, minimum=w.min, maximum=w.max)

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
