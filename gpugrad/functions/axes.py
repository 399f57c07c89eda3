"""Axis arguments as both libraries spell them: NumPy's ``axis`` / ``keepdims`` and PyTorch's
``dim`` / ``keepdim``, accepted side by side wherever an op takes one, and the normalisation of
axis tuples that the reductions share."""
from __future__ import annotations

import numpy as np

__all__ = ["axis_arg", "keepdims_arg", "reduction_axes", "keepdims_shape"]


def axis_arg(op, axis, dim):
    """``axis``, or PyTorch's ``dim`` given for it; a TypeError naming ``op`` for both."""
    if dim is None:
        return axis
    if axis is not None:
        raise TypeError(f"{op}: give axis or dim (its PyTorch name), not both")
    return dim


def keepdims_arg(op, keepdims, keepdim):
    """``keepdims``, or PyTorch's ``keepdim`` given for it; a TypeError naming ``op`` when the
    two are given and disagree."""
    if keepdim is None:
        return bool(keepdims)
    if keepdims and not keepdim:
        raise TypeError(f"{op}: keepdims=True and keepdim=False disagree (give one of them)")
    return bool(keepdim)


def reduction_axes(axis, ndim, shape, op="reduction"):
    """Normalise ``axis`` to a sorted tuple of non-negative ints (None -> all axes). A 0-d
    tensor takes 0 and -1 (and reduces nothing), as in PyTorch. TypeError naming ``op`` for an
    axis that is not an int, IndexError for one out of range, ValueError for a repeat."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op}: an axis must be an int or a tuple of ints, got {axis!r}")
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise IndexError(f"{op}: axis {a} is out of range for a tensor of shape {tuple(shape)}")
        out.append(int(a) % ndim if ndim else None)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(a for a in out if a is not None))


def keepdims_shape(shape, axes):
    """``shape`` with the reduced ``axes`` kept as length 1."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))
