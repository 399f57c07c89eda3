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
from gpugrad.functions import activation, broadcast, conv, dropout, loss, pooling, shape

LABELS = np.array([0, 2, 1, 2, 0])          # 5 samples, 3 classes
INDEX_ADV = ([0, 1, 0], slice(None), [1, 2, 1])


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
]


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
