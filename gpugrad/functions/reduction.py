"""Reductions over NumPy-style ``axis`` / ``keepdims`` (PyTorch's ``dim`` / ``keepdim`` accepted
too): sum, mean, max, min, var, std, logsumexp, norm; the running sum cumsum; and argmax, argmin,
any, all, which carry no gradient.

Sum copies the upstream gradient back to every summed element; the max gate *routes* it to
the element that won (split evenly between ties), as in the notes. The others are written from
their inputs and outputs (``d logsumexp = dy e^(x - y)``, ``d ||x|| = dy x / ||x||``), so their
gradients are differentiable again.
"""
from __future__ import annotations

import builtins
import math
import warnings

import numpy as np

from .. import backend
from ..autograd import Op, array_of
from ..tensor import wrap
from .arithmetic import Abs, Exp
from .arrange import Flip
from .axes import axis_arg, keepdims_arg, keepdims_shape, reduction_axes
from .broadcast import broadcast_to
from .promotion import as_floating
from .selection import along_dim

__all__ = ["sum", "mean", "max", "min", "amax", "amin", "var", "std", "logsumexp", "norm",
           "cumsum", "any", "all"]


class _Reduction(Op):
    """A reduction over ``axis`` (None: all), keeping the reduced axes as length 1 or not."""

    name = "reduction"

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def _setup(self, x):
        self.axes = reduction_axes(self.axis, x.ndim, x.shape, self.name)
        self.x_shape = x.shape
        self.n = math.prod(x.shape[a] for a in self.axes)

    def _kept(self, g):
        """``g`` (shaped like the result) with the reduced axes back as length 1."""
        return g.reshape(keepdims_shape(self.x_shape, self.axes))


class Sum(_Reduction):
    """y = Σ x over axes: dx = dy broadcast back to x's shape."""

    name = "sum"

    def forward(self, x):
        self._setup(x)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return broadcast_to(self._kept(gy), self.x_shape)


class Mean(_Reduction):
    """y = (1/n) Σ x over axes: dx = dy / n, broadcast back. Integer and bool tensors give the
    default float dtype, as ``/`` does (NumPy's mean would give float64)."""

    name = "mean"

    def forward(self, x):
        self._setup(x)
        if self.n == 0:
            raise ValueError(f"mean: the mean over an empty axis of a tensor of shape "
                             f"{tuple(x.shape)} is undefined")
        return as_floating(x).mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return broadcast_to(self._kept(gy / self.n), self.x_shape)


class _Extremum(_Reduction):
    """y = max (or min) of x over axes. The max gate routes dy to the winning element."""

    reducer = None

    def forward(self, x):
        self._setup(x)
        if x.size == 0 and builtins.any(x.shape[a] == 0 for a in self.axes):
            raise ValueError(f"{self.reducer}: a reduction over an empty axis of a tensor of shape "
                             f"{tuple(x.shape)} has no identity (axes {self.axes})")
        y = getattr(x, self.reducer)(axis=self.axes, keepdims=True)
        self.save_for_backward(x, y)
        return y if self.keepdims else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in self.axes))

    def backward(self, gy):
        x, y = (array_of(v) for v in self.saved)
        winners = x == y
        ties = winners.sum(axis=self.axes, keepdims=True, dtype=gy.dtype)  # not int64: gy / ties
        gy = gy.reshape(y.shape)                                            # stays in gy's dtype
        return (gy / ties) * winners   # the gradient first: it may be a Tensor


class Max(_Extremum):
    name = reducer = "max"


class Min(_Extremum):
    name = reducer = "min"


class Var(_Reduction):
    """y = Σ (x - mean x)² / (n - correction) over axes: dx = dy * 2 (x - mean x) / (n - correction)."""

    name = "var"

    def __init__(self, axis, keepdims, correction, name="var"):
        super().__init__(axis, keepdims)
        self.correction = correction
        self.name = name   # what errors and warnings call it: var, or std (√ of this op)

    def forward(self, x):
        self._setup(x)
        self.dof = builtins.max(self.n - self.correction, 0)
        if self.dof == 0:
            warnings.warn(f"{self.name}: degrees of freedom is <= 0 ({self.n} values, correction "
                          f"{self.correction}): the result is inf or nan", RuntimeWarning, stacklevel=4)
        self.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):   # no values: NaN, as PyTorch
            xc = x - x.sum(axis=self.axes, keepdims=True) / x.dtype.type(self.n)
            xc *= xc
            return xc.sum(axis=self.axes, keepdims=self.keepdims) / x.dtype.type(self.dof)

    def backward(self, gy):
        x, = self.saved
        centred = x - x.sum(axis=self.axes, keepdims=True) / self.n
        return (self._kept(gy) * (2.0 / self.dof if self.dof else math.inf)) * centred


class LogSumExp(_Reduction):
    """y = log Σ e^x over axes (shifted by the max, so large x neither overflows nor loses
    precision): dx = dy e^(x - y), from the saved input and output."""

    name = "logsumexp"

    def forward(self, x):
        self._setup(x)
        xp = backend.array_module(x)
        m = x.max(axis=self.axes, keepdims=True) if x.size else xp.zeros(keepdims_shape(x.shape, self.axes), x.dtype)
        m = xp.where(xp.isfinite(m), m, 0)      # all -inf (or an inf) along an axis: no shift
        with np.errstate(divide="ignore"):
            y = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        y = y if self.keepdims else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in self.axes))
        self.save_for_backward(x, y)
        return y

    def backward(self, gy):
        x, y = self.saved
        return self._kept(gy) * Exp().apply(x - self._kept(y))


class Norm(_Reduction):
    """The vector p-norm over axes, y = (Σ |x|^p)^(1/p) (p = inf: max |x|, p = 0: the count of
    non-zeros). dx = dy x / y for p = 2, dy sign(x) for p = 1, dy sign(x) |x|^(p-1) / y^(p-1)
    otherwise, dy routed to the largest |x| (split between ties) for p = ±inf; 0 where y = 0,
    as in PyTorch."""

    name = "norm"

    def __init__(self, axis, keepdims, p):
        super().__init__(axis, keepdims)
        self.p = p

    def forward(self, x):
        self._setup(x)
        xp, p, axes = backend.array_module(x), self.p, self.axes
        if p == 2:
            y = xp.sqrt((x * x).sum(axis=axes, keepdims=self.keepdims))
        elif p == 0:
            y = (x != 0).sum(axis=axes, keepdims=self.keepdims).astype(x.dtype)
        elif math.isinf(p):
            if x.size == 0:
                raise ValueError(f"norm: p={p} of an empty tensor of shape {tuple(x.shape)}")
            a = xp.abs(x)
            y = a.max(axis=axes, keepdims=self.keepdims) if p > 0 else a.min(axis=axes, keepdims=self.keepdims)
        elif p == 1:
            y = xp.abs(x).sum(axis=axes, keepdims=self.keepdims)
        else:
            y = (xp.abs(x) ** p).sum(axis=axes, keepdims=self.keepdims) ** (1.0 / p)
        self.save_for_backward(x, y)
        return y

    def backward(self, gy):
        x, y = self.saved
        p, gy, y = self.p, self._kept(gy), self._kept(y)
        xa = array_of(x)
        xp = backend.array_module(xa)
        if p == 0:
            return gy * xp.zeros(xa.shape, xa.dtype)
        if p == 1:
            return gy * xp.sign(xa)
        ya = array_of(y)
        if math.isinf(p):
            winners = xp.abs(xa) == ya
            return gy * (xp.sign(xa) * winners / winners.sum(axis=self.axes, keepdims=True, dtype=xa.dtype))
        safe_y = y + (ya == 0)                  # 1 where the norm is 0: there x is all 0
        if p == 2:
            return (gy / safe_y) * x
        safe_abs = Abs().apply(x) + (xa == 0)   # keeps 0^(p-1) out of the formula for p < 1
        return (gy / safe_y ** (p - 1)) * safe_abs ** (p - 1) * xp.sign(xa)


class Cumsum(Op):
    """y_i = Σ_{j<=i} x_j along ``axis``: dx is the reversed running sum of dy,
    flip(cumsum(flip(dy)))."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return backend.array_module(x).cumsum(x, axis=self.axis)

    def backward(self, gy):
        axes = (self.axis,)
        return Flip(axes).apply(Cumsum(self.axis).apply(Flip(axes).apply(gy)))


def _reduce(cls, name, x, axis, keepdims, dim, keepdim, *args):
    return cls(axis_arg(name, axis, dim), keepdims_arg(name, keepdims, keepdim), *args)(x)


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001
    if dim is None and keepdim is None:
        return Sum(axis, keepdims)(x)
    return _reduce(Sum, "sum", x, axis, keepdims, dim, keepdim)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    return _reduce(Mean, "mean", x, axis, keepdims, dim, keepdim)


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001
    """The largest values over ``axis`` (NumPy's: every axis for None; a tie shares the
    gradient, as ``amax``). With PyTorch's ``dim=`` keyword, PyTorch's ``max(dim)``: a
    ``(values, indices)`` pair, the gradient going to the index returned (the first of a tie)."""
    if dim is not None:
        return along_dim("max", x, axis, dim, keepdims, keepdim)
    return _reduce(Max, "max", x, axis, keepdims, dim, keepdim)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001
    """The smallest values, as :func:`max`."""
    if dim is not None:
        return along_dim("min", x, axis, dim, keepdims, keepdim)
    return _reduce(Min, "min", x, axis, keepdims, dim, keepdim)


def amax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """PyTorch's ``amax``: the largest values over ``axis``/``dim`` (an int or a tuple), a tie
    sharing the gradient evenly."""
    return _reduce(Max, "amax", x, axis, keepdims, dim, keepdim)


def amin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """PyTorch's ``amin``, as :func:`amax`."""
    return _reduce(Min, "amin", x, axis, keepdims, dim, keepdim)


def _correction(op, correction, unbiased, ddof):
    given = [(k, v) for k, v in (("correction", correction), ("unbiased", unbiased),
                                 ("ddof", ddof)) if v is not None]
    if len(given) > 1:
        raise TypeError(f"{op}: give one of correction, unbiased and ddof, got {dict(given)}")
    if not given:
        return 1
    name, value = given[0]
    if name == "unbiased":
        return 1 if value else 0
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    return value


def _floating(op, x):
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating-point tensor, got dtype {x.dtype}")
    return x


def var(x, axis=None, *, correction=None, keepdims=False, dim=None, keepdim=None,
        unbiased=None, ddof=None):
    """The variance over ``axis``: Σ (x - mean)² / (n - correction). ``correction=1`` (the
    default, PyTorch's) is the unbiased estimate; ``unbiased=False`` or NumPy's ``ddof=0``
    say correction 0."""
    return _variance("var", x, axis, correction, keepdims, dim, keepdim, unbiased, ddof)


def std(x, axis=None, *, correction=None, keepdims=False, dim=None, keepdim=None,
        unbiased=None, ddof=None):
    """The standard deviation over ``axis``: √var (same arguments as :func:`var`)."""
    return _variance("std", x, axis, correction, keepdims, dim, keepdim, unbiased, ddof).sqrt()


def _variance(op, x, axis, correction, keepdims, dim, keepdim, unbiased, ddof):
    return _reduce(Var, op, _floating(op, x), axis, keepdims, dim, keepdim,
                   _correction(op, correction, unbiased, ddof), op)


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """log Σ e^x over ``axis`` (all axes for None), computed without overflow."""
    return _reduce(LogSumExp, "logsumexp", _floating("logsumexp", x), axis, keepdims, dim, keepdim)


def norm(x, p="fro", axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The vector p-norm of x over ``axis`` (all elements for None), as ``torch.norm`` /
    ``torch.linalg.vector_norm``: ``p`` a number > 0, 0 (the count of non-zeros), ``inf``,
    ``-inf``, or ``'fro'`` (= 2)."""
    if p == "fro":
        p = 2
    if isinstance(p, str) or isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ValueError(f"norm: p must be a number, inf or 'fro', got {p!r} (the nuclear and "
                         f"matrix norms are not implemented)")
    if p < 0 and not math.isinf(p):
        raise ValueError(f"norm: p must be >= 0, inf or -inf, got {p}")
    return _reduce(Norm, "norm", _floating("norm", x), axis, keepdims, dim, keepdim, float(p))


def cumsum(x, axis=None, *, dim=None, dtype=None):
    """The running sum along ``axis`` (of the flattened tensor for None, as NumPy)."""
    axis = axis_arg("cumsum", axis, dim)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axes = reduction_axes(axis, x.ndim, x.shape, "cumsum")
    if x.ndim == 0:   # PyTorch: a 0-d tensor's running sum along dim 0 / -1 is itself
        return cumsum(x.reshape(1), 0, dtype=dtype).reshape(())
    axis = axes[0]
    if dtype is not None:
        x = x.astype(dtype)
    if x.dtype.kind not in "f":        # integer running sums (counts, offsets): no gradient
        return wrap(x.device.xp.cumsum(x.array, axis=axis), x.device)
    return Cumsum(axis)(x)


# --------------------------------------------------------------------------- no gradient

def any(x):  # noqa: A001
    return wrap(x.device.xp.asarray(x.array.any()), x.device)


def all(x):  # noqa: A001
    return wrap(x.device.xp.asarray(x.array.all()), x.device)
