"""The deterministic scatter-add of rows, ``out[index[i]] += src[i]``: the gradient of an
embedding lookup and of gather. On CuPy a stable sort of the indices and the two passes of
``kernels/scatter.cu`` (arithmetic in ``scatter.cuh``): no atomics, so the same inputs give the
same bits on every run. The NumPy twin adds in the same order (``np.add.at`` visits the
sources in order)."""
from __future__ import annotations

import numpy as np

from .. import backend
from . import loader
from .loader import BLOCK_SIZE, MAX_GRID, RAW_SUFFIX, check_floating, define_raw

__all__ = ["index_add_rows", "SCATTER_CHUNK"]

define_raw("scatter.cu", "scatter_chunks", "scatter_merge")

#: Sorted positions per chunk of the first pass: the most rows one thread adds there.
SCATTER_CHUNK = 32


def index_add_rows(index, src, rows, skip=None, mean=False):
    """``out`` of shape ``(rows, width)``, zeros plus ``src[i]`` added to row ``index[i]``.

    ``index`` is (n,) integer, ``src`` (n, width) floating, on one device. A row equal to
    ``skip`` stays zero (an embedding's padding_idx); with ``mean`` each row is divided by the
    number of sources it received (an embedding's scale_grad_by_freq). Indices must lie in
    [0, rows): the caller checks them (on the GPU a bad one is left out, never written)."""
    if index.ndim != 1 or src.ndim != 2 or src.shape[0] != index.shape[0]:
        raise ValueError(f"index_add_rows needs index (n,) and src (n, width), got "
                         f"{index.shape} and {src.shape}")
    if index.dtype.kind not in "iu":
        raise TypeError(f"index_add_rows: indices must be integers, got dtype {index.dtype}")
    skip = -1 if skip is None else int(skip)
    if backend.array_module(src) is np:
        return _index_add_rows_np(index, src, rows, skip, mean)
    return _index_add_rows_cuda(index, src, rows, skip, mean)


def _index_add_rows_np(index, src, rows, skip, mean):
    """The first source of each row is assigned, and only the repeats are added (``np.add.at``
    of flat positions, NumPy's fast path): the order of a sequential add, at a fraction of
    ``np.add.at``'s cost on whole rows."""
    width = src.shape[1]
    out = np.zeros((rows, width), src.dtype)
    order = np.argsort(index, kind="stable")
    keys = index[order]
    first = np.ones(keys.shape, bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    out[keys[first]] = np.take(src, order[first], axis=0)
    repeats = order[~first]
    if repeats.size:
        places = index[repeats][:, None] * width + np.arange(width)
        np.add.at(out.reshape(-1), places.reshape(-1), np.take(src, repeats, axis=0).reshape(-1))
    if skip >= 0:
        out[skip] = 0
    if mean:
        counts = np.bincount(index, minlength=rows)[:rows]
        out /= np.maximum(counts, 1).astype(src.dtype)[:, None]
    return out


def _index_add_rows_cuda(index, src, rows, skip, mean):
    cp = backend.cupy_module()
    dtype = src.dtype
    suffix = RAW_SUFFIX.get(dtype)
    if suffix is None:                       # float16: add in float32, round once
        check_floating("index_add_rows", src)
        work, suffix = src.astype(cp.float32), "f32"
    else:
        work = cp.ascontiguousarray(src)
    n, width = work.shape
    out = cp.zeros((rows, width), work.dtype)
    if n and width:
        index = index.astype(cp.int64, copy=False)
        order = cp.argsort(index, kind="stable")
        keys = index[order]
        chunks = -(-n // SCATTER_CHUNK)
        head = cp.empty((chunks, width), work.dtype)
        tail = cp.empty((chunks, width), work.dtype)
        grid = (min(-(-chunks * width // BLOCK_SIZE), MAX_GRID),)
        common = (np.int64(n), np.int64(width), np.int64(SCATTER_CHUNK), np.int64(rows),
                  np.int64(skip), np.int32(bool(mean)))
        loader.raw_kernel(f"scatter_chunks_{suffix}")(
            grid, (BLOCK_SIZE,), (keys, order, work, out, head, tail, *common))
        loader.raw_kernel(f"scatter_merge_{suffix}")(
            grid, (BLOCK_SIZE,), (keys, out, head, tail, *common))
    return out if out.dtype == dtype else out.astype(dtype)
