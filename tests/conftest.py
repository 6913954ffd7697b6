import os

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
