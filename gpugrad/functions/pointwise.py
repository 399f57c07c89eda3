"""The activations of the fused pointwise kernels (``kernels.pointwise_fwd`` / ``_bwd``): GELU
(exact or its tanh approximation), SiLU, ELU, Softplus and LeakyReLU, each one launch forward
(y = f(x)) and one backward (dx = dy f'(x), from the saved input) on the GPU.

The backward is an op of its own (PointwiseBackward), whose gradient needs f''(x): written with
ops, so gradients of any order go through the fused kernels.
"""
from __future__ import annotations

import math

from .. import kernels
from ..autograd import Op, array_of
from .arithmetic import Exp
from .promotion import as_floating

__all__ = ["gelu", "silu", "elu", "softplus", "leaky_relu"]


class Pointwise(Op):
    """y = f(x) for the activation ``name`` with parameters (a, b): dx = dy f'(x), fused.
    Integer and bool inputs are promoted to the default float dtype first, as exp and sigmoid
    promote them (the arithmetic of these activations is not closed over the integers)."""

    def __init__(self, name, a=0.0, b=0.0):
        self.name, self.a, self.b = name, a, b

    def forward(self, x):
        x = as_floating(x)
        self.save_for_backward(x)
        return kernels.pointwise_fwd(self.name, x, self.a, self.b)

    def backward(self, gy):
        x, = self.saved
        return PointwiseBackward(self.name, self.a, self.b).apply(x, gy)


class PointwiseBackward(Op):
    """The fused backward as an op: gx = gy f'(x). Its own gradients: d gy = d gx f'(x) (this
    op again) and d x = d gx gy f''(x)."""

    def __init__(self, name, a=0.0, b=0.0):
        self.name, self.a, self.b = name, a, b

    def forward(self, x, gy):
        need_x, _ = self.needs_input_grad
        self.save_for_backward(x, gy if need_x else None)
        return kernels.pointwise_bwd(self.name, x, gy, self.a, self.b)

    def backward(self, ggx):
        x, gy = self.saved
        need_x, need_gy = self.needs_input_grad
        return (ggx * gy * _second_derivative(self.name, x, self.a, self.b) if need_x else None,
                PointwiseBackward(self.name, self.a, self.b).apply(x, ggx) if need_gy else None)


def _sigmoid(v):
    return 1 / (1 + Exp().apply(-v))


def _second_derivative(name, x, a, b):
    """f''(x) of activation ``name``, written with ops (x an array or a Tensor)."""
    xa = array_of(x)
    if name == "gelu":                     # phi(x) (2 - x²)
        return Exp().apply(x * x * -0.5) * (1 / math.sqrt(2 * math.pi)) * (2 - x * x)
    if name == "gelu_tanh":                # (1 - t²) (u' - x t u'² + x u'' / 2)
        k, c = math.sqrt(2 / math.pi), 0.044715
        u = (x + x * x * x * c) * k
        t = 1 - 2 / (Exp().apply(u * 2) + 1)   # tanh u
        du = (x * x * (3 * c) + 1) * k
        return (1 - t * t) * (du - x * t * du * du + x * x * (3 * k * c))
    if name == "silu":                     # s (1 - s) (2 + x (1 - 2 s))
        s = _sigmoid(x)
        return s * (1 - s) * (2 + x * (1 - 2 * s))
    if name == "elu":                      # a e^x for x <= 0
        negative = xa <= 0
        return Exp().apply(x * negative) * (a * negative)
    if name == "softplus":                 # beta s (1 - s), s = sigmoid(beta x), below the threshold
        s = _sigmoid(x * a)
        return s * (1 - s) * (a * (a * xa <= b))
    return x * 0.0                         # leaky_relu: piecewise linear


def _float(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def gelu(input, approximate="none"):  # noqa: A002 (PyTorch's names)
    """GELU, x Φ(x) (Φ the standard normal CDF); ``approximate='tanh'`` is
    0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Pointwise("gelu" if approximate == "none" else "gelu_tanh")(input)


def silu(input, inplace=False):  # noqa: A002
    """SiLU (swish), x σ(x). ``inplace`` is accepted for PyTorch's signature; the result is a
    new tensor either way."""
    return Pointwise("silu")(input)


def elu(input, alpha=1.0, inplace=False):  # noqa: A002
    """ELU: x for x > 0, else alpha (e^x - 1)."""
    return Pointwise("elu", _float("elu: alpha", alpha))(input)


def softplus(input, beta=1.0, threshold=20.0):  # noqa: A002
    """Softplus, log(1 + e^(beta x)) / beta; x itself where beta x > threshold."""
    beta = _float("softplus: beta", beta)
    if beta == 0:
        raise ValueError("softplus: beta must not be 0")
    return Pointwise("softplus", beta, _float("softplus: threshold", threshold))(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002
    """LeakyReLU: x for x > 0, else negative_slope x."""
    return Pointwise("leaky_relu", _float("leaky_relu: negative_slope", negative_slope))(input)
