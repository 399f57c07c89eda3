"""Dropout layers: ``Dropout`` (elements), ``Dropout1d``/``Dropout2d``/``Dropout3d`` (whole
channels), PyTorch's; the identity in eval mode (see :mod:`gpugrad.functions.dropout`)."""
from __future__ import annotations

from ..functions import dropout as functions
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class _DropoutNd(Module):
    function = None

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return type(self).function(x, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element with probability p in training and scales the rest by 1 / (1 - p)."""

    function = staticmethod(functions.dropout)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) with probability p in training."""

    function = staticmethod(functions.dropout1d)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) with probability p in training."""

    function = staticmethod(functions.dropout2d)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) with probability p in training."""

    function = staticmethod(functions.dropout3d)
