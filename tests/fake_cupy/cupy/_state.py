"""The stand-in's global state: devices, the memory pool, synchronisation, and what it saw.

Tests under the stand-in read and steer it through :mod:`cupy._standin`.
"""
from __future__ import annotations

import gc
import os

#: What the stand-in saw: fresh allocations (dtype name, shape, gpugrad line), host reads,
#: kernel launches (gpugrad's RawKernels and ElementwiseKernels; ``lib_launches``: the CuPy
#: routines that would launch one: ufuncs, reductions, matmuls, copies, fills), getDeviceCount
#: calls.
STATS = {"allocations": [], "syncs": [], "raw_launches": [], "ew_launches": [],
         "lib_launches": [], "raw_modules": 0, "device_count_calls": 0, "graph_launches": 0}
_SYNC_ALLOWED = [True]
HOOKS = []          # the memory hooks in force (cupy.cuda.MemoryHook)
_CURRENT = [0]
DEVICE_COUNT = int(os.environ.get("FAKE_CUPY_DEVICES", "2"))
#: CUDA libraries the stand-in pretends cannot be loaded (comma-separated: nvrtc,cublas,curand).
MISSING_LIBRARIES = {s for s in os.environ.get("FAKE_CUPY_MISSING", "").split(",") if s}


def current_device() -> int:
    return _CURRENT[0]


def set_current_device(dev: int) -> None:
    if not 0 <= dev < DEVICE_COUNT:
        from .cuda.runtime import CUDARuntimeError
        raise CUDARuntimeError(101)   # cudaErrorInvalidDevice
    _CURRENT[0] = dev


def sync(what: str) -> None:
    """A device -> host read: logged, and refused inside allow_synchronize(False)."""
    from . import _capture
    _capture.refuse(what)
    STATS["syncs"].append(what)
    if not _SYNC_ALLOWED[0]:
        import cupyx
        raise cupyx.DeviceSynchronized(f"device->host transfer while disallowed ({what})")


class _Allocation:
    """Device memory held by one array and its views; back to the pool's cache when freed."""

    __slots__ = ("pool", "nbytes", "dev", "__weakref__")

    def __init__(self, pool, nbytes, dev):
        self.pool, self.nbytes, self.dev = pool, nbytes, dev
        for hook in HOOKS:
            hook.malloc_postprocess(device_id=dev, size=nbytes, mem_size=nbytes,
                                    mem_ptr=id(self), pmem_id=0)

    def __del__(self, hooks=HOOKS):   # bound now: module globals are gone at interpreter exit
        self.pool.release(self.nbytes, self.dev)
        for hook in hooks:
            hook.free_postprocess(device_id=self.dev, mem_size=self.nbytes, mem_ptr=id(self),
                                  pmem_id=0)


class MemoryPool:
    """CuPy's default pool, per device: ``used`` bytes are held by live arrays, ``cached``
    bytes were freed by arrays and are kept for reuse (not given back to the device until
    free_all_blocks). An allocation that does not fit frees the cache, collects garbage and
    tries again before raising OutOfMemoryError, as CuPy's pool does."""

    def __init__(self, capacity=None):
        """``capacity``: the default pool's device memory; a pool made without one (a private
        pool, as CUDA graph captures use) draws on the default pool's, which accounts for it."""
        self.capacity = capacity
        self.used = [0] * DEVICE_COUNT
        self.cached = [0] * DEVICE_COUNT

    def make_room(self, nbytes, dev):
        """Make sure ``nbytes`` more fit on ``dev`` (freeing the cache and collecting garbage
        if needed, as CuPy does), or raise OutOfMemoryError; nothing is allocated yet."""
        if self.cached[dev] >= nbytes or self.used[dev] + self.cached[dev] + nbytes <= self.capacity:
            return
        self.cached[dev] = 0
        gc.collect()
        self.cached[dev] = 0
        if self.used[dev] + nbytes > self.capacity:
            from .cuda.memory import OutOfMemoryError
            raise OutOfMemoryError(nbytes, self.used[dev])

    def malloc(self, nbytes):
        raise AssertionError("the stand-in allocates through its arrays, not malloc")

    def allocate(self, nbytes, dev):
        self.make_room(nbytes, dev)
        self.cached[dev] -= min(nbytes, self.cached[dev])
        self.used[dev] += nbytes
        return _Allocation(self, nbytes, dev)

    def release(self, nbytes, dev):
        self.used[dev] -= nbytes
        self.cached[dev] += nbytes

    # the cupy.cuda.MemoryPool API, for the current device
    def used_bytes(self):
        return self.used[current_device()]

    def total_bytes(self):
        return self.used[current_device()] + self.cached[current_device()]

    def free_bytes(self):
        return self.cached[current_device()]

    def free_all_blocks(self, stream=None):
        self.cached[current_device()] = 0


#: Memory of each stand-in GPU: a small one, which also bounds the host memory tests can take.
DEVICE_MEMORY = 1 << 30
POOL = MemoryPool(DEVICE_MEMORY)
