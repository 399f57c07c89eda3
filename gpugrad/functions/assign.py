"""Writes of values into a tensor, in place: ``t[index] = v`` (``Tensor.__setitem__``), ``fill_``,
``zero_``, ``copy_``, ``uniform_``, ``normal_``, ``masked_fill_``, and their two ops: ``Fill``
(every element one value, or a value broadcast) and ``IndexPut`` (values at an index).

They follow the rules of :mod:`.inplace` (which they run on): outside autograd a plain write
into the array; recorded, differentiable in the value written (and giving zeros to the values
written over), as PyTorch's fill_, copy_ and index_put_.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Op
from ..tensor import Tensor, wrap
from .broadcast import sum_to
from .inplace import inplace, operand, plain, record, records
from .shape import GetItem, check_index_device, raw_index, to_device

__all__ = ["Fill", "IndexPut", "setitem", "fill_", "zero_", "copy_", "uniform_", "normal_",
           "masked_fill_"]


class Fill(Op):
    """y = a value broadcast to x's shape, in x's dtype (x gives only its shape and dtype):
    dx = 0, d value = dy summed to the value's shape. The value is a constant (a number or an
    array, ``Fill(value)``) or a second input (``Fill()(x, v)``)."""

    def __init__(self, value=None):
        self.value = value

    def forward(self, x, v=None):
        value = self.value if v is None else v
        self.v_meta = (np.shape(value), getattr(value, "dtype", None))
        y = backend.array_module(x).empty_like(x)
        try:
            y[...] = value
        except ValueError:
            raise ValueError(f"fill: a value of shape {np.shape(value)} cannot be broadcast to "
                             f"the shape {tuple(x.shape)}") from None
        return y

    def backward(self, gy):
        need = self.needs_input_grad
        gx = Fill(0).apply(gy) if need[0] else None
        if len(need) < 2:
            return gx
        gv = None
        if need[1]:
            shape, dtype = self.v_meta
            gv = sum_to(gy, shape)
            gv = gv if gv.dtype == dtype else gv.astype(dtype)
        return gx, gv


class IndexPut(Op):
    """y = x with y[index] = v (v broadcast to the indexed places; where an advanced index
    repeats a place, the last write wins): dx = dy with dy[index] = 0, dv = dy[index] summed
    to v's shape. ``in_place=True`` writes into x's own array (``t[index] = v`` on a tensor
    autograd follows: nothing is saved, so nothing is copied)."""

    def __init__(self, index, in_place=False):
        self.index, self.in_place = index, in_place

    def forward(self, x, v):
        self.v_meta = (np.shape(v), getattr(v, "dtype", None))
        y = x if self.in_place else x.copy()
        _assign(y, self.index, v)
        return y

    def backward(self, gy):
        need_x, need_v = self.needs_input_grad
        gx = IndexPut(self.index).apply(gy, 0) if need_x else None
        gv = None
        if need_v:
            shape, dtype = self.v_meta
            gv = sum_to(GetItem(self.index).apply(gy), shape)
            gv = gv if gv.dtype == dtype else gv.astype(dtype)
        return gx, gv


def _assign(array, index, value):
    """``array[index] = value``, its errors naming the shapes."""
    try:
        array[index] = value
    except IndexError as exc:
        raise IndexError(f"setitem: index {index!r} is invalid for a tensor of shape "
                         f"{tuple(array.shape)}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"setitem: a value of shape {np.shape(value)} cannot be assigned to "
                         f"index {index!r} of a tensor of shape {tuple(array.shape)}: {exc}") from None


def fill_(self, value, name="fill_"):
    """Every element set to ``value`` (a number, or a 0-d tensor: then differentiable in it)."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"{name}: the value must be a number or a 0-d tensor, got a tensor of "
                         f"shape {value.shape} (use copy_ to copy a tensor in)")
    v = operand(self, name, value)

    def write(a):
        a[...] = v

    if isinstance(value, Tensor):
        return inplace(self, name, (value,), write, lambda old: Fill()(old, value))
    return inplace(self, name, (), write, lambda old: Fill(v)(old))


def zero_(self):
    """Every element set to 0."""
    return fill_(self, 0, "zero_")


def copy_(self, src):
    """``src``'s values written into this tensor: broadcast to its shape, cast to its dtype and
    moved to its device (differentiable in ``src``)."""
    if not isinstance(src, Tensor):
        if not backend.is_array(src):
            raise TypeError(f"copy_: expected a Tensor or an array, got {type(src).__name__}")
        src = wrap(src, backend.device_of(src))
    if src.device is not self.device:
        src = to_device(src, self.device)
    _broadcastable("copy_", src.shape, self.shape)

    def write(a):
        a[...] = src.array

    return inplace(self, "copy_", (src,), write, lambda old: Fill()(old, src))


def _broadcastable(name, shape, target):
    try:
        ok = np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: a value of shape {tuple(shape)} cannot be broadcast to the "
                         f"tensor's shape {tuple(target)}")


def _random_fill(self, name, draw):
    if self.dtype.kind != "f":
        raise TypeError(f"{name} fills a floating-point tensor, got dtype {self.dtype}")
    values = backend.to_device(draw(backend.cpu_generator()).astype(self.dtype), self.device)

    def write(a):
        a[...] = values

    return inplace(self, name, (), write, lambda old: Fill(values)(old))


def uniform_(self, a=0.0, b=1.0):
    """Every element drawn from U(a, b) (gpugrad's seeded generator, as ``nn.init``)."""
    return _random_fill(self, "uniform_", lambda g: g.uniform(a, b, size=self.shape))


def normal_(self, mean=0.0, std=1.0):
    """Every element drawn from N(mean, std²) (gpugrad's seeded generator, as ``nn.init``)."""
    return _random_fill(self, "normal_", lambda g: g.normal(mean, std, size=self.shape))


def setitem(self, index, value):
    """``self[index] = value`` (bound as ``Tensor.__setitem__``): value broadcast to the indexed
    places and cast to this tensor's dtype; differentiable in both, as PyTorch's index_put_."""
    index = raw_index(index)
    check_index_device(self, index)
    v = operand(self, "setitem", value)
    if records(self, "setitem", (value,)):
        given = value if isinstance(value, Tensor) else v
        return record(self, "setitem", lambda old: IndexPut(index, in_place=True)(old, given),
                      copy=False)
    return plain(self, "setitem", lambda a: _assign(a, index, v))


def masked_fill_(self, mask, value):
    """Elements where ``mask`` (a boolean tensor broadcast to this one's shape) is true set to
    ``value`` (a number or a 0-d tensor)."""
    if not isinstance(mask, Tensor) or mask.dtype != np.bool_:
        raise TypeError(f"masked_fill_: the mask must be a boolean tensor, got "
                        f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"masked_fill_: the value must be a number or a 0-d tensor, got shape "
                         f"{value.shape}")
    _broadcastable("masked_fill_", mask.shape, self.shape)
    full = backend.array_module(mask.array).broadcast_to(mask.array, self.shape)
    return setitem(self, full, value)
