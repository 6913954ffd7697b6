import hashlib

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy.stats import norm

from vae_course import config, plots, train


def test_image_grid_places_every_image():
    x = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1).expand(6, 1, 2, 2) / 10
    grid = plots.image_grid(x, nrow=4, pad=1, pad_value=-1)
    assert grid.shape == (2 * 3 + 1, 4 * 3 + 1)
    for i in range(6):
        r, c = divmod(i, 4)
        assert np.all(grid[1 + 3 * r : 3 + 3 * r, 1 + 3 * c : 3 + 3 * c] == np.float32(i / 10))
    assert np.all(grid[4:6, 7:9] == -1)  # empty cells keep the padding value
    assert plots.image_grid(np.zeros((3, 16)), nrow=3).shape == (5 + 1, 3 * 5 + 1)
    with pytest.raises(ValueError, match="square"):
        plots.image_grid(np.zeros((3, 15)))
    with pytest.raises(ValueError, match="nrow"):
        plots.image_grid(np.zeros((3, 4, 4)), nrow=0)
    with pytest.raises(TypeError, match="images"):
        plots.image_grid([1, 2])


def test_manifold_grid_decodes_normal_quantiles():
    seen = []

    def decode(z):
        seen.append(z.clone())
        return torch.zeros(len(z), 1, 2, 2)

    fig = plots.manifold_grid(decode, n=4)
    z = seen[0]
    expected = norm.ppf((np.arange(4) + 0.5) / 4)
    np.testing.assert_allclose(np.sort(np.unique(z[:, 0].numpy())), expected, atol=1e-5)
    np.testing.assert_allclose(z[:4, 0].numpy(), expected, atol=1e-5)  # x varies along a row
    assert z[0, 1] > z[-1, 1]  # the top row has the largest z_2
    plt.close(fig)
    with pytest.raises(ValueError, match="n"):
        plots.manifold_grid(decode, n=1)


def test_other_plots_run_and_validate():
    x = torch.rand(8, 1, 5, 5)
    for fig in (plots.show_images(x, nrow=4, title="t"), plots.show_reconstructions(x, x), plots.latent_scatter(torch.randn(8, 2), torch.arange(8))):
        assert len(fig.axes) >= 1
        plt.close(fig)
    h = train.History(train={"total": [3.0, 2.0]}, val={"total": [3.5, 2.5]}, seconds=[1, 1])
    fig = plots.loss_curves(h)
    assert len(fig.axes[0].lines) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="part"):
        plots.loss_curves(h, parts=("kl",))
    with pytest.raises(ValueError, match="same shape"):
        plots.show_reconstructions(x, x[:, :, :4])
    with pytest.raises(ValueError, match="labels"):
        plots.latent_scatter(torch.randn(8, 2), torch.arange(7))
    with pytest.raises(ValueError, match="z must have shape"):
        plots.latent_scatter(torch.randn(8))


def _draw():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    return fig


def test_save_figure_writes_png_and_pdf_reproducibly(tmp_path):
    config.set_figures_dir(tmp_path)
    try:
        paths = plots.save_figure(_draw(), "00_line")
        assert sorted(p.name for p in paths) == ["00_line.pdf", "00_line.png"]
        first = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
        plots.save_figure(_draw(), "00_line")
        second = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
        assert first == second
        assert b"CreationDate" not in (tmp_path / "00_line.pdf").read_bytes()
    finally:
        config.set_figures_dir(None)
        plt.close("all")
    with pytest.raises(ValueError, match="name"):
        plots.save_figure(_draw(), "../escape")
    with pytest.raises(ValueError, match="formats"):
        plots.save_figure(_draw(), "ok", formats=("jpg",))
    with pytest.raises(TypeError, match="fig"):
        plots.save_figure("not a figure", "ok")
    plt.close("all")


def test_manifold_grid_with_limits_spans_them_evenly_and_pads():
    seen = []

    def decode(z):
        seen.append(z.clone())
        return torch.zeros(len(z), 1, 5, 5)

    fig = plots.manifold_grid(decode, n=5, limits=3.0, pad=2)
    z = seen[0]
    assert torch.allclose(z[:, 0].unique(), torch.tensor([-3.0, -1.5, 0.0, 1.5, 3.0]))
    assert z[0, 1] == 3.0 and z[-1, 1] == -3.0          # top row is the largest z_2
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (5 * (5 + 2) + 2,) * 2       # tiles of 5 pixels, 2 pixels of padding
    assert fig.axes[0].images[0].get_extent() == [-3.75, 3.75, -3.75, 3.75]
    plots.manifold_grid(decode, n=3, limits=(-1.0, 2.0))
    assert torch.allclose(seen[-1][:, 0].unique(), torch.tensor([-1.0, 0.5, 2.0]))
    plt.close("all")
    for bad, err in [((2.0, 1.0), ValueError), ("wide", TypeError), (float("nan"), ValueError)]:
        with pytest.raises(err, match="limits"):
            plots.manifold_grid(decode, n=3, limits=bad)
    with pytest.raises(ValueError, match="pad"):
        plots.manifold_grid(decode, n=3, pad=-1)
