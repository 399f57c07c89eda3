"""Activation layers. The elementwise ones apply a registered activation
(:data:`gpugrad.functions.activation.ACTIVATIONS`) by name, so ``nn.Sequential`` can fuse one
the kernels know into the Linear before it."""
from __future__ import annotations

from ..functions import activation as act
from .module import Module

__all__ = ["ElementwiseActivation", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
           "activation_module"]


class ElementwiseActivation(Module):
    """A layer applying the registered activation ``name`` elementwise."""

    name = None

    def forward(self, x):
        return act.ACTIVATIONS[self.name].apply(x)


class ReLU(ElementwiseActivation):
    name = "relu"


class Sigmoid(ElementwiseActivation):
    name = "sigmoid"


class Tanh(ElementwiseActivation):
    name = "tanh"


def activation_module(name) -> type:
    """The layer class of registered activation ``name`` (e.g. ``'relu'`` -> ``nn.ReLU``)."""
    spec = act.get_activation(name)
    for cls in ElementwiseActivation.__subclasses__():
        if cls.name == spec.name:
            return cls
    raise ValueError(f"activation {name!r} has no layer class in gpugrad.nn")


class _AlongAxis(Module):
    """A layer applying ``function(x, axis)`` (softmax, log-softmax) along one axis."""

    function = None

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return self.function(x, self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class Softmax(_AlongAxis):
    function = staticmethod(act.softmax)


class LogSoftmax(_AlongAxis):
    function = staticmethod(act.log_softmax)
