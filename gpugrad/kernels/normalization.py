"""Batch normalisation's passes over the data: the per-channel sums its statistics need, and its
forward and backward maps each fused into one elementwise pass (the ElementwiseKernels of
``kernels/normalization.cuh``, broadcasting the per-channel values; NumPy twins with in-place
ufuncs). Arrays are laid out (N, C, P): the batch, the channels, the rest flattened.

The sums are products with a vector of ones and batched dot products, so they run in BLAS
(cuBLAS on the GPU): on the CPU about three times faster than ``sum(axis=(0, 2))``. Where Numba
is installed the CPU runs the statistics and both maps as compiled loops (:mod:`.cpu_jit`), one
pass each, and no centred copy of x.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import cpu_jit, loader
from .loader import define_elementwise

__all__ = ["channel_sums", "channel_dots", "batch_norm_stats", "batch_norm_apply", "batch_norm_grad"]

define_elementwise("batch_norm_apply", "T x, T mean, T scale, T shift", "T y",
                   "y = (T)gg::batch_norm_apply((A)x, (A)mean, (A)scale, (A)shift)", "normalization.cuh")
define_elementwise("batch_norm_grad", "T x, T gy, T a, T b, T c", "T gx",
                   "gx = (T)gg::batch_norm_grad((A)x, (A)gy, (A)a, (A)b, (A)c)",
                   "normalization.cuh")


def channel_sums(x):
    """Σ over the batch and the rest of x (N, C, P): shape (C,)."""
    xp = backend.array_module(x)
    if x.shape[2] == 1:
        return x.reshape(x.shape[:2]).sum(axis=0)
    return xp.matmul(x, xp.ones(x.shape[2], x.dtype)).sum(axis=0)


def channel_dots(a, b):
    """Σ a·b over the batch and the rest of a and b (N, C, P): shape (C,)."""
    xp = backend.array_module(a)
    if xp is np:   # einsum's one pass: twice as fast as NumPy's stacked matmul of 1 x P by P x 1
        return np.einsum("ncp,ncp->c", a, b)
    n, c, p = a.shape
    return xp.matmul(a.reshape(n, c, 1, p), b.reshape(n, c, p, 1)).reshape(n, c).sum(axis=0)


#: The compiled CPU loops run along P, the values of one (sample, channel); shorter rows
#: (BatchNorm1d's (N, C) input has P = 1) go to the twins, whose BLAS sums were 4x quicker there.
JIT_MIN_ROW = 16


def _compiled_cpu(x, *others):
    return x.shape[2] >= JIT_MIN_ROW and cpu_jit.enabled(x, *others)


def batch_norm_stats(x):
    """``(mean, var, centered)`` of x (N, C, P) per channel, var biased; ``centered`` is x - mean
    where computing var made it (the NumPy twin: batch_norm_apply then writes y into it), else
    None."""
    xp = backend.array_module(x)
    if xp is np and _compiled_cpu(x):
        return cpu_jit.batch_norm_stats(x) + (None,)
    n = x.dtype.type(x.shape[0] * x.shape[2])
    mean = channel_sums(x) / n
    centered = x - _per_channel(mean)
    return mean, channel_dots(centered, centered) / n, centered


def _per_channel(v):
    return v.reshape(1, -1, 1)


def batch_norm_apply(x, mean, scale, shift, centered=None):
    """y = (x - mean) * scale + shift over x (N, C, P), the others per channel (C,). ``centered``:
    x - mean when the caller has it already (the NumPy twin then computes y in its place)."""
    if backend.array_module(x) is np:
        if centered is None and _compiled_cpu(x, mean, scale, shift):
            return cpu_jit.batch_norm_apply(x, mean, scale, shift)
        y = np.subtract(x, _per_channel(mean)) if centered is None else centered
        y *= _per_channel(scale)
        y += _per_channel(shift)
        return y
    return loader.launch_elementwise("batch_norm_apply", x, *map(_per_channel, (mean, scale, shift)))


def batch_norm_grad(x, gy, a, b, c):
    """dx = x * b + c + gy * a over x and gy (N, C, P), the others per channel (C,)."""
    if backend.array_module(x) is np:
        if _compiled_cpu(x, gy, a, b, c):
            return cpu_jit.batch_norm_grad(x, gy, a, b, c)
        gx = np.multiply(x, _per_channel(b))
        gx += _per_channel(c)
        gx += np.multiply(gy, _per_channel(a))
        return gx
    return loader.launch_elementwise("batch_norm_grad", x, gy, *map(_per_channel, (a, b, c)))
