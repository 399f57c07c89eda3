"""Parameter initialisers with PyTorch's names, signatures and fan rules (``torch.nn.init``).

Each ``*_`` function fills a tensor in place (outside autograd, as under ``no_grad``) and returns
it. Values are drawn from gpugrad's seeded NumPy generator (``gg.manual_seed``; or the
``numpy.random.Generator`` given as ``generator``) in float64 on the host and then cast and
copied to the tensor's device, so a seeded model starts with the same values on every backend.

Fans: PyTorch's rule reads a weight's shape as (out, in, *kernel): fan_in = shape[1] * kernel
size and fan_out = shape[0] * kernel size. gpugrad's ``Linear`` keeps its weight as (in, out),
as in the lecture notes (Y = XW + b), so Linear declares its weight's axes with
:func:`set_fan_axes` and every initialiser here reads fans from the layer's meaning, not the
raw shape: ``kaiming_normal_(linear.weight, mode='fan_out')`` means what it means in PyTorch.
A tensor of your own in the (in, out) layout can declare its axes the same way.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["calculate_gain", "calculate_fan_in_and_fan_out", "set_fan_axes", "uniform_", "normal_",
           "trunc_normal_", "constant_", "zeros_", "ones_", "eye_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_"]

# id(tensor) -> (weak reference to it, fan-in axis, fan-out axis): tensors that declared them
_FAN_AXES: dict = {}


def set_fan_axes(tensor, fan_in_axis, fan_out_axis):
    """Declare which axis of a 2-D ``tensor`` counts its inputs and which its outputs (gpugrad's
    Linear: ``set_fan_axes(weight, 0, 1)``), for every initialiser's fan computation."""
    if tensor.ndim != 2 or {fan_in_axis % 2, fan_out_axis % 2} != {0, 1}:
        raise ValueError(f"set_fan_axes: a 2-D tensor with one input and one output axis, got shape "
                         f"{tensor.shape} and axes ({fan_in_axis}, {fan_out_axis})")
    key = id(tensor)
    _FAN_AXES[key] = (weakref.ref(tensor, lambda _, key=key: _FAN_AXES.pop(key, None)),
                      fan_in_axis % 2, fan_out_axis % 2)
    return tensor


def calculate_fan_in_and_fan_out(tensor):
    """``(fan_in, fan_out)``: PyTorch's rule on the shape (out, in, *kernel), unless the tensor
    declared its axes with :func:`set_fan_axes`."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape {shape}")
    declared = _FAN_AXES.get(id(tensor))
    if declared is not None and declared[0]() is tensor:
        return shape[declared[1]], shape[declared[2]]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table): 1 for linear, conv and sigmoid,
    5/3 for tanh, √2 for relu, √(2 / (1 + slope²)) for leaky_relu (slope ``param``, default
    0.01), 3/4 for selu."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d")
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fill(tensor, values):
    """Write host values into ``tensor``'s array in place (a counted in-place modification)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init fills a Tensor in place, got {type(tensor).__name__}")
    target = tensor.data
    with tensor.device.context():       # the write runs on the tensor's GPU
        target[...] = backend.to_device(np.asarray(values, dtype=target.dtype), tensor.device)
    return tensor


def _generator(generator):
    return backend.cpu_generator() if generator is None else generator


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b)."""
    return _fill(tensor, _generator(generator).uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std²)."""
    return _fill(tensor, _generator(generator).normal(mean, std, size=tensor.shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std²) truncated to [a, b]: values outside are drawn again (the same
    distribution as PyTorch's inverse-CDF method)."""
    mass = (math.erf((b - mean) / (std * math.sqrt(2))) - math.erf((a - mean) / (std * math.sqrt(2)))) / 2
    if not mass > 1e-6:
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds almost none of N({mean}, {std}²)")
    gen = _generator(generator)
    values = gen.normal(mean, std, size=tensor.shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = gen.normal(mean, std, size=int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


def constant_(tensor, val):
    """Fill with ``val``."""
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def eye_(tensor):
    """Fill a 2-D tensor with the identity (ones on the diagonal)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot: U(-a, a) with a = gain · √(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot: N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"kaiming init of a tensor of shape {tuple(tensor.shape)} with no elements")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He: U(-b, b) with b = gain · √(3 / fan), fan by ``mode``, gain by ``nonlinearity`` and
    its negative slope ``a`` (PyTorch's Linear uses a = √5: b = 1/√fan_in)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He: N(0, std²) with std = gain / √fan."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def orthogonal_(tensor, gain=1.0, generator=None):
    """A (semi-)orthogonal matrix (of the tensor flattened to (shape[0], rest)), times gain."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_ needs a tensor of at least 2 dimensions, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = math.prod(tensor.shape) // rows if rows else 0
    flat = _generator(generator).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.shape))
