"""Matrix products: ``matmul`` and the notes' Affine layer ``linear``.

Affine, with W of shape (in, out) as in the notes: Y = XW + b, and

    dX = dY Wᵀ,    dW = Xᵀ dY,    db = Σ_batch dY.

No Jacobian is formed: each gradient is one matrix product (or one row sum) on arrays shaped
like the inputs.
"""
from __future__ import annotations

from .. import backend, kernels
from ..autograd import Op
from .activation import activation_backward, get_activation
from .broadcast import sum_to
from .promotion import promote_operands
from .shape import Transpose

__all__ = ["matmul", "linear"]


def _check_matmul(a, b):
    for x in (a, b):
        if not hasattr(x, "ndim"):
            raise TypeError(f"matmul: both operands must be tensors, got {type(x).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned "
                         f"({k_a} columns in the first, {k_b} rows in the second)")


def _product(a, b):
    """``a @ b``, where raw arrays go through ``backend.matmul`` (inside a CUDA graph capture,
    gpugrad's own cuBLAS handle; the same ``@`` otherwise) and Tensors of a recorded backward
    pass through their ``@``."""
    return backend.matmul(a, b) if backend.is_array(a) and backend.is_array(b) else a @ b


class MatMul(Op):
    """C = A @ B (NumPy semantics, batch axes broadcast): dA = dC Bᵀ, dB = Aᵀ dC."""

    def forward(self, a, b):
        _check_matmul(a, b)
        a_dtype, b_dtype = a.dtype, b.dtype
        a, b = promote_operands(a, b, "matmul")   # PyTorch's rule: int64 @ float32 is float32
        need_a, need_b = self.needs_input_grad
        self.save_for_backward(a if need_b else None, b if need_a else None)
        self.a_meta = (a.shape, a_dtype, a.ndim, _transposed(a))
        self.b_meta = (b.shape, b_dtype, b.ndim, _transposed(b))
        try:
            return backend.matmul(a, b)
        except ValueError:
            raise ValueError(f"matmul: batch shapes of {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast") from None

    def backward(self, gc):
        a, b = self.saved
        need_a, need_b = self.needs_input_grad
        a_shape, a_dtype, a_ndim, a_transposed = self.a_meta
        b_shape, b_dtype, b_ndim, b_transposed = self.b_meta
        # Promote 1-D operands to matrices, as matmul itself does.
        a2 = None if a is None else (a.reshape(1, -1) if a_ndim == 1 else a)
        b2 = None if b is None else (b.reshape(-1, 1) if b_ndim == 1 else b)
        if a_ndim == 1 and b_ndim == 1:
            g = gc.reshape(1, 1)
        elif a_ndim == 1:
            g = gc.reshape(gc.shape[:-1] + (1, gc.shape[-1]))
        elif b_ndim == 1:
            g = gc.reshape(gc.shape + (1,))
        else:
            g = gc
        ga = gb = None
        if need_a:   # dA = dC Bᵀ, in A's layout when A is a transposed matrix (see below)
            ga = (_swap_last(_product(b2, _swap_last(g))) if a_transposed and g.ndim == 2
                  else _product(g, _swap_last(b2)))
            ga = sum_to(ga, (1,) + a_shape if a_ndim == 1 else a_shape).reshape(a_shape)
            ga = ga if ga.dtype == a_dtype else ga.astype(a_dtype)
        if need_b:   # dB = Aᵀ dC
            gb = (_swap_last(_product(_swap_last(g), a2)) if b_transposed and g.ndim == 2
                  else _product(_swap_last(a2), g))
            gb = sum_to(gb, b_shape + (1,) if b_ndim == 1 else b_shape).reshape(b_shape)
            gb = gb if gb.dtype == b_dtype else gb.astype(b_dtype)
        return ga, gb


def _transposed(m):
    """Whether the array ``m`` is a transposed view of a contiguous matrix (``w.T``). Its
    gradient is then made in that layout, as PyTorch's mm backward does: the transpose's own
    backward turns it into a contiguous array, instead of an add of two layouts later (a slow
    strided pass)."""
    return m.ndim == 2 and m.flags.f_contiguous and not m.flags.c_contiguous


def _swap_last(m):
    """``m`` (an array or a Tensor, at least 2-D) with its last two axes swapped."""
    axes = list(range(m.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return Transpose(tuple(axes)).apply(m)


class Linear(Op):
    """Affine layer Y = act(XW + b), W of shape (in, out), X of shape (..., in).

    dZ = act'(dY) (from the saved output), then dX = dZ Wᵀ, dW = Xᵀ dZ, db = Σ_batch dZ
    (a device-side row sum). The bias-add and the optional activation (one the kernels fuse,
    see ``ACTIVATIONS``) run as one fused kernel over the matmul's output, in place.
    """

    def __init__(self, activation=None):
        self.activation = activation

    def forward(self, x, w, b=None):
        if w.ndim != 2:
            raise ValueError(f"linear: weight must be 2-D (in, out), got shape {tuple(w.shape)}")
        if x.ndim == 0 or x.shape[-1] != w.shape[0]:
            raise ValueError(f"linear: input of shape {tuple(x.shape)} does not match weight of shape "
                             f"{tuple(w.shape)} (need input.shape[-1] == {w.shape[0]})")
        if x.dtype != w.dtype or (b is not None and b.dtype != w.dtype):
            raise TypeError(f"linear: input, weight and bias must share a dtype, got {x.dtype}, {w.dtype}"
                            + ("" if b is None else f", {b.dtype}"))
        if b is not None and tuple(b.shape) != (w.shape[1],):
            raise ValueError(f"linear: bias of shape {tuple(b.shape)} does not match weight of shape "
                             f"{tuple(w.shape)} (need ({w.shape[1]},))")
        need_x, need_w = self.needs_input_grad[:2]
        y = backend.matmul(x, w)
        if b is not None:
            y = kernels.bias_act_fwd(y, b, self.activation, out=y)
        elif self.activation:
            y = kernels.activation_fwd(self.activation, y)
        self.save_for_backward(x if need_w else None, w if need_x else None,
                               y if self.activation else None)
        return y

    def backward(self, gy):
        x, w, y = self.saved
        if self.activation:
            gy = activation_backward(self.activation, y, gy)
        need = self.needs_input_grad
        gy2 = gy.reshape(-1, gy.shape[-1])
        gx = gw = gb = None
        if need[0]:
            gx = _product(gy, w.T)
        if need[1]:
            x2 = x.reshape(-1, x.shape[-1])
            gw = _product(x2.T, gy2)
        if len(need) > 2 and need[2]:
            gb = sum_to(gy2, (gy2.shape[-1],))   # a device-side row sum (kernels.sum_rows)
        return gx, gw, gb


def matmul(a, b):
    return MatMul()(a, b)


def linear(x, weight, bias=None, activation=None):
    """Y = X W + b with W of shape (in, out), as in the notes' Affine layer.

    ``activation=`` names an activation of :data:`ACTIVATIONS` to apply after the bias; one the
    kernels fuse runs in the same kernel as the bias-add (``nn.Sequential`` does this by itself
    for a Linear followed by ReLU or Sigmoid).
    """
    act = None if activation is None else get_activation(activation)
    fused = act.name if act is not None and act.fusable else None
    y = Linear(fused)(x, weight) if bias is None else Linear(fused)(x, weight, bias)
    return y if act is None or fused else act.apply(y)
