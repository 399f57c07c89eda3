"""CPU kernels compiled by Numba (the ``cpu`` extra: ``pip install "gpugrad[cpu]"``): where a
NumPy twin must make several passes over memory, one loop nest that reads each row once, as
the CUDA kernel does on the GPU. Today: layer normalisation, forward and backward (the
arithmetic of ``kernels/layer_norm.cuh``), and batch normalisation's statistics and its two maps
(``kernels/normalization.cuh``). Not the LSTM and GRU gates: Numba calls libm's scalar
``exp`` and ``tanh`` where NumPy's are vectorised: the LSTM benchmark ran 1.6x slower with them.

The only module that imports numba, and only on the first call (``import gpugrad`` stays as
quick as without it); each kernel is compiled once per dtype and cached on disk (Numba's
``cache=True``). Without Numba, for dtypes other than float32 and float64, or with the
environment variable ``GPUGRAD_CPU_JIT=0``, callers run their NumPy twins, which stay the
reference the tests compare these kernels with.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

__all__ = ["enabled", "layer_norm_fwd", "layer_norm_bwd", "batch_norm_stats", "batch_norm_apply",
           "batch_norm_grad"]

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_KERNELS = {}


def enabled(*arrays):
    """Whether the compiled kernels take these arrays: Numba installed, not switched off by
    ``GPUGRAD_CPU_JIT=0``, and every array float32 or float64, all of one dtype."""
    if os.environ.get("GPUGRAD_CPU_JIT", "1") == "0" or not _numba_installed():
        return False
    dtype = arrays[0].dtype
    return dtype in _DTYPES and all(a.dtype == dtype for a in arrays)


@functools.cache
def _numba_installed():
    return importlib.util.find_spec("numba") is not None


def _compiled(name):
    kernel = _KERNELS.get(name)
    if kernel is None:
        from numba import njit   # noqa: PLC0415  (optional, and slow to import: on first use)
        # reassociation (vectorised sums) and fused multiply-adds, but NaN and inf kept as IEEE
        # says: a NaN in must come out as one (anomaly mode looks for it)
        jit = njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "arcp", "nsz"})
        _KERNELS.update({k: jit(f) for k, f in _SOURCES.items()})
        kernel = _KERNELS[name]
    return kernel


# --------------------------------------------------------------------------- layer norm
# The kernels' sources are plain Python functions, compiled by _compiled (see _SOURCES).

def _layer_norm_fwd(x, w, b, eps, n, y, mean, rstd):
    """Row by row: mean, then the biased variance of x - mean, then y = (x - m) rstd w + b.
    (eps and n = D come in x's dtype, so float32 arithmetic stays float32.)"""
    rows, D = x.shape
    one = n / n
    for i in range(rows):
        s = n - n
        for j in range(D):
            s += x[i, j]
        m = s / n
        v = n - n
        for j in range(D):
            d = x[i, j] - m
            v += d * d
        r = one / np.sqrt(v / n + eps)
        for j in range(D):
            y[i, j] = (x[i, j] - m) * r * w[j] + b[j]
        mean[i], rstd[i] = m, r


def _layer_norm_bwd(x, gy, w, mean, rstd, n, gx, gw, gb):
    """With g = dy w and xhat = (x - m) rstd, per row a = mean(g) and c = mean(g xhat), then
    dx = rstd (g - a - xhat c); dw += dy xhat and db += dy, accumulated over the rows."""
    rows, D = x.shape
    gw[:] = 0
    gb[:] = 0
    for i in range(rows):
        m, r = mean[i], rstd[i]
        a = n - n
        c = n - n
        for j in range(D):
            xhat = (x[i, j] - m) * r
            g = gy[i, j] * w[j]
            a += g
            c += g * xhat
            gw[j] += gy[i, j] * xhat
            gb[j] += gy[i, j]
        a /= n
        c /= n
        for j in range(D):
            gx[i, j] = r * (gy[i, j] * w[j] - a - (x[i, j] - m) * r * c)


def layer_norm_fwd(x, w, b, eps):
    """``(y, mean, rstd)`` as ``kernels.layer_norm_fwd`` returns them (x (rows, D) C-contiguous;
    w, b of shape (D,) or None)."""
    rows, D = x.shape
    w = np.ones(D, x.dtype) if w is None else np.ascontiguousarray(w)
    b = np.zeros(D, x.dtype) if b is None else np.ascontiguousarray(b)
    y = np.empty_like(x)
    mean, rstd = np.empty(rows, x.dtype), np.empty(rows, x.dtype)
    _compiled("layer_norm_fwd")(np.ascontiguousarray(x), w, b, x.dtype.type(eps), x.dtype.type(D),
                                y, mean, rstd)
    return y, mean, rstd


def layer_norm_bwd(x, gy, w, mean, rstd, need_wb):
    """``(gx, gw, gb)`` as ``kernels.layer_norm_bwd`` returns them. A broadcast gy (the
    gradient of a ``.sum()``) is made contiguous first: the compiled loop vectorises only
    contiguous rows."""
    D = x.shape[1]
    has_w = w is not None
    w = np.ones(D, x.dtype) if w is None else np.ascontiguousarray(w)
    gx = np.empty_like(x)
    gw, gb = np.empty(D, x.dtype), np.empty(D, x.dtype)
    _compiled("layer_norm_bwd")(np.ascontiguousarray(x), np.ascontiguousarray(gy), w, mean, rstd,
                                x.dtype.type(D), gx, gw, gb)
    if not need_wb:
        return gx, None, None
    return gx, (gw if has_w else None), gb


# --------------------------------------------------------------------------- batch norm
# Arrays (N, C, P): the batch, the channels, the rest; per-channel values of shape (C,).

def _batch_norm_stats(x, mean, var):
    """Per channel: the mean, then the biased variance of x - mean (two reads of the channel's
    values, the second from cache)."""
    N, C, P = x.shape
    n = x.dtype.type(N * P)
    for c in range(C):
        s = n - n
        for i in range(N):
            for p in range(P):
                s += x[i, c, p]
        m = s / n
        v = n - n
        for i in range(N):
            for p in range(P):
                d = x[i, c, p] - m
                v += d * d
        mean[c], var[c] = m, v / n


def _batch_norm_apply(x, mean, scale, shift, y):
    """y = (x - mean) scale + shift."""
    N, C, P = x.shape
    for i in range(N):
        for c in range(C):
            m, k, b = mean[c], scale[c], shift[c]
            for p in range(P):
                y[i, c, p] = (x[i, c, p] - m) * k + b


def _batch_norm_grad(x, gy, a, b, c, gx):
    """dx = x b + c + dy a."""
    N, C, P = x.shape
    for i in range(N):
        for ch in range(C):
            ka, kb, kc = a[ch], b[ch], c[ch]
            for p in range(P):
                gx[i, ch, p] = x[i, ch, p] * kb + kc + gy[i, ch, p] * ka


def batch_norm_stats(x):
    """``(mean, var)`` per channel of a C-contiguous x (N, C, P), var biased."""
    mean, var = np.empty(x.shape[1], x.dtype), np.empty(x.shape[1], x.dtype)
    _compiled("batch_norm_stats")(x, mean, var)
    return mean, var


def batch_norm_apply(x, mean, scale, shift):
    """``kernels.batch_norm_apply`` for C-contiguous x (N, C, P), per-channel values (C,)."""
    y = np.empty_like(x)
    per_channel = (np.ascontiguousarray(v, x.dtype) for v in (mean, scale, shift))
    _compiled("batch_norm_apply")(x, *per_channel, y)
    return y


def batch_norm_grad(x, gy, a, b, c):
    """``kernels.batch_norm_grad`` for C-contiguous x and gy (N, C, P)."""
    gx = np.empty_like(x)
    _compiled("batch_norm_grad")(x, np.ascontiguousarray(gy),
                                 *(np.ascontiguousarray(v, x.dtype) for v in (a, b, c)), gx)
    return gx


_SOURCES = {"layer_norm_fwd": _layer_norm_fwd, "layer_norm_bwd": _layer_norm_bwd,
            "batch_norm_stats": _batch_norm_stats, "batch_norm_apply": _batch_norm_apply,
            "batch_norm_grad": _batch_norm_grad}
