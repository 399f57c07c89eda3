"""Reductions on the device: the batch-axis sum of bias gradients through cuBLAS, and the
vector norms of gradient clipping (``kernels/reduction.cu``, arithmetic in ``reduction.cuh``)
with their NumPy twin."""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from . import loader
from .loader import BLOCK_SIZE, define_raw

__all__ = ["sum_rows", "total_norm", "NORM_MODES"]

define_raw("reduction.cu", "norm_partial", "norm_finish")

#: How each norm is reduced (the NormMode enum of reduction.cuh).
NORM_MODES = {"pow": 0, "square": 1, "abs": 2, "max": 3}
_MAX_BLOCKS = 1024          # per array: enough blocks to fill a GPU, few partials to merge

_ones_cache: dict = {}


def sum_rows(g):
    """``g.sum(axis=0)`` of a 2-D array: the batch-axis reduction of bias gradients.

    On CuPy it is ``ones((1, B)) @ g`` through cuBLAS (on an H100 about 15x faster than
    CuPy's ``sum(axis=0)`` for a (32768, 1024) float32 array); the row of ones is cached per
    device, dtype and B.
    """
    if g.ndim != 2:
        raise ValueError(f"sum_rows needs a 2-D array, got shape {g.shape}")
    if backend.array_module(g) is np:
        return g.sum(axis=0)
    cp = backend.cupy_module()
    B, N = g.shape
    if g.dtype.kind != "f" or B == 0 or N == 0:
        return g.sum(axis=0)
    key = (g.device.id, g.dtype, B)
    ones = _ones_cache.get(key)
    if ones is None:
        if len(_ones_cache) >= 64:
            _ones_cache.clear()
        with g.device:
            ones = _ones_cache[key] = cp.ones((1, B), dtype=g.dtype)
    backend.keep_alive(ones)       # a CUDA graph being captured reads it on every replay
    return backend.matmul(ones, g).reshape(N)


def norm_mode(p):
    """The reduction of the p-norm (p > 0 or inf)."""
    p = float(p)
    if math.isinf(p) and p > 0:
        return NORM_MODES["max"]
    if not p > 0:
        raise ValueError(f"norm_type must be positive or inf, got {p}")
    return NORM_MODES["square"] if p == 2 else NORM_MODES["abs"] if p == 1 else NORM_MODES["pow"]


def total_norm(arrays, p=2.0, max_norm=math.inf):
    """``(norm, coef)``: the p-norm of all ``arrays`` taken together (they live on one device)
    and ``min(max_norm / (norm + 1e-6), 1)``, clip_grad_norm_'s factor; both 0-d arrays on that
    device, float64 if any array is float64 else float32. Accumulated in double. On CuPy: one
    fused reduction kernel per array into one buffer of partial results, one kernel to finish;
    nothing is read back to the host."""
    mode = norm_mode(p)
    dtype = np.dtype(np.float64 if any(a.dtype == np.float64 for a in arrays) else np.float32)
    if not arrays or backend.array_module(arrays[0]) is np:
        acc = 0.0
        for a in arrays:
            acc = _combine_np(acc, _norm_partial_np(a, float(p), mode), mode)
        norm = _root_np(acc, float(p), mode)
        return np.asarray(norm, dtype), np.asarray(min(max_norm / (norm + 1e-6), 1.0), dtype)
    return _total_norm_cuda(arrays, float(p), mode, float(max_norm), dtype)


def _norm_partial_np(a, p, mode):
    """The merged norm_term of every element of a (the twin of norm_partial), in float64."""
    if a.size == 0:
        return 0.0
    if mode == NORM_MODES["square"]:
        flat = a.reshape(-1).astype(np.float64, copy=False)
        return float(np.dot(flat, flat))             # BLAS, in double
    if mode == NORM_MODES["abs"]:
        return float(np.abs(a).sum(dtype=np.float64))
    if mode == NORM_MODES["max"]:
        return float(np.abs(a).max())
    return float((np.abs(a).astype(np.float64) ** p).sum())


def _combine_np(a, b, mode):
    if mode == NORM_MODES["max"]:
        return a if (a > b or a != a) else b
    return a + b


def _root_np(s, p, mode):
    if mode == NORM_MODES["square"]:
        return math.sqrt(s)
    if mode == NORM_MODES["pow"]:
        return s ** (1.0 / p)
    return s


def _total_norm_cuda(arrays, p, mode, max_norm, dtype):
    cp = backend.cupy_module()
    work = []
    for a in arrays:
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float32)                 # float16 (rare for gradients): a copy
        elif not a.flags.c_contiguous:
            a = cp.ascontiguousarray(a)
        if a.size:
            work.append((a, min((a.size + BLOCK_SIZE - 1) // BLOCK_SIZE, _MAX_BLOCKS)))
    partials = cp.empty(max(sum(blocks for _, blocks in work), 1), np.float64)
    if not work:
        partials[...] = 0
    offset = 0
    for a, blocks in work:
        loader.raw_kernel(f"norm_partial_{'f64' if a.dtype == np.float64 else 'f32'}")(
            (blocks,), (BLOCK_SIZE,),
            (a, np.int64(a.size), np.float64(p), np.int32(mode), partials[offset:offset + blocks]))
        offset += blocks
    norm, coef = cp.empty((), dtype), cp.empty((), dtype)
    suffix = "f64" if dtype == np.float64 else "f32"
    loader.raw_kernel(f"norm_finish_{suffix}")((1,), (BLOCK_SIZE,), (
        partials, np.int64(partials.size), np.float64(p), np.int32(mode), np.float64(max_norm),
        norm, coef))
    return norm, coef
