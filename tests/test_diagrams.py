"""The pipeline diagrams: a Figure each, the expected labels, nothing overlapping, losses joined right."""
import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import FancyArrowPatch

from vae_course import diagrams

ALL = {
    "autoencoder": diagrams.autoencoder_diagram,
    "denoising": diagrams.denoising_autoencoder_diagram,
    "vae": diagrams.vae_diagram,
    "conditional": diagrams.conditional_vae_diagram,
}
SIZES = {
    "autoencoder": dict(J=16, D=784),
    "denoising": dict(J=16, D=784),
    "vae": dict(J=20, D=784),
    "conditional": dict(J=20, D=784, num_classes=10),
}
# (sub)strings each figure's texts must contain, in matplotlib's mathtext source
EXPECTED = {
    "autoencoder": ["g_\\phi", "f_\\theta", "code $z$", "$J$ numbers", "\\mathcal{L}_{\\mathrm{rec}}(x, \\hat x)", "\\hat x"],
    "denoising": ["\\kappa(\\tilde x \\mid x)", "\\tilde x", "g_\\phi", "f_\\theta",
                  "\\mathcal{L}_{\\mathrm{rec}}(x, \\hat x)", "clean"],
    "vae": ["q_\\phi(z \\mid x)", "$\\mu$", "\\log \\sigma^2", "z = \\mu + \\sigma \\odot \\epsilon",
            "\\epsilon \\sim \\mathcal{N}(0, I)", "p_\\theta(x \\mid z)",
            "\\mathcal{L}_{\\mathrm{rec}} = -\\log p_\\theta(x \\mid z)",
            "\\mathcal{L}_{\\mathrm{KL}} = \\mathrm{KL}(q_\\phi(z \\mid x) \\,\\|\\, \\mathcal{N}(0, I))", "gradients"],
    "conditional": ["q_\\phi(z \\mid x, y)", "p_\\theta(x \\mid z, y)", "one-hot", "label $y$",
                    "z = \\mu + \\sigma \\odot \\epsilon", "\\epsilon \\sim \\mathcal{N}(0, I)",
                    "-\\log p_\\theta(x \\mid z, y)", "\\mathrm{KL}(q_\\phi(z \\mid x, y)"],
}


def _texts(fig):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip() and t.get_visible()]


def _patch(fig, gid):
    found = [p for p in fig.axes[0].patches if p.get_gid() == gid]
    assert len(found) == 1, f"expected one patch with gid {gid!r}, found {len(found)}"
    return found[0]


def _arrow_ends(fig, arrow):
    """The first and last vertex of an arrow's path, in display coordinates."""
    ax = fig.axes[0]
    vertices = arrow._path_original.vertices  # the polyline the arrow was built from, in data units
    return ax.transData.transform(vertices[0]), ax.transData.transform(vertices[-1])


def _inside(point, bbox, tol=1.5):
    return bbox.x0 - tol <= point[0] <= bbox.x1 + tol and bbox.y0 - tol <= point[1] <= bbox.y1 + tol


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("sizes", [False, True], ids=["letters", "numbers"])
@pytest.mark.parametrize("name", ALL)
def test_diagram_is_a_figure_without_overlapping_text(name, sizes):
    fig = ALL[name](**SIZES[name]) if sizes else ALL[name]()
    assert isinstance(fig, matplotlib.figure.Figure)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _texts(fig)
    assert len(texts) >= 6
    boxes = [t.get_window_extent(renderer) for t in texts]
    for (a, ta), (b, tb) in itertools.combinations(zip(boxes, texts), 2):
        assert not a.overlaps(b), f"{ta.get_text()!r} overlaps {tb.get_text()!r}"
    figure_box = fig.bbox
    for box, t in zip(boxes, texts):
        assert _inside((box.x0, box.y0), figure_box, 0) and _inside((box.x1, box.y1), figure_box, 0), \
            f"{t.get_text()!r} leaves the figure"
        assert t.get_fontsize() >= 12, f"{t.get_text()!r} is smaller than 12 pt"
    # every box's label stays inside its box
    for t in texts:
        gid = t.get_gid() or ""
        if gid.endswith(":label"):
            patch = _patch(fig, gid[: -len(":label")])
            inner = patch.get_window_extent(renderer)
            box = t.get_window_extent(renderer)
            assert inner.x0 < box.x0 and box.x1 < inner.x1 and inner.y0 < box.y0 and box.y1 < inner.y1, \
                f"the label {t.get_text()!r} spills out of its box"
    # a slide-sized figure
    width, height = fig.get_size_inches()
    assert 10 <= width <= 14 and 3 <= height <= 7


@pytest.mark.parametrize("name", ALL)
def test_diagram_has_its_labels(name):
    fig = ALL[name]()
    joined = "\n".join(t.get_text() for t in _texts(fig))
    for expected in EXPECTED[name]:
        assert expected in joined, f"{name}: no text contains {expected!r}"


@pytest.mark.parametrize("name", ["vae", "conditional"])
def test_sizes_are_printed(name):
    fig = ALL[name](**SIZES[name])
    joined = "\n".join(t.get_text() for t in _texts(fig))
    assert "20 numbers" in joined and "784 numbers" in joined
    assert "$J$" not in joined
    if name == "conditional":
        assert "10 numbers" in joined


def _loss_links(fig, loss_gid):
    """The names of the boxes joined to the loss box, found from the geometry of the arrows."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    loss_box = _patch(fig, loss_gid).get_window_extent(renderer)
    boxes = {p.get_gid(): p.get_window_extent(renderer) for p in ax.patches
             if p.get_gid() and not isinstance(p, FancyArrowPatch) and p.get_gid() != loss_gid}
    joined = set()
    for arrow in [p for p in ax.patches if isinstance(p, FancyArrowPatch)]:
        start, end = _arrow_ends(fig, arrow)
        if _inside(end, loss_box):
            joined |= {name for name, box in boxes.items() if _inside(start, box)}
    return joined


def test_denoising_loss_compares_with_the_clean_input():
    fig = diagrams.denoising_autoencoder_diagram()
    assert _loss_links(fig, "loss_rec") == {"x", "x_hat"}
    labels = {t.get_gid(): t.get_text() for t in _texts(fig)}
    assert "clean" in labels["x:label"] and "\\tilde x" in labels["x_tilde:label"]
    # and the clean input is the one that goes into the corruption
    assert _loss_links(fig, "corrupt") == {"x"}


def test_autoencoder_loss_compares_input_and_reconstruction():
    assert _loss_links(diagrams.autoencoder_diagram(), "loss_rec") == {"x", "x_hat"}


@pytest.mark.parametrize("name", ["vae", "conditional"])
def test_vae_losses_are_attached_to_the_right_parts(name):
    fig = ALL[name]()
    assert _loss_links(fig, "loss_rec") == {"x", "x_hat"}
    kl_fig = ALL[name]()
    kl_fig.canvas.draw()
    renderer = kl_fig.canvas.get_renderer()
    # L_KL is joined to the frame around the two heads mu and log sigma^2
    kl_box = _patch(kl_fig, "loss_kl").get_window_extent(renderer)
    heads = _patch(kl_fig, "heads").get_window_extent(renderer)
    arrow = _patch(kl_fig, "heads->loss_kl")
    start, end = _arrow_ends(kl_fig, arrow)
    assert _inside(start, heads) and _inside(end, kl_box)
    for head in ("mu", "logvar"):
        assert heads.contains(*_patch(kl_fig, head).get_window_extent(renderer).p0)
        assert heads.contains(*_patch(kl_fig, head).get_window_extent(renderer).p1)
    # eps comes into z from the side; z is fed by mu and log sigma^2 and feeds the decoder
    assert _loss_links(kl_fig, "z") == {"eps", "mu", "logvar", "heads"}
    assert _loss_links(kl_fig, "decoder") >= {"z"}
    if name == "conditional":
        assert "y" in _loss_links(kl_fig, "encoder") and "y" in _loss_links(kl_fig, "decoder")
    else:
        assert "y" not in _loss_links(kl_fig, "decoder")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad, error", [(0, ValueError), (2.5, TypeError), ("3", TypeError), (True, TypeError)])
def test_bad_sizes_are_refused_by_name(name, bad, error):
    with pytest.raises(error, match="^J "):
        ALL[name](J=bad)
    with pytest.raises(error, match="^D "):
        ALL[name](D=bad)


def test_bad_number_of_classes_is_refused():
    with pytest.raises(ValueError, match="num_classes"):
        diagrams.conditional_vae_diagram(num_classes=0)


def test_saved_png_is_not_empty(tmp_path):
    for name, make in ALL.items():
        fig = make()
        path = tmp_path / f"{name}.png"
        fig.savefig(path, dpi=50)
        image = plt.imread(path)
        # something drawn in colour and in black, not a blank canvas
        assert image[..., :3].std() > 0.05
        assert (image[..., :3].sum(axis=-1) < 0.3).mean() > 0.005
