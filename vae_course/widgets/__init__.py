"""Interactive explorers for the lectures: one call each, built on ipywidgets and matplotlib.

A small package: ``base`` holds the ``Explorer`` base class and shared helpers, and each
explorer has its own module (``latent``, ``traversal``, ``kl_fit``, ``em``, ``denoising``).
Everything public is importable from ``vae_course.widgets`` directly.

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

from .base import MAX_SLIDERS, Explorer
from .denoising import DenoisingExplorer, denoising_explorer
from .em import EMStepper, em_stepper
from .kl_fit import KLFitExplorer, kl_fit_explorer
from .latent import LatentExplorer, latent_explorer
from .traversal import TraversalExplorer, traversal_explorer

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
