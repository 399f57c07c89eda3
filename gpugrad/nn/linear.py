"""Linear layers: ``Linear`` (the notes' Affine, W of shape (in, out)), ``Identity``, ``Flatten``."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from ..functions import linalg
from . import init
from .module import Module, Parameter

__all__ = ["Linear", "Identity", "Flatten"]


class Linear(Module):
    """Y = X W + b with ``weight`` of shape (in_features, out_features) and ``bias`` of shape
    (out_features,), as in the notes' Affine layer. Initialised like PyTorch's Linear:
    U(-1/√in, 1/√in) for both (``kaiming_uniform_(weight, a=√5)``). The weight declares its
    axes to ``nn.init`` (in, out), so every initialiser reads the fans PyTorch would."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=np.float32):
        super().__init__()
        self.in_features = _layer_size("Linear", "in_features", in_features)
        self.out_features = _layer_size("Linear", "out_features", out_features)
        dev = backend.resolve_device(device)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Linear: dtype must be a floating-point dtype (its parameters are trained), got {dtype}")
        with dev.context():
            self.weight = Parameter(dev.xp.empty((self.in_features, self.out_features), dtype))
            self.bias = Parameter(dev.xp.empty((self.out_features,), dtype)) if bias else None
        init.set_fan_axes(self.weight, 0, 1)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's initialisation: weight and bias from U(-1/√in, 1/√in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return linalg.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _layer_size(layer, argument, value) -> int:
    """A layer's size argument as an int >= 1: an integer (Python's or NumPy's, not a bool or a
    float, as PyTorch refuses non-integer sizes), else TypeError; < 1, ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {argument} must be an integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{layer}: {argument} must be >= 1, got {value}")
    return int(value)


class Identity(Module):
    def forward(self, x):
        return x


class Flatten(Module):
    """PyTorch's Flatten: axes start_dim..end_dim collapsed into one (by default every axis
    after the first, batch, one)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
