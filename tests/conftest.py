import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _figures_elsewhere(tmp_path, monkeypatch):
    """Tests never write into the committed figures/ folder."""
    monkeypatch.setenv("VAE_COURSE_FIGURES", str(tmp_path / "figures"))
    yield


@pytest.fixture(scope="session")
def digits():
    from vae_course.data import load_digits

    return load_digits()


# Headless chromium for the browser tests (test_browser.py, test_site.py): Debian's, or $VAE_COURSE_CHROMIUM.
CHROMIUM = os.environ.get("VAE_COURSE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


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
