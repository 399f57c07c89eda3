"""Convolution layers: ``Conv1d``, ``Conv2d``, with PyTorch's signatures, defaults and weight layout.

The weight is PyTorch's (out_channels, in_channels / groups, *kernel_size), unlike ``Linear``'s
(in, out) of the notes: a convolution's weight is a bank of filters, one per output channel, and
that is the layout of every convolution library, checkpoint and figure. ``nn.init`` reads its
fans by PyTorch's rule (fan_in = in/groups · kernel size), and ``reset_parameters`` is PyTorch's:
``kaiming_uniform_(weight, a=√5)``, i.e. U(-1/√fan_in, 1/√fan_in), and the bias from the same range.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..functions import conv
from . import init
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d"]


def _ntuple(value, n, what, layer):
    v = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(v) != n or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        raise TypeError(f"{layer}: {what} must be an int or a tuple of {n} ints, got {value!r}")
    return v


class _ConvNd(Module):
    """The shared body of Conv1d and Conv2d (``dims`` spatial dimensions)."""

    dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=np.float32):
        super().__init__()
        layer, n = type(self).__name__, self.dims
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{layer}: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                             f"be divisible by groups ({groups})")
        if min(in_channels, out_channels) < 1:
            raise ValueError(f"{layer}: channel counts must be positive, got ({in_channels}, {out_channels})")
        if padding_mode not in conv.PADDING_MODES:
            raise ValueError(f"{layer}: padding_mode must be one of {conv.PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", layer)
        self.stride = _ntuple(stride, n, "stride", layer)
        self.dilation = _ntuple(dilation, n, "dilation", layer)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n, "padding", layer)
        self.padding_mode = padding_mode
        if min(self.kernel_size) < 1:
            raise ValueError(f"{layer}: kernel_size must be positive, got {self.kernel_size}")
        # its errors (a bad padding string, 'same' with a stride) at construction, as PyTorch's
        self._pads = conv.conv_padding(layer, self._as_2d(self.kernel_size, 1), self._as_2d(self.stride, 1),
                                       self._as_2d(self.padding, 0), self._as_2d(self.dilation, 1))
        dev, dtype = backend.resolve_device(device), np.dtype(dtype)
        with dev.context():
            self.weight = Parameter(dev.xp.empty((out_channels, in_channels // groups) + self.kernel_size, dtype))
            self.bias = Parameter(dev.xp.empty((out_channels,), dtype)) if bias else None
        self.reset_parameters()

    def _as_2d(self, v, fill):
        """A 1-D layer's argument as the pair of a plane of height 1."""
        return v if self.dims == 2 or isinstance(v, str) else (fill,) + tuple(v)

    def reset_parameters(self):
        """PyTorch's: weight from kaiming_uniform_(a=√5), bias from U(-1/√fan_in, 1/√fan_in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != "zeros":
            planes = x.reshape(tuple(x.shape[:-1]) + (1, x.shape[-1])) if self.dims == 1 else x
            batched = planes.ndim == 4
            planes = planes if batched else planes.reshape((1,) + tuple(planes.shape))
            planes = conv.pad_by_mode(type(self).__name__, planes, self._pads, self.padding_mode)
            planes = planes if batched else planes.reshape(tuple(planes.shape[1:]))
            x = planes.reshape(tuple(planes.shape[:-2]) + (planes.shape[-1],)) if self.dims == 1 else planes
            padding = 0
        fn = conv.conv2d if self.dims == 2 else conv.conv1d
        return fn(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """PyTorch's Conv1d: (N, C_in, L) or (C_in, L) -> (N, C_out, L_out); weight (C_out, C_in/groups, k)."""

    dims = 1


class Conv2d(_ConvNd):
    """PyTorch's Conv2d: (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out); weight
    (C_out, C_in/groups, kH, kW)."""

    dims = 2
