"""What a person sees in JupyterLab, checked in a real browser (Debian's chromium driven by Playwright).

A server on 127.0.0.1 (free port, no token) opens a tiny notebook that builds a seeded VAE
and shows ``latent_explorer``; the notebook is run, a slider is moved with the keyboard, and
the decoded image must change (the kernel redrew it). The course website and slides are
checked in tests/test_site.py.

Screenshots go to build/screenshots/. The tests skip, with the reason, only when chromium
(/usr/bin/chromium, or $VAE_COURSE_CHROMIUM) or Playwright is missing; scripts/install_browser.sh
installs chromium.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "screenshots"

LOCAL = ("file:", "data:", "blob:", "about:", "http://127.0.0.1", "http://localhost", "ws://127.0.0.1")


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


def _write_notebook(path, markdown, code):
    import nbformat

    v4 = nbformat.v4
    cells = [v4.new_markdown_cell(markdown)] + [v4.new_code_cell(c) for c in code]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)
    return path


# ----------------------------------------------------------------------------- JupyterLab

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
