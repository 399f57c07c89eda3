"""Shape and placement ops: reshape, transpose, indexing, concatenate, stack, casts, moves, clone.

None of them does arithmetic, so each backward only puts the upstream gradient back where the
input's elements came from.

Views: a reshape, transpose or basic index whose result shares its input's memory (as NumPy
and CuPy make it where they can, and PyTorch's views do) shares the input's version counter,
so an in-place write through either is seen by every graph node that saved the other, and
remembers its root base and how it was made from it (``Tensor.view_source``), so that an in-place op
can refuse it or it can take its history again after an in-place op on the base (see
:mod:`.inplace`).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Op
from ..creation import size_args
from ..tensor import Tensor, bounds_in_dtype, wrap
from .promotion import result_dtype

__all__ = ["reshape", "transpose", "permute", "swap_axes", "flatten", "unflatten", "getitem", "concatenate", "cat", "stack", "astype", "to_device",
           "normalize_axis", "clone", "raw_index", "check_index_device"]


class Reshape(Op):
    """y = x viewed with a new shape: dx = dy reshaped back."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} "
                             f"({x.size} elements) into shape {tuple(self.shape)}") from None

    def backward(self, gy):
        return gy.reshape(self.x_shape)


class Transpose(Op):
    """y = x with its axes permuted: dx = dy permuted back (axes=None reverses them)."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        if self.axes is not None and sorted(a % max(x.ndim, 1) for a in self.axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {self.axes} are not a permutation of the axes of shape {tuple(x.shape)}")
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        return Transpose(tuple(int(a) for a in np.argsort([a % gy.ndim for a in self.axes]))).apply(gy)


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(backend.is_array(p) or isinstance(p, (list, np.ndarray)) for p in parts)


class GetItem(Op):
    """y = x[index]: dx is zeros with dy scattered back into the indexed places
    (summed where an advanced index picks the same element twice)."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        try:
            y = x[self.index]
        except IndexError as exc:
            raise IndexError(f"index {self.index!r} is invalid for a tensor of shape {tuple(x.shape)}: {exc}") from None
        if isinstance(y, np.generic):   # NumPy's scalar copy of one element: a 0-d view instead
            y = x[(self.index if isinstance(self.index, tuple) else (self.index,)) + (Ellipsis,)]
        return y

    def backward(self, gy):
        return GetItemBackward(self.index, self.x_shape).apply(gy)


class GetItemBackward(Op):
    """The gradient of ``x[index]``: zeros of x's shape with y scattered into the indexed places
    (summed where an advanced index picks an element twice). Linear in y: dy = dx[index]."""

    def __init__(self, index, x_shape):
        self.index, self.x_shape = index, x_shape

    def forward(self, y):
        xp = backend.array_module(y)
        gx = xp.zeros(self.x_shape, dtype=y.dtype)
        if _is_advanced(self.index):
            xp.add.at(gx, self.index, y)
        else:
            gx[self.index] = y
        return gx

    def backward(self, ggx):
        return GetItem(self.index).apply(ggx)


class Concatenate(Op):
    """y = concatenate(xs, axis): each dx is its slice of dy."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.array_module(xs[0])
        try:
            y = xp.concatenate(xs, axis=self.axis)
        except ValueError:
            raise ValueError(f"concatenate along axis {self.axis}: shapes "
                             f"{[tuple(x.shape) for x in xs]} do not match off that axis") from None
        self.sizes = [x.shape[self.axis] for x in xs]
        return y

    def backward(self, gy):
        axis = self.axis % gy.ndim
        ends = np.cumsum(self.sizes).tolist()
        return tuple(gy[(slice(None),) * axis + (slice(end - size, end),)]
                     for size, end in zip(self.sizes, ends))


class Stack(Op):
    """y = stack(xs, axis): each dx is its index of dy along the new axis."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.array_module(xs[0])
        try:
            return xp.stack(xs, axis=self.axis)
        except ValueError:
            raise ValueError(f"stack: shapes {[tuple(x.shape) for x in xs]} must all be equal") from None

    def backward(self, gy):
        axis = self.axis % gy.ndim
        return tuple(gy[(slice(None),) * axis + (i,)] for i in range(gy.shape[axis]))


class AsType(Op):
    """y = x cast to a floating dtype: dx = dy cast back."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.src)


class ToDevice(Op):
    """y = x copied to another device: dx = dy copied back."""

    def __init__(self, device):
        self.out_device = device

    def forward(self, x):
        self.src = backend.device_of(x)
        return backend.to_device(x, self.out_device)

    def backward(self, gy):
        return ToDevice(self.src).apply(gy)


class Clone(Op):
    """y = a copy of x in memory of its own: dx = dy."""

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def _keep_bounds(out, *sources):
    """An integer result holding a subset of its sources' values keeps their known bounds
    (``Tensor.value_bounds``), so labels moved, cast or batched stay checkable without a read."""
    if out.array.dtype.kind in "iu":
        known = [getattr(t, "value_bounds", None) for t in sources]
        if None not in known:
            out.value_bounds = (min(b[0] for b in known), max(b[1] for b in known))
    return out


def _owner(a):
    base = a.base
    return a if base is None else base


def _as_view(out, x, make):
    """``out``, made from ``x`` by ``make`` (a function of a tensor): when it shares ``x``'s
    memory, a view of it, sharing its version counter and knowing its root base and how to be
    made again from that (``Tensor.view_source``: base, function, the base's history when made)."""
    if _owner(out.array) is not _owner(x.array):
        return out
    out.share_version(x)
    source = x.view_source()
    if source is not None:        # a view of a view: made from the root, one step after another
        x, make = source[0], _compose(source[1], make)
    out.set_view_source(x, make)
    return out


def _compose(first, then):
    return lambda t: then(first(t))


def reshape(x, shape):
    shape = size_args("reshape", (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape), negative=True)
    return _as_view(_keep_bounds(Reshape(shape)(x), x), x, lambda t: reshape(t, shape))


def transpose(x, axes=None):
    """NumPy's transpose: ``axes`` a permutation of all the axes, None reverses them."""
    axes = None if axes is None else tuple(axes)
    return _as_view(_keep_bounds(Transpose(axes)(x), x), x, lambda t: transpose(t, axes))


def normalize_axis(axis, ndim, op):
    """``axis`` as an index in [0, ndim) by PyTorch's rule (a 0-d tensor takes 0 or -1);
    IndexError naming ``op`` when it is out of range."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: a dimension must be an int, got {type(axis).__name__}")
    n = max(ndim, 1)
    if not -n <= axis < n:
        raise IndexError(f"{op}: dimension {axis} is out of range for a tensor of {ndim} "
                         f"dimension(s) (expected one in [{-n}, {n - 1}])")
    return int(axis) % n


def permute(x, dims):
    """PyTorch's permute: axis i of the result is axis ``dims[i]`` of x (a view)."""
    dims = tuple(normalize_axis(d, x.ndim, "permute") for d in dims)
    if len(dims) != x.ndim or len(set(dims)) != len(dims):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} axes of a "
                         f"tensor of shape {x.shape}")
    return transpose(x, dims)


def swap_axes(x, dim0, dim1):
    """PyTorch's transpose(dim0, dim1): x with two axes swapped (a view)."""
    a, b = (normalize_axis(d, x.ndim, "transpose") for d in (dim0, dim1))
    order = list(range(x.ndim))
    if x.ndim:
        order[a], order[b] = b, a
    return transpose(x, order)


def flatten(x, start_dim=0, end_dim=-1):
    """PyTorch's flatten: axes start_dim..end_dim (inclusive) collapsed into one; a 0-d tensor
    becomes shape (1,)."""
    start = normalize_axis(start_dim, x.ndim, "flatten")
    end = normalize_axis(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor of shape {x.shape}")
    if x.ndim == 0:
        return reshape(x, (1,))
    dims = x.shape
    size = int(np.prod(dims[start:end + 1], dtype=np.int64))
    return reshape(x, dims[:start] + (size,) + dims[end + 1:])


def unflatten(x, dim, sizes):
    """PyTorch's unflatten: axis ``dim`` split into ``sizes`` (one of them may be -1)."""
    axis = normalize_axis(dim, x.ndim, "unflatten")
    sizes = size_args("unflatten", (sizes,) if isinstance(sizes, (int, np.integer)) else tuple(sizes), negative=True)
    if not sizes:
        raise ValueError("unflatten: sizes must not be empty")
    length = x.shape[axis] if x.ndim else 1
    known = int(np.prod([s for s in sizes if s != -1], dtype=np.int64))
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes) or (
            -1 not in sizes and known != length) or (-1 in sizes and (known == 0 or length % known)):
        raise ValueError(f"unflatten: sizes {sizes} do not multiply to dimension {dim} of size "
                         f"{length} of a tensor of shape {x.shape}")
    sizes = tuple(length // known if s == -1 else s for s in sizes)   # from the dimension, as
    return reshape(x, x.shape[:axis] + sizes + x.shape[axis + 1:])      # PyTorch (0 elements too)


def raw_index(index):
    """An index with its Tensors replaced by their arrays."""
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(p.array if isinstance(p, Tensor) else p for p in index)
    return index


def check_index_device(x, index):
    """An index's arrays must be on the tensor's device (RuntimeError otherwise)."""
    for p in index if isinstance(index, tuple) else (index,):
        if backend.is_array(p) and backend.device_of(p) is not x.device:
            raise RuntimeError(f"indexing a tensor on {x.device} with an index array on {backend.device_of(p)}")


def getitem(x, index):
    index = raw_index(index)
    check_index_device(x, index)
    return _as_view(_keep_bounds(GetItem(index)(x), x), x, lambda t: getitem(t, index))


def _joined(op, tensors, axis, new_axis):
    """Check the tensors of a concatenate/stack (``new_axis``); ``axis`` as an index of the
    result's axes."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: takes a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: needs at least one tensor")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: item {i} is a {type(t).__name__}, not a Tensor")
    ndim_out = tensors[0].ndim + new_axis
    if ndim_out == 0:
        raise ValueError(f"{op}: zero-dimensional tensors cannot be concatenated (stack them)")
    return normalize_axis(axis, ndim_out, op)


def _common_dtype(tensors):
    """The tensors cast to one dtype by the promotion rule (as torch.cat does)."""
    first = tensors[0].dtype
    if all(t.dtype == first for t in tensors):   # the common case: nothing to promote
        return tensors
    dtype = result_dtype(*(t.array for t in tensors))
    return [t if t.dtype == dtype else astype(t, dtype) for t in tensors]


def _dim_alias(op, axis, dim):
    """``axis`` (0 by default), or PyTorch's ``dim`` given for it."""
    if dim is None:
        return axis
    if axis != 0:
        raise TypeError(f"{op}: give axis or dim (its PyTorch name), not both")
    return dim


def concatenate(tensors, axis=0, *, dim=None):
    """The tensors joined along an existing axis (``cat`` and ``concat`` are its PyTorch
    names)."""
    axis = _joined("concatenate", tensors, _dim_alias("concatenate", axis, dim), new_axis=False)
    return _keep_bounds(Concatenate(axis)(*_common_dtype(tensors)), *tensors)


def cat(tensors, dim=0, *, axis=None):
    """PyTorch's name of :func:`concatenate`."""
    return concatenate(tensors, dim if axis is None else axis)


def stack(tensors, axis=0, *, dim=None):
    """The tensors (of one shape) joined along a new axis."""
    axis = _joined("stack", tensors, _dim_alias("stack", axis, dim), new_axis=True)
    return _keep_bounds(Stack(axis)(*_common_dtype(tensors)), *tensors)


def astype(x, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":  # integer / bool results carry no gradient
        out = wrap(x.array.astype(dtype), x.device)
        known = (0, 1) if x.array.dtype.kind == "b" else x.value_bounds
        out.value_bounds = bounds_in_dtype(known, dtype)
        return out
    return AsType(dtype)(x)


def to_device(x, device):
    return _keep_bounds(ToDevice(backend.resolve_device(device))(x), x)


def clone(x):
    return _keep_bounds(Clone()(x), x)
