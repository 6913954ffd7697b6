"""The interactive explorers of vae_course.widgets, without a browser.

Each explorer's ``update`` is called directly (and its controls are moved as a browser would
move them); the figure's data must change and match an independent computation: the model's
decoder called directly, the closed-form moment match, scipy's densities, eigenvalues.
"""
import base64
import math

import numpy as np
import pytest
import torch
from scipy import stats

pytest.importorskip("ipywidgets")

from vae_course import data, models, widgets  # noqa: E402


def _vae(latent_dim=2, likelihood="bernoulli", seed=0):
    torch.manual_seed(seed)
    return models.VAE(hidden=(32,), latent_dim=latent_dim, likelihood=likelihood)


def _decode(model, z):
    with torch.no_grad():
        out = model.mean_image(model.decode(torch.tensor([z], dtype=torch.float32)))
    return out[0, 0].numpy()


# ----------------------------------------------------------------------------- latent explorer


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_latent_explorer_image_is_the_decoder_output(likelihood):
    model = _vae(2, likelihood)
    ex = widgets.latent_explorer(model)
    assert ex.png.startswith(b"\x89PNG")
    np.testing.assert_allclose(ex.last["image"], _decode(model, [0.0, 0.0]), atol=1e-6)
    before_png, before_rgba = ex.png, ex.rgba()

    out = ex.update(z0=1.2, z1=-0.7)
    expected = _decode(model, [1.2, -0.7])
    np.testing.assert_allclose(out["image"], expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ex._img.get_array()), expected, atol=1e-6)
    np.testing.assert_allclose(out["z"], [1.2, -0.7])
    assert ex.png != before_png, "the PNG sent to the page did not change"
    assert ex.image.value == ex.png
    assert np.abs(ex.rgba().astype(int) - before_rgba.astype(int)).sum() > 0, "the drawn figure did not change"
    assert ex.controls["z0"].value == pytest.approx(1.2)


def test_latent_explorer_slider_move_redraws_like_a_browser():
    model = _vae(2)
    model.train()
    threads = torch.get_num_threads()
    ex = widgets.latent_explorer(model)
    assert model.training and torch.get_num_threads() == threads, "a redraw must leave the model and torch as found"
    old = ex.image.value
    ex.controls["z1"].value = 2.0  # what the frontend does when a slider moves
    np.testing.assert_allclose(ex.last["image"], _decode(model, [0.0, 2.0]), atol=1e-6)
    assert ex.image.value != old


def test_latent_explorer_dims_and_z0_for_unslid_dimensions():
    model = _vae(5)
    z0 = [0.5, -0.5, 1.0, 0.0, 2.0]
    ex = widgets.latent_explorer(model, z0=z0, limit=2.5, dims=[1, 3])
    assert list(ex.controls) == ["z1", "z3"]
    assert ex.controls["z1"].min == -2.5 and ex.controls["z1"].max == 2.5
    out = ex.update(z3=-1.5)
    expected_z = [0.5, -0.5, 1.0, -1.5, 2.0]
    np.testing.assert_allclose(out["z"], expected_z)
    np.testing.assert_allclose(out["image"], _decode(model, expected_z), atol=1e-6)


def test_latent_explorer_default_dims_are_capped():
    ex = widgets.latent_explorer(_vae(12))
    assert list(ex.controls) == [f"z{j}" for j in range(widgets.MAX_SLIDERS)]


def test_latent_explorer_bad_arguments():
    model = _vae(2)
    with pytest.raises(TypeError, match="model"):
        widgets.latent_explorer(models.Autoencoder(hidden=(8,)))
    with pytest.raises(TypeError, match="ConditionalVAE"):
        widgets.latent_explorer(models.ConditionalVAE(hidden=(8,), latent_dim=2))
    with pytest.raises(ValueError, match="z0 must have shape"):
        widgets.latent_explorer(model, z0=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="limit"):
        widgets.latent_explorer(model, z0=[0.0, 4.0], limit=3.0)
    with pytest.raises(ValueError, match="limit"):
        widgets.latent_explorer(model, limit=0)
    with pytest.raises(TypeError, match="limit"):
        widgets.latent_explorer(model, limit="3")
    with pytest.raises(ValueError, match="dims"):
        widgets.latent_explorer(model, dims=[0, 2])
    with pytest.raises(ValueError, match="repeat"):
        widgets.latent_explorer(model, dims=[1, 1])
    ex = widgets.latent_explorer(model)
    with pytest.raises(ValueError, match="unknown control"):
        ex.update(z7=1.0)
    with pytest.raises(ValueError, match=r"z0 must be a number >= -3 and <= 3, got 5"):
        ex.update(z0=5.0)  # never silently clipped to the slider's end
    with pytest.raises(TypeError, match="z0"):
        ex.update(z0="1")


def test_explorer_displays_as_widget_with_png_fallback():
    ex = widgets.latent_explorer(_vae(2))
    bundle = ex._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == ex.widget.model_id
    assert base64.b64decode(bundle["image/png"]) == ex.png


# ----------------------------------------------------------------------------- traversal


def test_traversal_explorer_image_and_row():
    model = _vae(3)
    z0 = [0.3, -0.2, 0.1]
    ex = widgets.traversal_explorer(model, z0=z0, limit=2.0)
    out = ex.update(dim=2, value=1.5)
    np.testing.assert_allclose(out["image"], _decode(model, [0.3, -0.2, 1.5]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(ex._img.get_array()), out["image"], atol=1e-6)
    values = np.linspace(-2.0, 2.0, 7)
    np.testing.assert_allclose(out["row_values"], values)
    expected_row = np.concatenate([_decode(model, [0.3, -0.2, v]) for v in values], axis=1)
    np.testing.assert_allclose(out["row"], expected_row, atol=1e-6)
    png = ex.png
    out2 = ex.update(dim=0)
    np.testing.assert_allclose(out2["image"], _decode(model, [1.5, -0.2, 0.1]), atol=1e-6)
    assert ex.png != png
    with pytest.raises(ValueError, match="dim must be one of"):
        ex.update(dim=3)
    with pytest.raises(ValueError, match="value"):
        ex.update(value=2.5)


# ----------------------------------------------------------------------------- forward / reverse KL


def _moment_match(weights, means, stds):
    w, m, s = map(np.asarray, (weights, means, stds))
    mu = float(w @ m)
    return mu, math.sqrt(float(w @ (s**2 + m**2)) - mu**2)


def _reverse_brute_force(weights, means, stds):
    """argmin KL(q || p) over a (mu, sigma) grid with a Riemann sum: crude, independent."""
    x = np.linspace(-12, 12, 1201)
    dx = x[1] - x[0]
    p = sum(w * stats.norm.pdf(x, m, s) for w, m, s in zip(weights, means, stds))
    logp = np.log(np.maximum(p, 1e-300))
    mu, sigma = np.meshgrid(np.linspace(-4, 4, 81), np.linspace(0.2, 4, 39), indexing="ij")
    logq = stats.norm.logpdf(x[None, None], mu[..., None], sigma[..., None])
    kl = np.sum(np.exp(logq) * (logq - logp), axis=-1) * dx
    i, j = np.unravel_index(np.argmin(kl), kl.shape)
    return float(mu[i, j]), float(sigma[i, j])


def _fit_stub(weights, means, stds, direction):
    if direction == "forward":
        return _moment_match(weights, means, stds)
    return _reverse_brute_force(weights, means, stds)


def test_kl_explorer_draws_the_mixture_and_fits():
    ex = widgets.KLFitExplorer(fit_fn=_fit_stub)
    out = ex.update(separation=5.0, weight=0.3, width=0.6)
    assert out["weights"] == pytest.approx((0.3, 0.7))
    assert out["means"] == pytest.approx((-2.5, 2.5))
    assert out["stds"] == pytest.approx((0.6, 0.6))
    p = 0.3 * stats.norm.pdf(out["x"], -2.5, 0.6) + 0.7 * stats.norm.pdf(out["x"], 2.5, 0.6)
    np.testing.assert_allclose(out["p"], p, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ex._p.get_ydata(), p, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(out["forward"], _moment_match((0.3, 0.7), (-2.5, 2.5), (0.6, 0.6)))
    np.testing.assert_allclose(out["q_forward"], stats.norm.pdf(out["x"], *out["forward"]), rtol=1e-10)
    np.testing.assert_allclose(out["q_reverse"], stats.norm.pdf(out["x"], *out["reverse"]), rtol=1e-10)
    # the reverse fit sits on the heavier mode
    assert out["reverse"][0] == pytest.approx(2.5, abs=0.15)


def test_kl_explorer_uses_inference_fit_gaussian_kl():
    inference = pytest.importorskip("vae_course.inference")
    ex = widgets.kl_fit_explorer()
    png = ex.png
    out = ex.update(separation=6.0, weight=0.4)
    mix = ((0.4, 0.6), (-3.0, 3.0), (0.7, 0.7))
    assert out["forward"] == pytest.approx(inference.fit_gaussian_kl(*mix, direction="forward"))
    assert out["reverse"] == pytest.approx(inference.fit_gaussian_kl(*mix, direction="reverse"))
    assert out["forward"] == pytest.approx(_moment_match(*mix), rel=1e-9)
    mu, sigma = _reverse_brute_force(*mix)
    assert out["reverse"][0] == pytest.approx(mu, abs=0.11) and out["reverse"][1] == pytest.approx(sigma, abs=0.11)
    assert ex.png != png


def test_kl_explorer_keeps_the_width_ratio_and_checks_arguments():
    def moments_only(weights, means, stds, direction):
        return _moment_match(weights, means, stds)

    ex = widgets.KLFitExplorer(weights=(0.5, 0.5), means=(1.0, -1.0), stds=(0.5, 1.0), fit_fn=moments_only)
    # components are reordered left to right; unequal widths keep their ratio
    w, m, s = ex.mixture()
    assert m == pytest.approx((-1.0, 1.0)) and s == pytest.approx((1.0, 0.5))
    _, _, s2 = ex.mixture({"separation": 2.0, "weight": 0.5, "width": 1.5})
    assert s2[0] / s2[1] == pytest.approx(2.0) and np.mean(s2) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="sum to 1"):
        widgets.kl_fit_explorer(weights=(0.5, 0.6))
    with pytest.raises(ValueError, match="stds"):
        widgets.kl_fit_explorer(stds=(0.7, 0.0))
    with pytest.raises(ValueError, match="2 entries"):
        widgets.kl_fit_explorer(means=(0.0, 1.0, 2.0))
    with pytest.raises(TypeError, match="means"):
        widgets.kl_fit_explorer(means=3.0)


# ----------------------------------------------------------------------------- EM stepper


def _em_fixture():
    mixtures = pytest.importorskip("vae_course.mixtures")
    X, _, _ = data.sample_gmm_2d(n=200, k=3, seed=1)
    em = mixtures.GaussianMixtureEM(3, max_iter=8, init="random", seed=0, keep_snapshots=True).fit(X)
    return X, em.snapshots_


def test_em_stepper_steps_and_draws_each_snapshot():
    X, snaps = _em_fixture()
    ex = widgets.em_stepper(X, snaps)
    assert ex.controls["step"].max == len(snaps) - 1
    t = len(snaps) - 1
    png = ex.png
    out = ex.update(step=t)
    assert ex.png != png
    np.testing.assert_allclose(out["means"], snaps[t]["means"])
    np.testing.assert_allclose(np.column_stack(ex._means.get_data()), snaps[t]["means"])
    # responsibilities against scipy's densities
    dens = np.column_stack([w * stats.multivariate_normal.pdf(X, m, c) for w, m, c in
                            zip(snaps[t]["weights"], snaps[t]["means"], snaps[t]["covariances"])])
    np.testing.assert_allclose(out["responsibilities"], dens / dens.sum(1, keepdims=True), atol=1e-10)
    # the 1-sd ellipse's semi-axes: product^2 = det(cov), sum of squares = trace(cov)
    for j, cov in enumerate(snaps[t]["covariances"]):
        nsd, e = ex._ellipses[j][0]
        a, b = e.width / 2, e.height / 2
        assert nsd == 1.0
        assert (a * b) ** 2 == pytest.approx(np.linalg.det(cov), rel=1e-9)
        assert a**2 + b**2 == pytest.approx(np.trace(cov), rel=1e-9)
        # the major axis points along the top eigenvector
        vals, vecs = np.linalg.eigh(cov)
        angle = math.radians(e.angle)
        assert abs(abs(np.dot([math.cos(angle), math.sin(angle)], vecs[:, 1])) - 1) < 1e-9
        np.testing.assert_allclose(e.get_center(), snaps[t]["means"][j])


def test_em_stepper_buttons():
    X, snaps = _em_fixture()
    ex = widgets.em_stepper(X, snaps)
    ex.prev_button.click()
    assert ex.controls["step"].value == 0, "previous at the first iteration stays there"
    ex.next_button.click()
    ex.next_button.click()
    assert ex.controls["step"].value == 2 and ex.last["step"] == 2
    assert ex.last["log_likelihood"] == pytest.approx(snaps[2]["log_likelihood"])
    ex.update(step=len(snaps) - 1)
    ex.next_button.click()
    assert ex.controls["step"].value == len(snaps) - 1


def test_em_stepper_bad_arguments():
    snap = {"weights": [1.0], "means": [[0.0, 0.0]], "covariances": [np.eye(2)], "log_likelihood": -1.0}
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\)"):
        widgets.em_stepper(np.zeros((5, 3)), [snap])
    with pytest.raises(ValueError, match="at least one"):
        widgets.em_stepper(X, [])
    with pytest.raises(ValueError, match="lacks the key"):
        widgets.em_stepper(X, [{"weights": [1.0]}])
    with pytest.raises(ValueError, match=r"snapshots\[1\]"):
        widgets.em_stepper(X, [snap, {**snap, "means": [[0.0, 0.0, 0.0]]}])
    with pytest.raises(TypeError, match="snapshots"):
        widgets.em_stepper(X, snap)


# ----------------------------------------------------------------------------- denoising


def test_denoising_explorer_matches_corrupt_and_model():
    torch.manual_seed(0)
    model = models.Autoencoder(hidden=(32,), latent_dim=4)
    images = data.load_digits().test.x[:5]
    ex = widgets.denoising_explorer(model, images)
    png = ex.png
    out = ex.update(kind="gaussian", level=0.4)
    noisy = data.corrupt(images, "gaussian", 0.4, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(out["corrupted"], noisy.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(out["denoised"], model(noisy).numpy(), atol=1e-6)
    np.testing.assert_allclose(np.asarray(ex._artists[1].get_array()),
                               np.concatenate(list(noisy[:, 0].numpy()), axis=1))
    assert ex.png != png
    again = ex.update(kind="gaussian", level=0.4)
    np.testing.assert_array_equal(again["corrupted"], out["corrupted"])  # fixed seed
    masked = ex.update(kind="mask", level=1.0)
    assert np.all(masked["corrupted"] == 0)
    with pytest.raises(ValueError, match="noise kind|kind must be one of"):
        ex.update(kind="blur")


def test_denoising_explorer_bad_arguments():
    model = models.Autoencoder(hidden=(8,), latent_dim=2)
    x = torch.zeros(3, 1, 28, 28)
    with pytest.raises(TypeError, match="Autoencoder"):
        widgets.denoising_explorer(_vae(2), x)
    with pytest.raises(ValueError, match="images must have shape"):
        widgets.denoising_explorer(model, torch.zeros(3, 28, 28))
    with pytest.raises(TypeError, match="images"):
        widgets.denoising_explorer(model, np.zeros((3, 1, 28, 28)))
    with pytest.raises(ValueError, match="kinds"):
        widgets.denoising_explorer(model, x, kinds=("mask", "blur"))


# ----------------------------------------------------------------------------- headless notebook


def test_explorers_run_headless_in_a_kernel(tmp_path):
    """The cells a notebook would hold run under nbclient, and the widget state is stored."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = [
        "import numpy as np, torch\nfrom vae_course import models, data, widgets\ntorch.manual_seed(0)",
        "# NBVAL_IGNORE_OUTPUT\nwidgets.latent_explorer(models.VAE(hidden=(16,), latent_dim=2))",
        "# NBVAL_IGNORE_OUTPUT\nwidgets.traversal_explorer(models.VAE(hidden=(16,), latent_dim=3))",
        "# NBVAL_IGNORE_OUTPUT\nwidgets.denoising_explorer(models.Autoencoder(hidden=(16,)), data.load_digits().test.x[:4])",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells[1:]:
        (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert "application/vnd.jupyter.widget-view+json" in out.data and "image/png" in out.data
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    images = [m for m in state.values() if m["model_name"] == "ImageModel"]
    assert len(images) == 3


def test_widgets_is_a_package_with_one_module_per_explorer():
    import importlib

    names = {"base": ["Explorer", "MAX_SLIDERS"], "latent": ["LatentExplorer", "latent_explorer"],
             "traversal": ["TraversalExplorer", "traversal_explorer"], "kl_fit": ["KLFitExplorer", "kl_fit_explorer"],
             "em": ["EMStepper", "em_stepper"], "denoising": ["DenoisingExplorer", "denoising_explorer"]}
    for module, public in names.items():
        mod = importlib.import_module(f"vae_course.widgets.{module}")
        for name in public:
            assert getattr(widgets, name) is getattr(mod, name)
    assert sorted(widgets.__all__) == sorted(n for ns in names.values() for n in ns)
