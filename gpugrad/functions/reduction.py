"""Reductions: sum, mean, max, min over NumPy-style ``axis`` / ``keepdims``; and argmax, argmin,
any, all, which carry no gradient.

Sum copies the upstream gradient back to every summed element; the max gate *routes* it to
the element that won (split evenly between ties), as in the notes.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..autograd import Op, array_of
from ..tensor import wrap
from .broadcast import broadcast_to

__all__ = ["sum", "mean", "max", "min", "argmax", "argmin", "any", "all"]


def _axes(axis, ndim, shape, op):
    """Normalise ``axis`` to a sorted tuple of non-negative ints (None -> all axes). A 0-d
    tensor takes 0 and -1 (and reduces nothing), as in PyTorch. TypeError naming ``op`` for an
    axis that is not an int, IndexError for one out of range, ValueError for a repeat."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = tuple(axis)
    else:
        axes = (axis,)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op}: an axis must be an int or a tuple of ints, got {axis!r}")
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
            raise IndexError(f"{op}: axis {a} is out of range for a tensor of shape {tuple(shape)}")
        out.append(int(a) % ndim if ndim else None)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(a for a in out if a is not None))


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Op):
    """y = Σ x over axes: dx = dy broadcast back to x's shape."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes(self.axis, x.ndim, x.shape, "sum")
        self.x_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return broadcast_to(gy.reshape(_keepdims_shape(self.x_shape, self.axes)), self.x_shape)


class Mean(Op):
    """y = (1/n) Σ x over axes: dx = dy / n, broadcast back."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes(self.axis, x.ndim, x.shape, "mean")
        self.x_shape = x.shape
        n = 1
        for a in self.axes:
            n *= x.shape[a]
        if n == 0:
            raise ValueError(f"mean: the mean over an empty axis of a tensor of shape {tuple(x.shape)} "
                             "is undefined")
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
        self.axes = _axes(self.axis, x.ndim, x.shape, self.reducer)
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
    if axis is not None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{name}: the axis must be an int or None, got {axis!r}")
        if not -builtins.max(x.ndim, 1) <= axis < builtins.max(x.ndim, 1):
            raise IndexError(f"{name}: axis {axis} is out of range for a tensor of shape {x.shape}")
        if x.ndim == 0:
            axis = None
    if x.array.size == 0 and (axis is None or x.shape[axis] == 0):
        raise ValueError(f"{name}: an empty axis has no {name[3:]}imum (tensor of shape {x.shape})")
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
