"""cupy.* functions of the stand-in: array creation, transfers, and every other NumPy routine
run on the arrays behind stand-in arrays (see ``function``)."""
from __future__ import annotations

import numpy as np

from . import _capture, _state
from ._array import call, fresh, ndarray, unwrap

__all__ = ["asarray", "array", "asnumpy", "from_dlpack", "ascontiguousarray", "empty", "zeros", "ones", "full",
           "empty_like", "zeros_like", "ones_like", "full_like", "function",
           "get_default_memory_pool", "get_default_pinned_memory_pool"]


def _aligned_empty(shape, dtype):
    """A fresh, 256-byte aligned array like CuPy's allocator gives."""
    dtype = np.dtype(dtype)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    n = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(n * dtype.itemsize + 256, np.uint8)
    off = (-raw.__array_interface__["data"][0]) % 256
    return raw[off:off + n * dtype.itemsize].view(dtype).reshape(shape)


def asarray(a, dtype=None, order=None):
    """A device array: ``a`` itself when it is one (even on another GPU, as CuPy does), else
    a host -> device copy onto the current device."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    _capture.refuse("a host -> device copy (cupy.asarray of host data)")
    host = np.asarray(a, dtype=dtype)
    out = empty(host.shape, host.dtype)
    out._a[...] = host
    _state.STATS["lib_launches"].append("host->device copy")
    return out


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(a, ndarray):
        out = a.copy() if copy else a
        return out if dtype is None else out.astype(dtype, copy=False)
    return asarray(np.array(a, dtype=dtype, ndmin=ndmin))


def asnumpy(a, stream=None, order="C", out=None):
    if isinstance(a, ndarray):
        return a.get()
    return np.asarray(a)


class _HostView:
    """An exporter's DLPack capsule presented to NumPy as host memory."""

    def __init__(self, obj):
        self.obj = obj

    def __dlpack_device__(self):
        return (1, 0)

    def __dlpack__(self, **kwargs):
        return self.obj.__dlpack__(**{k: v for k, v in kwargs.items() if k == "max_version"})


def from_dlpack(obj):
    """An array sharing the exporter's memory, on its device (a CUDA exporter only, as CuPy)."""
    kind, dev = obj.__dlpack_device__()
    if kind not in (2, 13):
        raise BufferError(f"stand-in cupy.from_dlpack: DLPack device type {kind} is not CUDA")
    host = np.from_dlpack(_HostView(obj))
    arr = object.__new__(ndarray)
    arr._a, arr._dev, arr._alloc, arr._base = host, int(dev), None, None
    return arr


def ascontiguousarray(a, dtype=None):
    if a.flags.c_contiguous and (dtype is None or a.dtype == np.dtype(dtype)):
        return a
    return call(np.ascontiguousarray, (a,), {"dtype": dtype}, "ascontiguousarray")


def empty(shape, dtype=float, order="C"):
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    _state.POOL.make_room(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize,
                          _state.current_device())
    return fresh(_aligned_empty(shape, dtype))


def zeros(shape, dtype=float, order="C"):
    out = empty(shape, dtype)
    out._a[...] = 0
    _state.STATS["lib_launches"].append("zeros")
    _capture.launched(lambda: out._a.fill(0))
    return out


def ones(shape, dtype=float, order="C"):
    out = empty(shape, dtype)
    out._a[...] = 1
    _state.STATS["lib_launches"].append("ones")
    _capture.launched(lambda: out._a.fill(1))
    return out


def full(shape, fill_value, dtype=None, order="C"):
    out = empty(shape, np.asarray(unwrap(fill_value)).dtype if dtype is None else dtype)
    value = unwrap(fill_value)
    out._a[...] = value
    _state.STATS["lib_launches"].append("full")
    _capture.launched(lambda: out._a.__setitem__(Ellipsis, value))
    return out


def empty_like(a, dtype=None, order="K", subok=None, shape=None):
    return empty(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


def zeros_like(a, dtype=None, order="K", subok=None, shape=None):
    return zeros(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


def ones_like(a, dtype=None, order="K", subok=None, shape=None):
    return ones(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


def full_like(a, fill_value, dtype=None, order="K", subok=None, shape=None):
    return full(a.shape if shape is None else shape, fill_value,
                a.dtype if dtype is None else dtype)


class _Ufunc:
    """A NumPy ufunc on stand-in arrays, with its methods (``add.at``, ``maximum.reduce``)."""

    def __init__(self, ufunc):
        self.ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return call(self.ufunc, args, kwargs, self.__name__)

    def __getattr__(self, method):
        fn = getattr(self.ufunc, method)
        return lambda *args, **kwargs: call(fn, args, kwargs, f"{self.__name__}.{method}")


_FUNCTIONS = {}


def function(name):
    """cupy.<name>: NumPy's routine of that name on device arrays (results on the device)."""
    fn = _FUNCTIONS.get(name)
    if fn is None:
        target = getattr(np, name)
        if isinstance(target, np.ufunc):
            fn = _Ufunc(target)
        elif callable(target) and not isinstance(target, type):
            def fn(*args, **kwargs):
                return call(target, args, kwargs, name)
            fn.__name__ = name
        else:
            fn = target   # dtypes, constants
        _FUNCTIONS[name] = fn
    return fn


class _PinnedMemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_PINNED = _PinnedMemoryPool()


def get_default_memory_pool():
    return _state.POOL


def get_default_pinned_memory_pool():
    return _PINNED
