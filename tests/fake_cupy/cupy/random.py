"""cupy.random of the stand-in: seeded draws in float32 / float64 only, as CuPy's generators."""
from __future__ import annotations

import numpy as np

from ._functions import asarray

_generator = [np.random.default_rng()]


def seed(seed=None):
    _generator[0] = np.random.default_rng(seed)


def _dtype(dtype):
    from . import _capture
    _capture.refuse("cuRAND", "cuRAND")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"cupy.random only supports float32 and float64, got {dtype}")
    return dtype


def standard_normal(size=None, dtype=float):
    return asarray(_generator[0].standard_normal(size, dtype=_dtype(dtype)))


def random(size=None, dtype=float):
    return asarray(_generator[0].random(size, dtype=_dtype(dtype)))


def randn(*size, dtype=float):
    return standard_normal(size, dtype)


def rand(*size, dtype=float):
    return random(size, dtype)
