"""Every op of gpugrad.functions as a small function of float64 tensors, with PyTorch's same
function where it has one: the table the second-derivative tests run (tests/test_higher_order.py).

Each case names its inputs' shapes and how to draw them (``positive`` for log/sqrt/pow bases,
``apart`` to keep kinks such as relu's, abs's and max's out of the finite-difference stencil).
A new op of gpugrad.functions must get a case here: test_every_op_has_a_gradgradcheck_case fails
until its class appears in some case's graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad import backend, kernels
from gpugrad.functions import (activation, broadcast, conv, dropout, loss, pointwise, pooling,
                               selection, shape)
from gpugrad.functions.embedding import EmbeddingBackward
from gpugrad.functions.pad import PadBackward

LABELS = np.array([0, 2, 1, 2, 0])          # 5 samples, 3 classes
LABELS_IGNORED = np.array([0, -100, 1, 2, 2])
LABELS_2D = np.array([[0, 2, 1, 1], [2, 2, 0, 1]])   # (2, 4) labels of (2, 3, 4) scores
CLASS_WEIGHT = np.array([0.5, 2.0, 1.25])
EMBED_INDEX = np.array([[0, 2, 2], [4, 0, 1]])    # repeated rows: the scatter-add sums
INDEX_ADV = ([0, 1, 0], slice(None), [1, 2, 1])
GATHER_INDEX = np.array([[0, 0], [3, 1], [2, 2]])   # gather index of a (3, 4) input along axis 1


@dataclass
class Case:
    name: str
    fn: Callable                           # gpugrad tensors -> tensor
    shapes: tuple                          # one shape per input
    torch_fn: Optional[Callable] = None    # torch tensors -> tensor (PyTorch's same function)
    draw: dict = field(default_factory=dict)   # input index -> "positive" | "apart"
    cpu_only: bool = False


def labels_like(t):
    return gg.tensor(LABELS, device=t.device)


def _t():
    import torch
    return torch


def _tF():
    import torch.nn.functional as tF
    return tF


def _torch_labels():
    return _t().tensor(LABELS)


def _torch_hinge(s):
    """The notes' SVM loss in PyTorch ops (its multi_margin_loss divides by the number of
    classes and has no double backward)."""
    y = _torch_labels()
    others = 1 - _tF().one_hot(y, s.shape[1]).to(s.dtype)
    margins = (s - s.gather(1, y[:, None]) + 1.0).clamp(min=0) * others
    return margins.sum() / s.shape[0]


def _torch_multi_margin_p2(s):
    """F.multi_margin_loss(s, y, p=2, weight=CLASS_WEIGHT) in PyTorch ops (its own has no
    double backward); test_losses checks it against PyTorch's function by value."""
    y = _torch_labels()
    others = 1 - _tF().one_hot(y, s.shape[1]).to(s.dtype)
    margins = (s - s.gather(1, y[:, None]) + 1.0).clamp(min=0) * others
    w = _t().tensor(CLASS_WEIGHT)[y]
    return ((margins ** 2).sum(1) / s.shape[1] * w).mean()


# (x, h0, [c0,] w_ih, w_hh, b_ih, b_hh) of a 3-step, batch-2 layer with 3 inputs, hidden 2
_LAYER_SHAPES = {mode: ((3, 2, 3), (2, 2)) + (((2, 2),) if mode == "LSTM" else ())
                 + ((k * 2, 3), (k * 2, 2), (k * 2,), (k * 2,))
                 for mode, k in (("LSTM", 4), ("GRU", 3), ("RNN_TANH", 1))}

CASES = [
    # ------------------------------------------------------------ arithmetic (broadcasting)
    Case("add", lambda a, b: a + b, ((3, 4), (4,)), lambda a, b: a + b),
    Case("sub", lambda a, b: a - b, ((3, 1), (1, 4)), lambda a, b: a - b),
    Case("mul", lambda a, b: a * b, ((2, 3, 4), (3, 1)), lambda a, b: a * b),
    Case("div", lambda a, b: a / b, ((3, 4), (4,)), lambda a, b: a / b, {1: "positive"}),
    Case("pow", lambda a, b: a ** b, ((3, 4), (3, 4)), lambda a, b: a ** b,
         {0: "positive", 1: "positive"}),
    Case("pow_scalar_exponent", lambda a: a ** 3, ((3, 2),), lambda a: a ** 3),
    Case("pow_scalar_base", lambda a: 2.0 ** a, ((3, 2),), lambda a: 2.0 ** a),
    Case("rsub_rdiv", lambda a: 1.0 - 2.0 / a, ((3, 2),), lambda a: 1.0 - 2.0 / a,
         {0: "positive"}),
    Case("maximum", gg.maximum, ((3, 4), (4,)), lambda a, b: _t().maximum(a, b), {0: "apart"}),
    Case("minimum", gg.minimum, ((3, 4), (3, 4)), lambda a, b: _t().minimum(a, b), {0: "apart"}),
    Case("maximum_scalar", lambda a: gg.maximum(a, 0.25), ((3, 4),),
         lambda a: _t().clamp(a, min=0.25), {0: "apart"}),
    Case("neg", lambda a: -a, ((3, 2),), lambda a: -a),
    Case("exp", lambda a: a.exp(), ((3, 2),), lambda a: a.exp()),
    Case("log", lambda a: a.log(), ((3, 2),), lambda a: a.log(), {0: "positive"}),
    Case("sqrt", lambda a: a.sqrt(), ((3, 2),), lambda a: a.sqrt(), {0: "positive"}),
    Case("abs", lambda a: abs(a) * a, ((3, 2),), lambda a: a.abs() * a, {0: "apart"}),
    Case("clip", lambda a: a.clip(-0.5, 0.5) * a, ((3, 4),),
         lambda a: a.clamp(-0.5, 0.5) * a, {0: "apart"}),
    # ------------------------------------------------------------ broadcasting itself
    Case("sum_to", lambda a: broadcast.sum_to(a, (1, 4)) ** 2, ((3, 4),),
         lambda a: a.sum(0, keepdim=True) ** 2),
    Case("broadcast_to", lambda a: broadcast.broadcast_to(a, (3, 4)) ** 2, ((4,),),
         lambda a: a.expand(3, 4) ** 2),
    # ------------------------------------------------------------ reductions
    Case("sum", lambda a: a.sum(axis=1) ** 2, ((2, 3, 4),), lambda a: a.sum(1) ** 2),
    Case("sum_keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True) ** 2, ((2, 3, 4),),
         lambda a: a.sum((0, 2), keepdim=True) ** 2),
    Case("mean", lambda a: a.mean(axis=-1) ** 2, ((3, 4),), lambda a: a.mean(-1) ** 2),
    Case("max", lambda a: a.max(axis=1) ** 2, ((3, 4),), lambda a: a.amax(1) ** 2),
    Case("min_all", lambda a: a.min() ** 2, ((3, 4),), lambda a: a.amin() ** 2),
    Case("max_keepdims", lambda a: a.max(axis=0, keepdims=True) ** 2, ((3, 4),),
         lambda a: a.amax(0, keepdim=True) ** 2),
    # ------------------------------------------------------------ shape and placement
    Case("reshape", lambda a: a.reshape(4, -1) ** 2, ((2, 3, 2),), lambda a: a.reshape(4, -1) ** 2),
    Case("transpose", lambda a: a.permute(2, 0, 1) ** 2, ((2, 3, 4),),
         lambda a: a.permute(2, 0, 1) ** 2),
    Case("transpose_swap", lambda a: a.transpose(0, 2) ** 2, ((2, 3, 4),),
         lambda a: a.transpose(0, 2) ** 2),
    Case("getitem_basic", lambda a: a[1:, ::2] ** 2, ((3, 4),), lambda a: a[1:, ::2] ** 2),
    Case("getitem_advanced", lambda a: a[INDEX_ADV] ** 2, ((2, 3, 4),),
         lambda a: a[[0, 1, 0], :, [1, 2, 1]] ** 2),
    Case("getitem_backward", lambda y: shape.GetItemBackward(INDEX_ADV, (2, 3, 4))(y) ** 2,
         ((3, 3),)),
    Case("concatenate", lambda a, b: gg.concatenate([a, b], axis=-1) ** 2, ((2, 3), (2, 1)),
         lambda a, b: _t().cat([a, b], -1) ** 2),
    Case("stack", lambda a, b: gg.stack([a, b], axis=1) ** 2, ((2, 3), (2, 3)),
         lambda a, b: _t().stack([a, b], 1) ** 2),
    Case("clone", lambda a: a.clone() ** 2, ((3,),), lambda a: a.clone() ** 2),
    Case("to_device", lambda a: shape.to_device(a, a.device) ** 2, ((3,),), lambda a: a ** 2),
    # a cast to a wider float and back (finite differences cannot see through float32; CuPy
    # has no wider float: its cast is checked by value in test_higher_order)
    Case("astype", lambda a: (a.astype(np.longdouble) ** 3).astype(np.float64), ((3,),),
         lambda a: a ** 3, cpu_only=True),
    # ------------------------------------------------------------ activations
    Case("relu", lambda a: a.relu() * a, ((3, 4),), lambda a: a.relu() * a, {0: "apart"}),
    Case("sigmoid", lambda a: a.sigmoid(), ((3, 4),), lambda a: a.sigmoid()),
    Case("tanh", lambda a: a.tanh(), ((3, 4),), lambda a: a.tanh()),
    Case("softmax", lambda a: a.softmax(axis=-1), ((3, 4),), lambda a: a.softmax(-1)),
    Case("softmax_axis0", lambda a: gg.softmax(a, axis=0), ((3, 4),), lambda a: a.softmax(0)),
    Case("log_softmax", lambda a: a.log_softmax(axis=1), ((3, 4),), lambda a: a.log_softmax(1)),
    Case("relu_backward", lambda y, g: activation.ReLUBackward()(y.relu(), g) * y,
         ((3, 4), (3, 4)), None, {0: "apart"}),
    Case("sigmoid_backward", lambda y, g: activation.SigmoidBackward()(y, g), ((3, 4), (3, 4))),
    Case("gelu", lambda a: F.gelu(a), ((3, 4),), lambda a: _tF().gelu(a)),
    Case("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), ((3, 4),),
         lambda a: _tF().gelu(a, approximate="tanh")),
    Case("silu", lambda a: F.silu(a), ((3, 4),), lambda a: _tF().silu(a)),
    Case("elu", lambda a: F.elu(a, alpha=0.7), ((3, 4),), lambda a: _tF().elu(a, alpha=0.7),
         {0: "apart"}),
    Case("softplus", lambda a: F.softplus(a, beta=2.0, threshold=1.5), ((3, 4),),
         lambda a: _tF().softplus(a, beta=2.0, threshold=1.5), {0: "apart"}),
    Case("leaky_relu", lambda a: F.leaky_relu(a, 0.1) * a, ((3, 4),),
         lambda a: _tF().leaky_relu(a, 0.1) * a, {0: "apart"}),
    Case("pointwise_backward",
         lambda x, g: pointwise.PointwiseBackward("silu")(x, g), ((3, 4), (3, 4))),
    Case("layer_norm", lambda x, w, b: F.layer_norm(x, (3, 4), w, b), ((2, 3, 4), (3, 4), (3, 4)),
         lambda x, w, b: _tF().layer_norm(x, (3, 4), w, b)),
    Case("layer_norm_plain", lambda x: F.layer_norm(x, 4, eps=0.1) ** 2, ((3, 4),),
         lambda x: _tF().layer_norm(x, (4,), eps=0.1) ** 2),
    Case("embedding", lambda w: F.embedding(gg.tensor(EMBED_INDEX, device=w.device), w) ** 2,
         ((5, 3),), lambda w: _tF().embedding(_t().tensor(EMBED_INDEX), w) ** 2),
    Case("embedding_backward_padding_freq",
         lambda g: EmbeddingBackward(gg.tensor(EMBED_INDEX, device=g.device).array, 5, 2, True)(g) ** 2,
         ((2, 3, 3),)),
    # ------------------------------------------------------------ selecting, rearranging
    Case("where", lambda a, b: gg.where(a > 0.1, a, b) ** 2, ((3, 4), (4,)),
         lambda a, b: _t().where(a > 0.1, a, b) ** 2, {0: "apart"}),
    Case("gather", lambda a: a.gather(1, gg.tensor(GATHER_INDEX, device=a.device)) ** 2,
         ((3, 4),), lambda a: a.gather(1, _t().tensor(GATHER_INDEX)) ** 2),
    Case("take_along_axis_broadcast",
         lambda a: gg.take_along_axis(a, gg.tensor([[0, 2, 2]], device=a.device), 1) ** 2,
         ((3, 4),), lambda a: _t().take_along_dim(a, _t().tensor([[0, 2, 2]]), 1) ** 2),
    Case("gather_backward",
         lambda g: selection.GatherBackward(1, gg.tensor(GATHER_INDEX, device=g.device).array, True,
                                             (3, 4))(g) ** 2, ((3, 2),)),
    Case("pad_constant", lambda a: F.pad(a, (1, 2, -1, 1), value=0.5) ** 2, ((3, 4),),
         lambda a: _tF().pad(a, (1, 2, -1, 1), value=0.5) ** 2),
    Case("pad_reflect", lambda a: F.pad(a, (2, 1), mode="reflect") ** 2, ((2, 3, 4),),
         lambda a: _tF().pad(a, (2, 1), mode="reflect") ** 2),
    Case("pad_replicate", lambda a: F.pad(a, (1, 2, 2, 0), mode="replicate") ** 2,
         ((1, 3, 4),), lambda a: _tF().pad(a, (1, 2, 2, 0), mode="replicate") ** 2),
    Case("pad_circular", lambda a: F.pad(a, (2, 1), mode="circular") ** 2, ((2, 3, 4),),
         lambda a: _tF().pad(a, (2, 1), mode="circular") ** 2),
    Case("pad_backward", lambda g: PadBackward(((1, 2), (2, 1)), "reflect", (3, 4))(g) ** 2,
         ((6, 7),)),
    Case("flip", lambda a: a.flip((0, 2)) * a, ((2, 3, 4),), lambda a: a.flip((0, 2)) * a),
    Case("split", lambda a: a.split([1, 3], dim=1)[1] ** 2, ((2, 4),),
         lambda a: a.split([1, 3], dim=1)[1] ** 2),
    Case("chunk_all", lambda a: gg.cat([c * (i + 1) for i, c in enumerate(a.chunk(3, 0))]) ** 2,
         ((5, 2),), lambda a: _t().cat([c * (i + 1) for i, c in enumerate(a.chunk(3, 0))]) ** 2),
    Case("repeat", lambda a: a.repeat(2, 1, 3) ** 2, ((2, 3),), lambda a: a.repeat(2, 1, 3) ** 2),
    Case("repeat_interleave", lambda a: a.repeat_interleave(2, dim=0) ** 2, ((2, 3),),
         lambda a: a.repeat_interleave(2, dim=0) ** 2),
    Case("expand", lambda a: a.unsqueeze(0).expand(2, -1, 3) ** 2, ((3, 1),),
         lambda a: a.unsqueeze(0).expand(2, -1, 3) ** 2),
    Case("einsum_matmul", lambda a, b: gg.einsum("ij,jk->ik", a, b) ** 2, ((3, 4), (4, 2)),
         lambda a, b: _t().einsum("ij,jk->ik", a, b) ** 2),
    Case("einsum_diagonal_batch", lambda a, b: gg.einsum("bii,bj->bij", a, b) ** 2,
         ((2, 3, 3), (2, 4)), lambda a, b: _t().einsum("bii,bj->bij", a, b) ** 2),
    Case("einsum_broadcast_labels", lambda a, b: gg.einsum("bij,bjk->bik", a, b) ** 2,   # b, j: 1 vs n
         ((1, 2, 1), (4, 3, 2)), lambda a, b: _t().einsum("bij,bjk->bik", a, b) ** 2),
    Case("einsum_ellipsis_implicit", lambda a, b: gg.einsum("...i,i", a, b) ** 2,
         ((2, 3, 4), (4,)), lambda a, b: _t().einsum("...i,i", a, b) ** 2),
    # ------------------------------------------------------------ more reductions
    Case("var", lambda a: a.var(dim=1), ((3, 4),), lambda a: a.var(1)),
    Case("std_correction0_all", lambda a: a.std(correction=0), ((3, 4),),
         lambda a: a.std(correction=0)),
    Case("var_keepdim", lambda a: gg.var(a, (0, 2), keepdims=True, correction=2), ((3, 2, 4),),
         lambda a: a.var((0, 2), keepdim=True, correction=2)),
    Case("logsumexp", lambda a: a.logsumexp(dim=1), ((3, 4),), lambda a: a.logsumexp(1)),
    Case("logsumexp_all", lambda a: gg.logsumexp(a * 40.0), ((3, 4),),
         lambda a: (a * 40.0).logsumexp((0, 1))),
    Case("norm2", lambda a: a.norm(dim=1), ((3, 4),), lambda a: a.norm(dim=1)),
    Case("norm3", lambda a: gg.norm(a, 3), ((3, 4),), lambda a: a.norm(3), {0: "apart"}),
    Case("norm1_keepdim", lambda a: gg.norm(a, 1, 0, keepdims=True) * a, ((3, 4),),
         lambda a: a.norm(1, 0, keepdim=True) * a, {0: "apart"}),
    Case("norm_inf", lambda a: gg.norm(a, float("inf"), 1, keepdims=True) * a, ((3, 4),),
         lambda a: a.norm(float("inf"), 1, keepdim=True) * a, {0: "apart"}),
    Case("cumsum", lambda a: a.cumsum(dim=1) ** 2, ((3, 4),), lambda a: a.cumsum(1) ** 2),
    # ------------------------------------------------------------ matrix products
    Case("matmul", lambda a, b: a @ b, ((3, 4), (4, 2)), lambda a, b: a @ b),
    Case("matmul_vector_left", lambda a, b: a @ b, ((4,), (4, 2)), lambda a, b: a @ b),
    Case("matmul_vector_right", lambda a, b: a @ b, ((3, 4), (4,)), lambda a, b: a @ b),
    Case("matmul_batched", lambda a, b: a @ b, ((2, 3, 4), (4, 2)), lambda a, b: a @ b),
    Case("linear", F.linear, ((5, 3), (3, 4), (4,)), lambda x, w, b: x @ w + b),
    Case("linear_no_bias_3d", lambda x, w: F.linear(x, w) ** 2, ((2, 5, 3), (3, 4)),
         lambda x, w: (x @ w) ** 2),
    Case("linear_relu", lambda x, w, b: F.linear(x, w, b, activation="relu") ** 2,
         ((5, 3), (3, 4), (4,)), lambda x, w, b: (x @ w + b).relu() ** 2, {2: "apart"}),
    Case("linear_sigmoid", lambda x, w, b: F.linear(x, w, b, activation="sigmoid"),
         ((5, 3), (3, 4), (4,)), lambda x, w, b: (x @ w + b).sigmoid()),
    Case("linear_sigmoid_no_bias", lambda x, w: F.linear(x, w, activation="sigmoid"),
         ((5, 3), (3, 4)), lambda x, w: (x @ w).sigmoid()),
    # ------------------------------------------------------------ losses
    Case("cross_entropy", lambda z: F.cross_entropy(z, labels_like(z)), ((5, 3),),
         lambda z: _tF().cross_entropy(z, _torch_labels())),
    Case("cross_entropy_sum", lambda z: F.cross_entropy(z, labels_like(z), reduction="sum"),
         ((5, 3),), lambda z: _tF().cross_entropy(z, _torch_labels(), reduction="sum")),
    Case("cross_entropy_none", lambda z: F.cross_entropy(z, labels_like(z), reduction="none"),
         ((5, 3),), lambda z: _tF().cross_entropy(z, _torch_labels(), reduction="none")),
    Case("softmax_xent_backward",
         lambda p, g: loss.SoftmaxXentBackward()(p.softmax(axis=1), labels_like(p), g.sum()),
         ((5, 3), (2,))),
    Case("hinge", lambda s: F.hinge_loss(s, labels_like(s)) * s.sum(), ((5, 3),),
         lambda s: _torch_hinge(s) * s.sum()),
    Case("mse", F.mse_loss, ((5, 3), (5, 3)), lambda a, b: _tF().mse_loss(a, b)),
    # ------------------------------------------------------------ recurrent
    Case("lstm_step", lambda g, c: _lstm_step(g, c, gg), ((3, 8), (3, 2)),
         lambda g, c: _lstm_step(g, c, _t())),
    Case("lstm_step_backward", lambda g, c, dh, dc: _lstm_step_grad(g, c, dh, dc, gg),
         ((3, 8), (3, 2), (3, 2), (3, 2)), lambda g, c, dh, dc: _lstm_step_grad(g, c, dh, dc, _t())),
    Case("gru_step", lambda x, hp, h: _gru_step(x, hp, h, gg), ((3, 6), (3, 6), (3, 2)),
         lambda x, hp, h: _gru_step(x, hp, h, _t())),
    Case("gru_step_backward", lambda x, hp, h, dy: _gru_step_grad(x, hp, h, dy, gg),
         ((3, 6), (3, 6), (3, 2), (3, 2)), lambda x, hp, h, dy: _gru_step_grad(x, hp, h, dy, _t())),
    Case("lstm_layer", lambda *a: _layer("LSTM", False, a, gg), _LAYER_SHAPES["LSTM"],
         lambda *a: _layer("LSTM", False, a, _t())),
    Case("lstm_layer_reverse", lambda *a: _layer("LSTM", True, a, gg), _LAYER_SHAPES["LSTM"],
         lambda *a: _layer("LSTM", True, a, _t())),
    Case("gru_layer_reverse", lambda *a: _layer("GRU", True, a, gg), _LAYER_SHAPES["GRU"],
         lambda *a: _layer("GRU", True, a, _t())),
    Case("rnn_tanh_layer", lambda *a: _layer("RNN_TANH", False, a, gg), _LAYER_SHAPES["RNN_TANH"],
         lambda *a: _layer("RNN_TANH", False, a, _t())),
    Case("unbind", lambda x: gg.stack([t * (k + 1.0) for k, t in enumerate(x.unbind(1)) if k != 2]),
         ((3, 4),), lambda x: _t().stack([t * (k + 1.0) for k, t in enumerate(x.unbind(1)) if k != 2])),
    # ------------------------------------------------------------ in place (recorded: rebased)
    Case("setitem", lambda a, v: _setitem(a, v, (slice(1, None), slice(None, None, 2))),
         ((3, 4), (2, 2)), lambda a, v: _setitem(a, v, (slice(1, None), slice(None, None, 2)))),
    Case("setitem_advanced_broadcast", lambda a, v: _setitem(a, v, ([0, 2], slice(None))),
         ((3, 4), (4,)), lambda a, v: _setitem(a, v, ([0, 2], slice(None)))),
    Case("fill_tensor", lambda a, v: (a * 1.0).fill_(v.sum()) * a, ((3, 4), (2,)),
         lambda a, v: (a * 1.0).fill_(v.sum()) * a),
    Case("copy_broadcast", lambda a, b: (a * 1.0).copy_(b) * a, ((3, 4), (4,)),
         lambda a, b: (a * 1.0).copy_(b) * a),
    Case("zero_", lambda a: ((a * 1.0).zero_() + a) * a, ((3, 4),),
         lambda a: ((a * 1.0).zero_() + a) * a),
    Case("inplace_arithmetic", lambda a, b: _inplace_chain(a, b), ((3, 4), (3, 4)),
         lambda a, b: _inplace_chain(a, b), {1: "positive"}),
    Case("cross_entropy_weight_ignore_smoothing",
         lambda z: F.cross_entropy(z, gg.tensor(LABELS_IGNORED, device=z.device),
                                   weight=gg.tensor(CLASS_WEIGHT, device=z.device),
                                   label_smoothing=0.2),
         ((5, 3),), lambda z: _tF().cross_entropy(z, _t().tensor(LABELS_IGNORED),
                                                  weight=_t().tensor(CLASS_WEIGHT),
                                                  label_smoothing=0.2)),
    Case("cross_entropy_probabilities", lambda z, t: F.cross_entropy(z, t.softmax(axis=1)),
         ((5, 3), (5, 3)), lambda z, t: _tF().cross_entropy(z, t.softmax(1))),
    Case("cross_entropy_2d", lambda z: F.cross_entropy(z, gg.tensor(LABELS_2D, device=z.device)),
         ((2, 3, 4),), lambda z: _tF().cross_entropy(z, _t().tensor(LABELS_2D))),
    Case("nll_loss", lambda z: F.nll_loss(z.log_softmax(axis=1), labels_like(z), reduction="sum"),
         ((5, 3),), lambda z: _tF().nll_loss(z.log_softmax(1), _torch_labels(), reduction="sum")),
    Case("multi_margin_p2", lambda s: F.multi_margin_loss(s * 0.3, labels_like(s), p=2,
                                                          weight=gg.tensor(CLASS_WEIGHT, device=s.device)),
         ((5, 3),), lambda s: _torch_multi_margin_p2(s * 0.3), {0: "apart"}),
    Case("l1", lambda a, b: F.l1_loss(a, b, reduction="none") * a, ((5, 3), (5, 3)),
         lambda a, b: _tF().l1_loss(a, b, reduction="none") * a, {0: "apart"}),
    Case("smooth_l1", lambda a: F.smooth_l1_loss(a, gg.zeros(5, 3, dtype="float64", device=a.device), beta=0.7),
         ((5, 3),), lambda a: _tF().smooth_l1_loss(a, _t().zeros(5, 3, dtype=a.dtype), beta=0.7),
         {0: "apart"}),
    Case("bce", lambda p, t: F.binary_cross_entropy(p.sigmoid(), t.sigmoid()), ((5, 3), (5, 3)),
         lambda p, t: _tF().binary_cross_entropy(p.sigmoid(), t.sigmoid())),
    Case("bce_with_logits_pos_weight",
         lambda x, t: F.binary_cross_entropy_with_logits(x, t.sigmoid(), pos_weight=gg.tensor(CLASS_WEIGHT, device=x.device)),
         ((5, 3), (5, 3)), lambda x, t: _tF().binary_cross_entropy_with_logits(
             x, t.sigmoid(), pos_weight=_t().tensor(CLASS_WEIGHT)), {0: "apart"}),
]


def _lstm_step(gates, c, lib):
    """One LSTM step's (h, c) combined, gpugrad's fused op or PyTorch's composed gates."""
    if lib is gg:
        from gpugrad.functions.recurrent import lstm_step
        h, c2 = lstm_step(gates, c)
    else:
        i, f, g, o = gates.chunk(4, -1)
        c2 = lib.sigmoid(f) * c + lib.sigmoid(i) * lib.tanh(g)
        h = lib.sigmoid(o) * lib.tanh(c2)
    return h * c2 + c2


def _lstm_step_grad(gates, c, dh, dc, lib):
    """The step's backward (dgates, dc_prev) at (gates, c) for (dh, dc) as a function of all
    four: gpugrad's LSTMStepBackward op, PyTorch's autograd.grad of the composed step."""
    if lib is gg:
        from gpugrad.functions.recurrent import LSTMStepBackward
        d_gates, d_prev = LSTMStepBackward()(gates, c, dh, dc)
    else:
        i, f, g, o = gates.chunk(4, -1)
        c2 = lib.sigmoid(f) * c + lib.sigmoid(i) * lib.tanh(g)
        h = lib.sigmoid(o) * lib.tanh(c2)
        d_gates, d_prev = lib.autograd.grad((h * dh + c2 * dc).sum(), (gates, c), create_graph=True)
    mixed = sum(d_gates[:, 2 * k:2 * k + 2] * (k + 1.0) for k in range(4))   # every gate's part
    return mixed * d_prev + d_prev


def _gru_formula(xp, hp, h, lib):
    xr, xz, xn = xp.chunk(3, -1)
    hr, hz, hn = hp.chunk(3, -1)
    r, z = lib.sigmoid(xr + hr), lib.sigmoid(xz + hz)
    n = lib.tanh(xn + r * hn)
    return n + z * (h - n)


def _gru_step(xp, hp, h, lib):
    """One GRU step's h': gpugrad's fused op, or PyTorch's gates composed."""
    if lib is gg:
        from gpugrad.functions.recurrent import gru_step
        return gru_step(xp, hp, h) * h
    return _gru_formula(xp, hp, h, lib) * h


def _gru_step_grad(xp, hp, h, dy, lib):
    """The GRU step's backward (dxp, dhp, dh) as a function of all four inputs."""
    if lib is gg:
        from gpugrad.functions.recurrent import GRUStepBackward
        dxp, dhp, dh = GRUStepBackward()(xp, hp, h, dy)
    else:
        dxp, dhp, dh = lib.autograd.grad((_gru_formula(xp, hp, h, lib) * dy).sum(), (xp, hp, h),
                                         create_graph=True)
    mixed = sum((dxp[:, 2 * k:2 * k + 2] + dhp[:, 2 * k:2 * k + 2] * 2.0) * (k + 1.0) for k in range(3))
    return mixed * dh + dh


def _torch_layer(mode, reverse, x, state, w_ih, w_hh, b_ih, b_hh):
    """PyTorch's recurrence written out step by step (its gate order), for double backward."""
    torch = _t()
    hs, T = [None] * x.shape[0], x.shape[0]
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        p, q = x[t] @ w_ih.T + b_ih, (state[0] if mode == "LSTM" else state) @ w_hh.T + b_hh
        if mode == "LSTM":
            i, f, g, o = (p + q).chunk(4, -1)
            c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
            state = (torch.sigmoid(o) * torch.tanh(c), c)
        elif mode == "GRU":
            (pr, pz, pn), (qr, qz, qn) = p.chunk(3, -1), q.chunk(3, -1)
            r, z = torch.sigmoid(pr + qr), torch.sigmoid(pz + qz)
            n = torch.tanh(pn + r * qn)
            state = n + z * (state - n)
        else:
            state = torch.tanh(p + q)
        hs[t] = state[0] if mode == "LSTM" else state
    return (torch.stack(hs),) + (state if mode == "LSTM" else (state,))


def _layer(mode, reverse, args, lib):
    """A recurrent layer's direction (gpugrad's sequence op, or PyTorch's steps): every output
    mixed into one tensor."""
    n = 2 if mode == "LSTM" else 1
    x, state, weights = args[0], (tuple(args[1:3]) if n == 2 else args[1]), args[1 + n:]
    if lib is gg:
        from gpugrad.functions.recurrent_sequence import recurrent_layer
        outs = recurrent_layer(mode, reverse, x, state, *weights)
    else:
        outs = _torch_layer(mode, reverse, x, state, *weights)
    mixed = outs[0] * outs[1]
    return mixed * outs[-1] + mixed if n == 2 else mixed


def _setitem(a, v, index):
    y = a * 1.0
    y[index] = v
    return y * a


def _inplace_chain(a, b):
    """The recorded in-place arithmetic (each one rebases y's history), in either library. An op
    that saves its output (sigmoid_) comes last: writing over that output again would make
    backward refuse, in both libraries."""
    y = a * 1.0
    y.mul_(b)
    y.add_(a, alpha=2.0)
    y /= b
    y -= 0.5
    y **= 2
    y.sigmoid_()
    return y * a
# ------------------------------------------------------------ convolution, pooling, batch norm, dropout
# Fixed geometries for the ops that a forward never calls directly (the transposed
# convolution, the weight gradient, the pooling backwards): each is linear in its operands.
CONV_WINDOW = conv.conv_window("conv2d", (2, 2, 5, 4), (3, 2), stride=2, padding=1, dilation=1)
POOL_WINDOW = pooling.pool_window("max_pool2d", (1, 2, 5, 5), 3, stride=2, padding=1, ceil_mode=True)
DROPOUT_KEY = (0x9E3779B9, 12345)


def _one_hot_taps(t):
    """A fixed one-hot choice of a tap per window of POOL_WINDOW (any choice: the max-pooling
    backward and its adjoint are linear for every mask), on ``t``'s device."""
    g = POOL_WINDOW
    taps, outs = g.kh * g.kw, g.oh * g.ow
    mask = (np.arange(taps)[:, None] == (np.arange(outs) * 5 + 2) % taps)[None, None]
    return backend.to_device(np.broadcast_to(mask, (1, 2, taps, outs)).copy(), t.device)


def _avg_scale(t):
    return pooling.avg_scale(POOL_WINDOW, False, None, t.array)


def _dropout_mask(shape):
    """The mask (already scaled by 1 / (1 - p)) that DROPOUT_KEY draws, as a NumPy array."""
    return kernels.dropout_apply(np.ones(shape), DROPOUT_KEY, 0.3)


CASES += [
    Case("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2),
                                            groups=2),
         ((2, 4, 5, 5), (4, 2, 2, 2), (4,)),
         lambda x, w, b: _tF().conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)),
    Case("conv1d_same", lambda x, w: F.conv1d(x, w, padding="same") ** 2, ((2, 2, 6), (3, 2, 4)),
         lambda x, w: _tF().conv1d(x, w, padding="same") ** 2),
    Case("conv_input_grad", lambda gy, w: conv.ConvInputGrad(CONV_WINDOW, 2)(gy, w) ** 2,
         ((2, 4, CONV_WINDOW.oh, CONV_WINDOW.ow), (4, 1, 3, 2)),
         lambda gy, w: _tF().conv_transpose2d(gy, w, stride=2, padding=1, groups=2) ** 2),
    Case("conv_weight_grad", lambda x, gy: conv.ConvWeightGrad(CONV_WINDOW, 2)(x, gy) ** 2,
         ((2, 2, 5, 4), (2, 4, CONV_WINDOW.oh, CONV_WINDOW.ow))),
    Case("max_pool2d", lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True) ** 2,
         ((2, 3, 5, 6),), lambda x: _tF().max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True) ** 2,
         {0: "apart"}),
    Case("max_pool1d_dilated", lambda x: F.max_pool1d(x, 2, stride=1, dilation=2) * x[..., :3],
         ((2, 2, 5),), lambda x: _tF().max_pool1d(x, 2, stride=1, dilation=2) * x[..., :3],
         {0: "apart"}),
    Case("max_pool_backward",
         lambda gy: pooling.MaxPoolBackward(POOL_WINDOW, _one_hot_taps(gy))(gy) ** 2,
         ((1, 2, POOL_WINDOW.oh, POOL_WINDOW.ow),)),
    Case("window_gather", lambda x: pooling.WindowGather(POOL_WINDOW, _one_hot_taps(x))(x) ** 2,
         ((1, 2, 5, 5),)),
    Case("avg_pool2d", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
                                              count_include_pad=False) ** 2,
         ((2, 2, 5, 6),), lambda x: _tF().avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
                                                    count_include_pad=False) ** 2),
    Case("avg_pool_backward",
         lambda gy: pooling.AvgPoolBackward(POOL_WINDOW, _avg_scale(gy))(gy) ** 2,
         ((1, 2, POOL_WINDOW.oh, POOL_WINDOW.ow),)),
    Case("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)) ** 2, ((2, 2, 5, 7),),
         lambda x: _tF().adaptive_avg_pool2d(x, (2, 3)) ** 2),
    Case("batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True) ** 2,
         ((3, 2, 2, 3), (2,), (2,)),
         lambda x, w, b: _tF().batch_norm(x, None, None, w, b, training=True) ** 2),
    Case("batch_norm_1d_no_affine", lambda x: F.batch_norm(x, None, None, training=True) ** 3,
         ((4, 3),), lambda x: _tF().batch_norm(x, None, None, training=True) ** 3),
    Case("dropout", lambda x: dropout.Dropout(0.3, DROPOUT_KEY)(x) ** 2, ((4, 5),),
         lambda x: (x * _t().tensor(_dropout_mask((4, 5)))) ** 2),
]

BY_NAME = {c.name: c for c in CASES}


def draw_inputs(case, rng, device="cpu", dtype=np.float64):
    """The case's inputs as leaves that require grad, drawn as it says."""
    inputs = []
    for i, shp in enumerate(case.shapes):
        a = rng.standard_normal(shp)
        how = case.draw.get(i)
        if how == "positive":
            a = np.abs(a) + 0.5
        elif how == "apart":   # |a| >= 0.2 and pairwise gaps: no kink within the stencil
            a = np.sign(a + 1e-12) * (np.abs(a) + 0.2)
            a = a + 0.05 * np.arange(a.size).reshape(shp)
        inputs.append(gg.tensor(a, dtype=dtype, device=device, requires_grad=True))
    return inputs


def op_types(*tensors):
    """The classes of every node in the graphs behind ``tensors``."""
    seen, types, stack = set(), set(), [t.grad_fn for t in tensors if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        types.add(type(node))
        for edge in node.next_edges:
            if isinstance(edge, tuple):
                stack.append(edge[0])
    return types
