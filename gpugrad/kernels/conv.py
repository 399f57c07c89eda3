"""Sliding windows for convolution and pooling: ``im2col`` gathers every window of an NCHW input
into a column buffer, ``col2im`` sums a column buffer back onto the input (its adjoint). The CUDA
kernels of ``kernels/conv.cu`` (index arithmetic in ``conv.cuh``: one launch each, deterministic,
no atomics) and their NumPy twins (a strided view copied once; one strided add per kernel tap).

The geometry is a :class:`Window`, the twin of ``gg::Window``: output position (r, c) with
kernel tap (i, j) reads input row ``r*sh - pt + i*dh`` and column ``c*sw - pl + j*dw``; a position
outside the input reads ``pad_value`` (0 for a convolution, -inf for max pooling), so padding
after the input and ceil-mode pooling's partial windows need no size of their own.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import backend
from . import loader
from .loader import BLOCK_SIZE, MAX_GRID, RAW_SCALAR, RAW_SUFFIX, check_floating, define_raw

__all__ = ["Window", "im2col", "col2im"]

define_raw("conv.cu", "im2col", "col2im")


class Window(NamedTuple):
    """Windows over an (H, W) plane, in ``gg::Window``'s field order."""

    H: int
    W: int
    kh: int
    kw: int
    sh: int
    sw: int
    pt: int
    pl: int
    dh: int
    dw: int
    oh: int
    ow: int

    @property
    def span(self):
        """(rows, columns) of the padded plane the windows reach, from its top-left corner."""
        return ((self.oh - 1) * self.sh + (self.kh - 1) * self.dh + 1,
                (self.ow - 1) * self.sw + (self.kw - 1) * self.dw + 1)


def im2col(x, window, pad_value=0.0):
    """cols (N, C, kh, kw, oh, ow) of x (N, C, H, W): ``cols[n, c, i, j, r, s]`` is the input
    that kernel tap (i, j) of output position (r, s) reads, or ``pad_value``."""
    _check("im2col", x, window, (window.H, window.W))
    if backend.array_module(x) is np:
        return _im2col_np(x, window, pad_value)
    return _im2col_cuda(x, window, pad_value)


def col2im(cols, window):
    """x (N, C, H, W) with each element the sum of the entries of ``cols`` (N, C, kh, kw, oh,
    ow) that read it: the adjoint of :func:`im2col` (padding reads drop out)."""
    _check("col2im", cols, window, (window.kh, window.kw, window.oh, window.ow))
    if backend.array_module(cols) is np:
        return _col2im_np(cols, window)
    return _col2im_cuda(cols, window)


def _check(name, a, g, tail):
    if a.ndim != 2 + len(tail) or tuple(a.shape[2:]) != tuple(tail):
        raise ValueError(f"{name}: an array of shape (N, C, {', '.join(map(str, tail))}) for {g}, "
                         f"got {tuple(a.shape)}")


def _padded_source(x, g, pad_value):
    """x itself when the windows stay inside it, else a copy with the padding around it, as
    large as the windows reach."""
    need_h, need_w = g.span
    if g.pt == 0 and g.pl == 0 and need_h <= g.H and need_w <= g.W:
        return x
    N, C = x.shape[:2]
    fill = np.zeros if pad_value == 0 else (lambda shape, dtype: np.full(shape, pad_value, dtype))
    src = fill((N, C, need_h, need_w), x.dtype)
    rows, cols = min(g.H, need_h - g.pt), min(g.W, need_w - g.pl)
    if rows > 0 and cols > 0:
        src[:, :, g.pt:g.pt + rows, g.pl:g.pl + cols] = x[:, :, :rows, :cols]
    return src


def _im2col_np(x, g, pad_value):
    src = _padded_source(x, g, pad_value)
    s = src.strides
    view = as_strided(src, (*x.shape[:2], g.kh, g.kw, g.oh, g.ow),
                      (s[0], s[1], g.dh * s[2], g.dw * s[3], g.sh * s[2], g.sw * s[3]), writeable=False)
    return np.ascontiguousarray(view)


def _col2im_np(cols, g):
    N, C = cols.shape[:2]
    need_h, need_w = g.span
    x = np.zeros((N, C, max(need_h, g.pt + g.H), max(need_w, g.pl + g.W)), cols.dtype)
    rows, columns = (g.oh - 1) * g.sh + 1, (g.ow - 1) * g.sw + 1
    for i in range(g.kh):
        for j in range(g.kw):
            x[:, :, i * g.dh:i * g.dh + rows:g.sh, j * g.dw:j * g.dw + columns:g.sw] += cols[:, :, i, j]
    inside = x[:, :, g.pt:g.pt + g.H, g.pl:g.pl + g.W]
    return inside if inside.flags.c_contiguous else np.ascontiguousarray(inside)


def _launch(name, work, out, g, *extra):
    n = out.size
    if n:
        grid = min((n + BLOCK_SIZE - 1) // BLOCK_SIZE, MAX_GRID)
        loader.raw_kernel(f"{name}_{RAW_SUFFIX[work.dtype]}")(
            (grid,), (BLOCK_SIZE,), (work, out, np.int64(n), *(np.int64(v) for v in g), *extra))
    return out


def _working_copy(cp, name, a):
    """``a`` as a C-contiguous float32/float64 array (float16 and the like: computed in float32)."""
    if a.dtype not in RAW_SUFFIX:
        check_floating(name, a)
        return a.astype(cp.float32)
    return cp.ascontiguousarray(a)


def _im2col_cuda(x, g, pad_value):
    cp = backend.cupy_module()
    work = _working_copy(cp, "im2col", x)
    cols = cp.empty((*x.shape[:2], g.kh, g.kw, g.oh, g.ow), work.dtype)
    _launch("im2col", work, cols, g, RAW_SCALAR[RAW_SUFFIX[work.dtype]](pad_value))
    return cols if cols.dtype == x.dtype else cols.astype(x.dtype)


def _col2im_cuda(cols, g):
    cp = backend.cupy_module()
    work = _working_copy(cp, "col2im", cols)
    x = cp.empty((*cols.shape[:2], g.H, g.W), work.dtype)
    _launch("col2im", work, x, g)
    return x if x.dtype == cols.dtype else x.astype(cols.dtype)
