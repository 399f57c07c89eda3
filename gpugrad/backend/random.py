"""The random generators gpugrad draws from, seeded together by :func:`manual_seed`."""
from __future__ import annotations

import numpy as np

from .cuda import cuda_device_count, loaded_cupy

__all__ = ["cpu_generator", "manual_seed"]

_generator = {"cpu": np.random.default_rng()}


def cpu_generator() -> np.random.Generator:
    """The NumPy generator gpugrad draws from (parameter init, shuffling, CPU randn)."""
    return _generator["cpu"]


def manual_seed(seed: int) -> None:
    """Seed every generator gpugrad uses: NumPy's, and CuPy's when CuPy is loaded."""
    _generator["cpu"] = np.random.default_rng(seed)
    cp = loaded_cupy()
    if cp is not None and cuda_device_count() > 0:
        cp.random.seed(seed)
