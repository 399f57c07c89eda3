"""Pooling over NCHW planes: ``max_pool1d/2d``, ``avg_pool1d/2d``, ``adaptive_avg_pool1d/2d``.

Both window poolings gather their windows with ``kernels.im2col`` (padding reads -inf for max,
0 for average) into (N, C, kh·kw, oh·ow) and reduce over the taps; their backwards scatter the
gradient back with ``kernels.col2im`` (summing where windows overlap).

* Max routes dy to the tap that won (the first one on a tie, as PyTorch; a NaN wins), kept as
  a one-hot mask of the taps: ``MaxPool`` (y = the winners), ``MaxPoolBackward`` (dx = the
  mask's taps of dy scattered back) and ``WindowGather`` (the winners' taps of any input: the
  adjoint of the scatter) are each other's gradients.
* Average: y = Σ_taps x / divisor (PyTorch's divisor: the window's size within the padded input,
  or within the input itself when ``count_include_pad=False``, or ``divisor_override``);
  ``AvgPool`` and ``AvgPoolBackward`` are each other's adjoints.
* Adaptive average pooling is composed of existing ops: a mean over reshaped blocks when the
  sizes divide, else two products with constant averaging matrices (rows [⌊iH/OH⌋, ⌈(i+1)H/OH⌉)).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend, kernels
from ..autograd import Op
from ..tensor import wrap
from .conv import _pair

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "pool_window", "MaxPool", "MaxPoolBackward", "WindowGather",
           "AvgPool", "AvgPoolBackward"]


def _out_size(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size: the last window must start inside the input or the
    padding before it."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool_window(name, x_shape, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """The :class:`kernels.Window` of a pooling of an (N, C, H, W) input, with PyTorch's checks:
    stride defaults to the kernel size, padding at most half the kernel, an output of at least
    one element."""
    kh, kw = _pair(kernel_size, "kernel_size", name)
    sh, sw = (kh, kw) if stride is None or stride == () or stride == [] else _pair(stride, "stride", name)
    ph, pw = _pair(padding, "padding", name)
    dh, dw = _pair(dilation, "dilation", name)
    if min(kh, kw, sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError(f"{name}: kernel_size, stride and dilation must be positive and padding >= 0, "
                         f"got kernel_size {(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)}, dilation {(dh, dw)}")
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{name}: padding {(ph, pw)} must be at most half of kernel_size {(kh, kw)}")
    H, W = x_shape[-2:]
    oh, ow = (_out_size(H, kh, sh, ph, dh, ceil_mode), _out_size(W, kw, sw, pw, dw, ceil_mode))
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: an input of shape {tuple(x_shape)} is too small for kernel_size "
                         f"{(kh, kw)}, dilation {(dh, dw)} and padding {(ph, pw)} (output {(oh, ow)})")
    return kernels.Window(H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


def _taps(cols, g):
    """im2col's (N, C, kh, kw, oh, ow) as (N, C, kh·kw, oh·ow)."""
    return cols.reshape(cols.shape[0], cols.shape[1], g.kh * g.kw, g.oh * g.ow)


def _first_max_mask(cols, y):
    """One-hot over the taps (axis 2): the first tap equal to the max (or NaN)."""
    xp = backend.array_module(cols)
    mask = xp.empty(cols.shape, bool)
    taken = xp.zeros(y.shape, bool)
    for k in range(cols.shape[2]):
        hit = mask[:, :, k]
        xp.equal(cols[:, :, k], y, out=hit)
        hit |= cols[:, :, k] != cols[:, :, k]      # NaN wins, as in max
        hit &= ~taken
        taken |= hit
    return mask


class MaxPool(Op):
    """y = the max of each window: dx = dy routed to the winning tap (MaxPoolBackward).
    With ``return_indices`` the op keeps PyTorch's indices of the winners in ``indices``."""

    def __init__(self, window, return_indices=False):
        self.window, self.return_indices = window, return_indices

    def forward(self, x):
        g = self.window
        cols = _taps(kernels.im2col(x, g, -math.inf), g)
        y = cols.max(axis=2)
        mask = _first_max_mask(cols, y)
        self.save_for_backward(mask)
        if self.return_indices:
            self.indices = _winner_indices(mask, g)
        return y.reshape(x.shape[0], x.shape[1], g.oh, g.ow)

    def backward(self, gy):
        mask, = self.saved
        return MaxPoolBackward(self.window, mask).apply(gy)


def _winner_indices(mask, g):
    """PyTorch's max-pooling indices: the flat (h·W + w) input index of each window's winner."""
    xp = backend.array_module(mask)
    k = mask.argmax(axis=2).reshape(mask.shape[:2] + (g.oh, g.ow))
    rows = xp.arange(g.oh).reshape(-1, 1) * g.sh - g.pt + (k // g.kw) * g.dh
    cols = xp.arange(g.ow) * g.sw - g.pl + (k % g.kw) * g.dw
    return (rows * g.W + cols).astype(np.int64)


class MaxPoolBackward(Op):
    """dx = the winning taps of dy scattered back onto the input (col2im of a one-hot): linear
    in dy, its adjoint is WindowGather."""

    def __init__(self, window, mask):
        self.window, self.mask = window, mask

    def forward(self, gy):
        g = self.window
        n, c = gy.shape[:2]
        gcols = self.mask * gy.reshape(n, c, 1, g.oh * g.ow)
        return kernels.col2im(gcols.reshape(n, c, g.kh, g.kw, g.oh, g.ow), g)

    def backward(self, ggx):
        return WindowGather(self.window, self.mask).apply(ggx)


class WindowGather(Op):
    """y = the value of x at each window's winning tap: linear in x, its adjoint is
    MaxPoolBackward."""

    def __init__(self, window, mask):
        self.window, self.mask = window, mask

    def forward(self, x):
        g = self.window
        cols = _taps(kernels.im2col(x, g), g)
        return (cols * self.mask).sum(axis=2).reshape(x.shape[0], x.shape[1], g.oh, g.ow)

    def backward(self, gy):
        return MaxPoolBackward(self.window, self.mask).apply(gy)


def avg_scale(g, count_include_pad, divisor_override, like):
    """1 / divisor of each output position, (oh, ow) on ``like``'s device in its dtype (a
    scalar with ``divisor_override``), by PyTorch's rule."""
    if divisor_override:
        return like.dtype.type(1.0 / divisor_override)

    def along(size, k, s, p, outs):
        start = np.arange(outs) * s - p
        end = np.minimum(start + k, size + p)
        return end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0)

    counts = np.outer(along(g.H, g.kh, g.sh, g.pt, g.oh), along(g.W, g.kw, g.sw, g.pl, g.ow))
    return backend.to_device((1.0 / counts).astype(like.dtype), backend.device_of(like))


class AvgPool(Op):
    """y = Σ_taps x · scale (scale = 1 / divisor): dx = AvgPoolBackward(dy)."""

    def __init__(self, window, scale):
        self.window, self.scale = window, scale

    def forward(self, x):
        g = self.window
        y = _taps(kernels.im2col(x, g), g).sum(axis=2).reshape(x.shape[0], x.shape[1], g.oh, g.ow)
        y *= self.scale
        return y

    def backward(self, gy):
        return AvgPoolBackward(self.window, self.scale).apply(gy)


class AvgPoolBackward(Op):
    """dx = col2im of dy · scale on every tap: linear in dy, its adjoint is AvgPool."""

    def __init__(self, window, scale):
        self.window, self.scale = window, scale

    def forward(self, gy):
        g = self.window
        n, c = gy.shape[:2]
        share = (gy * self.scale).reshape(n, c, 1, 1, g.oh, g.ow)
        taps = backend.array_module(gy).broadcast_to(share, (n, c, g.kh, g.kw, g.oh, g.ow))
        return kernels.col2im(taps, g)

    def backward(self, ggx):
        return AvgPool(self.window, self.scale).apply(ggx)


# --------------------------------------------------------------------------- the functions

def _planes(name, x, spatial):
    """x as a batch of (H, W) planes (N, C, H, W), and how to shape a result back: a 1-D
    pooling is one over planes of height 1, an unbatched input a batch of one."""
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{name}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) "
                         f"input, got shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: needs a floating-point input, got {x.dtype}")
    shape = tuple(x.shape)
    lead = shape[:-spatial] if x.ndim == spatial + 2 else (1,) + shape[:-spatial]
    planes = x.reshape(lead + ((1,) if spatial == 1 else ()) + shape[-spatial:])

    def back(y):
        out = shape[:-spatial] + tuple(y.shape[-spatial:])
        return y if tuple(y.shape) == out else y.reshape(out)
    return (x if planes.shape == shape else planes), back


def _one(value, what, name):
    """A 1-D pooling's argument: an int or a 1-tuple."""
    v = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(v) != 1 or isinstance(v[0], bool) or not isinstance(v[0], int):
        raise TypeError(f"{name}: {what} must be an int or a 1-tuple, got {value!r}")
    return v[0]


def _window_1d(name, x, kernel_size, stride, padding, dilation, ceil_mode):
    """A 1-D pooling's window: over planes of height 1."""
    k = _one(kernel_size, "kernel_size", name)
    s = k if stride is None or stride == () or stride == [] else _one(stride, "stride", name)
    return pool_window(name, x.shape, (1, k), (1, s), (0, _one(padding, "padding", name)),
                       (1, _one(dilation, "dilation", name)), ceil_mode)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """PyTorch's ``F.max_pool2d`` on (N, C, H, W) or (C, H, W); with ``return_indices`` also
    the flat input index (h·W + w) of each maximum."""
    x, back = _planes("max_pool2d", input, 2)
    g = pool_window("max_pool2d", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool(x, g, back, return_indices)


def _max_pool(x, g, back, return_indices):
    op = MaxPool(g, return_indices)
    y = back(op(x))
    if not return_indices:
        return y
    return y, wrap(op.indices.reshape(y.shape), y.device)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """PyTorch's ``F.max_pool1d`` on (N, C, L) or (C, L)."""
    x, back = _planes("max_pool1d", input, 1)
    g = _window_1d("max_pool1d", x, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool(x, g, back, return_indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True, divisor_override=None):
    """PyTorch's ``F.avg_pool2d`` on (N, C, H, W) or (C, H, W)."""
    x, back = _planes("avg_pool2d", input, 2)
    g = pool_window("avg_pool2d", x.shape, kernel_size, stride, padding, 1, ceil_mode)
    return back(_avg_pool("avg_pool2d", x, g, count_include_pad, divisor_override))


def _avg_pool(name, x, g, count_include_pad, divisor_override):
    if divisor_override is not None and (isinstance(divisor_override, bool) or divisor_override == 0):
        raise ValueError(f"{name}: divisor_override must be a nonzero number, got {divisor_override!r}")
    return AvgPool(g, avg_scale(g, count_include_pad, divisor_override, x.array))(x)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True):
    """PyTorch's ``F.avg_pool1d`` on (N, C, L) or (C, L)."""
    x, back = _planes("avg_pool1d", input, 1)
    g = _window_1d("avg_pool1d", x, kernel_size, stride, padding, 1, ceil_mode)
    return back(_avg_pool("avg_pool1d", x, g, count_include_pad, None))


def _adaptive_sizes(name, output_size, spatial_shape):
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * len(spatial_shape)
    if len(sizes) != len(spatial_shape):
        raise ValueError(f"{name}: output_size must be an int or {len(spatial_shape)} of them, got {output_size!r}")
    sizes = tuple(s if o is None else o for o, s in zip(sizes, spatial_shape))
    if not all(isinstance(o, int) and not isinstance(o, bool) and o >= 1 for o in sizes):
        raise ValueError(f"{name}: output sizes must be positive ints (or None: the input's), got {output_size!r}")
    return sizes


def _averaging_matrix(size, out, like):
    """(out, size): row i averages input [⌊i·size/out⌋, ⌈(i+1)·size/out⌉), PyTorch's bins (a
    constant Tensor on ``like``'s device)."""
    m = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return wrap(backend.to_device(m.astype(like.dtype), like.device), like.device)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """PyTorch's ``F.adaptive_avg_pool2d`` on (N, C, H, W) or (C, H, W): ``output_size`` an int,
    or a pair whose None entries keep the input's size."""
    return _adaptive_avg_pool("adaptive_avg_pool2d", input, output_size, 2)


def _adaptive_avg_pool(name, input, output_size, spatial):  # noqa: A002
    x, back = _planes(name, input, spatial)
    H, W = x.shape[-2:]
    if H == 0 or W == 0:
        raise ValueError(f"{name}: the input of shape {tuple(input.shape)} is empty along a "
                         f"pooled dimension: there is nothing to average")
    oh, ow = _adaptive_sizes(name, output_size if spatial == 2 else (1, output_size), (H, W))
    if H % oh == 0 and W % ow == 0:   # equal bins: a mean over blocks
        n, c = x.shape[:2]
        y = x.reshape(n, c, oh, H // oh, ow, W // ow).mean(axis=(3, 5))
    else:
        y = _averaging_matrix(H, oh, x) @ (x @ _averaging_matrix(W, ow, x).T)
    return back(y)


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    """PyTorch's ``F.adaptive_avg_pool1d`` on (N, C, L) or (C, L)."""
    size = output_size[0] if isinstance(output_size, (tuple, list)) and len(output_size) == 1 else output_size
    if isinstance(size, (tuple, list)):
        raise ValueError(f"adaptive_avg_pool1d: output_size must be an int, got {output_size!r}")
    if size is None or isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"adaptive_avg_pool1d: output_size must be an int, got {output_size!r}")
    return _adaptive_avg_pool("adaptive_avg_pool1d", input, size, 1)
