"""Losses over a minibatch: softmax cross-entropy, mean squared error, multiclass SVM hinge.

Each is a mean over the batch; the 1/B of the mean is folded into the backward, so the
gradient of the whole batch comes out of one pass and stays on the device.
"""
from __future__ import annotations

from .. import backend, kernels
from ..autograd import Op, array_of
from ..creation import tensor
from ..tensor import Tensor
from .activation import log_softmax, softmax_of_input

__all__ = ["cross_entropy", "mse_loss", "hinge_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_labels(name, scores, labels):
    """Labels (a Tensor) must be integers of shape (B,) in [0, C) for scores of shape (B, C).

    Labels whose ``value_bounds`` are known to lie in [0, C) (they came from the host, and
    were moved, cast or batched since) pass without reading a value. Otherwise the values are
    read: free on the CPU, one host synchronisation on a GPU (labels computed on the device,
    or known bounds wider than [0, C) for a batch that may still be in range)."""
    if not isinstance(scores, Tensor):
        raise TypeError(f"{name}: scores must be a Tensor, got {type(scores).__name__}")
    if scores.dtype.kind != "f":
        raise TypeError(f"{name}: scores must be floating point, got dtype {scores.dtype} "
                        "(as in PyTorch; cast them with .float())")
    if scores.ndim != 2:
        raise ValueError(f"{name}: expected scores of shape (batch, classes), got {tuple(scores.shape)}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name}: class labels must be integers, got dtype {labels.dtype} "
                        "(use .long() / astype(int64))")
    if tuple(labels.shape) != (scores.shape[0],):
        raise ValueError(f"{name}: labels of shape {tuple(labels.shape)} do not match scores of shape "
                         f"{tuple(scores.shape)} (need ({scores.shape[0]},))")
    classes = scores.shape[1]
    bounds = labels.value_bounds
    if not labels.size or (bounds is not None and bounds[0] >= 0 and bounds[1] < classes):
        return
    lo, hi = int(labels.array.min()), int(labels.array.max())
    if lo < 0 or hi >= classes:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name}: class label {bad} is out of range for {classes} classes "
                         f"(labels must be in [0, {classes - 1}])")


class SoftmaxCrossEntropy(Op):
    """L = -(1/B) Σ_i log softmax(x_i)[y_i]: dx = (softmax(x) - onehot(y)) / B, fused.

    The probabilities it saves are an intermediate, a constant to a recorded backward; there
    they come back as softmax(x), a node of its own (``softmax_of_input``), so the gradient's
    own gradient reaches x through them."""

    def forward(self, logits, labels):
        loss, probs = kernels.softmax_xent_fwd(logits, labels)
        self.save_for_backward(probs, labels)
        return loss

    def backward(self, gloss):
        probs, labels = self.saved
        if isinstance(gloss, Tensor):
            probs = softmax_of_input(self, 0, probs, axis=1)
        return SoftmaxXentBackward().apply(probs, labels, gloss), None


class SoftmaxXentBackward(Op):
    """The fused softmax cross-entropy backward as an op: dx = (p - onehot(y)) * g / B, linear
    in p and in g: d p = d dx * g / B, d g = Σ (p - onehot(y)) / B * d dx (this op again)."""

    def forward(self, probs, labels, gloss):
        need_p, _, need_g = self.needs_input_grad
        self.save_for_backward(probs if need_g else None, labels, gloss if need_p else None)
        return kernels.softmax_xent_bwd(probs, labels, gloss)

    def backward(self, gdx):
        probs, labels, gloss = self.saved
        need_p, _, need_g = self.needs_input_grad
        gp = gdx * (gloss / gdx.shape[0]) if need_p else None
        g_loss = (SoftmaxXentBackward().apply(probs, labels, 1.0) * gdx).sum() if need_g else None
        return gp, None, g_loss


class Hinge(Op):
    """Multiclass SVM loss of the notes: L = (1/B) Σ_i Σ_{j≠y_i} max(0, s_ij - s_iy_i + Δ).

    ds_ij = [margin_ij > 0] / B for j ≠ y_i, and ds_iy_i = -(number of positive margins) / B.
    """

    def __init__(self, margin):
        self.margin = margin

    def forward(self, scores, labels):
        xp = backend.array_module(scores)
        rows = xp.arange(scores.shape[0])
        margins = scores - scores[rows, labels][:, None] + self.margin
        margins[rows, labels] = 0
        positive = margins > 0
        self.save_for_backward(positive, labels, rows)
        return (margins * positive).sum(dtype=scores.dtype) / scores.dtype.type(scores.shape[0])

    def backward(self, gloss):
        positive, labels, rows = self.saved
        ds = positive.astype(gloss.dtype)
        ds[rows, array_of(labels)] = -ds.sum(axis=1)
        return (gloss / ds.shape[0]) * ds, None   # the gradient first: it may be a Tensor


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy of ``logits`` (B, C) against integer class ``labels`` (B,).

    Uses a max-shifted log-sum-exp, so large logits neither overflow nor lose precision.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    labels = _as_labels(labels, logits)
    _check_labels("cross_entropy", logits, labels)
    if reduction == "mean" and logits.shape[0] == 0:
        raise ValueError(f"cross_entropy: the mean over an empty batch (logits of shape "
                         f"{tuple(logits.shape)}) is undefined; use reduction='sum' or 'none'")
    if reduction == "mean":
        return SoftmaxCrossEntropy()(logits, labels)
    rows = backend.array_module(labels.array).arange(labels.shape[0])
    picked = -log_softmax(logits, axis=1)[rows, labels.array]
    return picked.sum() if reduction == "sum" else picked


def mse_loss(input, target, reduction="mean"):  # noqa: A002 (PyTorch's argument name)
    """Mean squared error: mean((input - target)²)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not isinstance(input, Tensor):
        raise TypeError(f"mse_loss: input must be a Tensor, got {type(input).__name__}")
    if not isinstance(target, Tensor):   # a list, an ndarray, a number: the same shape rule
        target = tensor(target, dtype=input.dtype if input.dtype.kind == "f" else None,
                        device=input.device)
    if target.shape != input.shape:   # no broadcast: a (3, 1) - (3,) loss would be (3, 3)
        raise ValueError(f"mse_loss: input of shape {input.shape} and target of shape "
                         f"{target.shape} differ")
    diff = input - target
    sq = diff * diff
    if reduction == "none":
        return sq
    if sq.numel() == 0 and reduction == "mean":
        raise ValueError(f"mse_loss: the mean over an empty input of shape {input.shape} is "
                         "undefined; use reduction='sum' or 'none'")
    return sq.mean() if reduction == "mean" else sq.sum()


def hinge_loss(scores, labels, margin=1.0):
    """Multiclass SVM (hinge) loss of the notes, averaged over the batch."""
    labels = _as_labels(labels, scores)
    _check_labels("hinge_loss", scores, labels)
    return Hinge(margin)(scores, labels)


def _as_labels(labels, like):
    if not isinstance(labels, Tensor):
        labels = tensor(labels, device=like.device)
    if labels.requires_grad:
        raise TypeError("class labels cannot require gradients")
    return labels
