"""A CPU stand-in for the parts of CuPy gpugrad uses, for checking its CuPy paths in CI.

Only tests/test_kernels_dispatch.py puts this folder on the path (in a subprocess), to run the
tests written for a GPU (tests/test_kernels_gpu.py, tests/test_standin_gpu_path.py) without one.
It checks gpugrad's CuPy code paths (which kernel is picked, argument order and types, launch
sizes, in-place aliasing, which device arrays live on, every host synchronisation, every
allocation and its dtype, running out of memory, missing CUDA libraries), not the GPU's
arithmetic, which only a real `pytest -m gpu` run checks.

* arrays (:mod:`._array`): NumPy arrays that live on a device, refuse work off the current
  device and count every host read as a synchronisation;
* :mod:`.cuda`: devices (2 unless FAKE_CUPY_DEVICES says otherwise), the runtime, the memory
  pool and its out-of-memory error, NVRTC / cuBLAS / cuRAND (FAKE_CUPY_MISSING=nvrtc,... makes
  them fail to load);
* :mod:`._kernels`: RawModule / RawKernel run the host-compiled .cuh arithmetic, and
  ElementwiseKernel the NumPy twins;
* every other ``cupy.<name>`` is NumPy's routine of that name run on the arrays behind;
* :mod:`._standin`: what the tests read and steer (allocations, syncs, device memory).
"""
from . import cuda, random  # noqa: F401
from ._array import ndarray  # noqa: F401
from ._functions import (array, asarray, ascontiguousarray, asnumpy, empty, empty_like,  # noqa: F401
                         from_dlpack,
                         full, full_like, function, get_default_memory_pool,
                         get_default_pinned_memory_pool, ones, ones_like, zeros, zeros_like)
from ._kernels import ElementwiseKernel, RawKernel, RawModule  # noqa: F401
from ._state import _SYNC_ALLOWED, STATS  # noqa: F401

__version__ = "14.0.0+standin"
IS_STAND_IN = True


def __getattr__(name):
    """Any other cupy.<name>: NumPy's routine (or dtype, or constant) of that name."""
    if name.startswith("__"):
        raise AttributeError(name)
    return function(name)
