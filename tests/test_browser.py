"""What a person sees, checked in a real browser (Debian's chromium driven by Playwright).

1. The offline HTML: a small notebook is executed (widget state stored) and exported with
   scripts/html_export.py into a temporary folder; the index and the page are opened from
   file:// with every other request blocked: the math is typeset by the local MathJax, the
   figures load, the widget shows, and no request needed the network.
2. JupyterLab: a server on 127.0.0.1 (free port, no token) opens a tiny notebook that builds
   a seeded VAE and shows ``latent_explorer``; the notebook is run, a slider is moved with the
   keyboard, and the decoded image must change (the kernel redrew it).

Screenshots go to build/screenshots/. The tests skip, with the reason, only when chromium
(/usr/bin/chromium, or $VAE_COURSE_CHROMIUM) or Playwright is missing; scripts/install_browser.sh
installs chromium. Optional: VAE_COURSE_CHECK_HTML=1 also checks every page of build/html.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("VAE_COURSE_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "build" / "screenshots"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

sys.path.insert(0, str(ROOT / "scripts"))
import html_export  # noqa: E402

LOCAL = ("file:", "data:", "blob:", "about:", "http://127.0.0.1", "http://localhost", "ws://127.0.0.1")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}: run scripts/install_browser.sh "
                    "(apt-get install -y chromium) or set VAE_COURSE_CHROMIUM")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _offline_page(browser, viewport=(1200, 900)):
    """A page whose requests outside file:// and 127.0.0.1 are blocked and recorded."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    blocked, errors = [], []

    def route(r):
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, blocked, errors


def _shot(page, name, **kwargs):
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), **kwargs)
    return path


# ----------------------------------------------------------------------------- 1. offline HTML

_MARKDOWN = r"""# 99 · A page for the browser test

The encoder $q_\phi(z \mid x)$ and the bound

$$\log p_\theta(x) \ge \mathbb{E}_{q_\phi(z\mid x)}\left[\log p_\theta(x \mid z)\right] - \mathrm{KL}\left(q_\phi(z\mid x)\,\|\,p(z)\right)$$

## A figure"""

_CODE = [
    "%matplotlib inline\nimport numpy as np, matplotlib.pyplot as plt\n"
    "plt.plot(np.linspace(-3, 3, 50), np.exp(-np.linspace(-3, 3, 50) ** 2 / 2))\nplt.show()",
    "# NBVAL_IGNORE_OUTPUT\nimport torch\nfrom vae_course import models, widgets\ntorch.manual_seed(0)\n"
    "explorer = widgets.latent_explorer(models.VAE(hidden=(32,), latent_dim=2))\nexplorer",
]


def _write_notebook(path, markdown, code):
    import nbformat

    v4 = nbformat.v4
    cells = [v4.new_markdown_cell(markdown)] + [v4.new_code_cell(c) for c in code]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def html_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    path = _write_notebook(folder / "99_browser.ipynb", _MARKDOWN, _CODE)
    nb = html_export.execute_notebook(path, timeout=300)
    out = folder / "html"
    info = html_export.export_notebook_html(nb, out / "99_browser.html", notebook_dir=folder)
    html_export.write_index([("99_browser.html", html_export.notebook_title(nb), "ok",
                              html_export.notebook_sections(nb))], out, note="browser test")
    static = html_export.export_notebook_html(nb, out / "99_static.html", notebook_dir=folder, widgets="static")
    return out, info, static, nb


def _check_page(page, blocked, errors):
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue && "
                           "MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0 && "
                           "document.querySelectorAll('.MathJax, .MathJax_Display').length > 0", timeout=30000)
    typeset = page.evaluate("document.querySelectorAll('.MathJax_Display').length")
    inline = page.evaluate("document.querySelectorAll('span.MathJax').length")
    text = page.inner_text("body")
    assert typeset >= 1 and inline >= 2, f"math not typeset: {typeset} display, {inline} inline"
    assert "$$" not in text and "\\mathbb" not in text, "raw TeX left in the page"
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=30000)
    sizes = page.evaluate("Array.from(document.images).map(i => [i.naturalWidth, i.src.slice(0, 40)])")
    assert sizes and all(w > 0 for w, _ in sizes), f"an image did not load: {sizes}"
    assert not blocked, f"the page asked the network for {blocked}"
    assert not [e for e in errors if "MathJax" in e], errors
    return sizes


def test_offline_html_renders_math_figures_and_widgets(browser, html_site):
    out, info, _, _ = html_site
    assert (out / "_static" / "mathjax" / "MathJax.js").is_file()
    source = (out / "99_browser.html").read_text()
    assert 'src="_static/mathjax/MathJax.js' in source
    remote = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="((?:https?:)?//[^"]+)"', source)
    assert not remote, f"the page refers to remote assets: {remote}"

    page, blocked, errors = _offline_page(browser)
    page.goto((out / "index.html").as_uri())
    links = page.eval_on_selector_all("nav a", "els => els.map(e => e.getAttribute('href'))")
    assert links[0] == "99_browser.html" and any(h.startswith("99_browser.html#") for h in links[1:])
    _shot(page, "html_index.png")
    page.click("nav ol > li > a")
    page.wait_for_url("**/99_browser.html")
    sizes = _check_page(page, blocked, errors)
    if info["widgets"] == "live":  # the stored widget state, drawn by the local widget manager
        page.wait_for_selector(".vae-explorer-image", timeout=30000)
        assert page.locator(".widget-slider").count() == 2
        assert page.evaluate("document.querySelector('.vae-explorer-image').naturalWidth") > 0
    else:  # no npm: the explorer's PNG fallback is one of the images
        assert info["widgets"] == "static" and len(sizes) >= 2
    _shot(page, "html_notebook.png", full_page=True)
    assert not blocked, f"the page asked the network for {blocked}"
    page.close()


def test_offline_html_static_widgets_show_their_picture(browser, html_site):
    out, _, static, _ = html_site
    assert static["widgets"] == "static"
    source = (out / "99_static.html").read_text()
    assert html_export.WIDGET_STATE not in source and "embed-amd.js" not in source
    page, blocked, errors = _offline_page(browser)
    page.goto((out / "99_static.html").as_uri())
    sizes = _check_page(page, blocked, errors)
    assert len(sizes) == 2, f"expected the figure and the explorer's PNG, got {sizes}"
    page.close()


def test_html_export_arguments_and_index(tmp_path, html_site):
    _, _, _, nb = html_site
    with pytest.raises(ValueError, match="widgets must be"):
        html_export.export_notebook_html(nb, tmp_path / "a.html", widgets="maybe")
    with pytest.raises(ValueError, match="out_path must end with .html"):
        html_export.export_notebook_html(nb, tmp_path / "a.htm")
    with pytest.raises(ValueError, match=r"entries\[0\]"):
        html_export.write_index([("only-a-page",)], tmp_path)
    index = html_export.write_index([("01_a.html", "01 · <A> & B", "failed"), ("02_b.html", "02 · C")], tmp_path)
    text = index.read_text()
    assert text.index("01_a.html") < text.index("02_b.html")
    assert "01 · &lt;A&gt; &amp; B" in text and "(failed)" in text
    assert html_export.notebook_sections(nb) == [("A figure", "A-figure")]


def test_static_fallback_keeps_useful_widget_text():
    import nbformat

    view = {"model_id": "m", "version_major": 2, "version_minor": 0}
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "epochs: 100%|##| 2/2",
                                                                 html_export.WIDGET_VIEW: view}),
                    nbformat.v4.new_output("display_data", data={"text/plain": "VBox(children=(Button(),))",
                                                                 html_export.WIDGET_VIEW: view})]
    nb = nbformat.v4.new_notebook(cells=[cell])
    html_export._static_widget_outputs(nb)
    assert [o.data for o in cell.outputs] == [{"text/plain": "epochs: 100%|##| 2/2"},
                                              {"text/plain": html_export.WIDGET_NOTE}]


@pytest.mark.skipif(os.environ.get("VAE_COURSE_CHECK_HTML") != "1", reason="set VAE_COURSE_CHECK_HTML=1 to check build/html")
def test_built_course_pages(browser):
    folder = ROOT / "build" / "html"
    pages = sorted(folder.glob("[0-9][0-9]_*.html"))
    assert pages, f"no pages in {folder}: run make course first"
    for path in pages:
        page, blocked, errors = _offline_page(browser)
        page.goto(path.as_uri())
        _check_page(page, blocked, errors)
        _shot(page, f"course_{path.stem}.png")
        page.close()


# ----------------------------------------------------------------------------- 2. JupyterLab

_LAB_CODE = [
    "# NBVAL_IGNORE_OUTPUT\nimport torch\nfrom vae_course import models, widgets\ntorch.manual_seed(0)\n"
    "model = models.VAE(hidden=(32,), latent_dim=2)\nexplorer = widgets.latent_explorer(model)\nexplorer",
]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.loads(r.read() or b"{}")
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer {url} within {timeout} s")


@pytest.fixture
def lab_server(tmp_path):
    work = tmp_path / "lab"
    work.mkdir()
    _write_notebook(work / "explorer.ipynb", "# Latent explorer", _LAB_CODE)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"), OMP_NUM_THREADS="1")
    env.pop("JUPYTER_TOKEN", None)
    # no announcements toast in the screenshots
    notif = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True)
    (notif / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port = _free_port()
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", "--allow-root", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_http(f"{base}/api/status", proc)
        except (RuntimeError, TimeoutError) as err:
            log.flush()
            tail = (tmp_path / "lab.log").read_text()[-1500:]
            raise RuntimeError(f"{err}; the end of JupyterLab's log:\n{tail}") from None
        yield base, tmp_path / "lab.log"
    finally:
        proc.send_signal(signal.SIGINT)  # by its process id; JupyterLab shuts its kernels down
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _image_digest(page):
    """Hash of the explorer's picture as the browser decoded it (pixels, not the URL)."""
    return page.evaluate("""() => {
        const img = document.querySelector('.vae-explorer-image');
        if (!img || !img.complete || !img.naturalWidth) return null;
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let h = 0; for (let i = 0; i < d.length; i += 1) { h = (h * 31 + d[i]) >>> 0; }
        return [img.src, h, c.width, c.height];
    }""")


def test_jupyterlab_latent_explorer_slider_changes_image(browser, lab_server):
    base, log = lab_server
    page, blocked, errors = _offline_page(browser, viewport=(1280, 800))
    page.goto(f"{base}/lab/tree/explorer.ipynb")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=90000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
    # wait for the kernel, then run every cell (as Run > Run All Cells does)
    page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel &&
               w.sessionContext.session.kernel.connectionStatus === 'connected' &&
               w.sessionContext.session.kernel.status === 'idle'; }""", timeout=90000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".vae-explorer-image", timeout=90000)
    page.wait_for_function("() => { const i = document.querySelector('.vae-explorer-image');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=30000)
    before = _image_digest(page)
    _shot(page, "lab_explorer_before.png")
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    for _ in range(8):  # 8 steps of 0.1 along z0, with the keyboard
        page.keyboard.press("ArrowRight")
    page.wait_for_function("(before) => { const i = document.querySelector('.vae-explorer-image');"
                           " return i && i.src !== before && i.complete && i.naturalWidth > 0; }",
                           arg=before[0], timeout=30000)
    page.wait_for_timeout(300)  # let the last redraw arrive
    after = _image_digest(page)
    readout = page.locator(".widget-slider .widget-readout").first.inner_text()
    _shot(page, "lab_explorer_after.png")
    assert float(readout) == pytest.approx(0.8, abs=1e-9), f"the slider reads {readout!r}, expected 0.80"
    assert after[1] != before[1], "the decoded image did not change after moving the slider"
    assert not blocked, f"JupyterLab asked the network for {blocked}"
    assert not errors, f"page errors: {errors}"
    page.close()
