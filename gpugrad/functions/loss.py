"""Classification losses over a minibatch of class scores and integer labels: softmax
cross-entropy (``weight``, ``ignore_index``, ``label_smoothing``, class-probability targets),
the negative log-likelihood of log-probabilities, and the multiclass margin (SVM) loss, of
which the notes' hinge loss is one case.

The plain mean cross-entropy is one fused op (the 1/B of the mean folded into its backward,
the whole batch's gradient in one pass on the device); every other form is written with
differentiable ops. Losses comparing an input with a target of its shape are in
:mod:`.elementwise_loss`.
"""
from __future__ import annotations

from .. import backend, kernels
from ..autograd import Op
from ..creation import tensor
from ..tensor import Tensor, wrap
from .activation import log_softmax, softmax_of_input
from .elementwise_loss import check_reduction, reduce_loss

__all__ = ["cross_entropy", "nll_loss", "multi_margin_loss", "hinge_loss"]


def _check_labels(name, scores, labels, ignore_index=None):
    """Labels (a Tensor) must be integers of shape (B,) in [0, C) for scores of shape (B, C).

    Labels whose ``value_bounds`` are known to lie in [0, C) (they came from the host, and
    were moved, cast or batched since) pass without reading a value. Otherwise the values are
    read: free on the CPU, one host synchronisation on a GPU (labels computed on the device,
    or known bounds wider than [0, C) for a batch that may still be in range).

    Labels equal to ``ignore_index`` are allowed; returns whether there may be any. Inside a
    CUDA graph capture the values cannot be read: labels of unknown bounds are taken to be
    classes there, and the fused loss gives NaN for a row whose label is not one (out of range
    or ``ignore_index``), never a wrong number."""
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
    # an ignore_index that is a class may be among valid labels: say so without reading them
    maybe = ignore_index is not None and 0 <= ignore_index < classes and labels.array.size > 0
    bounds = labels.value_bounds
    if not labels.array.size or (bounds is not None and bounds[0] >= 0 and bounds[1] < classes):
        return maybe
    if backend.capturing():
        return False
    lo, hi = int(labels.array.min()), int(labels.array.max())
    if lo >= 0 and hi < classes:
        return maybe
    raw = labels.array
    ignored = raw == ignore_index if ignore_index is not None else None
    bad = (raw < 0) | (raw >= classes)
    if ignored is not None:
        bad &= ~ignored
    if bool(bad.any()):
        bad = int(raw[bad][0])
        raise ValueError(f"{name}: class label {bad} is out of range for {classes} classes "
                         f"(labels must be in [0, {classes - 1}]"
                         + (f" or {ignore_index}, the ignore_index)" if ignore_index is not None else ")"))
    return True


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



def _as_rows(op, scores, labels):
    """(N, C, d1, ...) scores and (N, d1, ...) labels as (M, C) and (M,), and the per-sample
    shape to give back to reduction='none'."""
    if scores.ndim < 2:
        raise ValueError(f"{op}: expected scores of shape (batch, classes, ...), got {tuple(scores.shape)}")
    if scores.shape[1] == 0:
        raise ValueError(f"{op}: scores of shape {tuple(scores.shape)} have no classes")
    if scores.ndim == 2:
        return scores, labels, None
    if isinstance(labels, Tensor) and labels.shape != scores.shape[:1] + scores.shape[2:]:
        raise ValueError(f"{op}: labels of shape {labels.shape} do not match scores of shape "
                         f"{scores.shape} (need {scores.shape[:1] + scores.shape[2:]})")
    order = (0, *range(2, scores.ndim), 1)
    return (scores.permute(*order).reshape(-1, scores.shape[1]), labels.reshape(-1),
            labels.shape)


def _class_weight(op, weight, scores):
    if weight is None:
        return None
    if not isinstance(weight, Tensor):
        weight = tensor(weight, dtype=scores.dtype, device=scores.device)
    if weight.shape != (scores.shape[1],):
        raise ValueError(f"{op}: weight of shape {weight.shape} must have one entry per class "
                         f"({scores.shape[1]},) of scores of shape {scores.shape}")
    if weight.device is not scores.device:
        raise RuntimeError(f"{op}: weight is on {weight.device} but scores on {scores.device}")
    return weight


def _picked(logp, labels, weight, ignore_index, any_ignored):
    """-logp[i, y_i] w[y_i] (0 where y_i is ignored) and the sum of the weights it used."""
    xp = backend.array_module(labels.array)
    raw = labels.array
    keep = raw != ignore_index if any_ignored else None
    safe = xp.where(keep, raw, 0) if any_ignored else raw
    loss = -logp[xp.arange(raw.shape[0]), safe]
    w = None if weight is None else weight.array[safe]
    if keep is not None:
        w = keep.astype(logp.dtype) if w is None else w * keep
    if w is None:
        return loss, None
    return loss * wrap(w, logp.device), w.sum()


def _finish(op, loss, reduction, total, shape):
    if reduction == "none":
        return loss if shape is None else loss.reshape(shape)
    if reduction == "sum" or total is None:
        return reduce_loss(loss, reduction, op)
    return loss.sum() / wrap(total, loss.device)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """The negative log-likelihood of log-probabilities ``input`` (N, C) or (N, C, d1, ...)
    at integer classes ``target`` (N,) or (N, d1, ...); ``weight`` (C,) weighs the classes and
    the weighted mean divides by the weights used; labels equal to ``ignore_index`` add 0."""
    check_reduction("nll_loss", reduction)
    weight = _class_weight("nll_loss", weight, input)
    target = _as_labels(target, input)
    logp, labels, shape = _as_rows("nll_loss", input, target)
    ignored = _check_labels("nll_loss", logp, labels, ignore_index)
    loss, total = _picked(logp, labels, weight, ignore_index, ignored)
    return _finish("nll_loss", loss, reduction, total, shape)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",  # noqa: A002
                  label_smoothing=0.0):
    """Softmax cross-entropy of scores ``input`` (N, C) or (N, C, d1, ...) against integer
    classes ``target`` (or class probabilities of ``input``'s shape), as PyTorch's: ``weight``,
    ``ignore_index`` and ``label_smoothing`` (the target mixed with the uniform distribution).
    The plain mean over (N, C) with integer labels is one fused kernel each way."""
    if reduction == "mean" and isinstance(input, Tensor) and input.ndim and input.shape[0] == 0:
        raise ValueError(f"cross_entropy: the mean over an empty batch (logits of shape "
                         f"{tuple(input.shape)}) is undefined; use reduction='sum' or 'none'")
    if reduction == "mean" and weight is None and not label_smoothing and input.ndim == 2 \
            and isinstance(target, Tensor) and target.dtype.kind in "iu":   # the fast path
        if not _check_labels("cross_entropy", input, _as_labels(target, input), ignore_index):
            return SoftmaxCrossEntropy()(input, target)
    check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    weight = _class_weight("cross_entropy", weight, input)
    if isinstance(target, Tensor) and target.dtype.kind == "f" and target.shape == input.shape:
        return _soft_cross_entropy(input, target, weight, reduction, label_smoothing)
    target = _as_labels(target, input)
    scores, labels, shape = _as_rows("cross_entropy", input, target)
    ignored = _check_labels("cross_entropy", scores, labels, ignore_index)
    logp = log_softmax(scores, axis=1)
    loss, total = _picked(logp, labels, weight, ignore_index, ignored)
    if label_smoothing:
        eps, classes = label_smoothing, scores.shape[1]
        smooth = -(logp if weight is None else logp * weight).sum(axis=1)
        if ignored:
            smooth = smooth * wrap(labels.array != ignore_index, logp.device).astype(logp.dtype)
        loss = loss * (1 - eps) + smooth * (eps / classes)
    return _finish("cross_entropy", loss, reduction, total, shape)


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing):  # noqa: A002
    """Cross-entropy against class probabilities: -Σ_c w_c t_c log softmax(x)_c per sample;
    the mean divides by the number of samples."""
    order = (0, *range(2, input.ndim), 1)
    scores = input.permute(*order) if input.ndim > 2 else input
    t = target.permute(*order) if input.ndim > 2 else target
    classes = input.shape[1]
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / classes
    logp = log_softmax(scores, axis=-1)
    loss = -((logp * t) if weight is None else (logp * t) * weight).sum(axis=-1)
    return reduce_loss(loss, reduction, "cross_entropy")


def _margins(scores, labels, margin, p):
    """max(0, margin - s_iy + s_ij)^p for j != y_i (0 at j = y_i), shape (N, C)."""
    xp = backend.array_module(labels.array)
    raw = labels.array
    rows = xp.arange(raw.shape[0])
    others = xp.ones(scores.shape, scores.dtype)
    others[rows, raw] = 0
    m = (scores - scores[rows, raw].reshape(-1, 1) + margin).relu() * wrap(others, scores.device)
    return m if p == 1 else m * m


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):  # noqa: A002
    """PyTorch's multiclass margin loss: Σ_{j≠y} max(0, margin - x_y + x_j)^p / C per sample,
    times weight[y]. The notes' SVM loss is :func:`hinge_loss`."""
    check_reduction("multi_margin_loss", reduction)
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p!r}")
    weight = _class_weight("multi_margin_loss", weight, input)
    target = _as_labels(target, input)
    _check_labels("multi_margin_loss", input, target)
    loss = _margins(input, target, margin, p).sum(axis=1) / input.shape[1]
    if weight is not None:
        loss = loss * wrap(weight.array[target.array], input.device)
    return reduce_loss(loss, reduction, "multi_margin_loss")


def hinge_loss(scores, labels, margin=1.0):
    """The multiclass SVM (hinge) loss of the notes, Σ_{j≠y_i} max(0, s_j - s_y + Δ) averaged
    over the batch: :func:`multi_margin_loss` without its 1/C."""
    labels = _as_labels(labels, scores)
    _check_labels("hinge_loss", scores, labels)
    return _margins(scores, labels, margin, 1).sum() / scores.shape[0]


def _as_labels(labels, like):
    if not isinstance(labels, Tensor):
        labels = tensor(labels, device=like.device)
    if labels.requires_grad:
        raise TypeError("class labels cannot require gradients")
    return labels
