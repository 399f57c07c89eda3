"""Layers: Linear (the notes' Affine, W of shape (in, out)), Sequential, activations, Flatten."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import backend
from ..functions import activation, linalg
from . import init
from .module import Module, Parameter

__all__ = ["Linear", "Sequential", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten",
           "Identity"]


class Linear(Module):
    """Y = X W + b with ``weight`` of shape (in_features, out_features) and ``bias`` of shape
    (out_features,), as in the notes' Affine layer. Initialised like PyTorch's Linear:
    U(-1/√in, 1/√in) for both."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=np.float32):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: sizes must be positive, got ({in_features}, {out_features})")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dev = backend.device(device)
        dtype = np.dtype(dtype)
        self.weight = Parameter(init.kaiming_uniform((in_features, out_features), in_features, dtype, dev))
        self.bias = Parameter(init.kaiming_uniform((out_features,), in_features, dtype, dev)) if bias else None

    def forward(self, x):
        return linalg.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Modules applied in order; ``Sequential(a, b)`` or ``Sequential(OrderedDict(name=module))``."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = modules[0].items()
        else:
            items = ((str(i), m) for i, m in enumerate(modules))
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: element {name} is a {type(m).__name__}, not a Module")
            setattr(self, name, m)

    def forward(self, x):
        mods = tuple(self._modules.values())
        i, n = 0, len(mods)
        while i < n:
            m = mods[i]
            act = _FUSED_ACTIVATIONS.get(type(mods[i + 1])) if i + 1 < n and type(m) is Linear else None
            if act is not None:  # Linear then ReLU/Sigmoid: one fused bias+activation kernel
                x = linalg.linear(x, m.weight, m.bias, activation=act)
                i += 2
            else:
                x = m(x)
                i += 1
        return x

    def __getitem__(self, i):
        mods = list(self._modules.values())
        return Sequential(*mods[i]) if isinstance(i, slice) else mods[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ReLU(Module):
    def forward(self, x):
        return activation.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return activation.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return activation.tanh(x)


class Softmax(Module):
    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return activation.softmax(x, self.axis)


class LogSoftmax(Module):
    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return activation.log_softmax(x, self.axis)


class Flatten(Module):
    """Collapse every axis after the first (batch) one."""

    def forward(self, x):
        return x.flatten(1)


class Identity(Module):
    def forward(self, x):
        return x


_FUSED_ACTIVATIONS = {ReLU: "relu", Sigmoid: "sigmoid"}
