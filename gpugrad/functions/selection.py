"""Selecting: ``where`` (elementwise, by a boolean condition), and gathering along an axis: ``gather`` (PyTorch: the index may be shorter than the input off
the axis) and ``take_along_axis`` / ``take_along_dim`` (NumPy: the two broadcast). Their
gradient puts each output's gradient back where it was taken from, adding where an index picks
an element twice: a scatter-add, deterministic on the GPU too (``kernels.index_add_rows``).
"""
from __future__ import annotations

import builtins
import math
from typing import NamedTuple

import numpy as np

from .. import backend, kernels
from ..autograd import Op
from ..tensor import Tensor, wrap
from .arithmetic import _Binary, _broadcasting
from .axes import axis_arg, keepdims_arg
from .shape import normalize_axis

__all__ = ["where", "gather", "take_along_axis", "take_along_dim", "index_bounds", "check_index",
           "argmax", "argmin", "along_dim", "ValuesIndices"]


class Where(_Binary):
    """z = a where cond else b (cond a constant boolean array, all three broadcast): the select
    gate routes dz to the input that was picked, da = dz where cond, db = dz where not cond."""

    def __init__(self, cond):
        self.cond = cond

    name = "where"

    def forward(self, a, b):
        a, b = self._operands(a, b)
        xp = backend.array_module(self.cond)
        return _broadcasting("where", lambda a, b: xp.where(self.cond, a, b), a, b)

    def backward(self, gz):
        need_a, need_b = self.needs_input_grad
        return self._grads(Where(self.cond).apply(gz, 0.0) if need_a else None,
                           Where(self.cond).apply(0.0, gz) if need_b else None)


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



def index_bounds(index):
    """``(lo, hi)``, the smallest and largest value of the integer Tensor ``index``: its
    ``value_bounds`` when they are known (no read), else read from the values (free on the
    CPU, one host synchronisation on a GPU); None for an empty tensor."""
    if not index.array.size:
        return None
    bounds = index.value_bounds
    if bounds is not None:
        return bounds
    return int(index.array.min()), int(index.array.max())


def check_index(op, index, size, what="index", negative=False):
    """Raise naming ``op`` unless the integer Tensor ``index`` lies in [0, size) (in
    [-size, size) with ``negative``). Returns the bounds (see :func:`index_bounds`)."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}: {what} must be an integer Tensor, got {type(index).__name__}")
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: {what} must be integers, got dtype {index.dtype}")
    bounds = index_bounds(index)
    if bounds is not None:
        lo, hi = bounds
        if hi >= size or lo < (-size if negative else 0):
            bad = hi if hi >= size else lo
            allowed = f"[{-size}, {size})" if negative else f"[0, {size})"
            raise IndexError(f"{op}: {what} {bad} is out of range for a dimension of size {size} "
                             f"(must be in {allowed})")
    return bounds


class Gather(Op):
    """y = x taken along ``axis`` at ``index`` (``take_along_axis``), x cut to the index's
    length off the axis first when ``cut`` (PyTorch's gather). dx = dy added back where it was
    taken from (GatherBackward)."""

    def __init__(self, axis, index, cut):
        self.axis, self.index, self.cut = axis, index, cut

    def forward(self, x):
        self.x_shape = x.shape
        if self.cut:
            x = x[tuple(slice(None) if d == self.axis else slice(0, s)
                        for d, s in enumerate(self.index.shape))]
        return backend.array_module(x).take_along_axis(x, self.index, axis=self.axis)

    def backward(self, gy):
        return GatherBackward(self.axis, self.index, self.cut, self.x_shape).apply(gy)


class GatherBackward(Op):
    """The gradient of a gather: zeros of x's shape with dy added at the gathered places (a
    deterministic scatter-add). Linear in dy: d dy = the gather of d dx (Gather again)."""

    def __init__(self, axis, index, cut, x_shape):
        self.axis, self.index, self.cut, self.x_shape = axis, index, cut, x_shape

    def forward(self, gy):
        places = _flat_places(self.index, self.axis, gy.shape, self.x_shape)
        gx = kernels.index_add_rows(places, gy.reshape(-1, 1), math.prod(self.x_shape))
        return gx.reshape(self.x_shape)

    def backward(self, ggx):
        return Gather(self.axis, self.index, self.cut).apply(ggx)


def _flat_places(index, axis, out_shape, x_shape):
    """For every element of a gather's output (of ``out_shape``), the flat position in x it
    came from: ``index`` along the axis, its own coordinate off it (0 where x has length 1
    and was broadcast)."""
    xp = backend.array_module(index)
    ndim = len(x_shape)
    strides = [math.prod(x_shape[d + 1:]) for d in range(ndim)]
    places = xp.broadcast_to(index.astype(np.int64) * strides[axis], out_shape)
    for d in range(ndim):
        if d != axis and x_shape[d] != 1 and out_shape[d] > 1:
            coord = xp.arange(out_shape[d], dtype=np.int64) * strides[d]
            places = places + coord.reshape((1,) * d + (-1,) + (1,) * (ndim - d - 1))
    return xp.ascontiguousarray(xp.broadcast_to(places, out_shape)).reshape(-1)


def _gather(op, x, axis, index, cut):
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}: index must be an integer Tensor, got {type(index).__name__}")
    if index.device is not x.device:
        raise RuntimeError(f"{op}: input is on {x.device} but index is on {index.device}")
    if index.ndim != x.ndim:
        raise ValueError(f"{op}: index of shape {index.shape} needs as many dimensions as the "
                         f"input of shape {x.shape}")
    axis = normalize_axis(axis, x.ndim, op)
    n = x.shape[axis] if x.ndim else 1
    lo = (check_index(op, index, n, negative=not cut) or (0, 0))[0]
    raw = index.array
    if lo < 0:                                  # NumPy's negative indices count from the end
        raw = x.device.xp.where(raw < 0, raw + n, raw)
    for d, (xs, s) in enumerate(zip(x.shape, index.shape)):
        fits = s <= xs if cut else (s == xs or s == 1 or xs == 1)
        if d != axis and not fits:
            rule = ("no longer than the input off dimension {dim}" if cut else
                    "broadcast with the input off dimension {dim}")
            raise ValueError(f"{op}: index of shape {index.shape} must be "
                             f"{rule.format(dim=axis)}; input of shape {x.shape}")
    if x.ndim == 0:
        return x.clone()
    return Gather(axis, raw, cut)(x)


def gather(input, dim=None, index=None, *, axis=None):  # noqa: A002 (PyTorch's names)
    """PyTorch's gather: ``out[i][j] = input[index[i][j]][j]`` for dim 0 (and so on): index has
    the input's dimensions, each no longer than the input's off ``dim`` (or ``axis``)."""
    dim = axis_arg("gather", axis, dim)
    if dim is None or index is None:
        raise TypeError("gather: give dim (or axis) and index")
    return _gather("gather", input, dim, index, cut=True)


def take_along_axis(arr, indices, axis=None, *, dim=None):
    """NumPy's take_along_axis: values of ``arr`` at ``indices`` along ``axis`` (PyTorch's
    ``dim``; None: of the flattened tensor), the two broadcast together off the axis; negative
    indices count from the end."""
    axis = axis_arg("take_along_axis", axis, dim)
    if axis is None and isinstance(indices, Tensor):
        return _gather("take_along_axis", arr.reshape(-1), 0, indices.reshape(-1), cut=False)
    return _gather("take_along_axis", arr, axis, indices, cut=False)


def take_along_dim(input, indices, dim=None):  # noqa: A002
    """PyTorch's name of :func:`take_along_axis`."""
    return take_along_axis(input, indices, dim)


class ValuesIndices(NamedTuple):
    """What ``max(dim=)`` and ``min(dim=)`` return, as ``torch.return_types.max``."""
    values: Tensor
    indices: Tensor


def along_dim(name, x, axis, dim, keepdims, keepdim):
    """PyTorch's ``max(dim=)`` / ``min(dim=)`` (``name``): the values and their indices along
    one dim, the values gathered at the indices so the gradient goes to that element alone."""
    axis = axis_arg(name, axis, dim)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: dim must be an int, got {axis!r} (a{name} reduces over several)")
    keepdim = keepdims_arg(name, keepdims, keepdim)
    axis = normalize_axis(axis, x.ndim, name)
    if x.ndim == 0:
        return ValuesIndices(x * 1, wrap(x.device.xp.zeros((), np.int64), x.device))
    if x.shape[axis] == 0:
        raise ValueError(f"{name}: dimension {axis} of a tensor of shape {x.shape} is empty: "
                         f"there is no {name}imum along it")
    indices = _index_reduction(f"arg{name}", x, axis, True, None, None)
    values = take_along_axis(x, indices, axis)   # the gradient goes to that index alone
    if not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return ValuesIndices(values, indices)


def _index_reduction(name, x, axis, keepdims, dim, keepdim):
    axis = axis_arg(name, axis, dim)
    keepdims = keepdims_arg(name, keepdims, keepdim)
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


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Indices of the largest values along ``axis`` (of the flattened tensor for None)."""
    return _index_reduction("argmax", x, axis, keepdims, dim, keepdim)


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Indices of the smallest values along ``axis`` (of the flattened tensor for None)."""
    return _index_reduction("argmin", x, axis, keepdims, dim, keepdim)
