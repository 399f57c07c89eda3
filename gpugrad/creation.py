"""Creating tensors: from data (``tensor``, ``as_tensor``) and by shape (``zeros``, ``randn``, ...).

Python floats and lists become float32, Python ints int64 (class labels), bools bool; NumPy and
CuPy arrays keep their dtype; ``dtype=`` overrides. ``device=None`` means the default device.
Random factories draw from the generators :func:`gpugrad.manual_seed` seeds.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import backend
from .tensor import FLOAT_KINDS, Tensor, bounds_in_dtype, wrap

__all__ = ["size_args", "tensor", "as_tensor", "from_numpy", "from_dlpack", "zeros", "ones", "full", "zeros_like", "ones_like", "randn",
           "rand", "arange", "as_dtype"]

_NUMERIC_KINDS = "biufc"


def as_dtype(dtype):
    """``np.dtype(dtype)``, or None for None; a TypeError that names the value otherwise."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"not a dtype: {dtype!r}") from None


def _numeric_array(data, dtype, where="gg.tensor"):
    """A NumPy array from Python data: floats -> float32, ints -> int64, bools -> bool."""
    try:
        arr = np.asarray(data)
    except ValueError as exc:
        raise ValueError(f"{where}: data is not a rectangular array ({exc})") from None
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{where}: expected numeric data, got {arr.dtype} "
                        f"(from {type(data).__name__}); convert strings/objects first")
    if dtype is None and not isinstance(data, (np.ndarray, np.generic)):
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
    return arr


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (see the module docstring for dtypes)."""
    return _to_tensor(data, dtype, device, requires_grad, copy=True)


def as_tensor(data, dtype=None, device=None, requires_grad=False):
    """Like :func:`tensor` but shares memory with ``data`` when no conversion is needed."""
    return _to_tensor(data, dtype, device, requires_grad, copy=False)


def _to_tensor(data, dtype, device, requires_grad, copy):
    dtype = as_dtype(dtype)
    if isinstance(data, Tensor):
        data = data.array
    if backend.is_array(data):
        if data.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"gg.tensor: expected numeric data, got an array of dtype {data.dtype}")
        arr = data
        dev = backend.device_of(arr) if device is None else backend.resolve_device(device)
    else:
        arr = _numeric_array(data, dtype)
        dev = backend.resolve_device(device)
        copy = False  # _numeric_array already made a fresh array (or a view of a Python scalar)
    if dtype is not None and arr.dtype != dtype:
        if dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"gg.tensor: dtype must be numeric, got {dtype}")
        arr = arr.astype(dtype)
        copy = False
    src = backend.device_of(arr)
    bounds = None
    if src.type == "cpu" and arr.dtype.kind in "iu" and arr.size:
        # Known while the values are on the host (and kept wherever the tensor goes): see
        # Tensor.value_bounds.
        bounds = (int(arr.min()), int(arr.max()))
    if src is not dev:
        arr = backend.to_device(arr, dev)
    elif copy or (isinstance(arr, np.ndarray) and not arr.flags.writeable):
        arr = arr.copy()
    if requires_grad and arr.dtype.kind not in FLOAT_KINDS:
        raise TypeError(f"only floating-point tensors can require gradients, got dtype {arr.dtype}")
    t = wrap(arr, dev, bool(requires_grad))
    t.value_bounds = bounds
    return t


def from_numpy(ndarray):
    """A CPU tensor sharing memory with the NumPy array ``ndarray`` (no copy: a change to one
    shows in the other), as ``torch.from_numpy``."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy takes a NumPy array, got {type(ndarray).__name__}")
    return _shared_tensor(ndarray, "from_numpy")


def from_dlpack(obj):
    """A tensor sharing memory with ``obj`` (no copy), on obj's device: a PyTorch, JAX, CuPy
    or NumPy array, anything with ``__dlpack__``. It does not require grad."""
    return _shared_tensor(backend.from_dlpack(obj), "from_dlpack")


def _shared_tensor(array, where):
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{where}: expected numeric data, got an array of dtype {array.dtype}")
    if isinstance(array, np.ndarray) and not array.flags.writeable:
        warnings.warn(f"{where}: the array is read-only; the tensor shares it, so writing to the "
                      "tensor will fail", UserWarning, stacklevel=3)
    # No value_bounds: the memory is shared, so the values can change behind the tensor's back.
    return wrap(array, backend.device_of(array))


def size_args(op, sizes, *, negative=False):
    """``sizes`` (``f(2, 3)``'s ``(2, 3)``, or ``f((2, 3))``'s one tuple or list of them) as a
    tuple of ints, PyTorch's size arguments. TypeError naming ``op`` for a size that is not an
    int (bool, float, str), ValueError for a negative one unless ``negative`` (reshape's and
    expand's -1, repeat's own message)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{op}: sizes must be ints, got {s!r} ({type(s).__name__}) in {tuple(sizes)}")
        if s < 0 and not negative:
            raise ValueError(f"{op}: sizes must be non-negative, got {tuple(sizes)}")
    return tuple(int(s) for s in sizes)


def _factory(op, fill, shape, dtype, device, requires_grad):
    dev = backend.resolve_device(device)
    dtype = as_dtype(dtype) or np.dtype(np.float32)
    if requires_grad and dtype.kind not in FLOAT_KINDS:
        raise TypeError(f"{op}: only floating-point tensors can require gradients, got dtype {dtype}")
    shape = size_args(op, shape)
    with dev.context():
        arr = fill(dev.xp, shape, dtype)
    return wrap(arr, dev).requires_grad_(True) if requires_grad else wrap(arr, dev)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _factory("zeros", lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _factory("ones", lambda xp, s, d: xp.ones(s, d), shape, dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise TypeError(f"full: the fill value must be a number, got {type(value).__name__}")
    return _factory("full", lambda xp, s, d: xp.full(s, value, d),
                    (shape,) if isinstance(shape, numbers.Integral) else shape, dtype, device, requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


#: The dtypes NumPy's and CuPy's generators draw in; any other dtype is drawn in one of these and
#: cast (CuPy's draw only float32/float64, so float16 on a GPU would otherwise raise).
_DRAW_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _draw(method):
    """A fill function drawing from the seeded generator of the array's device: NumPy's
    Generator or cupy.random, which name the method alike."""
    def fill(xp, shape, dtype):
        if dtype in _DRAW_DTYPES:
            native = dtype
        else:   # float16 in float32 (all its values are float32 values); integers in float64
            native = np.dtype(np.float32 if dtype.kind == "f" and dtype.itemsize < 4 else np.float64)
        generator = backend.cpu_generator() if xp is np else xp.random
        out = getattr(generator, method)(shape, dtype=native).astype(dtype, copy=False)
        if method == "random" and native != dtype and dtype.kind == "f":
            # a draw just below 1 rounds up to 1 in a narrower dtype: keep the range [0, 1)
            xp.minimum(out, np.nextafter(dtype.type(1), dtype.type(0)), out=out)
        return out
    return fill


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal samples; seeded by :func:`gpugrad.manual_seed`."""
    return _factory("randn", _draw("standard_normal"), shape, dtype, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1); seeded by :func:`gpugrad.manual_seed`."""
    return _factory("rand", _draw("random"), shape, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None):
    dev = backend.resolve_device(device)
    if stop is None:
        start, stop = 0, start
    for v in (start, stop, step):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"arange: start, stop and step must be numbers, got {v!r}")
    if step == 0:
        raise ValueError("arange: step must not be 0")
    try:
        with dev.context():
            arr = dev.xp.arange(start, stop, step, dtype=as_dtype(dtype))
    except ValueError as exc:   # more elements than an array can hold
        raise ValueError(f"arange({start}, {stop}, {step}): {exc}") from None
    if dtype is None and arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    t = wrap(arr, dev)
    if arr.size and all(isinstance(v, numbers.Integral) for v in (start, stop, step)):
        ends = range(start, stop, step)   # known on the host: see Tensor.value_bounds
        t.value_bounds = bounds_in_dtype((min(ends[0], ends[-1]), max(ends[0], ends[-1])),
                                         arr.dtype)
    return t
