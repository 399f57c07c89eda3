"""Activations: relu, sigmoid, tanh, softmax, log_softmax, and the one activation registry
(which also holds the fused pointwise family of :mod:`.pointwise`: gelu, silu, elu, softplus,
leaky_relu).

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

import numpy as np

from .. import backend, kernels
from ..autograd import Op
from .arithmetic import Exp
from .pointwise import elu, gelu, leaky_relu, silu, softplus
from .promotion import as_floating

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "log_softmax_array",
           "activation_backward", "softmax_of_input", "ACTIVATIONS", "Activation",
           "get_activation"]


class ReLU(Op):
    """y = max(x, 0): dx = dy where x > 0 (a mask, never a diagonal Jacobian)."""

    def forward(self, x):
        y = kernels.relu_fwd(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return ReLUBackward().apply(y, gy)


class ReLUBackward(Op):
    """The fused ReLU backward as an op: gx = gy where y > 0. Linear in gy with the mask held
    fixed: d gy = d gx where y > 0 (this op again), and y gets no gradient (the mask is flat)."""

    def forward(self, y, gy):
        self.save_for_backward(y)
        return kernels.relu_bwd(y, gy)

    def backward(self, ggx):
        y, = self.saved
        return None, ReLUBackward().apply(y, ggx) if self.needs_input_grad[1] else None


class Sigmoid(Op):
    """y = 1 / (1 + e^-x): dx = dy * y * (1 - y), from the saved output."""

    def forward(self, x):
        y = kernels.sigmoid_fwd(x if x.dtype.kind == "f" else as_floating(x))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return SigmoidBackward().apply(y, gy)


class SigmoidBackward(Op):
    """The fused sigmoid backward as an op: gx = gy * y * (1 - y). Its own gradients:
    d gy = d gx * y * (1 - y) (this op again) and d y = d gx * gy * (1 - 2y)."""

    def forward(self, y, gy):
        self.save_for_backward(y, gy if self.needs_input_grad[0] else None)
        return kernels.sigmoid_bwd(y, gy)

    def backward(self, ggx):
        y, gy = self.saved
        need_y, need_gy = self.needs_input_grad
        return (ggx * gy * (1 - 2 * y) if need_y else None,
                SigmoidBackward().apply(y, ggx) if need_gy else None)


class Tanh(Op):
    """y = tanh x: dx = dy * (1 - y²)."""

    def forward(self, x):
        y = backend.array_module(x).tanh(x if x.dtype.kind == "f" else as_floating(x))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return gy * (1 - y * y)


def _softmax_input(op, axis, x):
    """x in a floating dtype, after checking ``axis`` (an int in range) for ``op``."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: the axis must be an int, got {type(axis).__name__} {axis!r}")
    if not -max(x.ndim, 1) <= axis < max(x.ndim, 1):   # a 0-d tensor takes 0 and -1
        raise IndexError(f"{op}: axis {axis} is out of range for a tensor of shape {tuple(x.shape)}")
    return as_floating(x)


class Softmax(Op):
    """y = e^x / Σ e^x along ``axis``: dx = y * (dy - Σ dy*y)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        x = _softmax_input("softmax", self.axis, x)
        if x.ndim == 0:
            self.axis = None
        if x.size == 0:   # nothing to normalise (NumPy's max refuses an empty axis)
            x = x.copy()
            self.save_for_backward(x)
            return x
        xp = backend.array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        self.save_for_backward(e)
        return e

    def backward(self, gy):
        y, = self.saved
        gx = gy * y
        return gx - y * gx.sum(axis=self.axis, keepdims=True)


class LogSoftmax(Op):
    """y = x - log Σ e^x along ``axis`` (max-shifted log-sum-exp): dx = dy - e^y Σ dy."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        x = _softmax_input("log_softmax", self.axis, x)
        if x.ndim == 0:
            self.axis = None
        y = log_softmax_array(x, self.axis) if x.size else x.copy()
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y, = self.saved
        return gy - Exp().apply(y) * gy.sum(axis=self.axis, keepdims=True)


def activation_backward(name, y, gy):
    """The backward of the fused activation ``name`` (a key of ``kernels.ACTIVATION_CODES``)
    from its saved output ``y``: the fused kernel on arrays, a differentiable op on Tensors."""
    return _BACKWARD_OPS[name]().apply(y, gy)


_BACKWARD_OPS = {"relu": ReLUBackward, "sigmoid": SigmoidBackward}


def softmax_of_input(node, i, probs, axis):
    """The Tensor softmax(input ``i`` of ``node``) along ``axis``, from the probabilities
    ``probs`` that node's forward already computed: a Softmax node grafted onto that input's
    edge, so a fused op's recorded backward can be the unfused graph (see ``Op.graft``)."""
    op = Softmax(axis)
    op.save_for_backward(probs)   # what Softmax.forward keeps: its output
    return node.graft(i, op, probs)


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


def _softmax_axis(op, axis, dim):
    """``axis`` (the last by default), or PyTorch's ``dim`` given for it."""
    if dim is None:
        return axis
    if axis != -1:
        raise TypeError(f"{op}: give axis or dim (its PyTorch name), not both")
    return dim


def softmax(x, axis=-1, *, dim=None):
    """e^x / Σ e^x along ``axis`` (PyTorch's ``dim``; the last axis by default)."""
    return Softmax(_softmax_axis("softmax", axis, dim))(x)


def log_softmax(x, axis=-1, *, dim=None):
    """log softmax(x) along ``axis`` (PyTorch's ``dim``; the last axis by default)."""
    return LogSoftmax(_softmax_axis("log_softmax", axis, dim))(x)


# --------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class Activation:
    """An elementwise activation: its name, the differentiable function ``apply(x, **params)``
    (its parameters, such as leaky_relu's negative_slope, have PyTorch's defaults), and whether
    the kernels fuse it with the affine layer's bias-add."""

    name: str
    apply: Callable
    fusable: bool


ACTIVATIONS = {a.name: a for a in (
    Activation("relu", relu, "relu" in kernels.ACTIVATION_CODES),
    Activation("sigmoid", sigmoid, "sigmoid" in kernels.ACTIVATION_CODES),
    Activation("tanh", tanh, "tanh" in kernels.ACTIVATION_CODES),
    Activation("gelu", gelu, False),
    Activation("silu", silu, False),
    Activation("elu", elu, False),
    Activation("softplus", softplus, False),
    Activation("leaky_relu", leaky_relu, False),
)}


def get_activation(name) -> Activation:
    """The registered activation ``name``; a ValueError listing the known ones otherwise."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}: expected one of {sorted(ACTIVATIONS)}") from None
