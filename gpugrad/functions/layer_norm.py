"""Layer normalisation over the trailing ``normalized_shape`` axes: one fused kernel each way
on the GPU (``kernels.layer_norm_fwd`` / ``_bwd``: each row read once per pass), the NumPy twin
on the CPU.

For a row x of D elements, xhat = (x - mean) / sqrt(var + eps) (the biased variance) and
y = xhat w + b. With g = dy w: dx = rstd (g - mean(g) - xhat mean(g xhat)), dw = Σ_rows dy xhat,
db = Σ_rows dy.
"""
from __future__ import annotations

import math

from .. import kernels
from ..autograd import Op
from ..tensor import Tensor

__all__ = ["layer_norm"]


class LayerNorm(Op):
    """y = layer_norm(x) xhat w + b over the last D elements (w, b optional inputs): the
    fused backward on arrays; under create_graph the same formula written with ops from x,
    so gradients of any order follow."""

    def __init__(self, shape, eps, has_w, has_b):
        self.shape, self.D = shape, math.prod(shape)
        self.eps, self.has_w, self.has_b = eps, has_w, has_b

    def _unpack(self, rest):
        w = rest[0] if self.has_w else None
        b = rest[int(self.has_w)] if self.has_b else None
        return w, b

    def forward(self, x, *rest):
        w, b = self._unpack(rest)
        flat = (lambda a: None if a is None else a.reshape(-1))
        y, mean, rstd = kernels.layer_norm_fwd(x.reshape(-1, self.D), flat(w), flat(b), self.eps)
        self.save_for_backward(x, w)
        self.stats = (mean, rstd)
        return y.reshape(x.shape)

    def backward(self, gy):
        x, w = self.saved
        if isinstance(gy, Tensor):
            gx, gw, gb = self._recorded(x, w, gy)
        else:
            mean, rstd = self.stats
            need_wb = any(self.needs_input_grad[1:])
            gx, gw, gb = kernels.layer_norm_bwd(x.reshape(-1, self.D), gy.reshape(-1, self.D),
                                                None if w is None else w.reshape(-1), mean, rstd,
                                                need_wb)
            gx = gx.reshape(x.shape)
        grads = [gx]
        if self.has_w:
            grads.append(None if gw is None else gw.reshape(self.shape))
        if self.has_b:
            grads.append(None if gb is None else gb.reshape(self.shape))
        return tuple(grads)

    def _recorded(self, x, w, gy):
        """The backward formula recorded with ops (x and gy Tensors): mean and rstd are
        recomputed from x, so the result is differentiable in x too."""
        x2, g2 = x.reshape(-1, self.D), gy.reshape(-1, self.D)
        xc = x2 - x2.mean(axis=1, keepdims=True)
        rstd = 1 / ((xc * xc).mean(axis=1, keepdims=True) + self.eps).sqrt()
        xhat = xc * rstd
        g = g2 * w.reshape(-1) if w is not None else g2
        gx = rstd * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
        return gx.reshape(x.shape), (g2 * xhat).sum(axis=0), g2.sum(axis=0)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """``F.layer_norm``: ``input`` normalised over its trailing ``normalized_shape`` axes, then
    scaled by ``weight`` and shifted by ``bias`` (each of ``normalized_shape``, optional)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or input.shape[input.ndim - len(shape):] != shape or len(shape) > input.ndim:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the trailing dimensions "
                         f"of the input of shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"layer_norm: input must be floating point, got dtype {input.dtype}")
    if input.numel() == 0:
        raise ValueError(f"layer_norm: an empty input of shape {input.shape} has nothing to normalise")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (not isinstance(t, Tensor) or t.shape != shape):
            got = t.shape if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"layer_norm: {name} must be a Tensor of shape {shape}, got {got} "
                             f"(input of shape {input.shape})")
        if isinstance(t, Tensor) and t.device is not input.device:
            raise RuntimeError(f"layer_norm: {name} is on {t.device} but the input on {input.device}")
    op = LayerNorm(shape, float(eps), weight is not None, bias is not None)
    return op(input, *(t for t in (weight, bias) if t is not None))
