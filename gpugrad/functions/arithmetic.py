"""Elementwise arithmetic with NumPy broadcasting.

The notes' gate patterns live here: the add gate *distributes* the upstream gradient
unchanged to both inputs, the mul gate *swaps* its inputs as multipliers
(d(a*b)/da = b), and the two-input max gate *routes* the gradient to the larger input.
Where an input was broadcast, its gradient is summed back to its own shape.
"""
from __future__ import annotations

import operator

import numpy as np

from .. import backend
from ..autograd import Op, array_of
from ..tensor import Tensor
from .broadcast import sum_to
from .promotion import as_floating, promote_operands

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip",
           "clamp", "maximum", "minimum"]


def _shape_of(x):
    return getattr(x, "shape", ())


def _grad_like(g, shape, dtype):
    """The gradient for an input of ``shape``/``dtype``: unbroadcast, then cast if promoted."""
    g = sum_to(g, shape)
    return g if g.dtype == dtype else g.astype(dtype)


def _broadcasting(name, op, a, b):
    """``op(a, b)``, with NumPy's and CuPy's errors said in the op's terms."""
    try:
        return op(a, b)
    except ValueError as e:
        sa, sb = tuple(_shape_of(a)), tuple(_shape_of(b))
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            raise ValueError(f"{name}: shapes {sa} and {sb} cannot be broadcast together") from None
        raise ValueError(f"{name}: {e} (operands of shapes {sa} and {sb}, dtypes "
                         f"{_dtype_name(a)} and {_dtype_name(b)})") from None


def _dtype_name(x):
    return str(getattr(x, "dtype", type(x).__name__))


class _Binary(Op):
    """Records the input shapes and dtypes that unbroadcasting the gradients needs, and
    promotes the operands to one dtype by PyTorch's rule (:mod:`.promotion`)."""

    name = None   # the op's name in errors

    def _operands(self, a, b):
        da = getattr(a, "dtype", None)
        db = getattr(b, "dtype", None)
        self.a_meta = (_shape_of(a), da)
        self.b_meta = (_shape_of(b), db)
        if da is db or (db is None and type(b) is float and da.kind == "f"):
            return a, b   # the common cases, inline: one dtype, or a float tensor and a float
        return promote_operands(a, b, self.name)

    def _grads(self, ga, gb):
        need_a, need_b = self.needs_input_grad
        return (_grad_like(ga, *self.a_meta) if need_a else None,
                _grad_like(gb, *self.b_meta) if need_b else None)


class Add(_Binary):
    """z = a + b. Add gate: da = dz, db = dz (summed back over broadcast axes)."""

    def forward(self, a, b):
        a, b = self._operands(a, b)
        return _broadcasting("add", operator.add, a, b)

    def backward(self, gz):
        return self._grads(gz, gz)


class Sub(_Binary):
    """z = a - b: da = dz, db = -dz."""

    def forward(self, a, b):
        a, b = self._operands(a, b)
        return _broadcasting("sub", operator.sub, a, b)

    def backward(self, gz):
        return self._grads(gz, -gz if self.needs_input_grad[1] else None)


class Mul(_Binary):
    """z = a * b. Mul gate swaps the inputs: da = dz * b, db = dz * a."""

    def forward(self, a, b):
        a, b = self._operands(a, b)
        need_a, need_b = self.needs_input_grad
        self.save_for_backward(a if need_b else None, b if need_a else None)
        return _broadcasting("mul", operator.mul, a, b)

    def backward(self, gz):
        a, b = self.saved
        need_a, need_b = self.needs_input_grad
        return self._grads(gz * b if need_a else None, gz * a if need_b else None)


def _true_divide(a, b):
    """a / b; integer or bool operands divide in the default float dtype, as in PyTorch."""
    if getattr(a, "dtype", getattr(b, "dtype", None)).kind not in "fc":
        a = as_floating(a) if hasattr(a, "dtype") else a
        b = as_floating(b) if hasattr(b, "dtype") else b
    return operator.truediv(a, b)


class Div(_Binary):
    """z = a / b: da = dz / b, db = -dz * a / b² = -dz * z / b."""

    def forward(self, a, b):
        a, b = self._operands(a, b)
        z = _broadcasting("div", _true_divide, a, b)
        self.save_for_backward(b, z if self.needs_input_grad[1] else None)
        return z

    def backward(self, gz):
        b, z = self.saved
        need_a, need_b = self.needs_input_grad
        ga = gz / b if need_a else None
        gb = -gz * z / b if need_b else None
        return self._grads(ga, gb)


class Pow(_Binary):
    """z = a ** b: da = dz * b * a^(b-1), db = dz * z * log(a).

    As in PyTorch, da = 0 where b = 0 (not 0 * 0^-1 = NaN at a = 0), and db = 0 where a = 0 and
    b >= 0 (not 0 * log 0 = NaN): one zero base must not poison a whole step."""

    def forward(self, a, b):
        a, b = self._operands(a, b)
        z = _broadcasting("pow", operator.pow, a, b)
        self.save_for_backward(a, b, z if self.needs_input_grad[1] else None)
        return z

    def backward(self, gz):
        a, b, z = self.saved
        need_a, need_b = self.needs_input_grad
        ga = gz * b * a ** (b - 1 + _where_zero(b, gz.dtype)) if need_a else None
        gb = gz * z * _log_base(a, b, gz.dtype) if need_b else None
        return self._grads(ga, gb)


def _where_zero(b, dtype):
    """1 where the exponent is 0 (so a^(b-1) becomes a^0 = 1 there, times b = 0), else 0."""
    if isinstance(b, (int, float)):
        return 1 if b == 0 else 0
    b = array_of(b)
    return (b == 0).astype(dtype)


def _log_base(a, b, dtype):
    """log(a), taken as 0 where a = 0 and b >= 0 (PyTorch's d(a^b)/db there)."""
    if isinstance(a, (int, float)):   # a Python-number base: a Python float (no float64 array)
        if a != 0:
            return float(np.log(a))
        b = array_of(b)
        xp = backend.array_module(b)
        return xp.where(b >= 0, 0, -np.inf).astype(dtype)
    zero_base = (array_of(a) == 0) & (array_of(b) >= 0)
    return Log().apply(a + zero_base.astype(dtype))


class _Select(_Binary):
    """z = max(a, b) or min(a, b). The max gate *routes* dz to the input that won
    (half to each on a tie); nothing flows to the loser."""

    ufunc = None  # "maximum" or "minimum"

    def forward(self, a, b):
        a, b = self._operands(a, b)
        self.save_for_backward(a, b)
        xp = backend.array_module(a if hasattr(a, "shape") else b)
        return _broadcasting(self.ufunc, getattr(xp, self.ufunc), a, b)

    def backward(self, gz):
        a, b = (array_of(v) for v in self.saved)
        xp = backend.array_module(array_of(gz))
        # share = 1 where a wins, 1/2 on a tie, 0 where b wins, made in gz's dtype (two
        # masks added as that dtype: no float64 temporary on a float32 path)
        share = (xp.add(a > b, a >= b, dtype=gz.dtype) if self.ufunc == "maximum"
                 else xp.add(a < b, a <= b, dtype=gz.dtype))
        share *= 0.5
        need_a, need_b = self.needs_input_grad
        return self._grads(gz * share if need_a else None, gz * (1 - share) if need_b else None)


class Maximum(_Select):
    ufunc = name = "maximum"


class Minimum(_Select):
    ufunc = name = "minimum"


Add.name, Sub.name, Mul.name, Div.name, Pow.name = "add", "sub", "mul", "div", "pow"


class Neg(Op):
    """y = -x: dx = -dy."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Exp(Op):
    """y = e^x: dx = dy * y (keeps the output)."""

    def forward(self, x):
        y = backend.array_module(x).exp(x if x.dtype.kind == "f" else as_floating(x))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return gy * y


class Log(Op):
    """y = ln x: dx = dy / x."""

    def forward(self, x):
        x = as_floating(x)
        self.save_for_backward(x)
        return backend.array_module(x).log(x)

    def backward(self, gy):
        x, = self.saved
        return gy / x


class Sqrt(Op):
    """y = √x: dx = dy / (2y)."""

    def forward(self, x):
        y = backend.array_module(x).sqrt(x if x.dtype.kind == "f" else as_floating(x))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return gy / (2 * y)


class Abs(Op):
    """y = |x|: dx = dy * sign(x)."""

    def forward(self, x):
        self.save_for_backward(x)
        return backend.array_module(x).abs(x)

    def backward(self, gy):
        x = array_of(self.saved[0])
        return gy * backend.array_module(x).sign(x)


class Clip(Op):
    """y = min(max(x, lo), hi): dx = dy where lo <= x <= hi, else 0."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        self.save_for_backward(x)
        return backend.array_module(x).clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = array_of(self.saved[0])
        inside = True
        if self.lo is not None:
            inside = x >= self.lo
        if self.hi is not None:
            inside = inside & (x <= self.hi)
        return gy * inside


def add(a, b):
    return Add()(a, b)


def sub(a, b):
    return Sub()(a, b)


def mul(a, b):
    return Mul()(a, b)


def div(a, b):
    return Div()(a, b)


def pow(a, b):  # noqa: A001 (mirrors Tensor.__pow__)
    return Pow()(a, b)


def maximum(a, b):
    return Maximum()(a, b)


def minimum(a, b):
    return Minimum()(a, b)


def neg(x):
    return Neg()(x)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def sqrt(x):
    return Sqrt()(x)


def abs(x):  # noqa: A001
    return Abs()(x)


def _check_bounds(op, lo, hi, tensors_too=False):
    if lo is None and hi is None:
        raise ValueError(f"{op}: give at least one of min and max")
    for bound in (lo, hi):
        if bound is None or (tensors_too and isinstance(bound, Tensor)):
            continue
        if isinstance(bound, bool) or not isinstance(bound, (int, float, np.number)):
            raise TypeError(f"{op}: bounds must be numbers{' or Tensors' if tensors_too else ''}, "
                            f"got {type(bound).__name__} {bound!r}")


def clip(x, lo=None, hi=None):
    _check_bounds("clip", lo, hi)
    return Clip(lo, hi)(x)


def clamp(x, min=None, max=None):  # noqa: A002 (PyTorch's names)
    """PyTorch's clamp: ``clip`` for number bounds; a Tensor bound is an elementwise
    ``maximum`` / ``minimum`` (broadcast, differentiable in both)."""
    _check_bounds("clamp", min, max, tensors_too=True)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        y = x if min is None else maximum(x, min)
        return y if max is None else minimum(y, max)
    return clip(x, min, max)
