"""The stand-in's ndarray: a NumPy array that behaves like a CuPy one where gpugrad could notice.

* It lives on a device (the current one when it was made; a view on its base's), and every
  operation that launches work (operators, ufuncs, reductions, casts) refuses an array that is
  not on the current device, as CuPy does without peer access.
* Every read of values by the host (``get``, ``item``, ``tolist``, ``float``, ``int``,
  ``bool``, ``repr``, ...) is a synchronisation: counted in ``STATS['syncs']`` and refused
  inside ``cupyx.allow_synchronize(False)``. ``len``, ``shape`` and iteration read nothing.
* Every fresh array is an allocation from the device's memory pool (``cupy.cuda.memory``):
  its dtype, shape and the gpugrad line that asked for it are logged in
  ``STATS['allocations']``, and the pool runs out of memory like CuPy's.
* A NumPy array is not accepted where CuPy wants a device array (TypeError, as in CuPy);
  results are always arrays (0-d for a reduction), never NumPy scalars.
"""
from __future__ import annotations

import sys

import weakref

import numpy as np

from . import _capture, _state


def _root(a):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class _Flags:
    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.base is None


class _Memory:
    def __init__(self, arr):
        self.ptr = arr._a.__array_interface__["data"][0]
        self.device_id = arr._dev


class ndarray:
    __slots__ = ("_a", "_dev", "_alloc", "_base", "__weakref__")
    __hash__ = None

    def __init__(self, *args, **kwargs):
        raise TypeError("make stand-in arrays with cupy.empty / cupy.asarray / ...")

    # ------------------------------------------------------------------ metadata
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a))
    data = property(lambda self: _Memory(self))
    base = property(lambda self: self._base)

    @property
    def device(self):
        from .cuda import Device
        return Device(self._dev)

    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    # ------------------------------------------------------------------ host reads (syncs)
    def get(self, stream=None, order="C", out=None):
        _state.sync("ndarray.get")
        return self._a.copy(order=order)

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    # ------------------------------------------------------------------ copies
    def copy(self, order="C"):
        """A copy on the *current* device (CuPy copies between GPUs this way)."""
        _state.STATS["lib_launches"].append("copy")
        out = fresh(self._a.copy(order=order))
        _capture.launched(lambda: np.copyto(out._a, self._a))
        return out

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        check_devices((self,), "astype")
        if not copy and self._a.dtype == np.dtype(dtype):
            return self
        _state.STATS["lib_launches"].append("astype")
        out = fresh(self._a.astype(dtype, order=order))
        _capture.launched(lambda: np.copyto(out._a, self._a, casting="unsafe"))
        return out

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, key):
        if any(getattr(k, "dtype", None) == np.bool_ for k in (key if isinstance(key, tuple) else (key,))):
            _capture.refuse("boolean mask indexing (CuPy reads the count of True values)")
        return call(lambda a, k: a[k], (self, key), {}, "getitem", launches=_advanced(key))

    def __setitem__(self, key, value):
        check_devices((self, value), "setitem")

        def assign():
            self._a[unwrap(key)] = unwrap(value, host_ok=True)
        assign()
        _state.STATS["lib_launches"].append("setitem")
        _capture.launched(assign)

    # ------------------------------------------------------------------ everything else
    def __getattr__(self, name):
        if name.startswith("__") or name in ndarray.__slots__:
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            def method(*args, **kwargs):
                return call(lambda a, *r, **k: getattr(a, name)(*r, **k), (self, *args), kwargs,
                            name, launches=name not in _VIEWS)
            return method
        return wrap(attr, (self,))

    # ------------------------------------------------------------------ DLPack
    def __dlpack_device__(self):
        return (2, self._dev)            # kDLCUDA, this array's device

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        kwargs = {} if max_version is None else {"max_version": max_version}
        return self._a.__dlpack__(**kwargs)    # the host memory standing in for the device's

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return call(lambda *a, **k: getattr(ufunc, method)(*a, **k), inputs, kwargs, ufunc.__name__)

    def __array_function__(self, func, types, args, kwargs):
        from ._functions import function
        return function(func.__name__)(*args, **kwargs)


ndarray.__module__ = "cupy"


def _host_read(what, read):
    def method(self, *args):
        _state.sync(what)
        return read(self._a, *args)
    method.__name__ = what
    return method


# Every way the host reads values: a synchronisation each (shape, len and iteration are not).
for _name, _what, _read in [
        ("item", "ndarray.item", np.ndarray.item), ("tolist", "ndarray.tolist", np.ndarray.tolist),
        ("__float__", "float(ndarray)", float), ("__int__", "int(ndarray)", int),
        ("__index__", "operator.index(ndarray)", np.ndarray.__index__),
        ("__complex__", "complex(ndarray)", complex), ("__bool__", "bool(ndarray)", bool),
        ("__format__", "format(ndarray)", format),
        ("__repr__", "repr(ndarray)", lambda a: f"array({a!r})"),
        ("__str__", "str(ndarray)", str)]:
    setattr(ndarray, _name, _host_read(_what, _read))

#: Methods that only make a view: no kernel, so no device check.
_VIEWS = {"reshape", "view", "transpose", "swapaxes", "squeeze", "ravel", "T", "diagonal"}


def _advanced(key):
    parts = key if isinstance(key, tuple) else (key,)
    return any(isinstance(p, (ndarray, np.ndarray, list)) for p in parts)


def _binary(name, reflected=False, inplace=False):
    op = getattr(np, name)

    def method(self, other):
        if inplace:
            check_devices((self, other), name)

            def update():
                op(self._a, unwrap(other), out=self._a)
            update()
            _state.STATS["lib_launches"].append(name)
            _capture.launched(update)
            return self
        args = (other, self) if reflected else (self, other)
        return call(op, args, {}, name)
    return method


for _name, _ufunc in [("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                      ("truediv", "true_divide"), ("floordiv", "floor_divide"),
                      ("mod", "remainder"), ("pow", "power"), ("matmul", "matmul"),
                      ("and", "bitwise_and"), ("or", "bitwise_or"), ("xor", "bitwise_xor"),
                      ("lshift", "left_shift"), ("rshift", "right_shift")]:
    setattr(ndarray, f"__{_name}__", _binary(_ufunc))
    setattr(ndarray, f"__r{_name}__", _binary(_ufunc, reflected=True))
    setattr(ndarray, f"__i{_name}__", _binary(_ufunc, inplace=True))
for _name, _ufunc in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                      ("ge", "greater_equal"), ("eq", "equal"), ("ne", "not_equal")]:
    setattr(ndarray, f"__{_name}__", _binary(_ufunc))
for _name, _ufunc in [("neg", "negative"), ("pos", "positive"), ("abs", "absolute"),
                      ("invert", "invert")]:
    setattr(ndarray, f"__{_name}__", (lambda u: lambda self: call(u, (self,), {}, u.__name__))(
        getattr(np, _ufunc)))


# ---------------------------------------------------------------------------- wrapping

def unwrap(x, host_ok=False):
    """The NumPy array behind a stand-in array (recursively in tuples and lists). A NumPy
    array where a device array belongs is CuPy's TypeError, unless ``host_ok``."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, tuple):
        return tuple(unwrap(v, host_ok) for v in x)
    if isinstance(x, list):
        return [unwrap(v, host_ok) for v in x]
    if isinstance(x, np.ndarray) and not host_ok:
        raise TypeError(f"Unsupported type {type(x)} (a NumPy array given to a CuPy operation)")
    return x


def _arrays_in(values):
    for v in values:
        if isinstance(v, ndarray):
            yield v
        elif isinstance(v, (tuple, list)):
            yield from _arrays_in(v)


def check_devices(values, what):
    current = _state.current_device()
    for a in _arrays_in(values):
        if a._dev != current:
            raise ValueError(
                f"The device where the array resides ({a._dev}) is different from the current "
                f"device ({current}). Peer access is unavailable between these devices. "
                f"(stand-in: {what})")


def call(fn, args, kwargs, what, launches=True):
    """fn on the NumPy arrays behind ``args``/``kwargs``; results wrapped back."""
    values = (*args, *kwargs.values())
    if launches:
        check_devices(values, what)
        if fn in _CUBLAS:
            _capture.refuse(what, "cuBLAS")
        if what in _DATA_DEPENDENT:
            _capture.refuse(f"{what} (its result's shape is read from the device)")
    host_ok = what in ("getitem", "setitem")
    nbytes = _predicted_nbytes(fn, values)
    if nbytes:   # a big result runs out of device memory before NumPy allocates it
        _state.POOL.make_room(nbytes, _state.current_device())
    result = fn(*unwrap(args, host_ok), **{k: unwrap(v, host_ok) for k, v in kwargs.items()})
    allocated = len(_state.STATS["allocations"])
    wrapped = wrap(result, tuple(_arrays_in(values)))
    if launches and (isinstance(fn, np.ufunc) or "out" in kwargs
                     or len(_state.STATS["allocations"]) > allocated):
        _state.STATS["lib_launches"].append(what)   # device work; a view alone is none

        def replay():   # the same computation, into the same memory
            again = fn(*unwrap(args, host_ok), **{k: unwrap(v, host_ok) for k, v in kwargs.items()})
            for target, value in zip(_flat(wrapped), _flat(again)):
                if isinstance(target, ndarray) and target._a is not value:
                    np.copyto(target._a, value)
        _capture.launched(replay)
    return wrapped


def _flat(result):
    return result if isinstance(result, tuple) else (result,)


#: Routines whose result's shape depends on the values (CuPy reads them back to size it).
_DATA_DEPENDENT = {"nonzero", "flatnonzero", "argwhere", "unique", "compress", "extract"}

#: NumPy routines that CuPy runs through cuBLAS (which it refuses to call during a capture).
_CUBLAS = {np.matmul, np.dot, np.tensordot, np.einsum, np.inner, np.vdot, np.outer}


def _predicted_nbytes(fn, values):
    """The size of the result of a ufunc or matmul on these operands (0 if not predictable)."""
    if not isinstance(fn, np.ufunc) or any(isinstance(v, (tuple, list)) for v in values):
        return 0
    shapes = [v.shape for v in values if isinstance(v, ndarray)]
    try:
        if fn is np.matmul and len(shapes) == 2 and min(len(s) for s in shapes) >= 2:
            a, b = shapes
            shape = np.broadcast_shapes(a[:-2], b[:-2]) + (a[-2], b[-1])
        else:
            shape = np.broadcast_shapes(*shapes)
        dtype = np.result_type(*[v._a if isinstance(v, ndarray) else v for v in values])
    except (ValueError, TypeError):
        return 0   # NumPy will say what is wrong
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize * fn.nout


def wrap(result, inputs=()):
    """A NumPy result as a stand-in array: an input itself when it is one, a view sharing an
    input's memory (and device), or a fresh allocation on the current device."""
    if isinstance(result, tuple):
        return tuple(wrap(r, inputs) for r in result)
    if isinstance(result, np.generic):
        result = np.asarray(result)
    if not isinstance(result, np.ndarray):
        return result
    root = _root(result)
    for x in inputs:
        if x._a is result:
            return x
    for x in inputs:
        if _root(x._a) is root:
            arr = object.__new__(ndarray)
            arr._a, arr._dev, arr._alloc = result, x._dev, x._alloc
            arr._base = x if x._base is None else x._base
            return arr
    return fresh(result)


def fresh(a):
    """A new device array holding NumPy array ``a`` (which nothing else may hold)."""
    dev = _state.current_device()
    arr = object.__new__(ndarray)
    arr._alloc = _state.POOL.allocate(a.nbytes, dev)
    arr._a, arr._dev, arr._base = a, dev, None
    _capture.check_allocation(a.nbytes)
    _state.STATS["allocations"].append((a.dtype.name, a.shape, _caller()))
    key = id(arr)
    LIVE[key] = weakref.ref(arr, lambda _, key=key: LIVE.pop(key, None))
    _capture.allocated(arr)
    return arr


#: Every live array with memory of its own (not a view), by id: what a raw pointer may point
#: into. (Weak references: the stand-in's arrays are unhashable, as CuPy's are.)
LIVE = {}


def live_arrays():
    """Every live array with memory of its own."""
    return [a for a in (ref() for ref in list(LIVE.values())) if a is not None]


def array_at(ptr, nbytes):
    """The live array whose memory holds the nbytes from address ``ptr`` on, or None."""
    for a in live_arrays():
        start = a._a.__array_interface__["data"][0]
        if start <= ptr and ptr + nbytes <= start + a._a.nbytes:
            return a
    return None


def _caller():
    """The innermost line of gpugrad that led here (for messages about an allocation)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "gpugrad" in name and "fake_cupy" not in name:
            return f"{name.rsplit('gpugrad', 1)[-1]}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return "(outside gpugrad)"
