import os

import matplotlib
import pytest

matplotlib.use("Agg")

# Notebooks run by nbval start their kernels with this process's environment, before any
# fixture runs: without this, a notebook run as a test would write into the committed figures/.
os.environ.setdefault(
    "VAE_COURSE_FIGURES",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "test-figures"),
)


@pytest.fixture(autouse=True)
def _figures_elsewhere(tmp_path, monkeypatch):
    """Tests never write into the committed figures/ folder."""
    monkeypatch.setenv("VAE_COURSE_FIGURES", str(tmp_path / "figures"))
    yield


@pytest.fixture(scope="session")
def digits():
    from vae_course.data import load_digits

    return load_digits()
