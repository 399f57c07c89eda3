"""Rearranging and replicating elements: squeeze / unsqueeze, flip, repeat / tile /
repeat_interleave, expand, and split / chunk / unbind. Like the shape ops, none does arithmetic: a backward puts the upstream
gradient back where each element came from (flipped back, summed over the copies, or the pieces'
gradients concatenated).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Op
from ..creation import size_args
from ..tensor import Tensor
from .axes import axis_arg
from .broadcast import broadcast_to
from .shape import Concatenate, Stack, getitem, normalize_axis, reshape

__all__ = ["squeeze", "unsqueeze", "flip", "repeat", "tile", "repeat_interleave", "expand", "split", "chunk", "unbind"]


class Flip(Op):
    """y = x with the order of its elements reversed along ``axes`` (a copy, as PyTorch's):
    dx = dy flipped back."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return backend.array_module(x).flip(x, axis=self.axes).copy()

    def backward(self, gy):
        return Flip(self.axes).apply(gy)


class Unbind(Op):
    """ys = the slices of x along ``axis`` (views of x's memory): dx = stack(dys, axis), a
    missing dy counting as zeros. One op for all the slices: T separate indexings would each
    give back a gradient of x's full size."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        lead = (slice(None),) * self.axis
        return tuple(x[lead + (k,)] for k in range(x.shape[self.axis]))

    def backward(self, *gys):
        return Stack(self.axis).apply(*gys)


def unsqueeze(x, axis=None, *, dim=None):
    """x with a new axis of length 1 at position ``axis`` (PyTorch's ``dim``; in
    [-ndim-1, ndim]), a view."""
    axis = axis_arg("unsqueeze", axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: give the position of the new axis (axis or dim)")
    axis = normalize_axis(axis, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x, axis=None, *, dim=None):
    """x without its axes of length 1 (all of them, or those among ``axis``, PyTorch's ``dim``:
    an int or a tuple; a named axis whose length is not 1 stays, as in PyTorch), a view."""
    dim = axis_arg("squeeze", axis, dim)
    if dim is None:
        axes = range(x.ndim)
    else:
        if not isinstance(dim, (int, np.integer, tuple, list)) or isinstance(dim, bool):
            raise TypeError(f"squeeze: dim must be an int or a tuple of ints, got {dim!r}")
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        axes = {normalize_axis(d, x.ndim, "squeeze") for d in dims}
        axes = axes if x.ndim else ()
    drop = {a for a in axes if x.shape[a] == 1}
    if not drop:
        return x
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in drop))


def flip(x, dims=None, *, axis=None):
    """x with its elements in reverse order along ``dims`` (PyTorch; NumPy's ``axis`` too)."""
    if dims is None:
        dims = axis
    if dims is None:
        raise TypeError("flip: give the dims to flip (an int or a tuple of ints)")
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    axes = tuple(normalize_axis(d, x.ndim, "flip") for d in dims)
    if len(set(axes)) != len(axes):
        raise ValueError(f"flip: dims {dims} name an axis twice")
    if x.ndim == 0 or not axes:
        return x.clone()
    return Flip(axes)(x)


def _replicate(x, reps, inner):
    """x with each axis i copied reps[i] times: as whole-axis blocks (``inner=False``, repeat /
    tile) or element by element (``inner=True``, repeat_interleave). One reshape of a broadcast
    view: its backward sums the copies back (broadcast_to's gradient)."""
    pairs = [(1, s) if not inner else (s, 1) for s in x.shape]
    y = reshape(x, tuple(d for pair in pairs for d in pair))
    target = [(r, s) if not inner else (s, r) for r, s in zip(reps, x.shape)]
    y = broadcast_to(y, tuple(d for pair in target for d in pair))
    return reshape(y, tuple(r * s for r, s in zip(reps, x.shape)))


def repeat(x, *sizes):
    """PyTorch's ``repeat``: x tiled ``sizes[i]`` times along axis i (NumPy's ``tile``);
    ``len(sizes)`` may exceed x's dimensions, which adds leading axes."""
    sizes = size_args("repeat", sizes, negative=True)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat counts {sizes} for a tensor of shape "
                         f"{x.shape}: give at least one per dimension")
    if any(s < 0 for s in sizes):
        raise ValueError(f"repeat: repeat counts must be >= 0, got {sizes}")
    x = reshape(x, (1,) * (len(sizes) - x.ndim) + x.shape)
    return _replicate(x, sizes, inner=False)


def tile(x, dims):
    """``torch.tile`` / ``np.tile``: as :func:`repeat`, with missing leading counts taken as 1."""
    dims = size_args("tile", (dims,))
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


def repeat_interleave(x, repeats, dim=None, *, axis=None):
    """Each element repeated ``repeats`` times along ``dim`` (NumPy's ``repeat``); the tensor
    flattened first for None. ``repeats`` is an int, or one count per element along ``dim``
    (a list or an integer tensor)."""
    if dim is None:
        dim = axis
    if dim is None:
        x, dim = reshape(x, (-1,)), 0
    axis = normalize_axis(dim, x.ndim, "repeat_interleave")
    if x.ndim == 0:
        raise IndexError(f"repeat_interleave: a 0-d tensor has no dimension {dim} to repeat along "
                         "(dim=None repeats its one element)")
    if isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool):
        if repeats < 0:
            raise ValueError(f"repeat_interleave: repeats must be >= 0, got {repeats}")
        reps = [1] * x.ndim
        reps[axis] = int(repeats)
        return _replicate(x, reps, inner=True)
    counts = backend.to_numpy(repeats.array if isinstance(repeats, Tensor) else np.asarray(repeats))
    if counts.dtype.kind not in "iu" or counts.ndim != 1 or counts.size != x.shape[axis] or (counts < 0).any():
        raise ValueError(f"repeat_interleave: repeats must be non-negative integers, one per element "
                         f"of dimension {dim} ({x.shape[axis]} of them), got {counts.tolist()}")
    index = x.device.xp.asarray(np.repeat(np.arange(x.shape[axis]), counts))
    return getitem(x, (slice(None),) * axis + (index,))


def expand(x, *sizes):
    """PyTorch's ``expand``: x broadcast to ``sizes`` (a view); -1 keeps an axis' size, and
    new axes may be added in front."""
    sizes = size_args("expand", sizes, negative=True)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes {sizes} for a tensor of shape {x.shape}: "
                         f"give at least one per dimension")
    shape = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise ValueError(f"expand: -1 is not allowed for the new leading dimension {i} "
                                 f"(sizes {sizes}, tensor of shape {x.shape})")
            s = x.shape[i - lead]
        shape.append(s)
    return broadcast_to(x, tuple(shape))


class Split(Op):
    """(y_1, ..., y_k) = x cut along ``axis`` into pieces of ``sizes`` (views): dx is the
    pieces' gradients concatenated back (zeros for a piece that got none)."""

    def __init__(self, axis, sizes):
        self.axis, self.sizes = axis, sizes

    def forward(self, x):
        lead = (slice(None),) * self.axis
        ends = np.cumsum(self.sizes).tolist()
        return tuple(x[lead + (slice(end - size, end),)] for size, end in zip(self.sizes, ends))

    def backward(self, *gys):
        return Concatenate(self.axis).apply(*gys)


def split(x, split_size_or_sections, dim=0, *, axis=None):
    """PyTorch's ``split``: pieces of ``split_size_or_sections`` along ``dim`` (an int: that
    size, the last piece smaller; a list: those sizes, which must add up to the axis)."""
    if axis is not None:
        dim = axis
    axis = normalize_axis(dim, x.ndim, "split")
    if x.ndim == 0:
        raise ValueError("split: a 0-d tensor cannot be split")
    n = x.shape[axis]
    sections = split_size_or_sections
    if isinstance(sections, (int, np.integer)) and not isinstance(sections, bool):
        if sections <= 0 and n:
            raise ValueError(f"split: split_size must be positive, got {sections}")
        sizes = [min(sections, n - i) for i in range(0, n, sections)] if n else [0]
    elif isinstance(sections, (tuple, list)):
        sizes = list(size_args("split", (tuple(sections),), negative=True))
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to dimension {dim} of size {n} "
                             f"of a tensor of shape {x.shape}")
    else:
        raise TypeError(f"split: split_size_or_sections must be an int or a list of ints, got "
                        f"{sections!r} ({type(sections).__name__})")
    if len(sizes) == 1:
        return (x,)                                    # one piece: the tensor itself
    return Split(axis, tuple(sizes))(x)


def chunk(x, chunks, dim=0, *, axis=None):
    """PyTorch's ``chunk``: ``chunks`` pieces of equal size along ``dim`` (the last smaller;
    fewer pieces when the axis is too short for them all)."""
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if axis is not None:
        dim = axis
    if x.ndim == 0:
        raise ValueError("chunk: a 0-d tensor cannot be chunked (it has no dimension)")
    n = x.shape[normalize_axis(dim, x.ndim, "chunk")]
    return split(x, max(-(-n // chunks), 1), dim)


def unbind(x, dim=0, *, axis=None):
    """PyTorch's unbind: the tuple of x's slices along ``dim`` (``axis``), each without that
    axis: views sharing x's version."""
    axis = normalize_axis(dim if axis is None else axis, x.ndim, "unbind")
    if x.ndim == 0:
        raise IndexError("unbind: a 0-d tensor has no dimension to unbind")
    if x.shape[axis] == 0:
        return ()
    ys = Unbind(axis)(x)
    ys = ys if isinstance(ys, tuple) else (ys,)
    for y in ys:
        y.share_version(x)
    return ys
