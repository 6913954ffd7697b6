"""The download path of the full data sets, end to end against a local HTTP server.

A server on 127.0.0.1 (a thread, an ephemeral port) serves small fixture files in the real
formats (gzipped IDX, a cifar-10-python.tar.gz of pickled batches) through the mirror
variable, with their checksums in a registry file. A guard makes every other address an
error, so these tests never touch the network.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import socket
import struct
import tarfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from vae_course import download
from vae_course.download import DownloadError, fetch, load_full, read_cifar10, read_idx

IDX_FILES = download._IDX_FILES
N_TRAIN, N_TEST = 60, 20  # MNIST-like fixture sizes
CIFAR_PER_BATCH, CIFAR_TEST = 6, 8


# ----------------------------------------------------------------------------- fixture files


def idx_bytes(array: np.ndarray, code: int = 0x08, compress: bool = True) -> bytes:
    header = b"\x00\x00" + bytes([code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(">u1" if code == 0x08 else array.dtype).tobytes()
    return gzip.compress(raw, mtime=0) if compress else raw


def mnist_like(seed: int):
    """Images whose first pixel is their index (so image and label pairing can be checked)."""
    rng = np.random.default_rng(seed)
    out = {}
    for part, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        x[:, 0, 0] = np.arange(n)
        y = (np.arange(n) * 7 + seed) % 10
        out[part] = (x, y.astype(np.uint8))
    return out


def mnist_files(arrays) -> dict:
    return {
        "train-images-idx3-ubyte.gz": idx_bytes(arrays["train"][0]),
        "train-labels-idx1-ubyte.gz": idx_bytes(arrays["train"][1]),
        "t10k-images-idx3-ubyte.gz": idx_bytes(arrays["t10k"][0]),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(arrays["t10k"][1]),
    }


def cifar_arrays():
    rng = np.random.default_rng(3)
    batches = []
    for b in range(6):
        n = CIFAR_TEST if b == 5 else CIFAR_PER_BATCH
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        data[:, 0] = b * 10 + np.arange(n)  # batch and position, readable from the first red pixel
        labels = [int(v) for v in (np.arange(n) + b) % 10]
        batches.append((data, labels))
    return batches


def cifar_tar(batches, protocol: int = 2) -> bytes:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, (data, labels) in zip(names, batches):
            batch = {"batch_label": name, "labels": labels, "data": data, "filenames": [f"img_{i}.png" for i in range(len(labels))]}
            payload = pickle.dumps(batch, protocol=protocol)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def py2_batch_pickle(data: np.ndarray, labels: list) -> bytes:
    """A batch pickled the way Python 2's cPickle wrote CIFAR-10 (str as BINSTRING, numpy globals)."""

    def s(text):
        raw = text if isinstance(text, bytes) else text.encode("latin1")
        return (b"U" + bytes([len(raw)]) + raw) if len(raw) < 256 else (b"T" + struct.pack("<I", len(raw)) + raw)

    def int_(v):
        return b"K" + bytes([v]) if v < 256 else b"M" + struct.pack("<H", v)

    out = b"\x80\x02}(" + s("data")
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + int_(0) + b"\x85" + s("b") + b"\x87R"
    out += b"(" + int_(1) + int_(data.shape[0]) + int_(data.shape[1]) + b"\x86"
    out += b"cnumpy\ndtype\n" + s("u1") + int_(0) + int_(1) + b"\x87R"
    out += b"(" + int_(3) + s("|") + b"NNN" + b"J\xff\xff\xff\xff" * 2 + int_(0) + b"tb"
    out += b"\x89" + s(data.tobytes()) + b"tb"
    out += s("labels") + b"](" + b"".join(int_(v) for v in labels) + b"e"
    out += s("batch_label") + s("training batch 1 of 5") + b"u."
    return out


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


# ----------------------------------------------------------------------------- the server


class Server:
    """Serves ``files`` ({'/name/file': bytes}); ``modes`` makes a path fail; ``requests`` counts GETs."""

    def __init__(self):
        self.files, self.modes, self.requests = {}, {}, Counter()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests[self.path] += 1
                body, mode = outer.files.get(self.path), outer.modes.get(self.path, "ok")
                if body is None:
                    self.send_error(404)
                elif mode == "500" or (mode == "500-once" and outer.requests[self.path] == 1):
                    self.send_error(500)
                else:
                    if mode == "wrong":
                        body = body[:-1] + bytes([body[-1] ^ 0xFF])
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if mode == "truncate":  # announce the whole file, send half of it, hang up
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


MNIST = mnist_like(0)
FASHION = mnist_like(1)
CIFAR = cifar_arrays()
FILES = {
    "mnist": mnist_files(MNIST),
    "fashion-mnist": mnist_files(FASHION),
    "cifar10": {"cifar-10-python.tar.gz": cifar_tar(CIFAR)},
}


@pytest.fixture(scope="module")
def server():
    srv = Server()
    for name, files in FILES.items():
        for file, body in files.items():
            srv.files[f"/{name}/{file}"] = body
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Any connection to an address other than 127.0.0.1 fails the test."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
            raise AssertionError(f"a test tried to reach {address}; only 127.0.0.1 is allowed")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setattr(download, "RETRY_WAIT_S", 0.0)


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    """The mirror and the fixtures' checksums; a fresh cache folder; server counters reset."""
    registry = tmp_path / "registry.txt"
    registry.write_text("# fixture files\n" + "".join(
        f"{name}/{file} {md5(body)}\n" for name, files in FILES.items() for file, body in files.items()))
    monkeypatch.setenv(download.MIRROR_ENV, server.url)
    monkeypatch.setenv(download.REGISTRY_ENV, str(registry))
    cache = tmp_path / "cache"
    monkeypatch.setenv(download.CACHE_ENV, str(cache))
    server.requests.clear()
    server.modes.clear()
    yield cache


def leftovers(folder):
    """Everything in the cache folder that is not a complete fixture file under its own name."""
    if not folder.exists():
        return []
    name = folder.name
    return sorted(p.name for p in folder.iterdir() if FILES[name].get(p.name) != p.read_bytes())


# ----------------------------------------------------------------------------- readers


def test_read_idx_known_answer(tmp_path):
    x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(idx_bytes(x))
    (tmp_path / "a").write_bytes(idx_bytes(x, compress=False))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), x)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), x)
    f = np.array([1.5, -2.0], dtype=">f4")  # big-endian float32, type 0x0D
    (tmp_path / "f").write_bytes(idx_bytes(f, code=0x0D, compress=False))
    np.testing.assert_array_equal(read_idx(tmp_path / "f"), [1.5, -2.0])


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"ab", "magic number"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"ab", "type code 0x07"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "cut short"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 3) + b"ab", "holds 2 bytes"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 1) + b"ab", "holds 2 bytes"),
    ],
)
def test_read_idx_rejects_bad_files(tmp_path, raw, message):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_a_file_that_is_not_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="not a readable gzip file"):
        read_idx(path)
    with pytest.raises(TypeError, match="path must be"):
        read_idx(3)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_read_cifar10_known_answer(tmp_path, protocol):
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(cifar_tar(CIFAR, protocol=protocol))
    x_train, y_train, x_test, y_test = read_cifar10(path)
    assert x_train.shape == (5 * CIFAR_PER_BATCH, 3, 32, 32) and x_train.dtype == np.uint8
    assert x_test.shape == (CIFAR_TEST, 3, 32, 32) and y_test.dtype == np.int64
    np.testing.assert_array_equal(x_train.reshape(len(x_train), -1), np.concatenate([d for d, _ in CIFAR[:5]]))
    np.testing.assert_array_equal(y_train, np.concatenate([lab for _, lab in CIFAR[:5]]))
    np.testing.assert_array_equal(x_test[:, 0, 0, 0], 50 + np.arange(CIFAR_TEST))  # red channel comes first


def test_cifar_batch_as_python2_wrote_it():
    data = np.random.default_rng(0).integers(0, 256, size=(3, 3072), dtype=np.uint8)
    x, y = download._unpickle_batch(py2_batch_pickle(data, [4, 0, 9]), "py2 batch")
    np.testing.assert_array_equal(x.reshape(3, -1), data)
    np.testing.assert_array_equal(y, [4, 0, 9])


class _Sneaky:
    def __reduce__(self):
        return (os.getcwd, ())


def test_cifar_unpickler_refuses_other_types(tmp_path):
    payload = pickle.dumps({"data": _Sneaky(), "labels": []}, protocol=2)
    with pytest.raises(ValueError, match="posix.getcwd, which is refused|os.getcwd, which is refused|nt.getcwd"):
        download._unpickle_batch(payload, "evil batch")
    bad = pickle.dumps({"data": np.zeros((2, 5), np.uint8), "labels": [0, 1]}, protocol=2)
    with pytest.raises(ValueError, match="N x 3072"):
        download._unpickle_batch(bad, "short rows")
    path = tmp_path / "c.tar.gz"
    path.write_bytes(cifar_tar(CIFAR[:3]))  # batches 4, 5 and the test batch missing
    with pytest.raises(ValueError, match="has no file cifar-10-batches-py/data_batch_4"):
        read_cifar10(path)


# ----------------------------------------------------------------------------- the download path


@pytest.mark.parametrize("name, arrays", [("mnist", MNIST), ("fashion-mnist", FASHION)])
def test_mnist_like_downloads_and_splits(env, server, name, arrays):
    data = load_full(name, seed=5)
    assert data.name == name and data.image_shape == (1, 28, 28)
    assert (len(data.train), len(data.val), len(data.test)) == (N_TRAIN - 10, 10, N_TEST)  # a sixth: 60 -> 10
    for split in (data.train, data.val, data.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert 0.0 <= split.x.min() and split.x.max() <= 1.0
    x_train, y_train = arrays["train"]
    both_x = torch.cat([data.train.x, data.val.x])
    index = (both_x[:, 0, 0, 0] * 255).round().long()  # first pixel = position in the file
    assert sorted(index.tolist()) == list(range(N_TRAIN))  # train + val = the training file, no overlap
    torch.testing.assert_close(both_x[:, 0], torch.from_numpy(x_train[index.numpy()]).float() / 255)
    torch.testing.assert_close(torch.cat([data.train.y, data.val.y]), torch.from_numpy(y_train[index.numpy()]).long())
    test_index = (data.test.x[:, 0, 0, 0] * 255).round().long()
    assert sorted(test_index.tolist()) == list(range(N_TEST))
    torch.testing.assert_close(data.test.y, torch.from_numpy(arrays["t10k"][1][test_index.numpy()]).long())
    assert sorted(p.name for p in (env / name).iterdir()) == sorted(IDX_FILES)
    assert all(server.requests[f"/{name}/{file}"] == 1 for file in IDX_FILES)


def test_cifar10_downloads_and_splits(env, server):
    data = load_full("cifar10", val_size=7)
    assert data.name == "cifar10" and data.image_shape == (3, 32, 32)
    assert (len(data.train), len(data.val), len(data.test)) == (5 * CIFAR_PER_BATCH - 7, 7, CIFAR_TEST)
    code = (torch.cat([data.train.x, data.val.x])[:, 0, 0, 0] * 255).round().long()
    expected = {b * 10 + i: CIFAR[b][1][i] for b in range(5) for i in range(CIFAR_PER_BATCH)}
    assert sorted(code.tolist()) == sorted(expected)
    assert torch.cat([data.train.y, data.val.y]).tolist() == [expected[c] for c in code.tolist()]
    assert server.requests["/cifar10/cifar-10-python.tar.gz"] == 1
    assert load_full("cifar10").image_shape == (3, 32, 32)  # default val_size: a tenth of 30 = 3
    assert len(load_full("cifar10").val) == 3


def test_split_is_seeded(env):
    a, b, c = load_full("mnist", seed=1), load_full("mnist", seed=1), load_full("mnist", seed=2)
    assert torch.equal(a.val.x, b.val.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.val.x, c.val.x)
    assert len(load_full("mnist", val_size=0).train) == N_TRAIN


def test_cache_hit_makes_no_request(env, server):
    load_full("mnist")
    first = sum(server.requests.values())
    assert first == 4
    again = load_full("mnist")
    offline = load_full("mnist", download=False)
    assert sum(server.requests.values()) == first  # no second request
    assert torch.equal(again.train.x, offline.train.x)


def test_download_false_with_missing_files_names_them(env, server):
    with pytest.raises(FileNotFoundError) as info:
        load_full("fashion-mnist", download=False)
    message = str(info.value)
    assert str(env / "fashion-mnist") in message and "download=True" in message
    assert all(file in message for file in IDX_FILES)
    assert sum(server.requests.values()) == 0


def assert_clean_failure(err, cache, name, file, what):
    message = str(err)
    assert what in message, message
    assert file in message and str(cache / name) in message  # which file, and the folder to put it in by hand
    assert "by hand" in message
    assert leftovers(cache / name) == [], "a partial or wrong file was left in the cache"


def test_checksum_mismatch_leaves_no_file(env, server):
    server.modes["/mnist/train-labels-idx1-ubyte.gz"] = "wrong"
    with pytest.raises(DownloadError) as info:
        load_full("mnist")
    assert_clean_failure(info.value, env, "mnist", "train-labels-idx1-ubyte.gz", "failed its checksum")
    assert server.requests["/mnist/train-labels-idx1-ubyte.gz"] == download.ATTEMPTS  # retried
    assert not (env / "mnist" / "train-labels-idx1-ubyte.gz").exists()


def test_server_failing_mid_file_leaves_no_file(env, server):
    server.modes["/cifar10/cifar-10-python.tar.gz"] = "truncate"
    with pytest.raises(DownloadError) as info:
        load_full("cifar10")
    assert_clean_failure(info.value, env, "cifar10", "cifar-10-python.tar.gz", "connection broke")
    assert not (env / "cifar10" / "cifar-10-python.tar.gz").exists()


def test_server_error_500(env, server):
    server.modes["/fashion-mnist/t10k-images-idx3-ubyte.gz"] = "500"
    with pytest.raises(DownloadError) as info:
        load_full("fashion-mnist")
    assert_clean_failure(info.value, env, "fashion-mnist", "t10k-images-idx3-ubyte.gz", "HTTP 500")
    assert server.requests["/fashion-mnist/t10k-images-idx3-ubyte.gz"] == download.ATTEMPTS
    server.modes.clear()  # the server recovers: the next call fetches only what is missing
    server.requests.clear()
    assert len(load_full("fashion-mnist").test) == N_TEST
    assert sum(server.requests.values()) == 2


def test_missing_file_on_the_mirror_is_not_retried(env, server, monkeypatch):
    monkeypatch.setenv(download.MIRROR_ENV, server.url + "/nowhere")
    with pytest.raises(DownloadError, match="HTTP 404"):
        load_full("mnist")
    assert sum(server.requests.values()) == 1


def test_no_server_is_an_offline_error(env, monkeypatch):
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(download.MIRROR_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError) as info:
        load_full("mnist")
    assert_clean_failure(info.value, env, "mnist", "train-images-idx3-ubyte.gz", "offline")
    assert "not replaced by another data set" in str(info.value)


def test_a_wrong_file_in_the_cache_is_replaced_or_reported(env, server):
    folder = env / "mnist"
    folder.mkdir(parents=True)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the labels")
    with pytest.raises(FileNotFoundError, match="not the expected files"):
        load_full("mnist", download=False)
    assert len(load_full("mnist").test) == N_TEST  # download=True replaces it
    assert leftovers(folder) == []


def test_official_checksums_without_registry(env, server, monkeypatch):
    """Without the registry the fixture files are not the published ones: refused, nothing kept."""
    monkeypatch.delenv(download.REGISTRY_ENV)
    assert download._registry("mnist")["train-images-idx3-ubyte.gz"] == "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"
    with pytest.raises(DownloadError, match="failed its checksum"):
        fetch("mnist")
    assert leftovers(env / "mnist") == []


def test_default_urls_and_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    assert download._urls("mnist", "t10k-labels-idx1-ubyte.gz")[0] == \
        "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"
    assert download._urls("cifar10", "cifar-10-python.tar.gz") == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path))
    assert download.cache_dir() == tmp_path and download.cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv(download.CACHE_ENV)
    assert download.cache_dir() == download.Path.home() / ".cache" / "vae_course"


def test_arguments_are_checked(env, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="name must be one of"):
        load_full("svhn")
    with pytest.raises(TypeError, match="name must be a string"):
        load_full(3)
    with pytest.raises(TypeError, match="download must be True or False"):
        load_full("mnist", download="yes")
    with pytest.raises(TypeError, match="val_size must be an int"):
        load_full("mnist", val_size=0.1)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        load_full("mnist", seed=-1)
    with pytest.raises(TypeError, match="root must be a path"):
        load_full("mnist", root=5)
    with pytest.raises(ValueError, match="val_size must be smaller than the 60 training images"):
        load_full("mnist", val_size=60)
    assert load_full("Fashion_MNIST").name == "fashion-mnist"  # aliases and case
    monkeypatch.setenv(download.MIRROR_ENV, "ftp://example")
    with pytest.raises(ValueError, match="VAE_COURSE_DATA_MIRROR must be an http"):
        fetch("cifar10")


@pytest.mark.parametrize(
    "text, message",
    [
        ("mnist/train-images-idx3-ubyte.gz\n", "expected '<name>/<file>"),
        ("mnist/other.gz md5:00\n", "not a file of a full data set"),
        ("mnist/train-images-idx3-ubyte.gz crc:00\n", "algorithm one of"),
        ("mnist/train-images-idx3-ubyte.gz md5:xyz\n", "hex digest"),
    ],
)
def test_registry_file_is_checked(tmp_path, monkeypatch, text, message):
    path = tmp_path / "reg.txt"
    path.write_text(text)
    monkeypatch.setenv(download.REGISTRY_ENV, str(path))
    with pytest.raises(ValueError, match=message):
        download._registry("mnist")
    monkeypatch.setenv(download.REGISTRY_ENV, str(tmp_path / "absent.txt"))
    with pytest.raises(FileNotFoundError, match="VAE_COURSE_DATA_REGISTRY"):
        download._registry("mnist")


def test_command_line_fills_the_cache(env, server, capsys):
    assert download.main(["cifar10", "--root", str(env / "elsewhere")]) == 0
    assert (env / "elsewhere" / "cifar10" / "cifar-10-python.tar.gz").is_file()
    assert "cifar10:" in capsys.readouterr().out


def test_cache_folder_that_cannot_be_made(env, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="cannot write into the cache folder") as info:
        fetch("mnist", root=blocker)
    assert str(blocker / "mnist") in str(info.value) and "VAE_COURSE_DATA" in str(info.value)


def test_a_failed_attempt_is_retried(env, server):
    server.modes["/mnist/train-images-idx3-ubyte.gz"] = "500-once"
    assert len(load_full("mnist").test) == N_TEST
    assert server.requests["/mnist/train-images-idx3-ubyte.gz"] == 2
    assert leftovers(env / "mnist") == []


def test_official_servers_are_tried_in_order(env, server, monkeypatch):
    """Without a mirror the files come from the data set's servers, the next one when one fails."""
    monkeypatch.delenv(download.MIRROR_ENV)
    spec = download._SPECS["mnist"]
    servers = (server.url + "/gone/", server.url + "/mnist/")  # stand-ins for the two official servers
    monkeypatch.setitem(download._SPECS, "mnist", download._Spec(spec.title, servers, spec.files,
                                                                 spec.val_fraction, spec.image_shape))
    assert len(load_full("mnist").train) == N_TRAIN - 10
    assert all(server.requests[f"/gone/{f}"] == 1 and server.requests[f"/mnist/{f}"] == 1 for f in IDX_FILES)
