"""Controls of the stand-in for the tests that run under it (not part of CuPy)."""
from __future__ import annotations

import gc

from ._state import DEVICE_MEMORY, POOL, STATS

__all__ = ["STATS", "POOL", "DEVICE_MEMORY", "reset_stats", "set_device_memory", "allocations_of"]


def reset_stats():
    """Forget what was seen so far (allocations, syncs, launches, device-count calls)."""
    for key, value in STATS.items():
        STATS[key] = [] if isinstance(value, list) else 0


def set_device_memory(nbytes):
    """Give every device ``nbytes`` of memory (the pool raises OutOfMemoryError past it)."""
    gc.collect()
    POOL.capacity = int(nbytes)


def allocations_of(dtype_name):
    """The logged allocations of one dtype: (dtype name, shape, gpugrad line)."""
    return [a for a in STATS["allocations"] if a[0] == dtype_name]
