"""The activations with a smooth or parametric form (GELU, its tanh approximation, SiLU, ELU,
Softplus, LeakyReLU), forward from x and backward from (x, dy), one launch each way: the CUDA
kernels of ``kernels/pointwise.cu`` (arithmetic in ``pointwise.cuh``), or their NumPy twins.
An activation's parameters are ``a`` and ``b`` (ELU's alpha; Softplus's beta and threshold;
LeakyReLU's negative slope)."""
from __future__ import annotations

import numpy as np

from .. import backend
from . import loader
from .loader import RAW_SCALAR, check_floating, define_elementwise, define_raw, raw_suffix
from .special import erfc

__all__ = ["POINTWISE_CODES", "pointwise_fwd", "pointwise_bwd"]

#: The activations of the family, by name, with their codes in pointwise.cuh.
POINTWISE_CODES = {"gelu": 0, "gelu_tanh": 1, "silu": 2, "elu": 3, "softplus": 4, "leaky_relu": 5}

define_raw("pointwise.cu", "pointwise_fwd", "pointwise_bwd")
define_elementwise("pointwise_fwd", "T x, int32 code, float64 a, float64 b", "T y",
                   "y = (T)gg::pointwise_fwd(code, (A)x, (A)a, (A)b)", "pointwise.cuh")
define_elementwise("pointwise_bwd", "T x, T dy, int32 code, float64 a, float64 b", "T dx",
                   "dx = (T)gg::pointwise_bwd(code, (A)x, (A)dy, (A)a, (A)b)", "pointwise.cuh")

_SQRT1_2 = 0.70710678118654752440
_INV_SQRT_2PI = 0.39894228040143267794
_K = 0.79788456080286535588       # sqrt(2 / pi)
_C = 0.044715


def pointwise_fwd(name, x, a=0.0, b=0.0):
    """``y = f(x)`` elementwise for the activation ``name`` (a key of POINTWISE_CODES)."""
    code = _code(name)
    if backend.array_module(x) is np:
        check_floating(f"pointwise_fwd ({name})", x)
        with np.errstate(over="ignore"):
            return np.asarray(_FORWARD[name](x, x.dtype.type(a), x.dtype.type(b)))
    return _launch("pointwise_fwd", code, a, b, x)


def pointwise_bwd(name, x, gy, a=0.0, b=0.0):
    """``dx = dy f'(x)`` elementwise, from the forward's input x."""
    code = _code(name)
    if backend.array_module(x) is np:
        check_floating(f"pointwise_bwd ({name})", x, gy)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(_BACKWARD[name](x, gy, x.dtype.type(a), x.dtype.type(b)))
    return _launch("pointwise_bwd", code, a, b, x, gy)


def _code(name):
    code = POINTWISE_CODES.get(name)
    if code is None:
        raise ValueError(f"unknown pointwise activation {name!r}: expected one of "
                         f"{sorted(POINTWISE_CODES)}")
    return code


def _launch(kernel, code, a, b, *inputs):
    suffix = raw_suffix(*inputs)
    if suffix is None:
        check_floating(kernel, *inputs)
        return loader.launch_elementwise(kernel, *inputs, int(code), float(a), float(b))
    out = backend.cupy_module().empty_like(inputs[0])
    n = out.size
    if n:
        T = RAW_SCALAR[suffix]
        loader.launch_flat(f"{kernel}_{suffix}", n, out.itemsize,
                           (*inputs, out, np.int64(n), np.int32(code), T(a), T(b)))
    return out


# --------------------------------------------------------------------------- the twins
# Each evaluates its pointwise.cuh formula in x's dtype (erfc in float64, rounded once).

def _gelu_cdf(x):
    return 0.5 * erfc(-x * x.dtype.type(_SQRT1_2))


def _gelu_fwd(x, a, b):
    return x * _gelu_cdf(x)


def _gelu_bwd(x, gy, a, b):
    pdf = np.exp(x * x * x.dtype.type(-0.5)) * x.dtype.type(_INV_SQRT_2PI)
    pdf *= x
    pdf += _gelu_cdf(x)
    return gy * pdf


def _tanh_inner(x):
    return x.dtype.type(_K) * (x + x.dtype.type(_C) * x * x * x)


def _gelu_tanh_fwd(x, a, b):
    t = np.tanh(_tanh_inner(x))
    t += 1
    return x.dtype.type(0.5) * x * t


def _gelu_tanh_bwd(x, gy, a, b):
    t = np.tanh(_tanh_inner(x))
    du = x.dtype.type(_K) * (1 + x.dtype.type(3 * _C) * x * x)
    return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)


def _silu_fwd(x, a, b):
    return x / (1 + np.exp(-x))


def _silu_bwd(x, gy, a, b):
    s = 1 / (1 + np.exp(-x))
    return gy * (s * (1 + x * (1 - s)))


def _elu_fwd(x, a, b):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


def _elu_bwd(x, gy, a, b):
    return np.where(x > 0, gy, gy * (a * np.exp(np.minimum(x, 0))))


def _softplus_fwd(x, a, b):
    ax = a * x
    return np.where(ax > b, x, np.log1p(np.exp(np.minimum(ax, b))) / a)


def _softplus_bwd(x, gy, a, b):
    ax = a * x
    z = np.exp(np.minimum(ax, b))
    return np.where(ax > b, gy, gy * z / (z + 1))


def _leaky_relu_fwd(x, a, b):
    return np.where(x > 0, x, x * a)


def _leaky_relu_bwd(x, gy, a, b):
    return np.where(x > 0, gy, gy * a)


_FORWARD = {"gelu": _gelu_fwd, "gelu_tanh": _gelu_tanh_fwd, "silu": _silu_fwd, "elu": _elu_fwd,
            "softplus": _softplus_fwd, "leaky_relu": _leaky_relu_fwd}
_BACKWARD = {"gelu": _gelu_bwd, "gelu_tanh": _gelu_tanh_bwd, "silu": _silu_bwd, "elu": _elu_bwd,
             "softplus": _softplus_bwd, "leaky_relu": _leaky_relu_bwd}
