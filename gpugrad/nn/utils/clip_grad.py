"""Gradient clipping with PyTorch's signatures (``torch.nn.utils.clip_grad``).

``clip_grad_norm_`` scales every gradient by ``min(max_norm / (total_norm + 1e-6), 1)``, where
``total_norm`` is the ``norm_type``-norm of all the gradients taken together. On a GPU that is one
fused reduction kernel per gradient into one buffer of partial sums and one kernel that finishes
the norm and the factor (``gpugrad.kernels.total_norm``), then one in-place multiply per
gradient: the factor stays on the device, so nothing waits for the GPU unless the caller reads
the returned norm (or asks for ``error_if_nonfinite``, which must read it). ``foreach`` is
accepted for PyTorch's signature; the work is fused either way.
"""
from __future__ import annotations

import math

import numpy as np

from ... import kernels
from ...backend import CPU, to_device
from ...tensor import Tensor, wrap

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _grads(parameters):
    params = _as_list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"gradient clipping takes tensors (e.g. model.parameters()), got a {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def _by_device(tensors):
    groups = {}
    for t in tensors:
        groups.setdefault(t.device, []).append(t.array)
    return groups


def _norm_and_coef(grads, norm_type, max_norm):
    """(total norm, clip factor) as 0-d arrays on the first gradient's device."""
    groups = _by_device(grads)
    first = grads[0].device
    if len(groups) == 1:
        with first.context():
            return kernels.total_norm(groups[first], norm_type, max_norm)
    norms = []
    for dev, arrays in groups.items():
        with dev.context():
            norms.append(kernels.total_norm(arrays, norm_type)[0])
    with first.context():           # the norm of the per-device norms, on the first device
        xp = first.xp
        stacked = xp.stack([to_device(n, first) for n in norms]).astype(
            max((n.dtype for n in norms), key=lambda d: d.itemsize))
        total = stacked.max() if math.isinf(norm_type) else (stacked ** norm_type).sum() ** (1.0 / norm_type)
        return total, xp.minimum(max_norm / (total + 1e-6), 1.0).astype(total.dtype)


def _check_finite(total, norm_type, error_if_nonfinite):
    if error_if_nonfinite and not math.isfinite(float(total)):    # the one host read
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is non-finite "
                           f"({float(total)}), so it cannot be clipped; pass error_if_nonfinite=False "
                           "to scale the gradients by it anyway")


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm (p > 0 or inf) of all ``tensors`` taken together, as a 0-d
    tensor on the first one's device (float64 if any is float64, else float32)."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return wrap(kernels.total_norm([], norm_type)[0], CPU)
    norm, _ = _norm_and_coef(tensors, norm_type, math.inf)
    _check_finite(norm, norm_type, error_if_nonfinite)
    return wrap(norm, tensors[0].device)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients of ``parameters`` in place by ``min(max_norm / (total_norm + 1e-6), 1)``
    (``total_norm`` a number or a 0-d tensor, e.g. from get_total_norm)."""
    grads = _grads(parameters)
    if not grads:
        return
    total = total_norm.array if isinstance(total_norm, Tensor) else total_norm
    first = grads[0].device
    with first.context():
        xp = first.xp
        total = xp.asarray(to_device(total, first) if not isinstance(total, (int, float)) else total)
        coef = xp.minimum(float(max_norm) / (total + 1e-6), 1.0)
    _scale(grads, coef)


def _scale(grads, coef):
    for g in grads:
        with g.device.context(), np.errstate(invalid="ignore"):   # inf * 0 is NaN, silently
            array = g.data                          # in place: counts as a modification
            array *= to_device(coef, g.device).astype(array.dtype, copy=False)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradients of ``parameters`` (a tensor or an iterable of them) in place so that
    their ``norm_type``-norm, taken together, is at most about ``max_norm``; returns that total
    norm (before clipping) as a 0-d tensor, which stays on the device until you read it."""
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return wrap(kernels.total_norm([], norm_type)[0], CPU)
    norm, coef = _norm_and_coef(grads, norm_type, float(max_norm))
    _check_finite(norm, norm_type, error_if_nonfinite)
    _scale(grads, coef)
    return wrap(norm, grads[0].device)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        with g.device.context():
            array = g.data
            g.device.xp.clip(array, -clip_value, clip_value, out=array)
