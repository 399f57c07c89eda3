"""Reductions on the device: the batch-axis sum of bias gradients through cuBLAS."""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["sum_rows"]

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
    return cp.matmul(ones, g).reshape(N)
