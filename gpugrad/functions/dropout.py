"""Dropout: ``dropout`` (each element), ``dropout1d``/``dropout2d``/``dropout3d`` (whole channels).

Training: y = x · M / (1 - p), M ~ Bernoulli(1 - p) drawn afresh at each call from gpugrad's
seeded generator (``gg.manual_seed`` fixes the masks); evaluation and p = 0 are the identity
(the input itself is returned, as PyTorch does), p = 1 gives x · 0.

Element dropout is one fused pass (``kernels.dropout_apply``: the mask is a hash of each
element's index under the call's key, never stored), and it is linear in x with the same mask,
so ``Dropout`` is its own adjoint: dx = Dropout(dy) with the same key, and so on for gradients
of any order. Channel dropout draws one mask value per (sample, channel) the same way and
multiplies by it (an ordinary product with a constant).
"""
from __future__ import annotations

from .. import kernels
from ..autograd import Op
from ..tensor import wrap

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "Dropout"]


class Dropout(Op):
    """y = x · M / (1 - p), M the mask of ``key``: linear, dx = dy · M / (1 - p) (this op again)."""

    def __init__(self, p, key):
        self.p, self.key = p, key

    def forward(self, x):
        return kernels.dropout_apply(x, self.key, self.p)

    def backward(self, gy):
        return Dropout(self.p, self.key).apply(gy)


def _check_p(name, p):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p!r}")
    return float(p)


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """PyTorch's ``F.dropout``. ``inplace`` is accepted for PyTorch's signature; the result is
    always a new tensor (the input is left as it was)."""
    p = _check_p("dropout", p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    if input.dtype.kind != "f":
        raise TypeError(f"dropout: needs a floating-point input, got {input.dtype}")
    return Dropout(p, kernels.dropout_key())(input)


def _feature_dropout(name, input, p, training, spatial):
    """Whole channels zeroed: input (N, C, *spatial) or unbatched (C, *spatial)."""
    p = _check_p(name, p)
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{name}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) "
                         f"input, got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    lead = tuple(input.shape[:input.ndim - spatial])
    with input.device.context():
        ones = input.device.xp.ones(lead, input.dtype)
        mask = kernels.dropout_apply(ones, kernels.dropout_key(), p)
    return input * wrap(mask.reshape(lead + (1,) * spatial), input.device)


def dropout1d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """PyTorch's ``F.dropout1d``: whole channels of (N, C, L) or (C, L) zeroed."""
    return _feature_dropout("dropout1d", input, p, training, 1)


def dropout2d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """PyTorch's ``F.dropout2d``: whole channels of (N, C, H, W) or (C, H, W) zeroed."""
    return _feature_dropout("dropout2d", input, p, training, 2)


def dropout3d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """PyTorch's ``F.dropout3d``: whole channels of (N, C, D, H, W) or (C, D, H, W) zeroed."""
    return _feature_dropout("dropout3d", input, p, training, 3)
