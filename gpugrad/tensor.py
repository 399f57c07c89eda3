"""``Tensor``: a raw NumPy/CuPy array (``.data``) that remembers how it was made.

Operators and methods call the differentiable ops in :mod:`gpugrad.functions`; the engine in
:mod:`gpugrad.autograd` walks the graph back. ``.grad`` is a ``Tensor`` (no graph of its own)
that ``backward`` fills in for every leaf with ``requires_grad=True``.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import backend
from .autograd import run_backward

__all__ = ["Tensor", "tensor", "as_tensor", "zeros", "ones", "full", "zeros_like", "ones_like",
           "randn", "rand", "arange"]

_FLOAT_KINDS = "f"
_NUMERIC_KINDS = "biufc"


def _dtype(dtype):
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"not a dtype: {dtype!r}") from None


class Tensor:
    """An n-dimensional array on a device, with an optional gradient.

    Build one with :func:`gpugrad.tensor`; ``Tensor(array)`` wraps a raw NumPy/CuPy array
    without copying it.
    """

    __slots__ = ("data", "grad", "requires_grad", "_creator", "_output_index", "_device",
                 "_retains_grad", "_value_range", "__weakref__")
    __array_ufunc__ = None  # make NumPy hand `ndarray (op) Tensor` to our reflected operators
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad=False):
        if not backend.is_array(data):
            raise TypeError(f"Tensor() wraps a NumPy or CuPy array; use gg.tensor() for {type(data).__name__}")
        if requires_grad and data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._creator = None
        self._output_index = 0
        self._device = backend.device_of(data)
        self._retains_grad = False
        self._value_range = None

    @classmethod
    def _make(cls, data, device, requires_grad):
        """Fast internal constructor: the caller vouches for ``device``."""
        t = object.__new__(Tensor)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._creator = None
        t._output_index = 0
        t._device = device if device is not None else backend.device_of(data)
        t._retains_grad = False
        t._value_range = None
        return t

    # ------------------------------------------------------------------ properties
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return self._device

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        """Number of elements (NumPy's ``size``)."""
        return int(self.data.size)

    def numel(self):
        return int(self.data.size)

    @property
    def is_leaf(self):
        return self._creator is None

    @property
    def grad_fn(self):
        return self._creator

    @property
    def T(self):
        return _shape.transpose(self, None)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    # ------------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is the upstream gradient (needed unless self has one element). Without
        ``retain_graph`` the graph's saved arrays are freed as it is walked.
        """
        run_backward(self, grad, retain_graph)

    def detach(self):
        """The same data, cut off from the graph."""
        return Tensor._make(self.data, self._device, False)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        if not requires_grad and self._creator is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor too after backward."""
        if self._creator is not None:
            self._retains_grad = True
            self._creator._retains = True
        return self

    # ------------------------------------------------------------------ devices and host
    def to(self, device=None, dtype=None):
        """This tensor on another device and/or with another dtype (differentiable)."""
        out = self
        if device is not None:
            dev = backend.device(device)
            if dev is not self._device:
                out = _shape.to_device(out, dev)
        if dtype is not None:
            out = out.astype(dtype)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def astype(self, dtype):
        """Cast to ``dtype`` (differentiable between floating dtypes)."""
        dtype = _dtype(dtype)
        if dtype == self.data.dtype:
            return self
        return _shape.astype(self, dtype)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def long(self):
        return self.astype(np.int64)

    def numpy(self):
        """A NumPy array of the values (the data itself on the CPU; a host copy from a GPU)."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a one-element tensor, got shape {self.shape}")
        return self.data.reshape(()).item() if self._device.type == "cpu" else backend.to_numpy(self.data).item()

    def tolist(self):
        return backend.to_numpy(self.data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __array__(self, dtype=None, copy=None):
        if self._device.type != "cpu":
            raise TypeError(f"cannot convert a tensor on {self._device} to NumPy implicitly; call .numpy()")
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self):
        body = np.array2string(backend.to_numpy(self.data), separator=", ", prefix="tensor(")
        extras = []
        if self._device.type != "cpu":
            extras.append(f"device='{self._device}'")
        if self.data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self._creator is not None:
            extras.append(f"grad_fn=<{type(self._creator).__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _arith.add(self, other)

    def __radd__(self, other):
        return _arith.add(other, self)

    def __sub__(self, other):
        return _arith.sub(self, other)

    def __rsub__(self, other):
        return _arith.sub(other, self)

    def __mul__(self, other):
        return _arith.mul(self, other)

    def __rmul__(self, other):
        return _arith.mul(other, self)

    def __truediv__(self, other):
        return _arith.div(self, other)

    def __rtruediv__(self, other):
        return _arith.div(other, self)

    def __pow__(self, other):
        return _arith.pow(self, other)

    def __rpow__(self, other):
        return _arith.pow(other, self)

    def __neg__(self):
        return _arith.neg(self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return _linalg.matmul(other, self)

    def __abs__(self):
        return _arith.abs(self)

    # comparisons: elementwise, no gradient
    def __eq__(self, other):
        return _compare(self, other, "equal")

    def __ne__(self, other):
        return _compare(self, other, "not_equal")

    def __lt__(self, other):
        return _compare(self, other, "less")

    def __le__(self, other):
        return _compare(self, other, "less_equal")

    def __gt__(self, other):
        return _compare(self, other, "greater")

    def __ge__(self, other):
        return _compare(self, other, "greater_equal")

    # ------------------------------------------------------------------ elementwise maths
    def exp(self):
        return _arith.exp(self)

    def log(self):
        return _arith.log(self)

    def sqrt(self):
        return _arith.sqrt(self)

    def abs(self):
        return _arith.abs(self)

    def clip(self, min=None, max=None):
        return _arith.clip(self, min, max)

    def relu(self):
        return _act.relu(self)

    def sigmoid(self):
        return _act.sigmoid(self)

    def tanh(self):
        return _act.tanh(self)

    def softmax(self, axis=-1):
        return _act.softmax(self, axis)

    def log_softmax(self, axis=-1):
        return _act.log_softmax(self, axis)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims=False):
        return _red.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _red.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _red.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return _red.min(self, axis, keepdims)

    def argmax(self, axis=None, keepdims=False):
        xp = self._device.xp
        out = xp.argmax(self.data, axis=axis)
        if keepdims and axis is not None:
            out = xp.expand_dims(out, axis)
        return Tensor._make(out, self._device, False)

    def argmin(self, axis=None, keepdims=False):
        xp = self._device.xp
        out = xp.argmin(self.data, axis=axis)
        if keepdims and axis is not None:
            out = xp.expand_dims(out, axis)
        return Tensor._make(out, self._device, False)

    def any(self):
        return Tensor._make(self.data.any(), self._device, False)

    def all(self):
        return Tensor._make(self.data.all(), self._device, False)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _shape.reshape(self, shape)

    view = reshape

    def flatten(self, start_axis=0):
        """Collapse the axes from ``start_axis`` on into one (``flatten(1)`` keeps the batch axis)."""
        shape = self.data.shape
        start_axis = start_axis % max(len(shape), 1)
        return _shape.reshape(self, tuple(shape[:start_axis]) + (-1,))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _shape.transpose(self, axes or None)

    def __getitem__(self, index):
        return _shape.getitem(self, index)

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))


def _compare(a, b, name):
    if isinstance(b, Tensor):
        if b._device is not a._device:
            raise RuntimeError(f"{name}: tensors on different devices: {a._device} and {b._device}")
        b = b.data
    elif backend.is_array(b):
        raise TypeError(f"{name}: wrap the raw array operand with gg.tensor(...)")
    out = getattr(a._device.xp, name)(a.data, b)
    return Tensor._make(out, a._device, False)


# --------------------------------------------------------------------------- factories

def _numeric_array(data, dtype, where="gg.tensor"):
    """A NumPy array from Python data: floats -> float32, ints -> int64, bools -> bool."""
    try:
        arr = np.asarray(data)
    except ValueError as exc:
        raise ValueError(f"{where}: data is not a rectangular array ({exc})") from None
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{where}: expected numeric data, got {arr.dtype} "
                        f"(from {type(data).__name__}); convert strings/objects first")
    if dtype is None:
        if arr.dtype.kind == "f" and not isinstance(data, np.ndarray) and not isinstance(data, np.generic):
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu" and not isinstance(data, (np.ndarray, np.generic)):
            arr = arr.astype(np.int64)
    return arr


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data``.

    Python floats and lists become float32, Python ints int64 (class labels), bools bool;
    NumPy/CuPy arrays keep their dtype; ``dtype=`` overrides. ``device=None`` means the
    default device (``GPUGRAD_DEVICE``, else CUDA when present, else the CPU).
    """
    return _to_tensor(data, dtype, device, requires_grad, copy=True)


def as_tensor(data, dtype=None, device=None, requires_grad=False):
    """Like :func:`tensor` but shares memory with ``data`` when no conversion is needed."""
    return _to_tensor(data, dtype, device, requires_grad, copy=False)


def _to_tensor(data, dtype, device, requires_grad, copy):
    dtype = _dtype(dtype)
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        if data.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"gg.tensor: expected numeric data, got an array of dtype {data.dtype}")
        arr = data
        if device is None:
            dev = backend.device_of(arr)
        else:
            dev = backend.device(device)
    else:
        arr = _numeric_array(data, dtype)
        dev = backend.device(device)
        copy = False  # _numeric_array already made a fresh array (or a view of a Python scalar)
    if dtype is not None and arr.dtype != dtype:
        if dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"gg.tensor: dtype must be numeric, got {dtype}")
        arr = arr.astype(dtype)
        copy = False
    src = backend.device_of(arr)
    value_range = None
    if src is not dev:
        if src.type == "cpu" and arr.dtype.kind in "iu" and arr.size:
            # Remember an integer tensor's range while it is still on the host, so checks such
            # as "class labels in [0, C)" need no device synchronisation later.
            value_range = (int(arr.min()), int(arr.max()))
        arr = backend.to_device(arr, dev)
    elif copy:
        arr = arr.copy()
    elif isinstance(arr, np.ndarray) and not arr.flags.writeable:
        arr = arr.copy()
    if requires_grad and arr.dtype.kind not in _FLOAT_KINDS:
        raise TypeError(f"only floating-point tensors can require gradients, got dtype {arr.dtype}")
    t = Tensor._make(arr, dev, bool(requires_grad))
    t._value_range = value_range
    return t


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, numbers.Integral) or s < 0:
            raise ValueError(f"shape must be non-negative integers, got {shape}")
    return tuple(int(s) for s in shape)


def _factory(fill, shape, dtype, device, requires_grad):
    dev = backend.device(device)
    dtype = _dtype(dtype) or np.dtype(np.float32)
    with dev.context():
        arr = fill(dev.xp, _shape_arg(shape), dtype)
    t = Tensor._make(arr, dev, False)
    return t.requires_grad_(True) if requires_grad else t


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _factory(lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _factory(lambda xp, s, d: xp.ones(s, d), shape, dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False):
    return _factory(lambda xp, s, d: xp.full(s, value, d), (shape,) if isinstance(shape, int) else shape,
                    dtype, device, requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal samples; seeded by :func:`gpugrad.manual_seed`."""
    def fill(xp, s, d):
        if xp is np:
            return backend.cpu_generator().standard_normal(s, dtype=d if d.kind == "f" and d.itemsize >= 4 else np.float64).astype(d, copy=False)
        return xp.random.standard_normal(s, dtype=d)
    return _factory(fill, shape, dtype, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1); seeded by :func:`gpugrad.manual_seed`."""
    def fill(xp, s, d):
        if xp is np:
            return backend.cpu_generator().random(s, dtype=d if d.kind == "f" and d.itemsize >= 4 else np.float64).astype(d, copy=False)
        return xp.random.random(s, dtype=d)
    return _factory(fill, shape, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None):
    dev = backend.device(device)
    if stop is None:
        start, stop = 0, start
    with dev.context():
        arr = dev.xp.arange(start, stop, step, dtype=_dtype(dtype))
    if dtype is None and arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    return Tensor._make(arr, dev, False)


# The engine builds Tensors; it sits below this module, so it is handed the class here.
from . import autograd as _autograd  # noqa: E402

_autograd.Tensor = Tensor

# The op families; imported last because they are called from Tensor's methods only.
from .functions import activation as _act  # noqa: E402
from .functions import arithmetic as _arith  # noqa: E402
from .functions import linalg as _linalg  # noqa: E402
from .functions import reduction as _red  # noqa: E402
from .functions import shape as _shape  # noqa: E402
