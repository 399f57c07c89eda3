"""Parameter initialisers. They draw from gpugrad's seeded CPU generator and then move the
values to the target device, so a seeded model starts identically on every backend."""
from __future__ import annotations

import math

import numpy as np

from .. import backend

__all__ = ["uniform", "kaiming_uniform", "zeros"]


def uniform(shape, bound, dtype, device):
    """Samples from U(-bound, bound)."""
    values = backend.cpu_generator().uniform(-bound, bound, size=shape).astype(dtype)
    return backend.to_device(values, device)


def kaiming_uniform(shape, fan_in, dtype, device):
    """PyTorch's default for Linear layers: U(-1/√fan_in, 1/√fan_in)."""
    return uniform(shape, 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0, dtype, device)


def zeros(shape, dtype, device):
    return backend.to_device(np.zeros(shape, dtype=dtype), device)
