import random

import numpy as np
import pytest
import torch

from vae_course import config


def test_seed_everything_makes_all_generators_repeat():
    config.seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    config.seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    assert a == b
    config.seed_everything(124)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) != a


@pytest.mark.parametrize("bad, err", [("1", TypeError), (1.5, TypeError), (-1, ValueError), (2**32, ValueError)])
def test_seed_bad_input(bad, err):
    with pytest.raises(err, match="seed"):
        config.seed_everything(bad)


def test_fast_flag_and_pick(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_FAST", "1")
    assert config.is_fast() and config.pick("f", "full") == "f"
    monkeypatch.setenv("VAE_COURSE_FAST", "0")
    assert not config.is_fast() and config.pick("f", "full") == "full"
    monkeypatch.delenv("VAE_COURSE_FAST")
    assert not config.is_fast()
    monkeypatch.setenv("VAE_COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="VAE_COURSE_FAST"):
        config.is_fast()


def test_device_choice(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    dev = config.get_device()
    if expected:
        assert dev.type == expected
    assert config.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("VAE_COURSE_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer"):
        config.get_device("tpu")
    with pytest.raises(TypeError, match="prefer"):
        config.get_device(3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            config.get_device("cuda")


def test_figures_dir_is_overridable(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_FIGURES", str(tmp_path / "env"))
    assert config.figures_dir() == tmp_path / "env"
    config.set_figures_dir(tmp_path / "explicit")
    try:
        assert config.figures_dir() == tmp_path / "explicit" and (tmp_path / "explicit").is_dir()
    finally:
        config.set_figures_dir(None)
    assert config.figures_dir() == tmp_path / "env"
    with pytest.raises(TypeError, match="path"):
        config.set_figures_dir(42)


def test_setup_reports_mode(capsys, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_FAST", "1")
    cfg = config.setup(seed=7, device="cpu")
    assert cfg.fast and cfg.seed == 7 and cfg.device.type == "cpu"
    assert "FAST" in capsys.readouterr().out


def test_cpu_threads_default_and_override(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_THREADS", raising=False)
    assert config.cpu_threads() == 1
    monkeypatch.setenv("VAE_COURSE_THREADS", "3")
    assert config.cpu_threads() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("VAE_COURSE_THREADS", bad)
        with pytest.raises(ValueError, match="VAE_COURSE_THREADS"):
            config.cpu_threads()


def test_setup_sets_threads_and_reports_the_data(monkeypatch, capsys):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("VAE_COURSE_THREADS", "2")
        monkeypatch.setenv("VAE_COURSE_DATASET", "digits")
        cfg = config.setup(seed=3)
        assert torch.get_num_threads() == 2 and cfg.threads == 2 and cfg.dataset == "digits"
        out = capsys.readouterr().out
        assert "CPU threads: 2" in out and "data: digits" in out
    finally:
        torch.set_num_threads(before)
