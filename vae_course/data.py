"""Data for the course: the offline digits, MNIST when torchvision is there, corruptions,
binarization, a 2-D Gaussian-mixture sampler and in-memory minibatches.

Images are float tensors in [0, 1] of shape N x 1 x H x W; labels are int64 tensors.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "Split",
    "ImageData",
    "load_digits",
    "load_mnist",
    "load_data",
    "torchvision_status",
    "binarize",
    "corrupt",
    "CORRUPTIONS",
    "sample_gmm_2d",
    "batches",
    "ShapesData",
    "make_shapes",
]


@dataclass
class Split:
    """One part of a dataset: images ``x`` (N x 1 x H x W, float in [0, 1]) and labels ``y`` (N, int64)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, n: int) -> "Split":
        """The first ``n`` examples (the splits are already shuffled)."""
        _check_int("n", n, minimum=1)
        return Split(self.x[:n], self.y[:n])

    def to(self, device) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class ImageData:
    """A dataset with a fixed train / validation / test split."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int = 10

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])

    @property
    def num_pixels(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    def __repr__(self) -> str:
        return (
            f"ImageData({self.name!r}, image_shape={self.image_shape}, train={len(self.train)}, "
            f"val={len(self.val)}, test={len(self.test)}, classes={self.num_classes})"
        )


# ----------------------------------------------------------------------------- checks


def _check_int(name, value, minimum=None, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")


def _check_fraction(name, value, low=0.0, high=1.0, closed_high=True):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    ok = low <= value <= high if closed_high else low <= value < high
    if not ok or np.isnan(value):
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value}")


def _check_images(name, x):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name} must hold values in [0, 1], got min {x.min().item():.3g} and max {x.max().item():.3g}"
        )


# ----------------------------------------------------------------------------- datasets


def _split(x, y, val_fraction, test_fraction, seed):
    n = len(x)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    test, val, train = perm[:n_test], perm[n_test : n_test + n_val], perm[n_test + n_val :]
    return Split(x[train], y[train]), Split(x[val], y[val]), Split(x[test], y[test])


def load_digits(
    size: int = 28, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> ImageData:
    """scikit-learn's bundled handwritten digits (1,797 images, 8x8, 10 classes), offline.

    Pixels are scaled from 0..16 to [0, 1]; ``size=28`` resizes them bilinearly to 28x28
    (values stay in [0, 1]); ``size=8`` keeps the originals. The split is fixed by ``seed``.
    """
    from sklearn.datasets import load_digits as _sk_digits

    _check_int("size", size, minimum=8, maximum=64)
    _check_fraction("val_fraction", val_fraction, 0.0, 0.5)
    _check_fraction("test_fraction", test_fraction, 0.0, 0.5)
    _check_int("seed", seed, minimum=0)
    bunch = _sk_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    train, val, test = _split(x, y, val_fraction, test_fraction, seed)
    return ImageData("digits", train, val, test, num_classes=10)


def torchvision_status() -> tuple[bool, str]:
    """Whether torchvision imports next to this torch, and if not, why and how to fix it."""
    try:
        import torchvision  # noqa: F401
        from torchvision import datasets  # noqa: F401
    except ImportError as err:
        return False, (
            f"torchvision is not installed ({err}). Install the optional extra with "
            "`pip install -e \".[vision]\"`, choosing a torchvision build that matches torch "
            f"{torch.__version__}."
        )
    except Exception as err:  # a torchvision built for another torch fails on import
        return False, (
            f"torchvision is installed but does not work with torch {torch.__version__}: "
            f"{type(err).__name__}: {err}. Install the torchvision release built for this torch "
            "(see the compatibility table on pytorch.org), or use name='digits'."
        )
    return True, "torchvision is available"


_MNIST_NAMES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def load_mnist(
    name: str = "mnist",
    root: str | os.PathLike | None = None,
    download: bool = False,
    val_size: int = 10_000,
    seed: int = 0,
) -> ImageData:
    """MNIST or Fashion-MNIST through torchvision (28x28, values in [0, 1]).

    ``root`` is a folder holding torchvision's layout (``root/MNIST/raw/*-ubyte``), by default
    ``$VAE_COURSE_DATA`` or ``~/.cache/vae_course``. ``download=True`` fetches the files when
    they are missing. The last ``val_size`` training images (after a seeded shuffle) are the
    validation split; the official test set is the test split.
    """
    if not isinstance(name, str) or name.lower() not in _MNIST_NAMES:
        raise ValueError(f"name must be one of {sorted(_MNIST_NAMES)}, got {name!r}")
    _check_int("val_size", val_size, minimum=0, maximum=50_000)
    ok, why = torchvision_status()
    if not ok:
        raise ImportError(why)
    from torchvision import datasets

    root = Path(root or os.environ.get("VAE_COURSE_DATA") or Path.home() / ".cache" / "vae_course")
    cls = getattr(datasets, _MNIST_NAMES[name.lower()])
    try:
        train_set = cls(str(root), train=True, download=download)
        test_set = cls(str(root), train=False, download=download)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"{name} was not found under {root} ({err}). Pass download=True, or put the IDX files "
            f"in {root / _MNIST_NAMES[name.lower()] / 'raw'}."
        ) from err

    def to_split(ds):
        return ds.data.float().unsqueeze(1) / 255.0, ds.targets.long()

    x, y = to_split(train_set)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    tr, va = perm[val_size:], perm[:val_size]
    xt, yt = to_split(test_set)
    return ImageData(name.lower(), Split(x[tr], y[tr]), Split(x[va], y[va]), Split(xt, yt), 10)


def load_data(name: str = "auto", **kwargs) -> ImageData:
    """The course's data: ``'digits'`` (offline), ``'mnist'``, ``'fashion-mnist'``, or ``'auto'``.

    ``'auto'`` takes MNIST when torchvision works and its files are already on disk, and the
    bundled digits otherwise; it prints which it took and why.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    key = name.lower()
    if key == "digits":
        return load_digits(**kwargs)
    if key in _MNIST_NAMES:
        return load_mnist(key, **kwargs)
    if key != "auto":
        raise ValueError(f"name must be one of 'auto', 'digits', 'mnist', 'fashion-mnist'; got {name!r}")
    ok, why = torchvision_status()
    if ok:
        try:
            data = load_mnist("mnist", download=False)
            print("data: MNIST (found on disk)")
            return data
        except (FileNotFoundError, RuntimeError) as err:
            why = f"MNIST is not on disk ({str(err).splitlines()[0]})"
    data = load_digits(**kwargs)
    print(f"data: scikit-learn digits resized to {data.image_shape[1]}x{data.image_shape[2]} -- {why}")
    return data


# ----------------------------------------------------------------------------- transforms


def binarize(x: torch.Tensor, method: str = "threshold", threshold: float = 0.5, generator=None) -> torch.Tensor:
    """Binary images from grey levels in [0, 1].

    ``'threshold'``: 1 where ``x > threshold`` (fixed); ``'sample'``: each pixel ~ Bernoulli(x),
    drawn anew at every call (dynamic binarization).
    """
    _check_images("x", x)
    if method == "threshold":
        _check_fraction("threshold", threshold, 0.0, 1.0)
        return (x > threshold).to(x.dtype)
    if method == "sample":
        return torch.bernoulli(x, generator=generator)
    raise ValueError(f"method must be 'threshold' or 'sample', got {method!r}")


CORRUPTIONS = ("mask", "gaussian", "salt_pepper")


def corrupt(x: torch.Tensor, kind: str, level: float, generator=None, clip: bool = True) -> torch.Tensor:
    """Draw a corrupted copy x~ ~ M_D(x~ | x) of images in [0, 1].

    - ``'mask'``: each pixel is set to 0 with probability ``level`` (masking noise);
    - ``'gaussian'``: adds N(0, level^2) noise, then clips to [0, 1] when ``clip`` is true;
    - ``'salt_pepper'``: each pixel is, with probability ``level``, replaced by 0 or 1 (even odds).
    """
    _check_images("x", x)
    if kind not in CORRUPTIONS:
        raise ValueError(f"kind must be one of {CORRUPTIONS}, got {kind!r}")
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating, np.integer)):
        raise TypeError(f"level must be a number, got {type(level).__name__}")
    if kind == "gaussian":
        if not level >= 0:
            raise ValueError(f"level (the noise standard deviation) must be >= 0, got {level}")
        noisy = x + level * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return noisy.clamp(0.0, 1.0) if clip else noisy
    _check_fraction("level", level, 0.0, 1.0)
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if kind == "mask":
        return torch.where(u < level, torch.zeros_like(x), x)
    salt = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < 0.5
    return torch.where(u < level, salt.to(x.dtype), x)


# ----------------------------------------------------------------------------- synthetic data


def sample_gmm_2d(n: int = 500, k: int = 3, seed: int = 0, spread: float = 4.0):
    """Draw ``n`` points from a random 2-D mixture of ``k`` Gaussians.

    Returns ``(x, z, params)``: points (n x 2 float64 array), the component of each point
    (n,), and the true parameters ``{'weights': (k,), 'means': (k, 2), 'covariances': (k, 2, 2)}``.
    """
    _check_int("n", n, minimum=1)
    _check_int("k", k, minimum=1, maximum=20)
    _check_int("seed", seed, minimum=0)
    if not spread > 0:
        raise ValueError(f"spread must be > 0, got {spread}")
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    angles = 2 * np.pi * (np.arange(k) / k + rng.uniform(0, 0.1))
    means = spread * np.stack([np.cos(angles), np.sin(angles)], axis=1) * (1 if k > 1 else 0)
    covs = np.empty((k, 2, 2))
    for j in range(k):
        a = rng.normal(size=(2, 2))
        covs[j] = 0.6 * a @ a.T / 2 + 0.2 * np.eye(2)
    z = rng.choice(k, size=n, p=weights)
    chol = np.linalg.cholesky(covs)
    x = means[z] + np.einsum("nij,nj->ni", chol[z], rng.normal(size=(n, 2)))
    return x, z, {"weights": weights, "means": means, "covariances": covs}


# ----------------------------------------------------------------------------- minibatches


def batches(*tensors: torch.Tensor, batch_size: int = 128, shuffle: bool = True, generator=None, drop_last: bool = False):
    """Yield minibatches of equally long tensors by slicing (no per-sample Python work).

    With ``shuffle`` the order is a fresh random permutation at every call (seed it with
    ``generator`` for reproducibility).
    """
    if not tensors:
        raise ValueError("batches needs at least one tensor")
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"tensors[{i}] must be a torch.Tensor, got {type(t).__name__}")
    n = len(tensors[0])
    for i, t in enumerate(tensors):
        if len(t) != n:
            raise ValueError(f"all tensors must have the same length; tensors[0] has {n}, tensors[{i}] has {len(t)}")
    _check_int("batch_size", batch_size, minimum=1)
    if shuffle:
        perm = torch.randperm(n, generator=generator).to(tensors[0].device)
        tensors = tuple(t[perm] for t in tensors)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        chunk = tuple(t[start : start + batch_size] for t in tensors)
        yield chunk if len(chunk) > 1 else chunk[0]


# Images of simple shapes with known generative factors (notebook 08) live in their own module.
from .shapes import ShapesData, make_shapes  # noqa: E402
