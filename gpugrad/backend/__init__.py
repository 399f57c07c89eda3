"""The array layer: which device an array lives on, and the array module that computes on it.

'cpu' means NumPy; 'cuda' / 'cuda:N' means CuPy on GPU N. This package is the only code in
gpugrad that imports cupy, and it does so lazily (see :mod:`.cuda`).

* :mod:`.cuda`: loading CuPy, CUDA availability, out-of-memory reporting;
* :mod:`.device`: ``Device``, the default device, :func:`resolve_device`, synchronize;
* :mod:`.arrays`: an array's device and module, transfers;
* :mod:`.random`: the seeded generators;
* :mod:`.graphs` and :mod:`.cublas`: CUDA graph capture, and matrix products a capture can hold.
"""
from .arrays import array_module, device_of, from_dlpack, is_array, to_device, to_numpy
from .cuda import (cuda_available, cuda_device_count, cuda_unavailable_reason, cupy_module,
                   is_out_of_memory, load_cupy, out_of_memory_error)
from .device import (CPU, Device, get_default_device, resolve_device, set_default_device,
                     synchronize)
from .graphs import GraphCapture, capturing, keep_alive, matmul
from .random import cpu_generator, get_rng_state, manual_seed, set_rng_state

__all__ = [
    "Device", "CPU", "resolve_device", "get_default_device", "set_default_device", "synchronize",
    "cuda_available", "cuda_unavailable_reason", "cuda_device_count", "cupy_module", "load_cupy",
    "is_out_of_memory", "out_of_memory_error", "is_array", "device_of", "array_module", "from_dlpack",
    "to_device", "to_numpy", "cpu_generator", "manual_seed", "get_rng_state", "set_rng_state",
    "GraphCapture", "capturing", "keep_alive", "matmul",
]
