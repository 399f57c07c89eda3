"""Padding, as ``torch.nn.functional.pad``: ``constant`` (negative widths crop), ``reflect``
(mirrored about the edge element, which is not repeated), ``replicate`` (the edge element
repeated) and ``circular`` (the other end wrapped around).

Padding is linear in x (affine, for a non-zero constant), so its gradient is the adjoint: the
padded gradient *folded* back, each border element's gradient added onto the element it copied
(PadBackward), and that fold's own gradient is the padding again.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Op

__all__ = ["pad", "PAD_MODES"]

#: PyTorch's mode -> NumPy's (np.pad / cupy.pad) name for it.
PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _along(axis, ndim, index):
    """An index tuple that applies ``index`` (a slice or an int) to ``axis`` alone."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


class Pad(Op):
    """y = x with ``widths[i] = (before, after)`` elements added at each end of axis i, by
    ``mode``: dx = dy folded back onto x (PadBackward)."""

    def __init__(self, widths, mode, value=0.0):
        self.widths, self.mode, self.value = widths, mode, value

    def forward(self, x):
        self.x_shape = x.shape
        xp = backend.array_module(x)
        if self.mode != "constant":
            return xp.pad(x, self.widths, mode=PAD_MODES[self.mode])
        crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for n, (b, a) in zip(x.shape, self.widths))
        grow = tuple((max(b, 0), max(a, 0)) for b, a in self.widths)
        return xp.pad(x[crop], grow, mode="constant", constant_values=self.value)

    def backward(self, gy):
        return PadBackward(self.widths, self.mode, self.x_shape).apply(gy)


class PadBackward(Op):
    """The adjoint of padding: the gradient of the padded tensor folded back onto the input's
    shape (the border added onto what it copied; for constant padding, the middle cut out).
    Linear in its input: its gradient is padding with zeros (Pad again)."""

    def __init__(self, widths, mode, x_shape):
        self.widths, self.mode, self.x_shape = widths, mode, x_shape

    def forward(self, gy):
        xp = backend.array_module(gy)
        if self.mode == "constant":
            gx = xp.zeros(self.x_shape, gy.dtype)
            inner = tuple(slice(max(-b, 0), n - max(-a, 0)) for n, (b, a) in zip(self.x_shape, self.widths))
            outer = tuple(slice(max(b, 0), max(b, 0) + (s.stop - s.start)) for s, (b, _) in zip(inner, self.widths))
            gx[inner] = gy[outer]
            return gx
        for axis, (b, a) in enumerate(self.widths):
            if b or a:
                gy = _fold(gy, axis, b, a, self.x_shape[axis], self.mode)
        return gy

    def backward(self, ggx):
        return Pad(self.widths, self.mode).apply(ggx)


def _fold(g, axis, before, after, n, mode):
    """Fold the gradient of one padded axis (length before + n + after) back to length n."""
    at = lambda index: _along(axis, g.ndim, index)  # noqa: E731
    flip = backend.array_module(g).flip
    gx = g[at(slice(before, before + n))].copy()
    left, right = g[at(slice(0, before))], g[at(slice(before + n, before + n + after))]
    if mode == "reflect":          # left[i] copied x[before - i], right[k] copied x[n - 2 - k]
        gx[at(slice(1, before + 1))] += flip(left, axis=axis)
        gx[at(slice(n - 1 - after, n - 1))] += flip(right, axis=axis)
    elif mode == "replicate":      # every border element copied the edge one
        gx[at(slice(0, 1))] += left.sum(axis=axis, keepdims=True)
        gx[at(slice(n - 1, n))] += right.sum(axis=axis, keepdims=True)
    else:                          # circular: left copied x[n - before:], right x[:after]
        gx[at(slice(n - before, n))] += left
        gx[at(slice(0, after))] += right
    return gx


def _widths(op, x, pad, mode):
    """F.pad's flat ``pad`` (last axis first: (left, right, top, bottom, ...)) as one
    (before, after) pair per axis of x, checked against mode and x's shape."""
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim or any(
            isinstance(p, bool) or not isinstance(p, (int, np.integer)) for p in pad):
        raise ValueError(f"{op}: pad must be an even number of ints, at most two per dimension "
                         f"of the input (shape {x.shape}), got {pad}")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)][::-1]
    widths = ((0, 0),) * (x.ndim - len(pairs)) + tuple(pairs)
    for axis, (b, a) in enumerate(widths):
        n = x.shape[axis]
        if mode == "constant":
            if n + b + a < 0 or (b < 0 and -b > n) or (a < 0 and -a > n):
                raise ValueError(f"{op}: pad {pad} crops dimension {axis} of size {n} below zero "
                                 f"(input of shape {x.shape})")
            continue
        if b < 0 or a < 0:
            raise ValueError(f"{op}: negative padding {pad} needs mode='constant', got {mode!r}")
        too_large = {"reflect": max(b, a) >= n, "circular": max(b, a) > n, "replicate": n == 0}[mode]
        if (b or a) and too_large:
            raise ValueError(f"{op}: padding ({b}, {a}) of dimension {axis} of size {n} is too "
                             f"large for mode {mode!r} (input of shape {x.shape}; reflect needs "
                             f"< size, circular <= size, replicate a non-empty dimension)")
    return widths


def pad(input, pad, mode="constant", value=None):  # noqa: A002 (PyTorch's names)
    """``torch.nn.functional.pad``: ``pad`` gives (before, after) widths starting from the last
    axis, ``(left, right)``, ``(left, right, top, bottom)``, ...; ``mode`` is 'constant'
    (filled with ``value``, default 0; negative widths crop), 'reflect', 'replicate' or
    'circular'."""
    if mode not in PAD_MODES:
        raise ValueError(f"pad: mode must be one of {sorted(PAD_MODES)}, got {mode!r}")
    if value is not None and mode != "constant":
        raise ValueError(f"pad: value is only for mode='constant', got mode={mode!r}")
    widths = _widths("pad", input, pad, mode)
    if not any(b or a for b, a in widths):
        return input.clone()
    return Pad(widths, mode, 0.0 if value is None else value)(input)
