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

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip",
           "clamp", "maximum", "minimum", "where"]


def _shape_of(x):
    return getattr(x, "shape", ())


def _grad_like(g, shape, dtype):
    """The gradient for an input of ``shape``/``dtype``: unbroadcast, then cast if promoted."""
    g = sum_to(g, shape)
    return g if g.dtype == dtype else g.astype(dtype)


def _broadcasting(name, op, a, b):
    try:
        return op(a, b)
    except ValueError:
        raise ValueError(
            f"{name}: shapes {tuple(_shape_of(a))} and {tuple(_shape_of(b))} cannot be broadcast together") from None


class _Binary(Op):
    """Records the input shapes and dtypes that unbroadcasting the gradients needs."""

    def _keep_meta(self, a, b):
        self.a_meta = (_shape_of(a), getattr(a, "dtype", None))
        self.b_meta = (_shape_of(b), getattr(b, "dtype", None))

    def _grads(self, ga, gb):
        need_a, need_b = self.needs_input_grad
        return (_grad_like(ga, *self.a_meta) if need_a else None,
                _grad_like(gb, *self.b_meta) if need_b else None)


class Add(_Binary):
    """z = a + b. Add gate: da = dz, db = dz (summed back over broadcast axes)."""

    def forward(self, a, b):
        self._keep_meta(a, b)
        return _broadcasting("add", operator.add, a, b)

    def backward(self, gz):
        return self._grads(gz, gz)


class Sub(_Binary):
    """z = a - b: da = dz, db = -dz."""

    def forward(self, a, b):
        self._keep_meta(a, b)
        return _broadcasting("sub", operator.sub, a, b)

    def backward(self, gz):
        return self._grads(gz, -gz if self.needs_input_grad[1] else None)


class Mul(_Binary):
    """z = a * b. Mul gate swaps the inputs: da = dz * b, db = dz * a."""

    def forward(self, a, b):
        self._keep_meta(a, b)
        need_a, need_b = self.needs_input_grad
        self.save_for_backward(a if need_b else None, b if need_a else None)
        return _broadcasting("mul", operator.mul, a, b)

    def backward(self, gz):
        a, b = self.saved
        need_a, need_b = self.needs_input_grad
        return self._grads(gz * b if need_a else None, gz * a if need_b else None)


class Div(_Binary):
    """z = a / b: da = dz / b, db = -dz * a / b² = -dz * z / b."""

    def forward(self, a, b):
        self._keep_meta(a, b)
        z = _broadcasting("div", operator.truediv, a, b)
        self.save_for_backward(b, z if self.needs_input_grad[1] else None)
        return z

    def backward(self, gz):
        b, z = self.saved
        need_a, need_b = self.needs_input_grad
        ga = gz / b if need_a else None
        gb = -gz * z / b if need_b else None
        return self._grads(ga, gb)


class Pow(_Binary):
    """z = a ** b: da = dz * b * a^(b-1), db = dz * z * log(a)."""

    def forward(self, a, b):
        self._keep_meta(a, b)
        z = _broadcasting("pow", operator.pow, a, b)
        self.save_for_backward(a, b, z)
        return z

    def backward(self, gz):
        a, b, z = self.saved
        need_a, need_b = self.needs_input_grad
        ga = gz * b * a ** (b - 1) if need_a else None
        if need_b:   # a Python-number base: its log stays a Python float (no float64 array)
            log_a = float(np.log(a)) if isinstance(a, (int, float)) else Log().apply(a)
        gb = gz * z * log_a if need_b else None
        return self._grads(ga, gb)


class _Select(_Binary):
    """z = max(a, b) or min(a, b). The max gate *routes* dz to the input that won
    (half to each on a tie); nothing flows to the loser."""

    ufunc = None  # "maximum" or "minimum"

    def forward(self, a, b):
        self._keep_meta(a, b)
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
    ufunc = "maximum"


class Minimum(_Select):
    ufunc = "minimum"


class Where(_Binary):
    """z = a where cond else b (cond a constant boolean array, all three broadcast): the select
    gate routes dz to the input that was picked, da = dz where cond, db = dz where not cond."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        self._keep_meta(a, b)
        xp = backend.array_module(self.cond)
        return _broadcasting("where", lambda a, b: xp.where(self.cond, a, b), a, b)

    def backward(self, gz):
        need_a, need_b = self.needs_input_grad
        return self._grads(Where(self.cond).apply(gz, 0.0) if need_a else None,
                           Where(self.cond).apply(0.0, gz) if need_b else None)


class Neg(Op):
    """y = -x: dx = -dy."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Exp(Op):
    """y = e^x: dx = dy * y (keeps the output)."""

    def forward(self, x):
        y = backend.array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return gy * y


class Log(Op):
    """y = ln x: dx = dy / x."""

    def forward(self, x):
        self.save_for_backward(x)
        return backend.array_module(x).log(x)

    def backward(self, gy):
        x, = self.saved
        return gy / x


class Sqrt(Op):
    """y = √x: dx = dy / (2y)."""

    def forward(self, x):
        y = backend.array_module(x).sqrt(x)
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


def where(condition, input=None, other=None):  # noqa: A002 (PyTorch's names)
    """Elements of ``input`` where ``condition`` (a boolean tensor) holds, else of ``other``;
    the three broadcast together, and ``input`` / ``other`` may be numbers. ``where(condition)``
    alone gives the indices of its true elements, one integer tensor per axis (NumPy's
    ``nonzero``)."""
    if not isinstance(condition, Tensor):
        raise TypeError(f"where: condition must be a boolean Tensor, got {type(condition).__name__}")
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be boolean, got dtype {condition.dtype} "
                        "(compare it, e.g. x > 0, or cast it with .astype(bool))")
    dev = condition.device
    if input is None and other is None:
        return tuple(Tensor(i) for i in dev.xp.nonzero(condition.array))
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither")
    for t in (input, other):
        if isinstance(t, Tensor) and t.device is not dev:
            raise RuntimeError(f"where: condition is on {dev} but a value is on {t.device}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):   # two numbers
        return Tensor(dev.xp.where(condition.array, input, other))
    return Where(condition.array)(input, other)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def sqrt(x):
    return Sqrt()(x)


def abs(x):  # noqa: A001
    return Abs()(x)


def clip(x, lo=None, hi=None):
    if lo is None and hi is None:
        raise ValueError("clip: give at least one of min and max")
    return Clip(lo, hi)(x)


def clamp(x, min=None, max=None):  # noqa: A002 (PyTorch's names)
    """PyTorch's clamp: ``clip`` for number bounds; a Tensor bound is an elementwise
    ``maximum`` / ``minimum`` (broadcast, differentiable in both)."""
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        y = x if min is None else maximum(x, min)
        return y if max is None else minimum(y, max)
    return clip(x, min, max)
