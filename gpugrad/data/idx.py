"""MNIST-format IDX files: :func:`read_idx` reads one (plain or gzipped) into a NumPy array,
:func:`load_idx_dataset` the four standard MNIST / Fashion-MNIST files of a folder."""
from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

__all__ = ["DataError", "read_idx", "load_idx_dataset", "default_data_dir", "IDX_FILES", "NUM_CLASSES"]


class DataError(ValueError):
    """A data file is missing, truncated or malformed, or a dataset is inconsistent."""


# type code -> big-endian dtype, as in the IDX format description (LeCun's MNIST page).
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 16 << 20  # bytes read at a time, so a corrupt header cannot make us allocate terabytes


def _read_up_to(f, n: int) -> bytearray:
    """Read at most n bytes (fewer only at end of stream)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _count_rest(f) -> int:
    """Read to the end of the stream, returning how many bytes were left."""
    extra = 0
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            return extra
        extra += len(chunk)


def read_idx(path) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzipped or not, into a native-endian NumPy array.

    Gzip is detected from the file's first two bytes (1f 8b), not its name. The result has the
    shape the header gives and the dtype of its type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64). Raises :class:`DataError` for a missing file, a
    truncated header or payload, a wrong magic number, an unknown type code, bytes after the
    payload, or a corrupt gzip stream.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"IDX file {path!r} does not exist.")
    if os.path.isdir(path):
        raise DataError(f"IDX file {path!r} is a directory, not a file.")
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        what = "the decompressed file" if gzipped else "the file"
        try:
            return _read_idx_stream(f, path, what)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            if not gzipped:  # pragma: no cover  (plain reads raise none of these)
                raise
            reason = str(exc) or type(exc).__name__
            raise DataError(f"IDX file {path!r} starts like gzip but is a corrupt gzip stream ({reason}).") from exc
        finally:
            if gzipped:
                f.close()


def _read_idx_stream(f, path: str, what: str) -> np.ndarray:
    head = _read_up_to(f, 4)
    if len(head) < 4:
        raise DataError(
            f"IDX file {path!r} has a truncated header: it needs at least 4 bytes, {what} has {len(head)}.")
    if head[0] != 0 or head[1] != 0:
        raise DataError(
            f"IDX file {path!r} has a wrong magic number: expected 0x0000 then a type code and a dimension "
            f"count, found 0x{bytes(head).hex()}.")
    code, ndim = head[2], head[3]
    dtype = _IDX_TYPES.get(code)
    if dtype is None:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise DataError(f"IDX file {path!r} has an unknown data type code 0x{code:02X} (known: {known}).")
    dims_raw = _read_up_to(f, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(
            f"IDX file {path!r} has a truncated header: {ndim} dimensions need {4 + 4 * ndim} header bytes, "
            f"{what} has {4 + len(dims_raw)}.")
    shape = tuple(int(d) for d in np.frombuffer(bytes(dims_raw), dtype=">u4"))
    expected = math.prod(shape) * dtype.itemsize
    payload = _read_up_to(f, expected)
    if len(payload) < expected:
        raise DataError(
            f"IDX file {path!r} has truncated data: its header gives shape {shape} of {dtype.newbyteorder('=').name}, "
            f"so expected {expected} bytes of data, found {len(payload)}.")
    extra = _count_rest(f)
    if extra:
        raise DataError(
            f"IDX file {path!r} has {extra} unexpected bytes after the {expected} bytes of data its header gives "
            f"for shape {shape}.")
    arr = np.frombuffer(payload, dtype=dtype).reshape(shape)  # writable: payload is a bytearray
    if not dtype.isnative:
        arr = arr.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return arr


# --------------------------------------------------------------------------- MNIST-format datasets

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_DATASETS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist",
             "fashionmnist": "fashion-mnist"}
_DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
NUM_CLASSES = 10   # MNIST's digits and Fashion-MNIST's garments: labels 0 to 9


def _dataset_name(name: str) -> str:
    key = str(name).strip().lower()
    if key not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}: expected 'mnist' or 'fashion-mnist'")
    return _DATASETS[key]


def default_data_dir(name: str = "mnist") -> str | None:
    """Where a dataset is installed system-wide, or None.

    Fashion-MNIST: ``/usr/share/datasets/fashion-mnist`` when it exists (Debian's
    ``dataset-fashion-mnist`` package installs the four gzipped IDX files there). MNIST: None.
    """
    if _dataset_name(name) == "fashion-mnist" and os.path.isdir(_DEBIAN_FASHION_MNIST):
        return _DEBIAN_FASHION_MNIST
    return None


def _find_idx_file(data_dir: str, base: str) -> str:
    # 'train-images-idx3-ubyte' is the official name; 'train-images.idx3-ubyte' is a common re-packing.
    dotted = base.replace("-idx", ".idx")
    candidates = [base, base + ".gz", dotted, dotted + ".gz"]
    for cand in candidates:
        p = os.path.join(data_dir, cand)
        if os.path.isfile(p):
            return p
    raise DataError(f"no {base} file in {data_dir!r}: looked for " + ", ".join(candidates) + ".")


def _images_labels(images: np.ndarray, labels: np.ndarray, img_path: str, lbl_path: str, classes: int):
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"IDX file {img_path!r} should hold unsigned-byte images of shape (N, rows, cols), "
            f"found {images.dtype} of shape {images.shape}.")
    if images.shape[0] == 0 or images.shape[1] * images.shape[2] == 0:
        raise DataError(f"IDX file {img_path!r} holds no images (shape {images.shape}): a dataset needs at least "
                        "one image of at least one pixel.")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(
            f"IDX file {lbl_path!r} should hold integer labels of shape (N,), found {labels.dtype} of shape {labels.shape}.")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{img_path!r} holds {images.shape[0]} images but {lbl_path!r} holds {labels.shape[0]} labels; "
            "the counts must match.")
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(f"IDX file {lbl_path!r} holds label {int(labels[k])} (at index {k}, {int(bad.sum())} such "
                        f"labels in all); the dataset's {classes} classes are labelled 0 to {classes - 1}.")
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    X /= np.float32(255.0)
    return X, labels.astype(np.int64)


def load_idx_dataset(data_dir=None, name: str = "mnist"):
    """Load MNIST or Fashion-MNIST from the four standard IDX files in ``data_dir``.

    Each file may be plain or gzipped (``.gz``). Returns ``(X_train, y_train, X_test, y_test)``:
    images flattened to (N, rows*cols) = (N, 784) float32 in [0, 1], labels int64. ``data_dir=None``
    means :func:`default_data_dir` of ``name``.
    """
    name = _dataset_name(name)
    if data_dir is None:
        data_dir = default_data_dir(name)
        if data_dir is None:
            hint = " (or apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""
            raise DataError(
                f"no data_dir was given and {name} is not installed system-wide{hint}; pass the folder that holds "
                + ", ".join(IDX_FILES.values()) + " (each may end in .gz).")
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise DataError(f"{name} data folder {data_dir!r} does not exist.")
    paths = {key: _find_idx_file(data_dir, base) for key, base in IDX_FILES.items()}
    X_train, y_train = _images_labels(read_idx(paths["train_images"]), read_idx(paths["train_labels"]),
                                      paths["train_images"], paths["train_labels"], NUM_CLASSES)
    X_test, y_test = _images_labels(read_idx(paths["test_images"]), read_idx(paths["test_labels"]),
                                    paths["test_images"], paths["test_labels"], NUM_CLASSES)
    if X_train.shape[1] != X_test.shape[1]:
        raise DataError(
            f"{name} train images have {X_train.shape[1]} pixels each but test images have {X_test.shape[1]}.")
    return X_train, y_train, X_test, y_test
