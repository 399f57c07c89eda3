"""The differentiable ops, one module per family (see each module's docstring for its rules),
and :mod:`.methods`, which binds them onto Tensor as operators and methods.

How to write an op
==================

An op is a subclass of :class:`gpugrad.autograd.Op` in the module of its family, with its
``forward`` and its ``backward`` side by side, and a plain function that calls it::

    class Softplus(Op):
        '''y = log(1 + e^x): dx = dy * sigmoid(x).'''

        def forward(self, x):                         # raw NumPy/CuPy arrays in, array out
            self.save_for_backward(x)                 # what backward needs, nothing more
            xp = backend.array_module(x)
            return xp.logaddexp(0, x)

        def backward(self, gy):                       # ONE formula, for arrays and Tensors
            x, = self.saved
            return gy * Sigmoid().apply(x)

    def softplus(x):
        return Softplus()(x)

1. ``forward`` works on raw arrays (NumPy on the CPU, CuPy on a GPU: ``backend.array_module``),
   keeps what backward needs with ``self.save_for_backward(...)`` (only that: an output rather
   than an input where the formula allows, like sigmoid) and hyper-parameters as attributes.
   It may read ``self.needs_input_grad`` to save less.
2. ``backward`` is written once and runs two ways. In an ordinary backward pass its gradients
   and ``self.saved`` are raw arrays: that is the fast path, nothing recorded. Under
   ``create_graph=True`` they are Tensors (a saved input or output comes back as that tensor,
   joined to the graph) and every step of the formula is recorded, so the gradient can be
   differentiated again. So write it only with:

   * Python operators (``+ - * / ** @``, unary ``-``), with the gradient first in a product
     with a raw array (``gy * mask``, not ``mask * gy``);
   * what arrays and Tensors share: ``.shape``, ``.ndim``, ``.dtype``, ``.reshape(...)``,
     ``.T`` and ``.transpose()`` (all axes reversed), ``.sum(axis=, keepdims=)``,
     ``.astype(dtype)``, basic and advanced indexing ``g[...]`` (a permutation of the axes is
     ``Transpose(axes).apply(g)``: Tensor.transpose follows PyTorch, ndarray's NumPy);
   * ``sum_to(g, shape)`` / ``broadcast_to(g, shape)`` (:mod:`.broadcast`), and any other op
     through ``OtherOp(...).apply(values)``: its forward on arrays, a recorded call on Tensors
     (``Exp().apply(y)``, ``GetItem(index).apply(g)``);
   * ``array_of(v)`` for what carries no gradient (masks, indices, counts), computed on the
     raw arrays: ``x = array_of(self.saved[0]); return gy * (x > 0)``.

   No in-place updates of a value that may be a Tensor, no ``xp.`` function of one.
3. A backward that calls a fused kernel makes that kernel an op of its own whose forward is
   the kernel and whose backward is, in turn, written by rule 2 (``ReLUBackward``,
   ``SigmoidBackward``, ``SoftmaxXentBackward``): the fused kernel stays the fast path, and
   gradients of any order work through it. A saved *intermediate* (neither an input nor an
   output) is a constant to a recorded backward: if the gradient depends on it, save an input
   or output instead, or bring it back as a node (``softmax_of_input``, ``Op.graft``).
4. Tests: add a ``Case`` to ``tests/op_cases.py`` (with PyTorch's same function where it has
   one). ``tests/test_higher_order.py`` then runs gradgradcheck on it on every backend, checks
   the recorded backward against the fast one and the second derivatives against PyTorch's,
   and fails for any Op subclass here that no case exercises. First derivatives and errors:
   ``tests/test_ops_gradcheck.py``, ``tests/test_errors.py``.

User code writes an op with the public :class:`gpugrad.autograd.Function` (PyTorch's API,
``ctx`` and ``apply``) on the same saved-state contract; the built-in ops use ``Op`` directly,
which skips the Tensor wrapping and keeps the fused kernels on the fast path.
"""
from . import methods  # noqa: F401  (binds Tensor's operators and op methods)
from .activation import (ACTIVATIONS, elu, gelu, get_activation, leaky_relu, log_softmax, relu,
                         sigmoid, silu, softmax, softplus, tanh)
from .arithmetic import (abs, add, clamp, clip, div, exp, log, maximum, minimum, mul, neg, pow, sqrt,
                         sub)
from .arrange import (chunk, expand, flip, repeat, repeat_interleave, split, squeeze, tile, unbind,
                      unsqueeze)
from .broadcast import broadcast_to, sum_to
from .conv import conv1d, conv2d
from .einsum import einsum
from .linalg import linear, matmul
from .elementwise_loss import (binary_cross_entropy, binary_cross_entropy_with_logits, l1_loss,
                               mse_loss, smooth_l1_loss)
from .loss import cross_entropy, hinge_loss, multi_margin_loss, nll_loss
from .normalization import batch_norm
from .pad import pad
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d,
                      max_pool2d)
from .reduction import amax, amin, cumsum, logsumexp, max, mean, min, norm, std, sum, var
from .selection import argmax, argmin, gather, take_along_axis, take_along_dim, where
from .shape import (astype, cat, clone, concatenate, flatten, getitem, permute, reshape, stack,
                    to_device, transpose, unflatten)

concat = cat

__all__ = [
    "ACTIVATIONS", "get_activation", "log_softmax", "relu", "sigmoid", "softmax", "tanh", "gelu",
    "silu", "elu", "softplus", "leaky_relu",
    "abs", "add", "clamp", "clip", "div", "exp", "log", "maximum", "minimum", "mul", "neg", "pow",
    "sqrt", "sub", "where", "sum_to", "broadcast_to", "linear", "matmul", "einsum",
    "cross_entropy", "hinge_loss", "mse_loss", "nll_loss", "multi_margin_loss", "l1_loss",
    "smooth_l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "pad",
    "argmax", "argmin", "max", "mean", "min", "amax", "amin", "sum", "var", "std", "logsumexp", "norm", "cumsum",
    "gather", "take_along_axis", "take_along_dim",
    "astype", "concatenate", "cat", "concat", "getitem", "reshape", "stack", "to_device",
    "transpose", "permute", "flatten", "unflatten", "squeeze", "unsqueeze", "clone",
    "chunk", "expand", "flip", "repeat", "repeat_interleave", "split", "tile", "unbind",
    "conv1d", "conv2d", "batch_norm", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d",
]
