"""Dropout in one pass: ``y = x * scale`` where an element is kept, else 0, the mask a
counter-based hash of the element's index under a per-call key (``kernels/dropout.cuh``).

Nothing is stored for the backward: the same key gives the same mask, so the backward is the
same function applied to the incoming gradient. The NumPy twin computes the same hash, so a key
drops the same elements on the CPU and on a GPU. Keys are drawn from gpugrad's seeded generator
(:func:`dropout_key`), so ``gg.manual_seed`` fixes every mask.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import loader
from .loader import RAW_SCALAR, RAW_SUFFIX, define_raw, raw_suffix

__all__ = ["dropout_apply", "dropout_key", "dropout_keep", "dropout_threshold"]

define_raw("dropout.cu", "dropout")

_U32 = np.uint32
_BLOCK = 1 << 32        # indices sharing their high 32 bits


def dropout_key(generator=None):
    """A fresh key ``(a, b)`` from ``generator`` (gpugrad's seeded one by default): ``a`` odd.
    Drawn on the host, so a CUDA graph capture refuses it (every replay would drop the same
    elements)."""
    if backend.capturing():
        raise RuntimeError("dropout inside a CUDA graph capture: its mask's key is drawn on the "
                           "host at each call, so every replay would drop the same elements; "
                           "capture the step without dropout (or with the model in eval mode)")
    gen = backend.cpu_generator() if generator is None else generator
    a, b = (int(v) for v in gen.integers(0, 1 << 32, size=2, dtype=np.uint64))
    return a | 1, b


def dropout_threshold(p):
    """The hash value below which an element is dropped: round(p * 2^32), for 0 <= p < 1."""
    return min(int(round(float(p) * 2.0 ** 32)), (1 << 32) - 1)


def _mix32(h):
    """lowbias32 on a uint32 array, in place (the twin of gg::mix32)."""
    h ^= h >> _U32(16)
    h *= _U32(0x7FEB352D)
    h ^= h >> _U32(15)
    h *= _U32(0x846CA68B)
    h ^= h >> _U32(16)
    return h


def _hash_block(lo, a, b, hi):
    """mix32(lo * a + (b ^ mix32(hi))) for a uint32 array ``lo`` of indices (in place)."""
    lo *= _U32(a)
    lo += _U32(b ^ int(_mix32(np.array([hi], _U32))[0]))
    return _mix32(lo)


def dropout_keep(index, a, b, threshold):
    """Whether each element of the int64 array ``index`` is kept under the key (a, b) (the twin of
    gg::dropout_keep, for any indices)."""
    u = np.asarray(index, np.int64).astype(np.uint64)
    lo, hi = (u & np.uint64(0xFFFFFFFF)).astype(_U32), (u >> np.uint64(32)).astype(_U32)
    out = np.empty(u.shape, bool)
    for h in np.unique(hi):
        sel = hi == h
        out[sel] = _hash_block(lo[sel], a, b, int(h)) >= _U32(threshold)
    return out


def dropout_apply(x, key, p):
    """``x * (1 / (1 - p))`` where an element is kept under ``key``, else 0 (a select: a dropped
    NaN gives 0). ``0 <= p < 1``; element e (C order) is kept with probability about 1 - p."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: the kernel needs 0 <= p < 1, got {p}")
    a, b = key
    threshold = dropout_threshold(p)
    scale = 1.0 / (1.0 - p)
    if backend.array_module(x) is np:
        return _dropout_np(np.asarray(x), a, b, threshold, scale)
    cp = backend.cupy_module()
    suffix = raw_suffix(x)
    # otherwise a fresh (so C-contiguous and aligned) copy; float16 is computed in float32
    work = x if suffix else x.astype(x.dtype if x.dtype in RAW_SUFFIX else cp.float32, copy=True)
    suffix = RAW_SUFFIX[work.dtype]
    y = cp.empty_like(work)
    if y.size:
        loader.launch_flat(f"dropout_{suffix}", y.size, y.itemsize,
                           (work, y, np.int64(y.size), _U32(a), _U32(b), _U32(threshold),
                            RAW_SCALAR[suffix](scale)))
    return y if y.dtype == x.dtype else y.astype(x.dtype)


_SAME_SIZE_INT = {2: np.int16, 4: np.int32, 8: np.int64}


def _dropout_np(x, a, b, threshold, scale):
    """The twin: hash, compare, then keep the bits of x * scale where kept (an AND with an
    all-ones or all-zeros mask: a select as fast as a multiply, as relu's twin does)."""
    flat = x.reshape(-1)
    y = np.multiply(flat, x.dtype.type(scale), out=np.empty(flat.shape, x.dtype))
    ints = _SAME_SIZE_INT.get(x.dtype.itemsize) if x.dtype.kind == "f" else None
    for start in range(0, flat.size, _BLOCK):
        stop = min(flat.size, start + _BLOCK)
        h = _hash_block(np.arange(stop - start, dtype=_U32), a, b, start // _BLOCK)
        if ints is None:
            y[start:stop][h < _U32(threshold)] = 0
            continue
        keep = np.greater_equal(h, _U32(threshold), out=np.empty(stop - start, ints))  # 1 / 0
        np.negative(keep, out=keep)                                  # all ones / all zeros
        part = y[start:stop].view(ints)
        np.bitwise_and(part, keep, out=part)
    return y.reshape(x.shape)
