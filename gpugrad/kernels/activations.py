"""The activation gates: sigmoid and ReLU forward and backward, and the affine layer's bias-add
fused with its activation. Each function takes NumPy or CuPy arrays and dispatches on the array
module: the NumPy *twin* (the CPU backend's hot path and the GPU tests' oracle), or the CUDA
kernels of ``kernels/activations.cu`` (arithmetic in ``activations.cuh``).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import loader
from .loader import (BLOCK_SIZE, PACK_BYTES, check_floating, define_elementwise, define_raw,
                     raw_suffix)

__all__ = ["ACTIVATION_CODES", "sigmoid_fwd", "sigmoid_bwd", "relu_fwd", "relu_bwd",
           "activation_fwd", "activation_bwd", "bias_act_fwd"]

#: The activations the kernels fuse, by name, with their codes in activations.cuh.
ACTIVATION_CODES = {"relu": 1, "sigmoid": 2}

define_raw("activations.cu", "sigmoid_fwd", "sigmoid_bwd", "relu_fwd", "relu_bwd",
           "bias_act_fwd", "bias_act_fwd_vec")
define_elementwise("sigmoid_fwd", "T x", "T y", "y = (T)gg::sigmoid_fwd((A)x)", "activations.cuh")
define_elementwise("sigmoid_bwd", "T y, T gy", "T gx", "gx = (T)gg::sigmoid_bwd((A)y, (A)gy)",
                   "activations.cuh")
define_elementwise("relu_fwd", "T x", "T y", "y = (T)gg::relu_fwd((A)x)", "activations.cuh")
define_elementwise("relu_bwd", "T y, T gy", "T gx", "gx = (T)gg::relu_bwd((A)y, (A)gy)",
                   "activations.cuh")
define_elementwise("bias_act_fwd", "T z, T b, int32 act", "T y",
                   "y = (T)gg::bias_act_fwd(act, (A)z, (A)b)", "activations.cuh")
define_elementwise("bias_act_fwd_inplace", "T b, int32 act", "T z",
                   "z = (T)gg::bias_act_fwd(act, (A)z, (A)b)", "activations.cuh")


def sigmoid_fwd(x):
    """``y = 1 / (1 + exp(-x))`` elementwise; stable for any x: no overflow, and 0 and 1 in
    the limits (only a NaN input gives NaN)."""
    if backend.array_module(x) is np:
        return _sigmoid_np(x)
    return loader.map_cuda("sigmoid_fwd", x)


def sigmoid_bwd(y, gy):
    """``gx = gy * y * (1 - y)``, from the saved forward output y."""
    if backend.array_module(y) is np:
        gx = np.subtract(1, y, out=np.empty_like(y))   # 1 - y (an array even for 0-d y)
        gx *= y                      # y * (1 - y)
        gx *= gy                     # gy * (y * (1 - y)), the kernel's order
        return gx
    return loader.map_cuda("sigmoid_bwd", y, gy)


def relu_fwd(x):
    """``y = max(x, 0)`` elementwise (NaN propagates)."""
    if backend.array_module(x) is np:
        return np.maximum(x, 0, out=np.empty_like(x))
    return loader.map_cuda("relu_fwd", x)


def relu_bwd(y, gy):
    """``gx = gy where y > 0 else 0``, from the saved forward output y (y > 0 iff x > 0)."""
    if backend.array_module(y) is np:
        return _relu_bwd_np(y, gy)
    return loader.map_cuda("relu_bwd", y, gy)


_FORWARD = {"relu": relu_fwd, "sigmoid": sigmoid_fwd}
_BACKWARD = {"relu": relu_bwd, "sigmoid": sigmoid_bwd}


def activation_fwd(activation, x):
    """A fused activation (a key of ACTIVATION_CODES) on its own, without a bias."""
    return _FORWARD[activation](x)


def activation_bwd(activation, y, gy):
    """The backward of a fused activation (a key of ACTIVATION_CODES) from its saved output."""
    return _BACKWARD[activation](y, gy)


_SAME_SIZE_INT = {np.dtype(np.float16): np.int16, np.dtype(np.float32): np.int32,
                  np.dtype(np.float64): np.int64}


def _relu_bwd_np(y, gy):
    """The ReLU backward twin, a select like the kernel's (NaN or inf in gy where y <= 0
    still gives 0), done on the bits: ``keep = -(y > 0)`` is all ones where y > 0 and all
    zeros elsewhere, and ``gx = gy & keep``. As fast as ``gy * (y > 0)``; np.where is ~10x
    slower on a random mask."""
    gy = np.asarray(gy)
    int_type = _SAME_SIZE_INT.get(gy.dtype)
    if int_type is None or np.shape(y) != gy.shape:
        return np.asarray(np.where(y > 0, gy, gy.dtype.type(0)))
    keep = np.greater(y, 0, out=np.empty(gy.shape, int_type))   # 1 / 0
    np.negative(keep, out=keep)                                  # all ones / all zeros
    np.bitwise_and(keep, gy.view(int_type), out=keep)
    return keep.view(gy.dtype)


def _sigmoid_np(x, out=None):
    """The sigmoid twin, ``1 / (1 + exp(-x))`` in four in-place passes. ``exp(-x)`` overflows
    to inf for x < -88 (float32) / -709 (float64); the result there is 1/inf = 0, the correct
    limit (the kernel returns ``exp(x)``, which differs by less than the smallest normal)."""
    with np.errstate(over="ignore"):
        y = np.negative(x, out=np.empty_like(x) if out is None else out)
        np.exp(y, out=y)
    y += 1
    return np.reciprocal(y, out=y)


def bias_act_fwd(z, b, activation=None, out=None):
    """``y = act(z + b)``, the bias b of shape (N,) broadcast over the rows of z (..., N).

    ``activation`` is None (or 'none') or a key of ACTIVATION_CODES. With ``out`` given (it may
    be z itself, for an in-place update) the result is written there and ``out`` is returned.
    """
    act = 0 if activation in (None, "none") else ACTIVATION_CODES.get(activation)
    if act is None:
        raise ValueError(f"activation must be None or one of {sorted(ACTIVATION_CODES)}, "
                         f"got {activation!r}")
    if b.ndim != 1 or z.ndim < 1 or z.shape[-1] != b.shape[0]:
        raise ValueError(f"bias_act_fwd: bias of shape {b.shape} does not match the last axis "
                         f"of z of shape {z.shape}")
    if backend.array_module(z) is np:
        y = np.add(z, b, out=out)
        if act == ACTIVATION_CODES["relu"]:
            np.maximum(y, 0, out=y)
        elif act == ACTIVATION_CODES["sigmoid"]:
            _sigmoid_np(y, out=y)
        return y
    return _bias_act_cuda(z, b, act, out)


def _bias_act_cuda(z, b, act, out):
    cp = backend.cupy_module()
    if b.dtype != z.dtype:
        raise TypeError(f"bias_act_fwd: bias dtype {b.dtype} differs from z dtype {z.dtype}")
    if out is not None and (out.shape != z.shape or out.dtype != z.dtype):
        raise ValueError(f"bias_act_fwd: out has shape {out.shape} and dtype {out.dtype}, "
                         f"z has {z.shape} and {z.dtype}")
    suffix = raw_suffix(z, *(() if out is None else (out,)))
    if suffix is None or not b.flags.c_contiguous or b.data.ptr % PACK_BYTES:
        check_floating("bias_act_fwd", z, b)
        if out is z:
            loader.launch_elementwise("bias_act_fwd_inplace", b, act, z)
            return z
        if out is None:
            return loader.launch_elementwise("bias_act_fwd", z, b, act)
        return loader.launch_elementwise("bias_act_fwd", z, b, act, out)
    y = cp.empty_like(z) if out is None else out
    cols = b.shape[0]
    rows = z.size // cols if cols else 0
    if rows == 0:
        return y
    per_pack = PACK_BYTES // z.itemsize
    if cols % per_pack == 0:
        name, units = f"bias_act_fwd_vec_{suffix}", cols // per_pack
    else:
        name, units = f"bias_act_fwd_{suffix}", cols
    # Block: x over column units (a multiple of a warp), y over rows, 256 threads in all.
    bx = min(BLOCK_SIZE, (units + 31) // 32 * 32)
    by = BLOCK_SIZE // bx
    grid = ((units + bx - 1) // bx, min((rows + by - 1) // by, 65535))
    loader.raw_kernel(name)(grid, (bx, by), (z, b, y, np.int64(rows), np.int64(cols), np.int32(act)))
    return y
