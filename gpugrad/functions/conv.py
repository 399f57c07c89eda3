"""Convolution: ``conv1d``, ``conv2d`` (NCHW, PyTorch's weight layout (out, in/groups, kh, kw)).

im2col + GEMM, one chunk of the batch at a time: the windows of a few samples are gathered into a
column buffer ``cols`` (C/g·kh·kw, oh·ow) per sample and group (:func:`kernels.im2col`), and

    Y = W cols + b,     dW = Σ_n dY cols(X)ᵀ,     dX = col2im(Wᵀ dY),     db = Σ_{n,h,w} dY.

A chunk's buffer is kept small (``CHUNK_BYTES``, a few MB on the CPU: it stays in cache between
the gather and the product, and the step's peak memory stays far below a whole-batch buffer);
a 1x1 convolution with stride 1 and no padding is a plain product with no buffer at all.

The three maps are ops closed under differentiation: ``Conv`` (y from x and w), ``ConvInputGrad``
(dX from dY and w: a transposed convolution) and ``ConvWeightGrad`` (dW from x and dY). Each is
bilinear, so each one's gradients are the other two: gradients of any order need nothing else.
"""
from __future__ import annotations

import numpy as np

from .. import backend, kernels
from ..autograd import Op

__all__ = ["conv1d", "conv2d", "conv_window", "Conv", "ConvInputGrad", "ConvWeightGrad", "CHUNK_BYTES"]

#: Bytes of column buffer per chunk of the batch, by device type.
CHUNK_BYTES = {"cpu": 8 << 20, "cuda": 256 << 20}


def _pair(value, what, name):
    """An int or a pair of ints as a pair (a 1-tuple is repeated)."""
    v = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(v) == 1:
        v = v * 2
    if len(v) != 2 or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        raise TypeError(f"{name}: {what} must be an int or a pair of ints, got {value!r}")
    return v


def conv_padding(name, kernel, stride=1, padding=0, dilation=1):
    """((before, after) rows, (before, after) columns) of padding: ``padding`` an int, a pair,
    ``'valid'`` (none) or ``'same'`` (stride 1: an output as large as the input; an odd total
    puts the extra row or column after, as PyTorch does)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            if _pair(stride, "stride", name) != (1, 1):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions "
                                 f"(stride {stride})")
            dh, dw = _pair(dilation, "dilation", name)
            return tuple((t // 2, t - t // 2) for t in (dh * (kernel[0] - 1), dw * (kernel[1] - 1)))
        raise ValueError(f"{name}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    ph, pw = _pair(padding, "padding", name)
    if min(ph, pw) < 0:
        raise ValueError(f"{name}: padding must be >= 0, got {(ph, pw)}")
    return ((ph, ph), (pw, pw))


def conv_window(name, x_shape, kernel, stride=1, padding=0, dilation=1):
    """The :class:`kernels.Window` of a convolution of an (N, C, H, W) input with a (kh, kw)
    kernel (``padding`` as :func:`conv_padding` takes it), with PyTorch's checks."""
    H, W = x_shape[-2:]
    kh, kw = kernel
    sh, sw = _pair(stride, "stride", name)
    dh, dw = _pair(dilation, "dilation", name)
    if min(sh, sw) < 1 or min(dh, dw) < 1:
        raise ValueError(f"{name}: stride and dilation must be positive, got stride {(sh, sw)} and "
                         f"dilation {(dh, dw)}")
    pads = conv_padding(name, kernel, stride, padding, dilation)
    oh = (H + sum(pads[0]) - dh * (kh - 1) - 1) // sh + 1
    ow = (W + sum(pads[1]) - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: the kernel {(kh, kw)} (dilation {(dh, dw)}) is larger than the padded "
                         f"input {(H + sum(pads[0]), W + sum(pads[1]))} of an input of shape {tuple(x_shape)}")
    return kernels.Window(H, W, kh, kw, sh, sw, pads[0][0], pads[1][0], dh, dw, oh, ow)


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _mode_indices(size, before, after, mode):
    i = np.arange(-before, size + after)
    if mode == "reflect":
        i = np.abs(i)
        return np.where(i >= size, 2 * (size - 1) - i, i)
    if mode == "replicate":
        return np.clip(i, 0, size - 1)
    return i % size                                                 # circular


def pad_by_mode(name, x, pads, mode):
    """x (N, C, H, W) padded by ``pads`` ((top, bottom), (left, right)) with PyTorch's
    'reflect', 'replicate' or 'circular' padding: a gather of existing elements (indexing),
    whose gradient sums back onto them."""
    for axis, (before, after) in zip((-2, -1), pads):
        size = x.shape[axis]
        limit = size - 1 if mode == "reflect" else size
        if max(before, after) > limit and (before or after):
            raise ValueError(f"{name}: padding ({before}, {after}) is too large for {mode} padding of a "
                             f"dimension of size {size} (at most {limit})")
    h_index, w_index = (backend.to_device(_mode_indices(x.shape[a], *p, mode), x.device)
                        for a, p in zip((-2, -1), pads))
    return x[:, :, h_index][:, :, :, w_index]


def _is_pointwise(g):
    """A 1x1 window with stride 1 and no padding: the input itself is the column buffer."""
    return (g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.oh, g.ow) == (1, 1, 1, 1, 0, 0, g.H, g.W)


def _chunks(n, cols_per_sample, a):
    """Slices of the batch whose column buffers fit CHUNK_BYTES."""
    budget = CHUNK_BYTES["cpu" if backend.array_module(a) is np else "cuda"]
    step = max(1, budget // max(1, cols_per_sample * a.dtype.itemsize))
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def _columns(x, g, groups):
    """cols (B, groups, C/groups·kh·kw, oh·ow) of x (B, C, H, W)."""
    B = x.shape[0]
    if _is_pointwise(g):
        return x.reshape(B, groups, -1, g.H * g.W)
    return kernels.im2col(x, g).reshape(B, groups, -1, g.oh * g.ow)


def _from_columns(gcols, g, channels):
    """dX (B, C, H, W) from the gradient of its columns (B, groups, C/groups·kh·kw, oh·ow)."""
    B = gcols.shape[0]
    if _is_pointwise(g):
        return gcols.reshape(B, channels, g.H, g.W)
    return kernels.col2im(gcols.reshape(B, channels, g.kh, g.kw, g.oh, g.ow), g)


def _matmul(a, b, out=None):
    """a @ b over stacks of matrices (leading axes broadcast): CuPy's batched GEMM on a GPU; on the
    CPU one BLAS call per matrix, which at these shapes is about 1.5x faster than NumPy's stacked
    matmul (bench/cnn.py)."""
    if backend.array_module(b) is not np:
        return backend.array_module(b).matmul(a, b, out=out)
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if out is None:
        out = np.empty(lead + (a.shape[-2], b.shape[-1]), np.result_type(a, b))
    a, b = np.broadcast_to(a, lead + a.shape[-2:]), np.broadcast_to(b, lead + b.shape[-2:])
    for i in np.ndindex(*lead):
        np.matmul(a[i], b[i], out=out[i])
    return out


def _conv_arrays(x, w, g, groups):
    """y (N, OC, oh, ow) = w ⋆ x, chunk by chunk."""
    xp = backend.array_module(x)
    N, OC = x.shape[0], w.shape[0]
    wg = w.reshape(groups, OC // groups, -1)
    y = xp.empty((N, groups, OC // groups, g.oh * g.ow), x.dtype)
    for part in _chunks(N, x.shape[1] * g.kh * g.kw * g.oh * g.ow, x):
        _matmul(wg, _columns(x[part], g, groups), out=y[part])
    return y.reshape(N, OC, g.oh, g.ow)


def _input_grad_arrays(gy, w, g, groups):
    """dX (N, C, H, W) = col2im(Wᵀ dY): the transposed convolution of gy with w."""
    xp = backend.array_module(gy)
    N, OC = gy.shape[:2]
    C = w.shape[1] * groups
    wt = w.reshape(groups, OC // groups, -1).transpose(0, 2, 1)
    gy4 = gy.reshape(N, groups, OC // groups, g.oh * g.ow)
    gx = xp.empty((N, C, g.H, g.W), gy.dtype)
    for part in _chunks(N, C * g.kh * g.kw * g.oh * g.ow, gy):
        gx[part] = _from_columns(_matmul(wt, gy4[part]), g, C)
    return gx


def _weight_grad_arrays(x, gy, g, groups):
    """dW (OC, C/groups, kh, kw) = Σ_n dY_n cols(X_n)ᵀ."""
    xp = backend.array_module(x)
    N, C = x.shape[:2]
    OC = gy.shape[1]
    gy4 = gy.reshape(N, groups, OC // groups, g.oh * g.ow)
    gw = xp.zeros((groups, OC // groups, C // groups * g.kh * g.kw), x.dtype)
    for part in _chunks(N, C * g.kh * g.kw * g.oh * g.ow, x):
        cols = _columns(x[part], g, groups)
        gw += _matmul(gy4[part], cols.transpose(0, 1, 3, 2)).sum(axis=0)
    return gw.reshape(OC, C // groups, g.kh, g.kw)


class Conv(Op):
    """y = w ⋆ x + b over windows ``g`` with ``groups``: dx = ConvInputGrad(dy, w),
    dw = ConvWeightGrad(x, dy), db = Σ_{n,h,w} dy."""

    def __init__(self, window, groups=1):
        self.window, self.groups = window, groups

    def forward(self, x, w, b=None):
        need_x, need_w = self.needs_input_grad[:2]
        self.save_for_backward(x if need_w else None, w if need_x else None)
        y = _conv_arrays(x, w, self.window, self.groups)
        if b is not None:
            y += b.reshape(-1, 1, 1)
        return y

    def backward(self, gy):
        x, w = self.saved
        need = self.needs_input_grad
        gx = ConvInputGrad(self.window, self.groups).apply(gy, w) if need[0] else None
        gw = ConvWeightGrad(self.window, self.groups).apply(x, gy) if need[1] else None
        gb = gy.sum(axis=(0, 2, 3)) if len(need) > 2 and need[2] else None
        return gx, gw, gb


class ConvInputGrad(Op):
    """dx = col2im(wᵀ dy), the transposed convolution; bilinear: d dy = Conv(d dx, w),
    d w = ConvWeightGrad(d dx, dy)."""

    def __init__(self, window, groups=1):
        self.window, self.groups = window, groups

    def forward(self, gy, w):
        need_gy, need_w = self.needs_input_grad
        self.save_for_backward(gy if need_w else None, w if need_gy else None)
        return _input_grad_arrays(gy, w, self.window, self.groups)

    def backward(self, ggx):
        gy, w = self.saved
        need_gy, need_w = self.needs_input_grad
        return (Conv(self.window, self.groups).apply(ggx, w) if need_gy else None,
                ConvWeightGrad(self.window, self.groups).apply(ggx, gy) if need_w else None)


class ConvWeightGrad(Op):
    """dw = Σ_n dy_n cols(x_n)ᵀ; bilinear: d x = ConvInputGrad(dy, d dw), d dy = Conv(x, d dw)."""

    def __init__(self, window, groups=1):
        self.window, self.groups = window, groups

    def forward(self, x, gy):
        need_x, need_gy = self.needs_input_grad
        self.save_for_backward(x if need_gy else None, gy if need_x else None)
        return _weight_grad_arrays(x, gy, self.window, self.groups)

    def backward(self, ggw):
        x, gy = self.saved
        need_x, need_gy = self.needs_input_grad
        return (ConvInputGrad(self.window, self.groups).apply(gy, ggw) if need_x else None,
                Conv(self.window, self.groups).apply(x, ggw) if need_gy else None)


def _check(name, x, weight, bias, groups, spatial):
    """PyTorch's checks of a convolution's operands, as errors naming the shapes."""
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{name}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) "
                         f"input, got shape {tuple(x.shape)}")
    if weight.ndim != spatial + 2:
        raise ValueError(f"{name}: expected a {spatial + 2}-D weight (out_channels, in_channels/groups, "
                         f"{'kH, kW' if spatial == 2 else 'kW'}), got shape {tuple(weight.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if 0 in tuple(weight.shape):
        raise ValueError(f"{name}: a weight of shape {tuple(weight.shape)} has no elements")
    channels = x.shape[-spatial - 1]
    if channels != weight.shape[1] * groups:
        raise ValueError(f"{name}: weight of shape {tuple(weight.shape)} with groups={groups} expects "
                         f"{weight.shape[1] * groups} input channels, but the input of shape "
                         f"{tuple(x.shape)} has {channels}")
    if weight.shape[0] % groups:
        raise ValueError(f"{name}: out_channels {weight.shape[0]} of weight {tuple(weight.shape)} is not "
                         f"divisible by groups={groups}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"{name}: bias of shape {tuple(bias.shape)} does not match weight of shape "
                         f"{tuple(weight.shape)} (need ({weight.shape[0]},))")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
        raise TypeError(f"{name}: input, weight and bias must share a dtype, got {x.dtype}, "
                        f"{weight.dtype}" + ("" if bias is None else f", {bias.dtype}"))
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: needs floating-point tensors, got {x.dtype}")


def _convolve(name, x, weight, bias, stride, padding, dilation, groups):
    """The convolution of a batched (N, C, H, W) input with a (OC, C/groups, kh, kw) weight."""
    g = conv_window(name, x.shape, tuple(weight.shape[2:]), stride, padding, dilation)
    op = Conv(g, groups)
    return op(x, weight) if bias is None else op(x, weight, bias)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """PyTorch's ``F.conv2d``: input (N, C, H, W) or (C, H, W), weight (OC, C/groups, kH, kW)."""
    _check("conv2d", input, weight, bias, groups, 2)
    if input.ndim == 4:
        return _convolve("conv2d", input, weight, bias, stride, padding, dilation, groups)
    y = _convolve("conv2d", input.reshape((1,) + tuple(input.shape)), weight, bias, stride, padding,
                  dilation, groups)
    return y.reshape(tuple(y.shape[1:]))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """PyTorch's ``F.conv1d``: input (N, C, L) or (C, L), weight (OC, C/groups, kW); a 2-D
    convolution over a plane of height 1."""
    _check("conv1d", input, weight, bias, groups, 1)
    pad = padding if isinstance(padding, str) else (0, _single(padding, "padding"))
    batched = input.ndim == 3
    lead = tuple(input.shape[:-1]) if batched else (1,) + tuple(input.shape[:-1])
    x = input.reshape(lead + (1, input.shape[-1]))
    w = weight.reshape(tuple(weight.shape[:-1]) + (1, weight.shape[-1]))
    y = _convolve("conv1d", x, w, bias, (1, _single(stride, "stride")), pad,
                  (1, _single(dilation, "dilation")), groups)
    return y.reshape(tuple(y.shape[:2] if batched else y.shape[1:2]) + (y.shape[-1],))


def _single(value, what):
    v = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(v) != 1 or isinstance(v[0], bool) or not isinstance(v[0], int):
        raise TypeError(f"conv1d: {what} must be an int or a 1-tuple, got {value!r}")
    return v[0]
