"""The full data sets: MNIST, Fashion-MNIST and CIFAR-10, downloaded once into a checked cache.

``load_full(name)`` returns an :class:`~vae_course.data.ImageData` with a seeded validation
split taken from the official training set and the official test set.

- **Cache.** Files live in ``<root>/<name>/`` under their official names, where ``root`` is
  the argument, else ``$VAE_COURSE_DATA``, else ``~/.cache/vae_course``.
- **Downloads** use pooch: each file is streamed to a temporary name in the cache folder,
  checked against its published checksum, and only then renamed, so an interrupted download,
  a server error or a wrong file never leaves anything under the final name. Failed
  attempts are retried; a file already in the cache with the right checksum is not
  downloaded again.
- **Mirror.** ``$VAE_COURSE_DATA_MIRROR`` replaces the official servers by one base URL that
  serves the same layout as the cache: ``<mirror>/<name>/<file>`` (for example a copy of a
  filled cache folder served by any web server).
- **Other files.** ``$VAE_COURSE_DATA_REGISTRY`` names a text file of expected checksums,
  one ``<name>/<file> <algorithm>:<hex digest>`` per line, that replace the published ones:
  only for a mirror that serves files other than the official ones (the tests' small
  fixture files, for example). Without it, only the published files are accepted.
- **Reading** needs neither torchvision nor the network: gzipped IDX files are parsed with
  their header checked, and the CIFAR-10 python batches (pickles) are read straight from the
  checked archive with an unpickler that accepts only the types those batches hold.

Run ``python -m vae_course.download mnist`` to fill the cache ahead of time.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .validation import check_bool, check_int

__all__ = [
    "FULL_DATASETS",
    "DownloadError",
    "cache_dir",
    "fetch",
    "load_full",
    "read_cifar10",
    "read_idx",
]

#: Seconds that a server may stay silent before a download attempt fails.
TIMEOUT_S = 60
#: Attempts per file (1 + retries) on a network error, a server error or a wrong checksum.
ATTEMPTS = 3
#: Seconds waited before the k-th retry: RETRY_WAIT_S * k.
RETRY_WAIT_S = 1.0

MIRROR_ENV = "VAE_COURSE_DATA_MIRROR"
REGISTRY_ENV = "VAE_COURSE_DATA_REGISTRY"
CACHE_ENV = "VAE_COURSE_DATA"


@dataclass(frozen=True)
class _Spec:
    title: str
    servers: tuple[str, ...]  # official base URLs, tried in order
    files: dict  # file name -> "md5:<published checksum>"
    val_fraction: float  # default validation share of the training set (10k/60k, 5k/50k)
    image_shape: tuple[int, int, int]


_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# Published MD5 checksums, as listed by torchvision's dataset classes and the data sets' pages.
_SPECS = {
    "mnist": _Spec(
        "MNIST",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        dict(zip(_IDX_FILES, ("md5:f68b3c2dcbeaaa9fbdd348bbdeb94873", "md5:d53e105ee54ea40749a09fcbcd1e9432",
                              "md5:9fb629c4189551a2d022fa330f9573f3", "md5:ec29112dd5afa0611ce80d1b7f02629c"))),
        1 / 6,
        (1, 28, 28),
    ),
    "fashion-mnist": _Spec(
        "Fashion-MNIST",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        dict(zip(_IDX_FILES, ("md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d", "md5:25c81989df183df01b3e8a0aad5dffbe",
                              "md5:bef4ecab320f06d8554ea6380940ec79", "md5:bb300cfdad3c16e7a12a480ee83cd310"))),
        1 / 6,
        (1, 28, 28),
    ),
    "cifar10": _Spec(
        "CIFAR-10",
        ("https://www.cs.toronto.edu/~kriz/",),
        {"cifar-10-python.tar.gz": "md5:c58f30108f718f92721af3b95e74349a"},
        1 / 10,
        (3, 32, 32),
    ),
}
FULL_DATASETS = tuple(_SPECS)
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}
_HASH_ALGORITHMS = ("md5", "sha1", "sha256")


class DownloadError(RuntimeError):
    """A file of a full data set could not be downloaded or failed its checksum."""


# ----------------------------------------------------------------------------- arguments


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {FULL_DATASETS}; got {type(name).__name__}")
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in _SPECS:
        raise ValueError(f"name must be one of {FULL_DATASETS}, got {name!r}")
    return key


def _check_bool(arg, value):
    check_bool(arg, value)


def _check_int(arg, value, minimum=None, maximum=None):
    check_int(arg, value, minimum=minimum, maximum=maximum)


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``root``, else ``$VAE_COURSE_DATA``, else ``~/.cache/vae_course``."""
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike) or None, got {type(root).__name__}")
    if root is not None and not str(root).strip():
        raise ValueError("root must be a folder name, got an empty string")
    chosen = root if root is not None else (os.environ.get(CACHE_ENV, "").strip() or Path.home() / ".cache" / "vae_course")
    return Path(chosen).expanduser()


def _registry(key: str) -> dict:
    """Expected checksums of ``key``'s files: the published ones, or those of $VAE_COURSE_DATA_REGISTRY."""
    files = dict(_SPECS[key].files)
    path = os.environ.get(REGISTRY_ENV, "").strip()
    if not path:
        return files
    try:
        text = Path(path).expanduser().read_text()
    except OSError as err:
        raise FileNotFoundError(f"{REGISTRY_ENV}={path!r} names a checksum file that cannot be read: {err}") from err
    allowed = {f"{k}/{f}" for k, s in _SPECS.items() for f in s.files}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{REGISTRY_ENV} file {path}, line {number}"
        if len(parts) != 2:
            raise ValueError(f"{where}: expected '<name>/<file> <algorithm>:<hex digest>', got {line!r}")
        entry, digest = parts
        if entry not in allowed:
            raise ValueError(f"{where}: {entry!r} is not a file of a full data set; allowed: {sorted(allowed)}")
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm.lower() not in _HASH_ALGORITHMS or not hexdigest or any(c not in "0123456789abcdefABCDEF" for c in hexdigest):
            raise ValueError(f"{where}: the checksum must read <algorithm>:<hex digest> with algorithm one of "
                             f"{_HASH_ALGORITHMS}, got {digest!r}")
        entry_key, file = entry.split("/", 1)
        if entry_key == key:
            files[file] = f"{algorithm.lower()}:{hexdigest.lower()}"
    return files


def _urls(key: str, file: str) -> list[str]:
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror:
        if not mirror.startswith(("http://", "https://")):
            raise ValueError(f"{MIRROR_ENV} must be an http:// or https:// base URL, got {mirror!r}")
        return [f"{mirror.rstrip('/')}/{key}/{file}"]
    return [server + file for server in _SPECS[key].servers]


def _file_hash(path: Path, expected: str) -> str:
    algorithm = expected.split(":", 1)[0]
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"{algorithm}:{digest.hexdigest()}"


def _by_hand(key: str, folder: Path, files: dict) -> str:
    spec = _SPECS[key]
    lines = [f"To put the files there by hand, download {spec.title} from {spec.servers[0]} (or a copy you "
             f"trust) and save {'its file' if len(files) == 1 else 'its files'} in the folder {folder}{os.sep} "
             f"under {'this name' if len(files) == 1 else 'these names'} (checksums in brackets):"]
    for file, digest in files.items():
        lines.append(f"  {file}  [{digest}]")
    lines.append(f"or set {MIRROR_ENV} to a server that has <mirror>/{key}/<file>, or {CACHE_ENV} to "
                 "another cache folder.")
    return "\n".join(lines)


def _explain(err: BaseException) -> str:
    import requests

    if isinstance(err, requests.exceptions.HTTPError) and err.response is not None:
        return f"the server answered HTTP {err.response.status_code} ({err.response.reason})"
    if isinstance(err, requests.exceptions.Timeout):
        return f"the server did not answer within {TIMEOUT_S} s"
    if isinstance(err, requests.exceptions.ChunkedEncodingError):
        return f"the connection broke before the whole file arrived ({err})"
    if isinstance(err, requests.exceptions.ConnectionError):
        return (f"no connection to the server ({err}); this machine seems to be offline, or the server "
                "is down")
    if isinstance(err, ValueError):
        detail = str(err).split(" Deleted download", 1)[0]
        return f"the downloaded file failed its checksum ({detail}); it was deleted"
    return f"{type(err).__name__}: {err}"


def _download(key: str, file: str, expected: str, folder: Path) -> None:
    import pooch
    import requests

    downloader = pooch.HTTPDownloader(progressbar=True, timeout=TIMEOUT_S)
    failures = []
    for url in _urls(key, file):
        for attempt in range(1, ATTEMPTS + 1):
            try:
                # pooch streams into a temporary file in `folder`, checks `expected`, then renames.
                pooch.retrieve(url, known_hash=expected, fname=file, path=folder, downloader=downloader)
                return
            except (ValueError, requests.exceptions.RequestException) as err:
                failures.append((url, _explain(err)))
                client_error = (isinstance(err, requests.exceptions.HTTPError) and err.response is not None
                                and 400 <= err.response.status_code < 500)
                if client_error:  # 404 and the like do not change on a retry
                    break
                if attempt < ATTEMPTS:
                    time.sleep(RETRY_WAIT_S * attempt)
    offline = all(reason.startswith("no connection to the server") for _, reason in failures)
    lines = []
    for failure in dict.fromkeys(failures):  # identical attempts are reported once, with their count
        count = failures.count(failure)
        lines.append(f"  {count} attempt{'s' if count > 1 else ''} from {failure[0]}: {failure[1]}")
    raise DownloadError(
        f"{_SPECS[key].title}: could not download {file}"
        + (" because this machine is offline or cannot reach the server" if offline else "")
        + ". What happened:\n" + "\n".join(lines)
        + f"\nNothing was saved under the name {folder / file}; {_SPECS[key].title} is not replaced by "
        "another data set.\n" + _by_hand(key, folder, _registry(key))
    )


def fetch(name: str, root: str | os.PathLike | None = None, download: bool = True) -> dict:
    """The checked files of a full data set in the cache, downloading those that are missing.

    Returns ``{file name: Path}``. A file already there is checked against its expected
    checksum: a match is used as it is (no network); a mismatch is deleted and downloaded
    again when ``download`` is true, and is an error otherwise. Raises
    :class:`DownloadError` when a download fails and :class:`FileNotFoundError` when
    ``download`` is false and files are missing; both name the folder and the files.
    """
    key = _check_name(name)
    _check_bool("download", download)
    folder = cache_dir(root) / key
    files = _registry(key)
    paths, missing, wrong = {}, [], []
    for file, expected in files.items():
        path = folder / file
        paths[file] = path
        if path.is_file():
            actual = _file_hash(path, expected)
            if actual == expected:
                continue
            if not download:
                wrong.append(f"  {file}: {actual}, expected {expected}")
                continue
            print(f"{path} does not have the expected checksum ({actual}, expected {expected}); "
                  "deleting it and downloading it again", file=sys.stderr)
            path.unlink()
        if not download:
            missing.append(file)
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            writable = os.access(folder, os.W_OK)
        except OSError as err:
            writable, reason = False, str(err)
        else:
            reason = "permission denied"
        if not writable:
            raise PermissionError(f"cannot write into the cache folder {folder} ({reason}); set {CACHE_ENV} "
                                  "or pass root= to use another folder")
        _download(key, file, expected, folder)
    if missing or wrong:
        problem = []
        if missing:
            problem.append(f"missing: {', '.join(missing)}")
        if wrong:
            problem.append("not the expected files (delete them):\n" + "\n".join(wrong))
        raise FileNotFoundError(
            f"{_SPECS[key].title} is not in the cache folder {folder} and download=False; "
            + "; ".join(problem) + "\nPass download=True to download them. " + _by_hand(key, folder, files)
        )
    return paths


# ----------------------------------------------------------------------------- reading

_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array in an IDX file (gzipped when the name ends in ``.gz``), its header checked.

    The header is two zero bytes, a type code (0x08 = uint8, ...), the number of dimensions
    and each dimension as a big-endian uint32; the data must be exactly as long as the header
    says. Anything else is a ``ValueError`` that names the file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ValueError(f"{path} is not a readable gzip file ({err}); delete it and download it again") from err
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(f"{path} is not an IDX file: it does not start with the magic number 0x0000")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}; allowed: "
                         + ", ".join(f"0x{c:02X}" for c in _IDX_TYPES))
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: the IDX header announces {ndim} dimensions but is cut short or empty")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(raw) - 4 - 4 * ndim
    if body != expected:
        raise ValueError(f"{path}: the IDX header announces shape {dims} of {dtype} ({expected} bytes) but the "
                         f"file holds {body} bytes of data; delete it and download it again")
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims).astype(dtype.newbyteorder("="))


def _read_idx_pair(images_path: Path, labels_path: Path, shape) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != shape[1:]:
        raise ValueError(f"{images_path}: expected uint8 images of shape N x {shape[1]} x {shape[2]}, "
                         f"got {images.dtype} of shape {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected a 1-D array of uint8 labels, got {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path.name} holds {len(images)} images but {labels_path.name} {len(labels)} labels")
    if len(labels) and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}")
    return images, labels


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10 batches: dicts, lists, strings, ints and uint8 numpy arrays, nothing else."""

    _reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's array rebuilder, wherever it lives
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.numeric", "_frombuffer"): np.zeros(1).__reduce_ex__(5)[0],  # pickle protocol 5
        ("numpy.core.numeric", "_frombuffer"): np.zeros(1).__reduce_ex__(5)[0],
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): __import__("codecs").encode,  # bytes in a protocol-2 pickle made by Python 3
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"a CIFAR-10 batch may hold only dicts, lists, strings and numpy arrays; it asks for "
                f"{module}.{name}, which is refused") from None


def _unpickle_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as err:
        raise ValueError(f"{where} is not a CIFAR-10 python batch: {type(err).__name__}: {err}") from err
    if not isinstance(batch, dict):
        raise ValueError(f"{where}: expected a dict, got {type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{where}: 'data' must be a uint8 array of shape N x 3072, got "
                         f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}: 'labels' must be {len(data)} integers, got {labels.dtype} of shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}: labels must be 0..9, found {int(labels.min())}..{int(labels.max())}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_cifar10(path: str | os.PathLike):
    """``(x_train, y_train, x_test, y_test)`` from ``cifar-10-python.tar.gz`` without unpacking it.

    Images are uint8 arrays N x 3 x 32 x 32, labels int64. Load only a file whose checksum has
    passed: the batches are pickles, read with an unpickler that refuses every type but the
    few the batches hold.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    members = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] + ["cifar-10-batches-py/test_batch"]
    found = {}
    try:
        # one pass through the stream: seeking back in a .tar.gz would decompress it again each time
        with tarfile.open(path, "r|gz") as archive:
            for info in archive:
                if info.name in members and info.isfile():
                    found[info.name] = _unpickle_batch(archive.extractfile(info).read(), f"{path}:{info.name}")
    except (tarfile.TarError, OSError, EOFError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable .tar.gz archive ({err}); delete it and download it again") from err
    for member in members:
        if member not in found:
            raise ValueError(f"{path} has no file {member}; it is not the CIFAR-10 python version")
    parts = [found[m] for m in members]
    x_train = np.concatenate([x for x, _ in parts[:5]])
    y_train = np.concatenate([y for _, y in parts[:5]])
    return x_train, y_train, parts[5][0], parts[5][1]


# ----------------------------------------------------------------------------- the data sets


def load_full(
    name: str,
    root: str | os.PathLike | None = None,
    download: bool = True,
    val_size: int | None = None,
    seed: int = 0,
):
    """A full data set as an :class:`~vae_course.data.ImageData`, downloaded once into the cache.

    ``name``: ``'mnist'`` (60,000 / 10,000 images, 1 x 28 x 28), ``'fashion-mnist'`` (same
    sizes) or ``'cifar10'`` (50,000 / 10,000, 3 x 32 x 32). Images are float32 in [0, 1],
    labels int64 in 0..9. ``val_size`` images of the official training set (by default a
    sixth for the MNIST-like sets, 10,000, and a tenth for CIFAR-10, 5,000), drawn by a
    permutation seeded with ``seed``, are the validation split; the rest is the training
    split, and the official test set, in a seeded order, is the test split.

    ``root`` is the cache folder (default ``$VAE_COURSE_DATA``, else ``~/.cache/vae_course``);
    ``download=False`` never touches the network and fails if the files are not there.
    Failures never fall back to another data set: see :func:`fetch`.
    """
    import torch

    from .data import ImageData, Split

    key = _check_name(name)
    _check_bool("download", download)
    if val_size is not None:
        _check_int("val_size", val_size, minimum=0)
    _check_int("seed", seed, minimum=0, maximum=2**63 - 1)
    paths = fetch(key, root=root, download=download)
    spec = _SPECS[key]
    if key == "cifar10":
        x_train, y_train, x_test, y_test = read_cifar10(paths["cifar-10-python.tar.gz"])
    else:
        x_train, y_train = _read_idx_pair(paths["train-images-idx3-ubyte.gz"], paths["train-labels-idx1-ubyte.gz"],
                                          spec.image_shape)
        x_test, y_test = _read_idx_pair(paths["t10k-images-idx3-ubyte.gz"], paths["t10k-labels-idx1-ubyte.gz"],
                                        spec.image_shape)
    n = len(x_train)
    if val_size is None:
        val_size = int(round(n * spec.val_fraction))
    if val_size >= n:
        raise ValueError(f"val_size must be smaller than the {n} training images of {key}, got {val_size}")

    generator = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=generator)
    test_perm = torch.randperm(len(x_test), generator=generator)

    def split(x, y, index):
        images = torch.from_numpy(np.ascontiguousarray(x))[index].reshape(len(index), *spec.image_shape)
        return Split(images.to(torch.float32).div_(255.0), torch.from_numpy(np.asarray(y, dtype=np.int64))[index])

    return ImageData(
        key,
        train=split(x_train, y_train, perm[val_size:]),
        val=split(x_train, y_train, perm[:val_size]),
        test=split(x_test, y_test, test_perm),
        num_classes=10,
    )


def main(argv=None) -> int:
    """``python -m vae_course.download NAME...``: fill the cache with the named data sets."""
    import argparse

    parser = argparse.ArgumentParser(description="Download full data sets into the course's cache, checked.")
    parser.add_argument("names", nargs="+", choices=FULL_DATASETS, help="data sets to download")
    parser.add_argument("--root", default=None, help=f"cache folder (default ${CACHE_ENV} or ~/.cache/vae_course)")
    args = parser.parse_args(argv)
    for name in args.names:
        paths = fetch(name, root=args.root)
        print(f"{name}: " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
