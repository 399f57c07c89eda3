"""Broadcasting and its inverse: ``broadcast_to`` and ``sum_to`` (unbroadcast), each the other's
gradient.

Every op that broadcasts an input sums its gradient back to the input's shape with ``sum_to``,
and every reduction spreads its gradient back with ``broadcast_to``. Both take raw arrays (an
ordinary backward pass: plain array code) or Tensors (a recorded one: a node of the graph), as
backward formulas do (see :mod:`gpugrad.functions`).
"""
from __future__ import annotations

from .. import backend, kernels
from ..autograd import Op
from ..creation import size_args
from ..tensor import Tensor

__all__ = ["broadcast_to", "sum_to", "BroadcastTo", "SumTo"]


def _sum_to_array(g, shape):
    """Sum the array ``g`` down to ``shape``: leading axes and axes where ``shape`` has size 1.
    A reduction over the leading (batch) axes of a C-contiguous array goes through
    ``kernels.sum_rows``, which is a cuBLAS ``ones @ G`` on the GPU."""
    gshape = g.shape
    lead = len(gshape) - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to: cannot reduce shape {gshape} to the larger shape {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)
    # Reducing exactly the leading axes of a contiguous array (or the rows of a matrix, of
    # any layout: the batch axis of the affine layer's bias gradient): a matrix-row sum.
    nlead = 0
    while nlead < len(axes) and axes[nlead] == nlead:
        nlead += 1
    if nlead == len(axes) and nlead < len(gshape) and (g.flags.c_contiguous or len(gshape) == 2):
        rows = cols = 1
        for s in gshape[:nlead]:
            rows *= s
        for s in gshape[nlead:]:
            cols *= s
        return kernels.sum_rows(g.reshape(rows, cols)).reshape(shape)   # (no -1: rows may be 0)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


class SumTo(Op):
    """y = x summed down to ``shape`` (undoing broadcasting): dx = dy broadcast back."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.x_shape = x.shape
        return _sum_to_array(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.x_shape)


class BroadcastTo(Op):
    """y = x broadcast to ``shape`` (a read-only view): dx = dy summed back to x's shape."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.x_shape = x.shape
        try:
            return backend.array_module(x).broadcast_to(x, self.shape)
        except (ValueError, TypeError):
            size_args("broadcast_to", self.shape)   # a size that is not an int: TypeError
            raise ValueError(f"broadcast_to: cannot broadcast shape {tuple(x.shape)} to "
                             f"{self.shape}") from None

    def backward(self, gy):
        return sum_to(gy, self.x_shape)


def sum_to(g, shape):
    """Sum ``g`` (an array or a Tensor) down to ``shape``; ``g`` itself when it has it."""
    if g.shape == shape:
        return g
    if isinstance(g, Tensor):
        return SumTo(shape)(g)
    return _sum_to_array(g, shape)   # SumTo.apply's own path, without making the node object


def broadcast_to(x, shape):
    """``x`` (an array or a Tensor) broadcast to ``shape``; ``x`` itself when it has it."""
    try:
        shape = tuple(shape)
    except TypeError:                       # one size (an int), or not a size at all
        shape = size_args("broadcast_to", (shape,))
    if x.shape == shape:
        return x
    return BroadcastTo(shape).apply(x)
