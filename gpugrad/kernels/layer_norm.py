"""Layer normalisation over the last axis of a (rows, D) array, forward and backward: the CUDA
kernels of ``kernels/layer_norm.cu`` (arithmetic in ``layer_norm.cuh``; one warp per row, so a
row is read from memory once per pass and normalised in the same kernel), on the CPU the same
loops compiled by Numba where it is installed (:mod:`.cpu_jit`), and their NumPy twins.
The statistics kept for backward are each row's mean and rstd = 1 / sqrt(var + eps)."""
from __future__ import annotations

import numpy as np

from .. import backend
from . import cpu_jit, loader
from .loader import BLOCK_SIZE, MAX_GRID, RAW_SUFFIX, check_floating, define_raw
from .reduction import sum_rows

__all__ = ["layer_norm_fwd", "layer_norm_bwd", "LAYER_NORM_CHUNK"]

define_raw("layer_norm.cu", "layer_norm_fwd", "layer_norm_dx", "layer_norm_dwb_partial",
           "layer_norm_dwb_finish")

#: Rows per partial sum of the weight and bias gradients (the first of their two passes).
LAYER_NORM_CHUNK = 32


def layer_norm_fwd(x, w, b, eps):
    """``(y, mean, rstd)`` for ``x`` of shape (rows, D): y = (x - mean) rstd w + b row by row
    (w, b of shape (D,), either may be None), mean and rstd of shape (rows,)."""
    if x.ndim != 2:
        raise ValueError(f"layer_norm_fwd needs a (rows, D) array, got shape {x.shape}")
    if backend.array_module(x) is np:
        if cpu_jit.enabled(x, *(a for a in (w, b) if a is not None)):
            return cpu_jit.layer_norm_fwd(x, w, b, eps)
        return _fwd_np(x, w, b, eps)
    return _fwd_cuda(x, w, b, eps)


def layer_norm_bwd(x, gy, w, mean, rstd, need_wb=True):
    """``(gx, gw, gb)`` from the forward's x, the upstream gy (both (rows, D)), w (or None) and
    the saved mean and rstd; gw and gb are None without ``need_wb`` (gw is None without w)."""
    if backend.array_module(x) is np:
        if cpu_jit.enabled(x, gy, mean, rstd, *(() if w is None else (w,))):
            return cpu_jit.layer_norm_bwd(x, gy, w, mean, rstd, need_wb)
        return _bwd_np(x, gy, w, mean, rstd, need_wb)
    return _bwd_cuda(x, gy, w, mean, rstd, need_wb)


# --------------------------------------------------------------------------- NumPy twins

def _row_sums(a, v=None):
    """Σ_j a_ij v_j for each row i (v = ones by default): one BLAS matrix-vector product,
    several times quicker than ``a.sum(axis=1)`` or an einsum on one thread. A broadcast
    ``a`` (the gradient of a ``.sum()``, zero strides) takes an einsum: a matrix product with
    it leaves BLAS for NumPy's slow loop, and a contiguous copy costs a pass and a buffer."""
    v = np.ones(a.shape[1], a.dtype) if v is None else v
    return a @ v if a.flags.c_contiguous else np.einsum("ij,j->i", a, v)


def _fwd_np(x, w, b, eps):
    D = x.dtype.type(x.shape[1])
    mean = _row_sums(x) / D
    y = np.subtract(x, mean[:, None])                  # x - m
    var = _row_sums(y * y) / D
    rstd = 1 / np.sqrt(var + x.dtype.type(eps))
    y *= rstd[:, None]                                 # xhat
    if w is not None:
        y *= w
    if b is not None:
        y += b
    return y, mean, rstd


def _bwd_np(x, gy, w, mean, rstd, need_wb):
    """With g = dy w: a = mean_j g = (dy @ w) / D and c = mean_j g xhat = ((dy xhat) @ w) / D,
    so dy xhat serves both c and dw."""
    D = x.dtype.type(x.shape[1])
    xhat = np.subtract(x, mean[:, None])
    xhat *= rstd[:, None]
    p = gy * xhat                                      # dy xhat
    if w is None:
        a, c, g = _row_sums(gy) / D, _row_sums(p) / D, gy
    else:
        a, c, g = _row_sums(gy, w) / D, _row_sums(p, w) / D, gy * w
    gx = xhat
    gx *= c[:, None]                                   # xhat c
    np.subtract(g, gx, out=gx)                         # g - xhat c
    gx -= a[:, None]
    gx *= rstd[:, None]
    gw = gb = None
    if need_wb:
        gb = sum_rows(gy)
        gw = sum_rows(p) if w is not None else None
    return gx, gw, gb


# --------------------------------------------------------------------------- CUDA

def _work(a, suffix_dtype):
    """``a`` as the contiguous float32/float64 array the kernels take."""
    cp = backend.cupy_module()
    return None if a is None else cp.ascontiguousarray(a, dtype=suffix_dtype)


def _fwd_cuda(x, w, b, eps):
    cp = backend.cupy_module()
    dtype = x.dtype
    check_floating("layer_norm_fwd", x)
    work_dtype = dtype if dtype in RAW_SUFFIX else np.dtype(np.float32)
    suffix = RAW_SUFFIX[work_dtype]
    xw, ww, bw = (_work(a, work_dtype) for a in (x, w, b))
    rows, D = xw.shape
    y = cp.empty_like(xw)
    mean, rstd = cp.empty(rows, work_dtype), cp.empty(rows, work_dtype)
    if rows and D:
        loader.raw_kernel(f"layer_norm_fwd_{suffix}")(
            (_row_grid(rows),), (BLOCK_SIZE,),
            (xw, xw if ww is None else ww, xw if bw is None else bw, y, mean, rstd,
             np.int64(rows), np.int64(D), np.float64(eps), np.int32(ww is not None),
             np.int32(bw is not None)))
    return (y if y.dtype == dtype else y.astype(dtype)), mean, rstd


def _bwd_cuda(x, gy, w, mean, rstd, need_wb):
    cp = backend.cupy_module()
    dtype = x.dtype
    work_dtype = dtype if dtype in RAW_SUFFIX else np.dtype(np.float32)
    suffix = RAW_SUFFIX[work_dtype]
    xw, gw_in, ww = (_work(a, work_dtype) for a in (x, gy, w))
    mean, rstd = _work(mean, work_dtype), _work(rstd, work_dtype)
    rows, D = xw.shape
    gx = cp.empty_like(xw)
    if rows and D:
        loader.raw_kernel(f"layer_norm_dx_{suffix}")(
            (_row_grid(rows),), (BLOCK_SIZE,),
            (xw, gw_in, xw if ww is None else ww, mean, rstd, gx, np.int64(rows), np.int64(D),
             np.int32(ww is not None)))
    dw = db = None
    if need_wb:
        dw, db = cp.zeros(D, work_dtype), cp.zeros(D, work_dtype)
        if rows and D:
            chunks = -(-rows // LAYER_NORM_CHUNK)
            part_w, part_b = cp.empty((chunks, D), np.float64), cp.empty((chunks, D), np.float64)
            loader.raw_kernel(f"layer_norm_dwb_partial_{suffix}")(
                (min(-(-chunks * D // BLOCK_SIZE), MAX_GRID),), (BLOCK_SIZE,),
                (xw, gw_in, mean, rstd, part_w, part_b, np.int64(rows), np.int64(D),
                 np.int64(LAYER_NORM_CHUNK)))
            loader.raw_kernel(f"layer_norm_dwb_finish_{suffix}")(
                (min(-(-D // BLOCK_SIZE), MAX_GRID),), (BLOCK_SIZE,),
                (part_w, part_b, dw, db, np.int64(chunks), np.int64(D)))
        dw = None if w is None else dw.astype(dtype, copy=False)
        db = db.astype(dtype, copy=False)
    return gx.astype(dtype, copy=False), dw, db


def _row_grid(rows):
    """Blocks for one warp per row (256 threads: 8 rows a block)."""
    return min(-(-rows // (BLOCK_SIZE // 32)), MAX_GRID)
