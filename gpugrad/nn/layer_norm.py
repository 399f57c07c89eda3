"""``LayerNorm``: normalisation over the trailing ``normalized_shape`` axes of each sample,
with a learnt elementwise scale and shift (PyTorch's LayerNorm)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..functions.layer_norm import layer_norm
from . import init
from .module import Module, Parameter

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last len(normalized_shape)
    axes; weight starts at ones and bias at zeros."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or any(int(s) <= 0 for s in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive sizes, got {normalized_shape!r}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dev = backend.resolve_device(device)
        with dev.context():
            make = (lambda: Parameter(dev.xp.empty(self.normalized_shape, np.dtype(dtype))))
            self.weight = make() if elementwise_affine else None
            self.bias = make() if elementwise_affine and bias else None
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
