"""Datasets and a device-aware DataLoader.

* :func:`read_idx` reads one MNIST-format IDX file (plain or gzipped) into a NumPy array.
* :func:`load_idx_dataset` loads the four standard MNIST / Fashion-MNIST files from a folder.
* :func:`load_digits` is scikit-learn's bundled 8x8 digits (1797 images, no download), split.
* :class:`DataLoader` yields ``(Tensor(xb), Tensor(yb))`` minibatches on a device; a dataset that
  fits is moved to the device once, and each batch is sliced there.

Everything here works on host NumPy arrays until the loader moves them; the only device work goes
through :mod:`gpugrad.backend`.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

from . import backend

__all__ = [
    "DataError", "read_idx", "load_idx_dataset", "default_data_dir", "IDX_FILES",
    "load_digits", "standardize", "DataLoader",
]


class DataError(ValueError):
    """A data file is missing, truncated or malformed, or a dataset is inconsistent."""


# --------------------------------------------------------------------------- IDX files

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


def _images_labels(images: np.ndarray, labels: np.ndarray, img_path: str, lbl_path: str):
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"IDX file {img_path!r} should hold unsigned-byte images of shape (N, rows, cols), "
            f"found {images.dtype} of shape {images.shape}.")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(
            f"IDX file {lbl_path!r} should hold integer labels of shape (N,), found {labels.dtype} of shape {labels.shape}.")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{img_path!r} holds {images.shape[0]} images but {lbl_path!r} holds {labels.shape[0]} labels; "
            "the counts must match.")
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
                                      paths["train_images"], paths["train_labels"])
    X_test, y_test = _images_labels(read_idx(paths["test_images"]), read_idx(paths["test_labels"]),
                                    paths["test_images"], paths["test_labels"])
    if X_train.shape[1] != X_test.shape[1]:
        raise DataError(
            f"{name} train images have {X_train.shape[1]} pixels each but test images have {X_test.shape[1]}.")
    return X_train, y_train, X_test, y_test


# --------------------------------------------------------------------------- scikit-learn digits

def load_digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's bundled 8x8 digits (1797 images, no download), split into train and test.

    The split is stratified by class and seeded. Returns ``(X_train, y_train, X_test, y_test)``:
    features (N, 64) float32 in [0, 1] (pixel / 16), labels int64.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ImportError(
            "load_digits needs scikit-learn, which is not installed: pip install 'gpugrad[train]'") from exc
    digits = _sk_load_digits()
    X = (np.asarray(digits.data, dtype=np.float32) / np.float32(16.0)).astype(np.float32)
    y = np.asarray(digits.target, dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=float(test_fraction), random_state=seed, stratify=y)
    return X_train, y_train, X_test, y_test


def standardize(X_train: np.ndarray, X_test: np.ndarray | None = None, min_std: float = 1e-8):
    """Scale features to zero mean and unit variance with the *training* set's statistics.

    Each feature's std is floored at ``min_std``, so a feature (a pixel) that is almost
    constant in training is not blown up when it varies in a test sample; a constant feature
    is only centred. Returns ``(X_train, X_test, (mean, std))`` as float32 (``X_test`` is None
    when not given).
    """
    X_train = np.asarray(X_train, dtype=np.float32)
    mean = X_train.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = np.maximum(X_train.std(axis=0, dtype=np.float64), min_std).astype(np.float32)
    scaled_test = None if X_test is None else (np.asarray(X_test, dtype=np.float32) - mean) / std
    return (X_train - mean) / std, scaled_test, (mean, std)


# --------------------------------------------------------------------------- DataLoader

PRELOAD_LIMIT_BYTES = 1 << 30  # preload=None moves datasets up to this size to the device once


class DataLoader:
    """Minibatches ``(Tensor(xb), Tensor(yb))`` of ``(X, y)`` on a device.

    Parameters
    ----------
    X, y : arrays with the same first dimension (host NumPy arrays, normally).
    batch_size : positive int.
    shuffle : visit samples in a new random order each epoch.
    seed : seed of the shuffle. The order of epoch ``e`` depends only on ``(seed, e)``, so a
        resumed run reproduces it (see :meth:`set_epoch`). None draws a seed once from
        :func:`gpugrad.backend.cpu_generator` (so ``gg.manual_seed`` makes it reproducible).
    device : where batches live; None is the default device.
    drop_last : drop the last batch when it is smaller than ``batch_size``.
    preload : True moves X and y to the device once, at construction, and slices each batch
        there (shuffling gathers through an index array moved once per epoch); False gathers each
        batch on the host and moves it; None (default) preloads when X and y together take at
        most ``PRELOAD_LIMIT_BYTES`` (1 GiB).
    as_tensors : yield gpugrad Tensors (default) or the raw device arrays.

    Iterating starts an epoch: it uses the current epoch number and then advances it, so a plain
    ``for epoch in ...: for xb, yb in loader:`` sees epochs 0, 1, 2, ... ``set_epoch(e)`` makes the
    next iteration be epoch ``e``.
    """

    def __init__(self, X, y, batch_size, shuffle=False, seed=None, device=None, drop_last=False,
                 preload=None, as_tensors=True):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not backend.is_array(X):
            X = np.asarray(X)
        if not backend.is_array(y):
            y = np.asarray(y)
        if X.ndim == 0 or y.ndim == 0:
            raise ValueError(f"X and y must have a sample axis, got shapes {X.shape} and {y.shape}")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}; they must match")
        if seed is None:
            seed = int(backend.cpu_generator().integers(2**63))
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.device = backend.device(device)
        self.as_tensors = bool(as_tensors)
        self.num_samples = int(X.shape[0])
        self._epoch = 0
        # Integer labels' range, read while they are on the host: lets a GPU loss check the
        # labels of every batch without a device synchronisation.
        self._label_range = (int(y.min()), int(y.max())) if (
            isinstance(y, np.ndarray) and y.dtype.kind in "iu" and y.size) else None
        on_host = isinstance(X, np.ndarray) and isinstance(y, np.ndarray)
        if preload is None:
            preload = (not on_host) or (X.nbytes + y.nbytes <= PRELOAD_LIMIT_BYTES)
        self.preload = bool(preload) or not on_host  # arrays already on a device are never gathered on the host
        if self.preload:
            if self.device.type != "cpu":
                X = backend.to_device(np.ascontiguousarray(X) if isinstance(X, np.ndarray) else X, self.device)
                y = backend.to_device(np.ascontiguousarray(y) if isinstance(y, np.ndarray) else y, self.device)
            else:
                X, y = backend.to_device(X, self.device), backend.to_device(y, self.device)
        self._X, self._y = X, y

    # ----------------------------------------------------------------- epochs and order

    @property
    def epoch(self) -> int:
        """The epoch number the next iteration will use."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (its order depends only on seed and epoch)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self._epoch = int(epoch)

    def indices(self, epoch: int | None = None) -> np.ndarray:
        """The sample indices (host int64 array) in the order epoch ``epoch`` visits them
        (default: the next epoch), including those a drop_last would skip."""
        epoch = self._epoch if epoch is None else int(epoch)
        if not self.shuffle:
            return np.arange(self.num_samples, dtype=np.int64)
        rng = np.random.default_rng([self.seed, epoch])
        return rng.permutation(self.num_samples).astype(np.int64, copy=False)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    # ----------------------------------------------------------------- iteration

    def __iter__(self):
        wrap = _tensor_class() if self.as_tensors else None
        order = self.indices(self._epoch) if self.shuffle else None
        self._epoch += 1
        return self._batches(order, wrap)

    def _batches(self, order, wrap):
        bs, X, y, dev = self.batch_size, self._X, self._y, self.device
        if order is not None and self.preload:
            order = backend.to_device(order, dev)  # once per epoch; batches gather on the device
        for b in range(len(self)):
            start = b * bs
            stop = min(start + bs, self.num_samples)
            if order is None:
                xb, yb = X[start:stop], y[start:stop]
            else:
                idx = order[start:stop]
                xb, yb = X[idx], y[idx]
            if not self.preload:
                xb, yb = backend.to_device(xb, dev), backend.to_device(yb, dev)
            if wrap is not None:
                xb, yb = wrap(xb), wrap(yb)
                yb._value_range = self._label_range
            yield xb, yb

    def __repr__(self):
        return (f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, device='{self.device}', drop_last={self.drop_last}, preload={self.preload})")


def _tensor_class():
    from .tensor import Tensor  # lazily: data sits below tensor in the module order

    return Tensor
