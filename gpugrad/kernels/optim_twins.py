"""The NumPy twins of the optimizer updates of ``kernels/optim.cuh``: each follows its
``gg::<family>_update`` operation by operation (the same roundings), with in-place ufuncs and at
most one scratch array, and takes the kernel's arguments in the kernel's order. ``d`` is the
gradient as the rule uses it."""
from __future__ import annotations

import numpy as np

__all__ = ["sgd_np", "adam_np", "rmsprop_np", "adagrad_np"]


def _direction(p, g, weight_decay, maximize):
    """``-g`` if maximize, plus ``weight_decay * p``: a new array, or g itself when neither."""
    d = np.negative(g) if maximize else g
    if weight_decay != 0:
        t = np.multiply(p, weight_decay)
        t += d
        d = t
    return d


def sgd_np(p, g, buf, lr, momentum, one_minus_dampening, weight_decay, use_momentum,
           nesterov, first_step, maximize):
    d = _direction(p, g, weight_decay, maximize)
    owned = d is not g                           # a temporary of ours we may scale in place
    if use_momentum:
        if first_step:
            np.copyto(buf, d)                    # buf = g
        else:
            buf *= momentum
            buf += d if one_minus_dampening == 1 else np.multiply(d, one_minus_dampening)
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


def adam_np(p, g, m, v, v_max, step_size, beta1, one_minus_beta1, beta2, one_minus_beta2,
            bias_correction2_sqrt, eps, weight_decay, param_scale, amsgrad, maximize):
    d = _direction(p, g, weight_decay, maximize)
    if param_scale != 1:
        p *= param_scale                         # AdamW's decoupled decay
    t = np.multiply(d, one_minus_beta1, out=np.empty_like(p))   # the one scratch array
    m *= beta1
    m += t                                       # beta1 * m + (1 - beta1) * g
    np.multiply(d, d, out=t)
    t *= one_minus_beta2
    v *= beta2
    v += t                                       # beta2 * v + (1 - beta2) * g * g
    if amsgrad:
        np.maximum(v_max, v, out=v_max)
    np.sqrt(v_max if amsgrad else v, out=t)
    t /= bias_correction2_sqrt
    t += eps                                     # sqrt(v) / sqrt(1 - beta2^t) + eps
    np.divide(m, t, out=t)
    t *= step_size
    p -= t                                       # p - step_size * (m / denom)


def rmsprop_np(p, g, square_avg, grad_avg, buf, lr, alpha, one_minus_alpha, eps,
               weight_decay, momentum, centered, use_momentum, maximize):
    d = _direction(p, g, weight_decay, maximize)
    t = np.multiply(d, d, out=np.empty_like(p))
    t *= one_minus_alpha
    square_avg *= alpha
    square_avg += t                              # alpha * sq + (1 - alpha) * g * g
    if centered:
        np.multiply(d, one_minus_alpha, out=t)
        grad_avg *= alpha
        grad_avg += t                            # alpha * ga + (1 - alpha) * g
        np.multiply(grad_avg, grad_avg, out=t)
        np.subtract(square_avg, t, out=t)
        with np.errstate(invalid="ignore"):      # NaN where rounding made it negative, as torch
            np.sqrt(t, out=t)
    else:
        np.sqrt(square_avg, out=t)
    t += eps                                     # avg
    np.divide(d, t, out=t)                       # g / avg
    if use_momentum:
        buf *= momentum
        buf += t                                 # momentum * buf + g / avg
        np.multiply(buf, lr, out=t)
    else:
        t *= lr
    p -= t


def adagrad_np(p, g, state_sum, clr, eps, weight_decay, maximize):
    d = _direction(p, g, weight_decay, maximize)
    t = np.multiply(d, d, out=np.empty_like(p))
    state_sum += t                               # sum + g * g
    np.sqrt(state_sum, out=t)
    t += eps
    np.divide(d, t, out=t)
    t *= clr
    p -= t                                       # p - clr * (g / (sqrt(sum) + eps))
