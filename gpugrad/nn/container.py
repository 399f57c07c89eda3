"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``."""
from __future__ import annotations

from collections import OrderedDict

from ..functions import linalg
from ..functions.activation import ACTIVATIONS
from .activation import ElementwiseActivation
from .linear import Linear
from .module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


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


def _checked(container, key, module):
    if not isinstance(module, Module):
        raise TypeError(f"{container}: {key!r} is a {type(module).__name__}, not a Module")
    return module


class ModuleList(Module):
    """Modules held in a list (registered, so their parameters are the container's); it has
    no forward of its own: the model that holds it decides how to call them."""

    def __init__(self, modules=None):
        super().__init__()
        self.extend(modules or ())

    def _key(self, i):
        n = len(self._modules)
        if not -n <= i < n:
            raise IndexError(f"ModuleList: index {i} is out of range for {n} modules")
        return str(i % n)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return self._modules[self._key(i)]

    def __setitem__(self, i, module):
        setattr(self, self._key(i), _checked("ModuleList", i, module))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        setattr(self, str(len(self._modules)), _checked("ModuleList", len(self._modules), module))
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, _checked("ModuleList", index, module))
        for name in list(self._modules):
            delattr(self, name)
        self.extend(mods)


class ModuleDict(Module):
    """Modules held by name, in insertion order (registered, like ModuleList)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: a key must be a non-empty string without '.', got {key!r}")
        setattr(self, key, _checked("ModuleDict", key, module))

    def __delitem__(self, key):
        delattr(self, key)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, m in items:
            self[key] = m

    def pop(self, key):
        m = self._modules[key]
        delattr(self, key)
        return m


def _fused_activation(module):
    """The name of the activation ``module`` applies, when the kernels fuse it; else None."""
    if isinstance(module, ElementwiseActivation) and ACTIVATIONS[module.name].fusable:
        return module.name
    return None
