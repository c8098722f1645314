"""Tests of golden.datasets: real files, bundled subset, verified downloads from a local server, bad files."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import shutil
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from golden import datasets
from golden.datasets import (DATASET_NAMES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, Dataset,
                             DatasetError, data_root, load, make_subset, read_idx_images, read_idx_labels,
                             verify_checksums)

REAL_MIRRORS = dict(datasets.MIRRORS)
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No test reads the user's cache or environment, and none can reach the real mirrors."""
    for var in ("EPFPGA_DATA_DIR", "EPFPGA_MIRROR", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(datasets, "MIRRORS", {})


def _serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def mirror(monkeypatch):
    """serve(directory) starts an HTTP server on 127.0.0.1 for `directory` and points EPFPGA_MIRROR at it."""
    running = []

    def serve(directory: Path) -> str:
        server, thread = _serve(directory)
        running.append((server, thread))
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("EPFPGA_MIRROR", url)
        return url

    yield serve
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _write_gz(path: Path, raw: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, mtime=0))
    return path


def _copy(shared: Path, root: Path, directory: str, *files: str) -> None:
    (root / directory).mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(shared / directory / f, root / directory / f)


def _check_shapes(ds: Dataset, n_train: int, n_test: int) -> None:
    for x, y, n in ((ds.train_x, ds.train_y, n_train), (ds.test_x, ds.test_y, n_test)):
        assert x.shape == (n, 784) and x.dtype == np.uint8
        assert y.shape == (n,) and y.dtype == np.uint8
        assert not x.flags.writeable and not y.flags.writeable


# --- names, look-up order ---------------------------------------------------------------------------------

def test_dataset_names():
    assert DATASET_NAMES == ("mnist-subset", "mnist", "fashion_mnist", "kmnist", "kmnist-testsplit")


def test_unknown_name_lists_valid_names():
    with pytest.raises(DatasetError) as err:
        load("cifar10")
    message = str(err.value)
    assert "cifar10" in message and all(name in message for name in DATASET_NAMES)


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "epfpga" / "datasets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "epfpga" / "datasets"
    monkeypatch.setenv("EPFPGA_DATA_DIR", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert data_root(str(tmp_path / "explicit")) == tmp_path / "explicit"


# --- real datasets from the shared folder -----------------------------------------------------------------

def test_load_mnist(shared_datasets):
    start = time.perf_counter()
    ds = load("mnist", data_dir=shared_datasets, download=False)
    elapsed = time.perf_counter() - start
    _check_shapes(ds, 60000, 10000)
    assert np.bincount(ds.train_y, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(ds.test_y, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert ds.source == str(shared_datasets / "mnist") and ds.note == ""
    assert ds.train_x.max() == 255 and ds.train_x.min() == 0
    assert elapsed < 2.0, f"loading MNIST took {elapsed:.2f} s"


def test_load_fashion_mnist(shared_datasets):
    ds = load("fashion_mnist", data_dir=shared_datasets, download=False)
    _check_shapes(ds, 60000, 10000)
    assert (np.bincount(ds.train_y, minlength=10) == 6000).all()
    assert (np.bincount(ds.test_y, minlength=10) == 1000).all()


def test_data_dir_from_environment(shared_datasets, monkeypatch):
    monkeypatch.setenv("EPFPGA_DATA_DIR", str(shared_datasets))
    ds = load("kmnist-testsplit", download=False)
    assert ds.source == str(shared_datasets / "kmnist")


def test_kmnist_testsplit_is_balanced_split_of_official_test_set(shared_datasets):
    ds = load("kmnist-testsplit", data_dir=shared_datasets, download=False)
    _check_shapes(ds, 8000, 2000)
    assert (np.bincount(ds.train_y, minlength=10) == 800).all()
    assert (np.bincount(ds.test_y, minlength=10) == 200).all()
    assert ds.note == "KMNIST train images unavailable: train/test split of the official 10k test set"
    official = read_idx_images(shared_datasets / "kmnist" / TEST_IMAGES)
    labels = read_idx_labels(shared_datasets / "kmnist" / TEST_LABELS)
    # Deterministic: the first 800 of each class (in file order) train, the other 200 test.
    train = np.sort(np.concatenate([np.flatnonzero(labels == c)[:800] for c in range(10)]))
    test = np.setdiff1d(np.arange(len(labels)), train)
    np.testing.assert_array_equal(ds.train_x, official[train])
    np.testing.assert_array_equal(ds.train_y, labels[train])
    np.testing.assert_array_equal(ds.test_x, official[test])
    np.testing.assert_array_equal(ds.test_y, labels[test])


def test_kmnist_without_train_images_names_the_fallback(shared_datasets, mirror, tmp_path):
    with pytest.raises(DatasetError) as err:
        load("kmnist", data_dir=shared_datasets, download=False)
    assert TRAIN_IMAGES in str(err.value) and "kmnist-testsplit" in str(err.value)
    # With downloads on but no network: same advice, nothing written.
    root = tmp_path / "root"
    _copy(shared_datasets, root, "kmnist", TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
    (tmp_path / "empty").mkdir()
    mirror(tmp_path / "empty")
    with pytest.raises(DatasetError) as err:
        load("kmnist", data_dir=root, progress=False)
    message = str(err.value)
    assert TRAIN_IMAGES in message and "kmnist-testsplit" in message and "HTTP 404" in message
    assert _all_files(root) == sorted(f"kmnist/{f}" for f in (TRAIN_LABELS, TEST_IMAGES, TEST_LABELS))


def test_verify_checksums(shared_datasets, tmp_path):
    assert verify_checksums(shared_datasets, "mnist") == []
    assert verify_checksums(shared_datasets, "kmnist") == []  # the missing train images are not a problem here
    _copy(shared_datasets, tmp_path, "mnist", TEST_LABELS, TRAIN_LABELS)
    bad = tmp_path / "mnist" / TEST_LABELS
    data = bytearray(bad.read_bytes())
    data[100] ^= 0xFF  # same size, different content
    bad.write_bytes(bytes(data))
    problems = verify_checksums(tmp_path, "mnist")
    assert len(problems) == 1 and TEST_LABELS in problems[0] and "checksum" in problems[0]
    with pytest.raises(DatasetError, match="mnist-subset"):
        verify_checksums(tmp_path, "mnist-subset")


# --- bundled subset ---------------------------------------------------------------------------------------

def test_bundled_subset_loads_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the bundled subset must not touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    ds = load("mnist-subset")
    _check_shapes(ds, 5000, 1000)
    assert (np.bincount(ds.train_y, minlength=10) == 500).all()
    assert (np.bincount(ds.test_y, minlength=10) == 100).all()
    assert ds.source == "bundled subset"


def test_bundled_subset_files_are_small():
    total = sum(p.stat().st_size for p in datasets._SUBSET_DIR.glob("*.gz"))
    assert sorted(p.name for p in datasets._SUBSET_DIR.glob("*.gz")) == sorted(
        [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS])
    assert total < 2_000_000


def test_bundled_subset_equals_official_images(shared_datasets):
    ds = load("mnist-subset")
    mnist = load("mnist", data_dir=shared_datasets, download=False)
    for sub_x, sub_y, x, y, per_class in ((ds.train_x, ds.train_y, mnist.train_x, mnist.train_y, 500),
                                          (ds.test_x, ds.test_y, mnist.test_x, mnist.test_y, 100)):
        keep = np.sort(np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(10)]))
        np.testing.assert_array_equal(sub_x, x[keep])
        np.testing.assert_array_equal(sub_y, y[keep])


def test_make_subset_reproduces_bundled_files(shared_datasets, tmp_path):
    make_subset(shared_datasets, tmp_path)
    for f in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS):
        made, bundled = (tmp_path / f).read_bytes(), (datasets._SUBSET_DIR / f).read_bytes()
        assert gzip.decompress(made) == gzip.decompress(bundled), f"{f}: content differs"
        assert made == bundled, f"{f}: same content but different gzip bytes (zlib version?)"


def test_make_subset_small_and_too_large(shared_datasets, tmp_path):
    make_subset(shared_datasets, tmp_path / "small", train_per_class=3, test_per_class=2)
    assert np.bincount(read_idx_labels(tmp_path / "small" / TRAIN_LABELS)).tolist() == [3] * 10
    assert read_idx_images(tmp_path / "small" / TEST_IMAGES).shape == (20, 784)
    with pytest.raises(DatasetError, match="class 5 has 892"):
        make_subset(shared_datasets, tmp_path / "big", train_per_class=10, test_per_class=900)


def test_subset_count_mismatch_is_reported(monkeypatch, tmp_path):
    for f in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS):
        shutil.copyfile(datasets._SUBSET_DIR / f, tmp_path / f)
    _write_gz(tmp_path / TEST_LABELS, struct.pack(">II", 2049, 999) + bytes(999))
    monkeypatch.setattr(datasets, "_SUBSET_DIR", tmp_path)
    with pytest.raises(DatasetError, match="1000 images but t10k-labels-idx1-ubyte.gz holds 999 labels"):
        load("mnist-subset")


# --- downloads from a local mirror ------------------------------------------------------------------------

def test_download_through_local_mirror(shared_datasets, mirror, tmp_path, capsys):
    cache = tmp_path / "cache"
    _copy(shared_datasets, cache, "mnist", TRAIN_IMAGES, TRAIN_LABELS)
    mirror(shared_datasets)
    ds = load("mnist", data_dir=cache, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and TEST_IMAGES in captured.err  # progress bar on stderr only
    assert _all_files(cache) == sorted(f"mnist/{f}" for f in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS))
    assert verify_checksums(cache, "mnist") == []
    for f in (TEST_IMAGES, TEST_LABELS):
        digest = hashlib.sha256((cache / "mnist" / f).read_bytes()).hexdigest()
        assert digest == datasets.OFFICIAL_FILES[("mnist", f)][2]
    reference = load("mnist", data_dir=shared_datasets, download=False)
    np.testing.assert_array_equal(ds.test_x, reference.test_x)
    np.testing.assert_array_equal(ds.test_y, reference.test_y)


def test_download_goes_to_environment_data_dir(shared_datasets, mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("EPFPGA_DATA_DIR", str(tmp_path / "env"))
    mirror(shared_datasets)
    ds = load("kmnist-testsplit", progress=False)
    assert ds.source == str(tmp_path / "env" / "kmnist")
    assert _all_files(tmp_path / "env") == [f"kmnist/{TEST_IMAGES}", f"kmnist/{TEST_LABELS}"]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_download_with_bad_checksum_leaves_nothing(shared_datasets, mirror, tmp_path, damage):
    served = tmp_path / "served" / "mnist"
    served.mkdir(parents=True)
    data = bytearray((shared_datasets / "mnist" / TEST_LABELS).read_bytes())
    if damage == "flip":
        data[200] ^= 0x01
    else:
        del data[-10:]
    (served / TEST_LABELS).write_bytes(bytes(data))
    cache = tmp_path / "cache"
    _copy(shared_datasets, cache, "mnist", TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES)
    mirror(tmp_path / "served")
    with pytest.raises(DatasetError) as err:
        load("mnist", data_dir=cache, progress=False)
    message = str(err.value)
    assert TEST_LABELS in message and "\n" not in message
    assert ("checksum mismatch" if damage == "flip" else "expected 4542") in message
    assert _all_files(cache) == sorted(f"mnist/{f}" for f in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES))


def test_missing_file_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("EPFPGA_MIRROR", f"http://127.0.0.1:{_closed_port()}")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError) as err:
        load("mnist", data_dir=cache, progress=False)
    message = str(err.value)
    assert "\n" not in message
    assert f"mnist/{TRAIN_IMAGES} is missing from {cache}" in message
    assert "--data-dir" in message and "EPFPGA_DATA_DIR" in message and "online" in message
    assert not cache.exists() or _all_files(cache) == []


def test_download_disabled(tmp_path):
    with pytest.raises(DatasetError, match="downloading is disabled"):
        load("fashion_mnist", data_dir=tmp_path, download=False)


def test_mirror_order_and_official_urls(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "MIRRORS", REAL_MIRRORS)
    monkeypatch.setenv("EPFPGA_MIRROR", "http://local.test/base/")
    tried = []

    def refuse(url, timeout):
        tried.append((url, timeout))
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    expected = {
        "mnist": ["http://local.test/base/mnist/" + TRAIN_IMAGES,
                  "https://ossci-datasets.s3.amazonaws.com/mnist/" + TRAIN_IMAGES,
                  "http://yann.lecun.com/exdb/mnist/" + TRAIN_IMAGES],
        "fashion_mnist": ["http://local.test/base/fashion_mnist/" + TRAIN_IMAGES,
                          "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" + TRAIN_IMAGES],
        "kmnist": ["http://local.test/base/kmnist/" + TRAIN_IMAGES,
                   "http://codh.rois.ac.jp/kmnist/dataset/kmnist/" + TRAIN_IMAGES],
    }
    for name, urls in expected.items():
        tried.clear()
        with pytest.raises(DatasetError, match="offline"):
            load(name, data_dir=tmp_path, progress=False)
        assert [url for url, _ in tried] == urls
        assert all(0 < timeout <= 30 for _, timeout in tried)


def test_unwritable_data_dir(shared_datasets, mirror, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    mirror(shared_datasets)
    with pytest.raises(DatasetError, match="cannot write .*writable folder"):
        load("kmnist-testsplit", data_dir=blocker, progress=False)


# --- bad local files --------------------------------------------------------------------------------------

def test_wrong_size_local_file(tmp_path):
    _write_gz(tmp_path / "mnist" / TRAIN_IMAGES, b"junk")
    with pytest.raises(DatasetError) as err:
        load("mnist", data_dir=tmp_path, download=False)
    message = str(err.value)
    assert TRAIN_IMAGES in message and "expected 9912422: delete it to re-download" in message


def test_truncated_gzip(shared_datasets, tmp_path):
    path = tmp_path / TEST_LABELS
    path.write_bytes((shared_datasets / "mnist" / TEST_LABELS).read_bytes()[:2000])
    with pytest.raises(DatasetError, match=f"{TEST_LABELS}: truncated gzip"):
        read_idx_labels(path)


def test_not_gzip(tmp_path):
    path = tmp_path / "plain.idx"
    path.write_bytes(struct.pack(">II", 2049, 1) + b"\x01")
    with pytest.raises(DatasetError, match="plain.idx: not a valid gzip file"):
        read_idx_labels(path)


def test_corrupt_gzip_crc(shared_datasets, tmp_path):
    data = bytearray((shared_datasets / "mnist" / TEST_LABELS).read_bytes())
    data[-8] ^= 0xFF  # stored CRC-32
    path = tmp_path / TEST_LABELS
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=TEST_LABELS):
        read_idx_labels(path)


def test_missing_file_for_reader(tmp_path):
    with pytest.raises(DatasetError, match="nothere.gz: no such file"):
        read_idx_images(tmp_path / "nothere.gz")


def test_wrong_magic(tmp_path):
    labels = _write_gz(tmp_path / "labels.gz", struct.pack(">II", 2051, 3) + bytes(3))
    with pytest.raises(DatasetError, match="labels.gz: IDX magic number 2051, expected 2049"):
        read_idx_labels(labels)
    images = _write_gz(tmp_path / "images.gz", struct.pack(">II", 2049, 3) + bytes(3))
    with pytest.raises(DatasetError, match="images.gz: IDX magic number 2049, expected 2051"):
        read_idx_images(images)


def test_wrong_count(tmp_path):
    images = _write_gz(tmp_path / "images.gz", struct.pack(">IIII", 2051, 5, 28, 28) + bytes(4 * 784))
    with pytest.raises(DatasetError, match="images.gz: header says 5 images"):
        read_idx_images(images)
    labels = _write_gz(tmp_path / "labels.gz", struct.pack(">II", 2049, 5) + bytes(4))
    with pytest.raises(DatasetError, match="labels.gz: header says 5 labels but the file holds 4"):
        read_idx_labels(labels)


def test_wrong_image_size_and_short_header(tmp_path):
    images = _write_gz(tmp_path / "images.gz", struct.pack(">IIII", 2051, 1, 32, 32) + bytes(1024))
    with pytest.raises(DatasetError, match="images.gz: images are 32x32, expected 28x28"):
        read_idx_images(images)
    short = _write_gz(tmp_path / "short.gz", struct.pack(">I", 2051))
    with pytest.raises(DatasetError, match="short.gz: .*too short"):
        read_idx_images(short)


def test_label_out_of_range(tmp_path):
    labels = _write_gz(tmp_path / "labels.gz", struct.pack(">II", 2049, 3) + bytes([1, 10, 2]))
    with pytest.raises(DatasetError, match="labels.gz: label 10 found, expected labels 0..9"):
        read_idx_labels(labels)


def test_readers_on_valid_small_files(tmp_path):
    pixels = np.arange(2 * 784, dtype=np.uint32).astype(np.uint8)
    images = _write_gz(tmp_path / "images.gz", struct.pack(">IIII", 2051, 2, 28, 28) + pixels.tobytes())
    labels = _write_gz(tmp_path / "labels.gz", struct.pack(">II", 2049, 2) + bytes([7, 0]))
    np.testing.assert_array_equal(read_idx_images(images), pixels.reshape(2, 784))
    assert read_idx_labels(labels).tolist() == [7, 0]
