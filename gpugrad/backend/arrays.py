"""Arrays: which device an array lives on, its array module, and moving it between devices."""
from __future__ import annotations

import numpy as np

from .cuda import load_cupy, loaded_cupy
from .device import CPU, Device

__all__ = ["is_array", "device_of", "array_module", "to_device", "to_numpy", "from_dlpack"]

# DLPack device types (dlpack.h): where an exported tensor's memory lives
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13


def _is_cupy_array(obj) -> bool:
    cp = loaded_cupy()
    if cp is None:
        # The caller may have imported cupy itself; only then can obj be a cupy array.
        if type(obj).__module__.split(".")[0] != "cupy":
            return False
        cp = load_cupy()
    return cp is not None and isinstance(obj, cp.ndarray)


def is_array(obj) -> bool:
    """True for a NumPy or CuPy ndarray."""
    return isinstance(obj, np.ndarray) or _is_cupy_array(obj)


def device_of(array) -> Device:
    """The Device an array lives on."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return CPU
    if _is_cupy_array(array):
        return Device(f"cuda:{array.device.id}")
    raise TypeError(f"expected a NumPy or CuPy array, got {type(array).__name__}")


def array_module(array):
    """numpy for a NumPy array (or scalar), cupy for a CuPy array."""
    if isinstance(array, np.ndarray):
        return np
    if _is_cupy_array(array):
        return loaded_cupy()
    return np


def to_device(array, dev) -> "np.ndarray":
    """Return ``array`` on device ``dev`` (the same object when it is already there)."""
    dev = Device(dev)
    src = device_of(array)
    if src is dev:
        return array
    if dev.type == "cpu":
        return array.get()
    cp = dev.xp
    with cp.cuda.Device(dev.index):
        # cupy.asarray hands back an array of another GPU as it is; copy() makes the copy
        # on the current device (GPU to GPU), so the data really lives where the label says.
        return array.copy() if src.type == "cuda" else cp.asarray(array)


def to_numpy(array) -> np.ndarray:
    """A NumPy array with the values of ``array`` (copies from the GPU when needed)."""
    if isinstance(array, np.ndarray):
        return array
    if _is_cupy_array(array):
        return array.get()
    return np.asarray(array)


def from_dlpack(obj):
    """A NumPy (CPU) or CuPy (CUDA) array sharing memory with ``obj``: any object with
    ``__dlpack__`` and ``__dlpack_device__`` (a PyTorch, JAX, CuPy or NumPy array, a gpugrad
    Tensor). Nothing is copied."""
    if not (hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__")):
        what = "a DLPack capsule" if type(obj).__name__ == "PyCapsule" else f"a {type(obj).__name__}"
        raise TypeError(f"from_dlpack takes an array with __dlpack__ and __dlpack_device__ (a tensor "
                        f"of PyTorch, JAX, CuPy or NumPy), got {what}; pass the tensor itself")
    kind, index = obj.__dlpack_device__()
    if kind == _DL_CPU:
        return np.from_dlpack(obj)
    if kind in (_DL_CUDA, _DL_CUDA_MANAGED):
        cp = load_cupy()
        if cp is None:
            raise RuntimeError(f"from_dlpack: the array is on CUDA device {index}, but CuPy is not "
                               "installed (see README: Installing for a GPU)")
        with cp.cuda.Device(int(index)):
            return cp.from_dlpack(obj)
    raise BufferError(f"from_dlpack: the array lives on DLPack device type {kind} (device {index}); "
                      "gpugrad takes CPU (1) and CUDA (2, 13) memory")
