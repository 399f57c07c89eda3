"""Batch normalisation (``F.batch_norm``): per channel (axis 1), over the batch and every axis after
the channels.

Training (batch statistics), per channel, with n the number of values it normalises:

    μ = Σ x / n,   σ² = Σ (x - μ)² / n,   x̂ = (x - μ) / √(σ² + ε),   y = γ x̂ + β
    dβ = Σ dy,     dγ = Σ dy x̂,           dx = γ / √(σ² + ε) · (dy - dβ / n - x̂ dγ / n)

The statistics are BLAS products (``kernels.batch_norm_stats``, ``channel_sums``/``channel_dots``)
and each map over the data one fused pass (``kernels.batch_norm_apply``/``batch_norm_grad``). The running
statistics move by ``momentum`` toward the batch's mean and *unbiased* variance, as PyTorch's.

Evaluation uses the running statistics: y = x · (γ / √(σ²_run + ε)) + (β - μ_run γ / √(σ²_run + ε)),
an affine map composed of existing ops.
"""
from __future__ import annotations

from .. import backend, kernels
from ..autograd import Op, no_grad
from ..tensor import Tensor, wrap

__all__ = ["batch_norm", "BatchNorm"]


def _as_channels(a):
    """a (N, C, ...) as a C-contiguous (N, C, P) array."""
    xp = backend.array_module(a)
    return xp.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


class BatchNorm(Op):
    """y = γ (x - μ) / √(σ² + ε) + β with the batch's μ and σ² per channel (see the module).
    Keeps the batch statistics in ``batch_mean`` and ``batch_var`` (biased) for the running ones."""

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, weight=None, bias=None):
        xp = backend.array_module(x)
        x3 = _as_channels(x)
        n = x3.shape[0] * x3.shape[2]
        mean, var, centered = kernels.batch_norm_stats(x3)
        invstd = 1 / xp.sqrt(var + x.dtype.type(self.eps))
        scale = invstd if weight is None else invstd * weight
        shift = xp.zeros_like(mean) if bias is None else bias
        self.batch_mean, self.batch_var, self.n = mean, var, n
        self.save_for_backward(x, weight, mean, invstd)
        return kernels.batch_norm_apply(x3, mean, scale, shift, centered).reshape(x.shape)

    def backward(self, gy):
        x, weight, mean, invstd = self.saved
        if isinstance(gy, Tensor):
            return self._recorded_backward(x, weight, gy)
        need = self.needs_input_grad
        x3, gy3 = _as_channels(x), _as_channels(gy)
        sum_gy = kernels.channel_sums(gy3)
        # Σ dy (x - μ) = Σ dy x - μ Σ dy: no centred copy of x
        sum_gy_xhat = (kernels.channel_dots(gy3, x3) - mean * sum_gy) * invstd
        gx = None
        if need[0]:
            nn = x.dtype.type(self.n)
            a = invstd if weight is None else weight * invstd
            b = -a * invstd * sum_gy_xhat / nn
            gx = kernels.batch_norm_grad(x3, gy3, a, b, -a * sum_gy / nn - mean * b).reshape(x.shape)
        return self._grads(gx, sum_gy_xhat, sum_gy)

    def _grads(self, gx, gweight, gbias):
        need = self.needs_input_grad
        return (gx,) + tuple(g if len(need) > i and need[i] else None
                             for i, g in ((1, gweight), (2, gbias)))[:len(need) - 1]

    def _recorded_backward(self, x, weight, gy):
        """The same formulas as ops, with μ and σ² recomputed from x as nodes of the graph (the
        saved statistics are intermediates: constants to a recorded backward)."""
        axes = (0,) + tuple(range(2, x.ndim))
        per_channel = (1, -1) + (1,) * (x.ndim - 2)
        centered = x - x.mean(axis=axes, keepdims=True)
        invstd = ((centered * centered).mean(axis=axes, keepdims=True) + self.eps) ** -0.5
        xhat = centered * invstd
        sum_gy = gy.sum(axis=axes)
        sum_gy_xhat = (gy * xhat).sum(axis=axes)
        k = invstd if weight is None else weight.reshape(per_channel) * invstd
        gx = None
        if self.needs_input_grad[0]:
            gx = k * (gy - sum_gy.reshape(per_channel) / self.n
                      - xhat * sum_gy_xhat.reshape(per_channel) / self.n)
        return self._grads(gx, sum_gy_xhat, sum_gy)


def _check(x, running_mean, running_var, weight, bias, training):
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm: needs a floating-point input, got {x.dtype}")
    channels = x.shape[1]
    for what, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (channels,):
            raise ValueError(f"batch_norm: {what} of shape {tuple(t.shape)} does not match the "
                             f"{channels} channels of an input of shape {tuple(x.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"batch_norm: {what} of dtype {t.dtype} differs from the input's {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"batch_norm: an empty input of shape {x.shape} has no statistics")
    if training and x.shape[0] * (x.numel() // max(1, x.shape[0] * channels)) == 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got an "
                         f"input of shape {tuple(x.shape)}")


def _update_running(stat, batch_value, momentum):
    """stat ← (1 - momentum) stat + momentum batch_value, in place (outside autograd)."""
    arr = stat.data
    with stat.device.context():
        arr *= 1 - momentum
        arr += (momentum * batch_value).astype(arr.dtype, copy=False)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """PyTorch's ``F.batch_norm``: batch statistics when ``training`` (the running statistics,
    when given, move toward them by ``momentum``: the mean and the unbiased variance), else the
    running statistics."""
    _check(input, running_mean, running_var, weight, bias, training)
    if training:
        op = BatchNorm(eps)
        y = op(input, weight, bias)
        if running_mean is not None or running_var is not None:
            with no_grad():
                if running_mean is not None:
                    _update_running(running_mean, op.batch_mean, momentum)
                if running_var is not None:
                    _update_running(running_var, op.batch_var * (op.n / (op.n - 1)), momentum)
        return y
    per_channel = (1, -1) + (1,) * (input.ndim - 2)
    dev, xp = input.device, input.device.xp
    with dev.context():
        invstd = wrap((1 / xp.sqrt(running_var.array + eps)).astype(input.dtype, copy=False), dev)
        neg_mean = wrap(-running_mean.array.astype(input.dtype, copy=False), dev)
    scale = invstd if weight is None else weight * invstd
    shift = neg_mean * scale if bias is None else neg_mean * scale + bias
    return input * scale.reshape(per_channel) + shift.reshape(per_channel)
