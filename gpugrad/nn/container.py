"""Containers: ``Sequential``."""
from __future__ import annotations

from collections import OrderedDict

from ..functions import linalg
from ..functions.activation import ACTIVATIONS
from .activation import ElementwiseActivation
from .linear import Linear
from .module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """Modules applied in order; ``Sequential(a, b)`` or ``Sequential(OrderedDict(name=module))``.

    A ``Linear`` followed by an activation the kernels fuse (ReLU, Sigmoid) runs as one
    matmul and one fused bias + activation kernel (unless one of the two has hooks, which
    then see their own module's call)."""

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
            fused = (_fused_activation(mods[i + 1]) if i + 1 < n and type(m) is Linear
                     and not m.has_hooks() and not mods[i + 1].has_hooks() else None)
            if fused is not None:
                x = linalg.linear(x, m.weight, m.bias, activation=fused)
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


def _fused_activation(module):
    """The name of the activation ``module`` applies, when the kernels fuse it; else None."""
    if isinstance(module, ElementwiseActivation) and ACTIVATIONS[module.name].fusable:
        return module.name
    return None
