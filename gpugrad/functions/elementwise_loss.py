"""Losses that compare an input with a target of its own shape, element by element: mse, l1,
smooth L1, binary cross-entropy (on probabilities, and on logits with ``pos_weight``); and
:func:`reduce_loss`, the ``reduction=`` ('mean' | 'sum' | 'none') every loss shares.

Each is written with differentiable ops, so its gradient is differentiable again; the target
may require grad too, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from ..creation import tensor
from ..tensor import Tensor
from .arithmetic import abs, clamp, log
from .pointwise import softplus
from .selection import where

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "reduce_loss", "REDUCTIONS"]

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def reduce_loss(loss, reduction, op):
    """The per-element ``loss`` as ``reduction`` says: its mean, its sum, or itself."""
    if reduction == "none":
        return loss
    if reduction == "mean" and loss.numel() == 0:
        raise ValueError(f"{op}: the mean over an empty input of shape {loss.shape} is "
                         "undefined; use reduction='sum' or 'none'")
    return loss.mean() if reduction == "mean" else loss.sum()


def _pair(op, input, target, reduction):  # noqa: A002 (PyTorch's names)
    """``target`` as a Tensor of ``input``'s shape, dtype and device, checked."""
    check_reduction(op, reduction)
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if not isinstance(target, Tensor):   # a list, an ndarray, a number: the same shape rule
        target = tensor(target, dtype=input.dtype if input.dtype.kind == "f" else None,
                        device=input.device)
    if target.shape != input.shape:
        raise ValueError(f"{op}: input of shape {input.shape} and target of shape "
                         f"{target.shape} differ")
    if target.device is not input.device:
        raise RuntimeError(f"{op}: input is on {input.device} but target is on {target.device}")
    if input.dtype.kind != "f" or target.dtype.kind != "f":
        raise TypeError(f"{op}: input and target must be floating point, got dtypes "
                        f"{input.dtype} and {target.dtype}")
    return target


def _weighted(op, loss, weight):
    """``loss * weight`` (weight broadcast to loss's shape), or loss without one."""
    if weight is None:
        return loss
    if isinstance(weight, Tensor) and weight.device is not loss.device:
        raise RuntimeError(f"{op}: weight is on {weight.device} but the input on {loss.device}")
    return loss * weight


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    """Mean squared error: (input - target)², reduced."""
    target = _pair("mse_loss", input, target, reduction)
    diff = input - target
    return reduce_loss(diff * diff, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):  # noqa: A002
    """Mean absolute error: |input - target|, reduced."""
    target = _pair("l1_loss", input, target, reduction)
    return reduce_loss(abs(input - target), reduction, "l1_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):  # noqa: A002
    """Huber-like: 0.5 d² / beta where d = |input - target| < beta, else d - 0.5 beta
    (beta = 0: the L1 loss)."""
    target = _pair("smooth_l1_loss", input, target, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    d = abs(input - target)
    if beta == 0:
        return reduce_loss(d, reduction, "smooth_l1_loss")
    return reduce_loss(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction,
                       "smooth_l1_loss")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):  # noqa: A002
    """-(t log x + (1 - t) log(1 - x)) for probabilities x in [0, 1], each log clamped at
    -100 as PyTorch does (so x = 0 or 1 gives a finite loss). The range of x is checked on the
    CPU; on a GPU that would be a host synchronisation, and x outside [0, 1] gives nan."""
    target = _pair("binary_cross_entropy", input, target, reduction)
    if input.numel() and input.device.type == "cpu" and (input.array.min() < 0 or input.array.max() > 1):
        lo, hi = float(input.array.min()), float(input.array.max())
        raise ValueError(f"binary_cross_entropy: input must be probabilities in [0, 1], got "
                         f"values in [{lo}, {hi}] (for scores, use binary_cross_entropy_with_logits)")
    with np.errstate(divide="ignore"):          # log(0) = -inf, clamped to -100
        loss = -(target * clamp(log(input), min=-100.0)
                 + (1 - target) * clamp(log(1 - input), min=-100.0))
    return reduce_loss(_weighted("binary_cross_entropy", loss, weight), reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",  # noqa: A002
                                     pos_weight=None):
    """Sigmoid and binary cross-entropy in one stable formula:
    (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x), softplus(-x) = relu(-x) +
    softplus(-|x|) (never overflows). ``pos_weight`` weighs the positive class, broadcast along
    the last (class) axis."""
    target = _pair("binary_cross_entropy_with_logits", input, target, reduction)
    stable = (-input).relu() + softplus(-abs(input))
    if pos_weight is None:
        loss = (1 - target) * input + stable
    else:
        loss = (1 - target) * input + (target * (pos_weight - 1) + 1) * stable
    return reduce_loss(_weighted("binary_cross_entropy_with_logits", loss, weight), reduction,
                       "binary_cross_entropy_with_logits")
