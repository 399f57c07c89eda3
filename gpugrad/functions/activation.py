"""Activations: relu, sigmoid, tanh, softmax, log_softmax, and the one activation registry.

ReLU and sigmoid run in the fused kernels of :mod:`gpugrad.kernels` (one launch each way on
the GPU, the NumPy twin on the CPU). Each keeps only what its backward needs: both keep their
*output* (ReLU's mask is ``y > 0``; the sigmoid gate's local gradient is ``y (1 - y)``).

:data:`ACTIVATIONS` is the registry of elementwise activations by name. ``F.linear``'s
``activation=``, ``nn.Sequential``'s fusion of a Linear with the activation after it, the nn
activation modules and ``gpugrad-train --activation`` all read it; an activation the kernels
know how to fuse with a bias-add (``kernels.ACTIVATION_CODES``) is ``fusable``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .. import backend, kernels
from ..autograd import Function

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "log_softmax_array",
           "ACTIVATIONS", "Activation", "get_activation"]


class ReLU(Function):
    """y = max(x, 0): dx = dy where x > 0 (a mask, never a diagonal Jacobian)."""

    def forward(self, x):
        y = kernels.relu_fwd(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return kernels.relu_bwd(y, gy)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x): dx = dy * y * (1 - y), from the saved output."""

    def forward(self, x):
        y = kernels.sigmoid_fwd(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return kernels.sigmoid_bwd(y, gy)


class Tanh(Function):
    """y = tanh x: dx = dy * (1 - y²)."""

    def forward(self, x):
        y = backend.array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return gy * (1 - y * y)


def _check_axis(axis, x):
    if not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"axis {axis} is out of range for a tensor of shape {tuple(x.shape)}")


class Softmax(Function):
    """y = e^x / Σ e^x along ``axis``: dx = y * (dy - Σ dy*y)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        _check_axis(self.axis, x)
        xp = backend.array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        self.save_for_backward(e)
        return e

    def backward(self, gy):
        y, = self.saved
        gx = gy * y
        gx -= y * gx.sum(axis=self.axis, keepdims=True)
        return gx


class LogSoftmax(Function):
    """y = x - log Σ e^x along ``axis`` (max-shifted log-sum-exp): dx = dy - e^y Σ dy."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        _check_axis(self.axis, x)
        y = log_softmax_array(x, self.axis)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        xp = backend.array_module(gy)
        return gy - xp.exp(y) * gy.sum(axis=self.axis, keepdims=True)


def log_softmax_array(x, axis):
    """Numerically stable log-softmax of a raw array: (x - m) - log Σ e^(x - m), m = max x."""
    xp = backend.array_module(x)
    z = x - x.max(axis=axis, keepdims=True)
    z -= xp.log(xp.exp(z).sum(axis=axis, keepdims=True))
    return z


def relu(x):
    return ReLU()(x)


def sigmoid(x):
    return Sigmoid()(x)


def tanh(x):
    return Tanh()(x)


def softmax(x, axis=-1):
    return Softmax(axis)(x)


def log_softmax(x, axis=-1):
    return LogSoftmax(axis)(x)


# --------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class Activation:
    """An elementwise activation: its name, the differentiable function, and whether the
    kernels fuse it with the affine layer's bias-add."""

    name: str
    apply: Callable
    fusable: bool


ACTIVATIONS = {a.name: a for a in (
    Activation("relu", relu, "relu" in kernels.ACTIVATION_CODES),
    Activation("sigmoid", sigmoid, "sigmoid" in kernels.ACTIVATION_CODES),
    Activation("tanh", tanh, "tanh" in kernels.ACTIVATION_CODES),
)}


def get_activation(name) -> Activation:
    """The registered activation ``name``; a ValueError listing the known ones otherwise."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}: expected one of {sorted(ACTIVATIONS)}") from None
