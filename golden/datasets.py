"""MNIST, Fashion-MNIST and KMNIST as uint8 arrays: local look-up, verified download, bundled subset."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import os
import struct
import sys
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from golden.files import atomic_write_bytes


class DatasetError(Exception):
    """A dataset file is missing, damaged or unobtainable; the message names the file and the fix."""


@dataclass(frozen=True)
class Dataset:
    """Images as read-only uint8 arrays of shape (n, 784), labels as read-only uint8 arrays (n,)."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str
    note: str = ""


def head(data: Dataset, train_samples: int | None = None, test_samples: int | None = None) -> Dataset:
    """The dataset cut to its first training and test images (None keeps all)."""
    return dataclasses.replace(data, train_x=data.train_x[:train_samples], train_y=data.train_y[:train_samples],
                               test_x=data.test_x[:test_samples], test_y=data.test_y[:test_samples])


DATASET_NAMES: tuple[str, ...] = ("mnist-subset", "mnist", "fashion_mnist", "kmnist", "kmnist-testsplit")

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"

# Official files: (directory, file name) -> (bytes, MD5, SHA-256) of the published .gz file.
OFFICIAL_FILES: dict[tuple[str, str], tuple[int, str, str]] = {
    ("mnist", TRAIN_IMAGES): (9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                              "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    ("mnist", TRAIN_LABELS): (28881, "d53e105ee54ea40749a09fcbcd1e9432",
                              "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    ("mnist", TEST_IMAGES): (1648877, "9fb629c4189551a2d022fa330f9573f3",
                             "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    ("mnist", TEST_LABELS): (4542, "ec29112dd5afa0611ce80d1b7f02629c",
                             "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ("fashion_mnist", TRAIN_IMAGES): (26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                      "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    ("fashion_mnist", TRAIN_LABELS): (29515, "25c81989df183df01b3e8a0aad5dffbe",
                                      "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    ("fashion_mnist", TEST_IMAGES): (4422102, "bef4ecab320f06d8554ea6380940ec79",
                                     "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    ("fashion_mnist", TEST_LABELS): (5148, "bb300cfdad3c16e7a12a480ee83cd310",
                                     "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ("kmnist", TRAIN_IMAGES): (18165135, "bdb82020997e1d708af4cf47b453dcf7",
                               "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
    ("kmnist", TRAIN_LABELS): (29497, "e144d726b3acfaa3e44228e80efcd344",
                               "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
    ("kmnist", TEST_IMAGES): (3041136, "5c965bf0a639b31b8f53240b1b52f4d7",
                              "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
    ("kmnist", TEST_LABELS): (5120, "7320c461ea6c1c855c0b718fb2a4b134",
                              "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
}

# Official mirrors, tried in order after $EPFPGA_MIRROR; a file's URL is <base><file name>.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "kmnist": ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
}

DATA_DIR_ENV = "EPFPGA_DATA_DIR"
MIRROR_ENV = "EPFPGA_MIRROR"
CONNECT_TIMEOUT_S = 10.0
KMNIST_TESTSPLIT_NOTE = "KMNIST train images unavailable: train/test split of the official 10k test set"
SUBSET_NOTE = "bundled MNIST subset: the first 500 train and 100 test images of each class of the official files"

_SUBSET_DIR = Path(__file__).resolve().parent / "data" / "mnist-subset"
_DIRECTORY = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "kmnist": "kmnist", "kmnist-testsplit": "kmnist"}
_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049
_SIDE = 28
_CHUNK = 1 << 16
_TESTSPLIT_TRAIN_FRACTION = 0.8
_OFFLINE_FIX = "pass --data-dir pointing at a folder with the files, set EPFPGA_DATA_DIR, or go online"


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding <dataset>/<file>.gz: data_dir, else $EPFPGA_DATA_DIR, else the user cache."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV, "")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    cache = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return cache / "epfpga" / "datasets"


def _decompress(path: Path) -> bytes:
    try:
        return gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as e:  # BadGzipFile is an OSError too
        if isinstance(e, gzip.BadGzipFile):
            raise DatasetError(f"{path}: not a valid gzip file ({e}): replace it with the official file") from None
        raise DatasetError(f"{path}: cannot read: {e.strerror or e}") from None
    except EOFError:
        raise DatasetError(f"{path}: truncated gzip file: delete it to re-download or replace it") from None
    except zlib.error as e:
        raise DatasetError(f"{path}: corrupt gzip data ({e}): delete it to re-download or replace it") from None


def _header(path: Path, data: bytes, magic: int, ndim: int, kind: str) -> tuple[int, ...]:
    size = 4 * (1 + ndim)
    if len(data) >= 4 and (found := struct.unpack(">I", data[:4])[0]) != magic:
        raise DatasetError(f"{path}: IDX magic number {found}, expected {magic} for an {kind} file")
    if len(data) < size:
        raise DatasetError(f"{path}: {len(data)} bytes after decompression, too short for an IDX {kind} header")
    return struct.unpack(f">{ndim}I", data[4:size])


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Read a gzipped IDX image file into a read-only uint8 array of shape (n, 784)."""
    path = Path(path)
    data = _decompress(path)
    n, rows, cols = _header(path, data, _IMAGES_MAGIC, 3, "images")
    if (rows, cols) != (_SIDE, _SIDE):
        raise DatasetError(f"{path}: images are {rows}x{cols}, expected {_SIDE}x{_SIDE}")
    payload = len(data) - 16
    if payload != n * rows * cols:
        raise DatasetError(f"{path}: header says {n} images ({n * rows * cols} bytes) "
                           f"but the file holds {payload} bytes of pixels")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def read_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """Read a gzipped IDX label file into a read-only uint8 array of shape (n,), checking labels are 0..9."""
    path = Path(path)
    data = _decompress(path)
    (n,) = _header(path, data, _LABELS_MAGIC, 1, "labels")
    if len(data) - 8 != n:
        raise DatasetError(f"{path}: header says {n} labels but the file holds {len(data) - 8}")
    labels = np.frombuffer(data, dtype=np.uint8, offset=8)
    if n and labels.max() > 9:
        raise DatasetError(f"{path}: label {int(labels.max())} found, expected labels 0..9")
    return labels


def _pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx_images(images_path), read_idx_labels(labels_path)
    if len(x) != len(y):
        raise DatasetError(f"{images_path} holds {len(x)} images but {labels_path.name} holds {len(y)} labels")
    return x, y


def _digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


class _MirrorFailed(Exception):
    """One mirror could not deliver a correct copy; the next one is tried."""


def _fetch(url: str, label: str, expected: tuple[int, str, str], progress: bool) -> bytes:
    size, md5, sha256 = expected
    data = bytearray()
    try:
        with urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT_S) as response, tqdm(
                total=size, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, disable=not progress) as bar:
            while chunk := response.read(_CHUNK):
                data += chunk
                bar.update(len(chunk))
                if len(data) > size:
                    break
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise _MirrorFailed(f"{url}: {_reason(e)}") from None
    if len(data) != size:
        got = f"more than {size}" if len(data) > size else str(len(data))
        raise _MirrorFailed(f"{url}: got {got} bytes, expected {size}")
    if _digests(bytes(data)) != (md5, sha256):
        raise _MirrorFailed(f"{url}: checksum mismatch (MD5/SHA-256 differ from the official file)")
    return bytes(data)


def _mirror_urls(directory: str, file: str) -> list[str]:
    urls = []
    custom = os.environ.get(MIRROR_ENV, "")
    if custom:
        urls.append(f"{custom.rstrip('/')}/{directory}/{file}")
    urls += [base + file for base in MIRRORS.get(directory, ())]
    return urls


def _ensure(root: Path, directory: str, file: str, download: bool, progress: bool, hint: str) -> Path:
    """Return the path of an official file under root, downloading it if missing; check its size."""
    path = root / directory / file
    expected = OFFICIAL_FILES[(directory, file)]
    if path.is_file():
        actual = path.stat().st_size
        if actual != expected[0]:
            raise DatasetError(f"{path}: size {actual}, expected {expected[0]}: delete it to re-download")
        return path
    where = f"{directory}/{file} is missing from {root}"
    if not download:
        raise DatasetError(f"{where} and downloading is disabled: pass --data-dir pointing at a folder with "
                           f"the files, set EPFPGA_DATA_DIR, or allow downloads{hint}")
    failures = []
    for url in _mirror_urls(directory, file):
        try:
            data = _fetch(url, f"{directory}/{file}", expected, progress)
        except _MirrorFailed as e:
            failures.append(str(e).replace("\n", " "))
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
        except OSError as e:
            raise DatasetError(f"cannot write {path}: {e.strerror or e}: "
                               f"pass --data-dir or set EPFPGA_DATA_DIR to a writable folder") from None
        return path
    tried = "; ".join(failures) if failures else "no mirror configured"
    raise DatasetError(f"{where} and could not be downloaded ({tried}): {_OFFLINE_FIX}{hint}")


def _balanced_split(labels: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (in original order) of the first `fraction` of each class, and of the rest."""
    first = np.concatenate([idx[:int(round(len(idx) * fraction))]
                            for idx in (np.flatnonzero(labels == c) for c in range(10))])
    mask = np.zeros(len(labels), dtype=bool)
    mask[first] = True
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def _first_per_class(labels: np.ndarray, per_class: int, path: Path) -> np.ndarray:
    """Indices (in original order) of the first `per_class` examples of each class 0..9."""
    chosen = []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise DatasetError(f"{path}: class {c} has {len(idx)} examples, fewer than the {per_class} requested")
        chosen.append(idx[:per_class])
    return np.sort(np.concatenate(chosen))


def _readonly(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


def _load_subset() -> Dataset:
    paths = [_SUBSET_DIR / f for f in _FILES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"bundled subset files missing from {_SUBSET_DIR} ({', '.join(missing)}): "
                           f"reinstall epfpga or rebuild them with golden.datasets.make_subset")
    train_x, train_y = _pair(paths[0], paths[1])
    test_x, test_y = _pair(paths[2], paths[3])
    return Dataset("mnist-subset", train_x, train_y, test_x, test_y, "bundled subset", SUBSET_NOTE)


def load(name: str, data_dir: str | os.PathLike | None = None, download: bool = True,
         progress: bool = True) -> Dataset:
    """Load a dataset by name; official files come from data_root(data_dir) or are downloaded into it."""
    if name not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}: choose one of {', '.join(DATASET_NAMES)}")
    if name == "mnist-subset":
        return _load_subset()
    root = data_root(data_dir)
    directory = _DIRECTORY[name]

    def get(file: str, hint: str = "") -> Path:
        return _ensure(root, directory, file, download, progress, hint)

    if name == "kmnist-testsplit":
        x, y = _pair(get(TEST_IMAGES), get(TEST_LABELS))
        train, test = _balanced_split(y, _TESTSPLIT_TRAIN_FRACTION)
        arrays = _readonly(x[train], y[train], x[test], y[test])
        return Dataset(name, *arrays, source=str(root / directory), note=KMNIST_TESTSPLIT_NOTE)
    hint = "; offline, use the dataset kmnist-testsplit (a split of the official KMNIST test set)" \
        if name == "kmnist" else ""
    paths = [get(f, hint if f == TRAIN_IMAGES else "") for f in _FILES]
    train_x, train_y = _pair(paths[0], paths[1])
    test_x, test_y = _pair(paths[2], paths[3])
    return Dataset(name, train_x, train_y, test_x, test_y, source=str(root / directory))


def verify_checksums(root: str | os.PathLike, name: str) -> list[str]:
    """Fully check MD5 and SHA-256 of the official files of `name` present under root; return the problems."""
    if name not in _DIRECTORY:
        raise DatasetError(f"no official checksums for {name!r}: choose one of {', '.join(_DIRECTORY)}")
    directory = _DIRECTORY[name]
    problems = []
    for file in _FILES:
        path = Path(root) / directory / file
        if not path.is_file():
            continue
        size, md5, sha256 = OFFICIAL_FILES[(directory, file)]
        data = path.read_bytes()
        if len(data) != size:
            problems.append(f"{path}: size {len(data)}, expected {size}")
        elif _digests(data) != (md5, sha256):
            problems.append(f"{path}: checksum mismatch (MD5/SHA-256 differ from the official file)")
    return problems


def _gzip_bytes(raw: bytes) -> bytes:
    """Gzip `raw` reproducibly: level 9, mtime 0, no file name, OS 'unknown'."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(raw) + compressor.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    return header + body + struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)


def make_subset(src_root: str | os.PathLike, out_dir: str | os.PathLike, train_per_class: int = 500,
                test_per_class: int = 100) -> None:
    """Write the first N of each class of the official MNIST files under src_root as gzipped IDX files."""
    src, out = Path(src_root) / "mnist", Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for images, labels, per_class in ((TRAIN_IMAGES, TRAIN_LABELS, train_per_class),
                                      (TEST_IMAGES, TEST_LABELS, test_per_class)):
        x, y = _pair(src / images, src / labels)
        keep = _first_per_class(y, per_class, src / labels)
        n = len(keep)
        atomic_write_bytes(out / images, _gzip_bytes(
            struct.pack(">IIII", _IMAGES_MAGIC, n, _SIDE, _SIDE) + x[keep].tobytes()))
        atomic_write_bytes(out / labels, _gzip_bytes(struct.pack(">II", _LABELS_MAGIC, n) + y[keep].tobytes()))
