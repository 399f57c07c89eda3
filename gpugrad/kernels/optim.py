"""Fused, in-place optimizer updates with PyTorch's rules (SGD, Adam): the CUDA kernels of
``kernels/optim.cu`` (arithmetic in ``optim.cuh``) and their NumPy twins. Scalars come from
Python, so an update never waits on the device."""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from . import loader
from .loader import (RAW_SCALAR, check_floating, define_elementwise, define_raw, raw_suffix)

__all__ = ["sgd_step", "adam_step"]

define_raw("optim.cu", "sgd_step", "adam_step")
define_elementwise(
    "sgd_step", "T g, float64 lr, float64 weight_decay", "T p",
    "A p_ = (A)p, buf_ = A(0);"
    " gg::sgd_update(p_, (A)g, buf_, (A)lr, A(0), A(1), (A)weight_decay, false, false, false);"
    " p = (T)p_",
    "optim.cuh")
define_elementwise(
    "sgd_step_momentum",
    "T g, float64 lr, float64 momentum, float64 one_minus_dampening,"
    " float64 weight_decay, int32 nesterov, int32 first_step", "T p, T buf",
    "A p_ = (A)p, buf_ = (A)buf;"
    " gg::sgd_update(p_, (A)g, buf_, (A)lr, (A)momentum, (A)one_minus_dampening,"
    " (A)weight_decay, true, nesterov != 0, first_step != 0);"
    " p = (T)p_; buf = (T)buf_",
    "optim.cuh")
define_elementwise(
    "adam_step",
    "T g, float64 step_size, float64 beta1, float64 one_minus_beta1, float64 beta2,"
    " float64 one_minus_beta2, float64 bias_correction2_sqrt, float64 eps,"
    " float64 weight_decay", "T p, T m, T v",
    "A p_ = (A)p, m_ = (A)m, v_ = (A)v;"
    " gg::adam_update(p_, (A)g, m_, v_, (A)step_size, (A)beta1, (A)one_minus_beta1,"
    " (A)beta2, (A)one_minus_beta2, (A)bias_correction2_sqrt, (A)eps, (A)weight_decay);"
    " p = (T)p_; m = (T)m_; v = (T)v_",
    "optim.cuh")

def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step):
    """One in-place SGD update of parameter p with gradient g (PyTorch's rule); returns None.

    ``g = g + weight_decay * p``; with momentum, ``buf = g`` on the first step, else
    ``buf = momentum * buf + (1 - dampening) * g``, then ``g = g + momentum * buf`` (nesterov)
    or ``g = buf``; finally ``p -= lr * g``. p and buf are updated in place, g is not
    modified. buf may be None when momentum == 0. Scalars are Python numbers.
    """
    use_momentum = momentum != 0
    if g.shape != p.shape or (use_momentum and (buf is None or buf.shape != p.shape)):
        raise ValueError(f"sgd_step: shapes differ (p {p.shape}, g {g.shape}, "
                         f"buf {None if buf is None else buf.shape}); momentum needs a buffer")
    if backend.array_module(p) is np:
        _sgd_step_np(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step,
                     use_momentum)
        return None
    arrays = (p, g, buf) if use_momentum else (p, g)
    suffix = raw_suffix(*arrays)
    if suffix is None:
        check_floating("sgd_step", *arrays)
        if use_momentum:
            loader.launch_elementwise("sgd_step_momentum", g, lr, momentum, 1.0 - dampening,
                                weight_decay, int(bool(nesterov)), int(bool(first_step)),
                                p, buf)
        else:
            loader.launch_elementwise("sgd_step", g, lr, weight_decay, p)
        return None
    T = RAW_SCALAR[suffix]
    n = p.size
    if n:
        loader.launch_flat(f"sgd_step_{suffix}", n, p.itemsize, (
            p, g, buf if use_momentum else p, np.int64(n), T(lr), T(momentum),
            T(1.0 - dampening), T(weight_decay), np.int32(use_momentum),
            np.int32(bool(nesterov)), np.int32(bool(first_step))))
    return None


def _sgd_step_np(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step,
                 use_momentum):
    # d is the update direction; `owned` says it is a temporary of ours we may scale in place.
    d, owned = g, False
    if weight_decay != 0:
        d = np.multiply(p, weight_decay)
        d += g                                   # g + weight_decay * p
        owned = True
    if use_momentum:
        if first_step:
            np.copyto(buf, d)                    # buf = g
        else:
            buf *= momentum
            if dampening != 0:
                buf += np.multiply(d, 1.0 - dampening)
            else:
                buf += d                         # (1 - 0) * g == g exactly
        if nesterov:
            t = np.multiply(buf, momentum)
            t += d                               # g + momentum * buf
            d, owned = t, True
        else:
            d, owned = buf, False
    if owned:
        d *= lr
    else:
        d = np.multiply(d, lr)
    p -= d                                       # p - lr * g


def adam_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """One in-place Adam update (PyTorch's rule, without amsgrad); returns None.

    ``g = g + weight_decay * p``; ``m = beta1 * m + (1 - beta1) * g``;
    ``v = beta2 * v + (1 - beta2) * g * g``;
    ``p -= lr / (1 - beta1**step) * (m / (sqrt(v) / sqrt(1 - beta2**step) + eps))``.
    ``step`` is the 1-based number of this update (t in the bias corrections). p, m and v are
    updated in place, g is not modified. Scalars are Python numbers.
    """
    if not (g.shape == m.shape == v.shape == p.shape):
        raise ValueError(f"adam_step: shapes differ (p {p.shape}, g {g.shape}, m {m.shape}, "
                         f"v {v.shape})")
    if step < 1:
        raise ValueError(f"adam_step: step counts from 1, got {step}")
    step_size = lr / (1.0 - beta1 ** step)
    bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** step)
    if backend.array_module(p) is np:
        _adam_step_np(p, g, m, v, step_size, beta1, beta2, bias_correction2_sqrt, eps,
                      weight_decay)
        return None
    scalars = (step_size, beta1, 1.0 - beta1, beta2, 1.0 - beta2, bias_correction2_sqrt,
               eps, weight_decay)
    suffix = raw_suffix(p, g, m, v)
    if suffix is None:
        check_floating("adam_step", p, g, m, v)
        loader.launch_elementwise("adam_step", g, *scalars, p, m, v)
        return None
    T = RAW_SCALAR[suffix]
    n = p.size
    if n:
        loader.launch_flat(f"adam_step_{suffix}", n, p.itemsize,
                     (p, g, m, v, np.int64(n), *(T(s) for s in scalars)))
    return None


def _adam_step_np(p, g, m, v, step_size, beta1, beta2, bias_correction2_sqrt, eps,
                  weight_decay):
    if weight_decay != 0:
        d = np.multiply(p, weight_decay)
        d += g                                   # g + weight_decay * p
    else:
        d = g
    t = np.multiply(d, 1.0 - beta1, out=np.empty_like(p))   # the one scratch array
    m *= beta1
    m += t                                       # beta1 * m + (1 - beta1) * g
    np.multiply(d, d, out=t)
    t *= 1.0 - beta2
    v *= beta2
    v += t                                       # beta2 * v + (1 - beta2) * g * g
    np.sqrt(v, out=t)
    t /= bias_correction2_sqrt
    t += eps                                     # sqrt(v) / sqrt(1 - beta2^t) + eps
    np.divide(m, t, out=t)
    t *= step_size
    p -= t                                       # p - step_size * (m / denom)
