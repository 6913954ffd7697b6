"""Run configuration: seeding, device choice, the FAST flag and the figures folder.

Every notebook starts with ``cfg = setup()``, which seeds python, numpy and torch,
picks the device and reports the run mode.  ``VAE_COURSE_FAST=1`` turns a notebook
into a smoke test of seconds; ``pick(fast, full)`` chooses a size for each mode.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "RunConfig",
    "cpu_threads",
    "figures_dir",
    "get_device",
    "is_fast",
    "pick",
    "seed_everything",
    "set_figures_dir",
    "setup",
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_REPO_ROOT = Path(__file__).resolve().parent.parent
_figures_override: Path | None = None


def is_fast() -> bool:
    """True when the environment variable ``VAE_COURSE_FAST`` asks for the smoke-test mode."""
    value = os.environ.get("VAE_COURSE_FAST", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"VAE_COURSE_FAST={value!r} is not understood; use 1/true/yes/on or 0/false/no/off"
    )


def pick(fast, full):
    """Return ``fast`` in the smoke-test mode and ``full`` otherwise (e.g. ``EPOCHS = pick(1, 30)``)."""
    return fast if is_fast() else full


def seed_everything(seed: int = 0) -> int:
    """Seed python's ``random``, numpy and torch (CPU and all GPUs); return the seed."""
    from .validation import check_int

    seed = check_int("seed", seed, minimum=0, maximum=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def get_device(prefer: str | None = None) -> torch.device:
    """Choose the device: ``prefer`` or ``$VAE_COURSE_DEVICE`` if given, else CUDA, then MPS, then CPU."""
    choice = prefer if prefer is not None else os.environ.get("VAE_COURSE_DEVICE") or "auto"
    if not isinstance(choice, str):
        raise TypeError(f"prefer must be a string such as 'auto', 'cpu', 'cuda' or 'mps', got {type(choice).__name__}")
    choice = choice.strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice not in {"cpu", "cuda", "mps"} and not choice.startswith("cuda:"):
        raise ValueError(f"prefer must be one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'; got {choice!r}")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"prefer={choice!r} but no CUDA device is available; use 'auto' or 'cpu'")
    if choice == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("prefer='mps' but no Apple MPS device is available; use 'auto' or 'cpu'")
    return torch.device(choice)


def figures_dir() -> Path:
    """The folder lecture figures are written to: ``set_figures_dir``, else ``$VAE_COURSE_FIGURES``, else ``figures/``."""
    if _figures_override is not None:
        path = _figures_override
    elif os.environ.get("VAE_COURSE_FIGURES"):
        path = Path(os.environ["VAE_COURSE_FIGURES"])
    else:
        path = _REPO_ROOT / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_figures_dir(path: str | os.PathLike | None) -> None:
    """Send figures to ``path`` (``None`` restores the default)."""
    global _figures_override
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str, a path or None, got {type(path).__name__}")
    _figures_override = None if path is None else Path(path)


def cpu_threads() -> int:
    """How many CPU threads torch should use: ``$VAE_COURSE_THREADS``, else 1.

    The course's models are small (a few hundred thousand weights, minibatches of 128):
    one thread keeps a core busy with little overhead, while more threads on a busy
    2-core machine made them 5-10 times slower (see benchmarks/train_speed.py). On a
    quiet many-core machine, ``VAE_COURSE_THREADS=4`` may help the convolutional models.
    """
    value = os.environ.get("VAE_COURSE_THREADS", "").strip()
    if not value:
        return 1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"VAE_COURSE_THREADS={value!r} is not understood; use a whole number >= 1")
    return n


@dataclass(frozen=True)
class RunConfig:
    """What ``setup()`` chose: the seed, the device, whether this is the FAST smoke test,
    the number of CPU threads and the data set the course switch selects."""

    seed: int
    device: torch.device
    fast: bool
    threads: int = 1
    dataset: str = "mnist-5k"

    def __str__(self) -> str:
        mode = "FAST (smoke test)" if self.fast else "default"
        return (
            f"run mode: {mode} | device: {self.device} | seed: {self.seed} | "
            f"CPU threads: {self.threads} | data: {self.dataset}"
        )


def setup(seed: int = 0, device: str | None = None, verbose: bool = True) -> RunConfig:
    """Seed everything, choose the device and the CPU thread count, and report the run mode.

    Call it once at the top of a notebook. The data set is chosen by the environment
    variable ``VAE_COURSE_DATASET`` (see :func:`vae_course.data.load_data`), the thread
    count by ``VAE_COURSE_THREADS`` (:func:`cpu_threads`).
    """
    from .data import selected_dataset

    threads = cpu_threads()
    dataset = selected_dataset()
    torch.set_num_threads(threads)
    cfg = RunConfig(seed=seed_everything(seed), device=get_device(device), fast=is_fast(),
                    threads=threads, dataset=dataset)
    if verbose:
        print(cfg)
    return cfg
