"""The beta-VAE traversal explorer: pick a latent dimension, slide its value, see the sweep."""
from __future__ import annotations

import numpy as np

from ..validation import check_int
from .base import Explorer, _check_number, _check_vae, _check_z0, _decode_mean, _slider, _slider_step, _to_display, \
    _widgets

__all__ = ["TraversalExplorer", "traversal_explorer"]


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
        steps = check_int("steps", steps, minimum=2, what="the number of images in the sweep")
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
