"""The denoising explorer: noise kind and level; input, corrupted input and reconstruction."""
from __future__ import annotations

import numpy as np
import torch

from ..validation import check_int
from .base import Explorer, _device, _eval_mode, _slider, _to_display, _widgets

__all__ = ["DenoisingExplorer", "denoising_explorer"]


class DenoisingExplorer(Explorer):
    """Noise kind (dropdown) and level (slider): input, corrupted input and the
    autoencoder's reconstruction of the corrupted input redraw. The noise is drawn with a
    fixed seed, so a setting always shows the same corruption.

    ``update(kind=..., level=...)`` returns ``{'input', 'corrupted', 'denoised'}`` (each
    n x C x H x W) with ``denoised = model(corrupted)``.
    """

    def __init__(self, model, images, kinds=("mask", "gaussian", "salt_pepper"), seed=0, max_images=8):
        super().__init__()
        from ..data import CORRUPTIONS
        from ..models import Autoencoder

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
        seed = check_int("seed", seed)
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
        from ..data import corrupt

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
