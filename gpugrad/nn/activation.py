"""Activation layers. The elementwise ones apply a registered activation
(:data:`gpugrad.functions.activation.ACTIVATIONS`) by name, with their parameters, so
``nn.Sequential`` can fuse one the kernels know into the Linear before it."""
from __future__ import annotations

from ..functions import activation as act
from ..functions.axes import axis_arg
from .module import Module

__all__ = ["ElementwiseActivation", "ReLU", "Sigmoid", "Tanh", "GELU", "SiLU", "ELU", "Softplus",
           "LeakyReLU", "Softmax", "LogSoftmax", "activation_module"]


class ElementwiseActivation(Module):
    """A layer applying the registered activation ``name`` elementwise, with the keyword
    parameters in ``params`` (shown by ``repr``)."""

    name = None

    def __init__(self, **params):
        super().__init__()
        self.params = params

    def forward(self, x):
        if self.params:
            return act.ACTIVATIONS[self.name].apply(x, **self.params)
        return act.ACTIVATIONS[self.name].apply(x)

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.params.items())


class _MayBeInplace(ElementwiseActivation):
    """``inplace=True`` is accepted for PyTorch's signature; the result is a new tensor either
    way (the input is left as it was), and ``repr`` shows it as PyTorch does."""

    def __init__(self, inplace=False, **params):
        super().__init__(**params)
        self.inplace = bool(inplace)

    def extra_repr(self):
        shown = super().extra_repr()
        return shown + (", inplace=True" if shown else "inplace=True") if self.inplace else shown


class ReLU(_MayBeInplace):
    name = "relu"


class Sigmoid(ElementwiseActivation):
    name = "sigmoid"


class Tanh(ElementwiseActivation):
    name = "tanh"


class GELU(ElementwiseActivation):
    """x Φ(x); ``approximate='tanh'`` for the tanh form."""
    name = "gelu"

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        super().__init__(approximate=approximate)


class SiLU(_MayBeInplace):
    """x σ(x)."""
    name = "silu"


class ELU(_MayBeInplace):
    """x for x > 0, else alpha (e^x - 1)."""
    name = "elu"

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace, alpha=alpha)


class Softplus(ElementwiseActivation):
    """log(1 + e^(beta x)) / beta, x itself where beta x > threshold."""
    name = "softplus"

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__(beta=beta, threshold=threshold)


class LeakyReLU(_MayBeInplace):
    """x for x > 0, else negative_slope x."""
    name = "leaky_relu"

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(inplace, negative_slope=negative_slope)


def activation_module(name) -> type:
    """The layer class of registered activation ``name`` (e.g. ``'relu'`` -> ``nn.ReLU``)."""
    spec = act.get_activation(name)
    for cls in _layer_classes(ElementwiseActivation):
        if cls.name == spec.name:
            return cls
    raise ValueError(f"activation {name!r} has no layer class in gpugrad.nn")


def _layer_classes(base):
    for cls in base.__subclasses__():
        yield cls
        yield from _layer_classes(cls)


class _AlongAxis(Module):
    """A layer applying ``function(x, axis)`` (softmax, log-softmax) along one axis."""

    function = None

    def __init__(self, axis=-1, *, dim=None):
        super().__init__()
        self.axis = axis_arg(type(self).__name__, None if axis == -1 else axis, dim)
        self.axis = -1 if self.axis is None else self.axis

    def forward(self, x):
        return self.function(x, self.axis)

    def extra_repr(self):
        return f"dim={self.axis}"


class Softmax(_AlongAxis):
    function = staticmethod(act.softmax)


class LogSoftmax(_AlongAxis):
    function = staticmethod(act.log_softmax)
