"""Reductions: sum, mean, max, min over NumPy-style ``axis`` / ``keepdims``; and argmax, argmin,
any, all, which carry no gradient.

Sum copies the upstream gradient back to every summed element; the max gate *routes* it to
the element that won (split evenly between ties), as in the notes.
"""
from __future__ import annotations

import builtins

from ..autograd import Op, array_of
from ..tensor import wrap
from .broadcast import broadcast_to

__all__ = ["sum", "mean", "max", "min", "argmax", "argmin", "any", "all"]


def _axes(axis, ndim, shape):
    """Normalise ``axis`` to a sorted tuple of non-negative ints (None -> all axes)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of shape {tuple(shape)}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(out))


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Op):
    """y = Σ x over axes: dx = dy broadcast back to x's shape."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes(self.axis, x.ndim, x.shape)
        self.x_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return broadcast_to(gy.reshape(_keepdims_shape(self.x_shape, self.axes)), self.x_shape)


class Mean(Op):
    """y = (1/n) Σ x over axes: dx = dy / n, broadcast back."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes(self.axis, x.ndim, x.shape)
        self.x_shape = x.shape
        n = 1
        for a in self.axes:
            n *= x.shape[a]
        if n == 0:
            raise ValueError(f"mean over an empty axis of a tensor of shape {tuple(x.shape)}")
        self.n = n
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return broadcast_to((gy / self.n).reshape(_keepdims_shape(self.x_shape, self.axes)),
                            self.x_shape)


class _Extremum(Op):
    """y = max (or min) of x over axes. The max gate routes dy to the winning element."""

    reducer = None

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.reducer} of an empty tensor of shape {tuple(x.shape)}")
        self.axes = _axes(self.axis, x.ndim, x.shape)
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
    reducer = "max"


class Min(_Extremum):
    reducer = "min"


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    return Mean(axis, keepdims)(x)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max(axis, keepdims)(x)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return Min(axis, keepdims)(x)


# --------------------------------------------------------------------------- no gradient

def _index_reduction(name, x, axis, keepdims):
    xp = x.device.xp
    out = getattr(xp, name)(x.array, axis=axis)
    if keepdims and axis is not None:
        out = xp.expand_dims(out, axis)
    return wrap(out, x.device)


def argmax(x, axis=None, keepdims=False):
    """Indices of the largest values along ``axis`` (of the flattened tensor for None)."""
    return _index_reduction("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Indices of the smallest values along ``axis`` (of the flattened tensor for None)."""
    return _index_reduction("argmin", x, axis, keepdims)


def any(x):  # noqa: A001
    return wrap(x.device.xp.asarray(x.array.any()), x.device)


def all(x):  # noqa: A001
    return wrap(x.device.xp.asarray(x.array.all()), x.device)
