"""The VAE latent explorer: one slider per latent dimension, the decoded image redraws."""
from __future__ import annotations

import numpy as np
from matplotlib.patches import Ellipse

from .base import Explorer, _check_dims, _check_number, _check_vae, _check_z0, _decode_mean, _slider, _slider_step, \
    _to_display

__all__ = ["LatentExplorer", "latent_explorer"]


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
