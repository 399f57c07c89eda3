"""One LSTM step's gate arithmetic, fused: ``lstm_cell_fwd`` and ``lstm_cell_bwd``, each one
ElementwiseKernel launch on the GPU (arithmetic in ``kernels/rnn.cuh``) where unfused it is a
dozen, and a NumPy twin (the CPU backend's hot path and the GPU tests' oracle).

The gates' pre-activations ``gates`` (..., 4H) hold PyTorch's order, input, forget, cell,
output: ``gates = x W_ih^T + b_ih + h W_hh^T + b_hh``. The backward takes the forward's inputs
and recomputes the activations (four exponentials per element cost less than storing and
reading back four arrays).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .activations import sigmoid_fwd
from .loader import check_floating, define_elementwise, launch_elementwise

__all__ = ["lstm_cell_fwd", "lstm_cell_bwd", "gru_cell_fwd", "gru_cell_bwd"]

define_elementwise(
    "lstm_cell_fwd", "T gi, T gf, T gg, T go, T c_prev", "T h, T c",
    "A h_, c_; gg::lstm_cell_fwd<A>((A)gi, (A)gf, (A)gg, (A)go, (A)c_prev, h_, c_); "
    "h = (T)h_; c = (T)c_", "rnn.cuh")
define_elementwise(
    "lstm_cell_bwd", "T gi, T gf, T gg, T go, T c_prev, T dh, T dc",
    "T dgi, T dgf, T dgg, T dgo, T dc_prev",
    "A a_, b_, c_, d_, e_; gg::lstm_cell_bwd<A>((A)gi, (A)gf, (A)gg, (A)go, (A)c_prev, (A)dh, "
    "(A)dc, a_, b_, c_, d_, e_); dgi = (T)a_; dgf = (T)b_; dgg = (T)c_; dgo = (T)d_; "
    "dc_prev = (T)e_", "rnn.cuh")

define_elementwise(
    "gru_cell_fwd", "T xr, T xz, T xn, T hr, T hz, T hn, T h", "T y",
    "y = (T)gg::gru_cell_fwd<A>((A)xr, (A)xz, (A)xn, (A)hr, (A)hz, (A)hn, (A)h)", "rnn.cuh")
define_elementwise(
    "gru_cell_bwd", "T xr, T xz, T xn, T hr, T hz, T hn, T h, T dy", "T dr, T dz, T dxn, T dhn, T dh",
    "A a_, b_, c_, d_, e_; gg::gru_cell_bwd<A>((A)xr, (A)xz, (A)xn, (A)hr, (A)hz, (A)hn, (A)h, "
    "(A)dy, a_, b_, c_, d_, e_); dr = (T)a_; dz = (T)b_; dxn = (T)c_; dhn = (T)d_; dh = (T)e_",
    "rnn.cuh")


def _split(gates, c_prev):
    H = c_prev.shape[-1]
    if gates.shape[:-1] != c_prev.shape[:-1] or gates.shape[-1] != 4 * H:
        raise ValueError(f"lstm_cell: gates of shape {tuple(gates.shape)} need the shape "
                         f"(..., 4 * {H}) of a cell state of shape {tuple(c_prev.shape)}")
    check_floating("lstm_cell", gates, c_prev)
    return [gates[..., k * H:(k + 1) * H] for k in range(4)]


def _activations(gi, gf, gg, go):
    return sigmoid_fwd(gi), sigmoid_fwd(gf), np.tanh(gg), sigmoid_fwd(go)


def lstm_cell_fwd(gates, c_prev):
    """``(h, c)``: i, f, o = σ(gates' input, forget, output parts), g = tanh(cell part);
    ``c = f c_prev + i g``, ``h = o tanh(c)``."""
    parts = _split(gates, c_prev)
    if backend.array_module(gates) is not np:
        xp = backend.array_module(gates)
        h, c = xp.empty_like(c_prev), xp.empty_like(c_prev)
        launch_elementwise("lstm_cell_fwd", *parts, c_prev, h, c)
        return h, c
    i, f, g, o = _activations(*parts)
    c = f * c_prev
    c += np.multiply(i, g, out=i)
    h = np.tanh(c)
    h *= o
    return h, c


def lstm_cell_bwd(gates, c_prev, dh, dc, out=None):
    """``(dgates, dc_prev)`` from the gradients dh, dc of h and c (see rnn.cuh for the rule:
    s = dc + dh o (1 - tanh²c); dgi = s g i(1-i), dgf = s c_prev f(1-f), dgg = s i (1-g²),
    dgo = dh tanh(c) o(1-o), dc_prev = s f); dgates written into ``out`` when given (an array
    of the gates' shape and dtype: a time step of a sequence's gradient)."""
    parts = _split(gates, c_prev)
    xp = backend.array_module(gates)
    dgates = xp.empty_like(gates) if out is None else out
    H = c_prev.shape[-1]
    dparts = [dgates[..., k * H:(k + 1) * H] for k in range(4)]
    if xp is not np:
        dc_prev = xp.empty_like(c_prev)
        launch_elementwise("lstm_cell_bwd", *parts, c_prev, dh, dc, *dparts, dc_prev)
        return dgates, dc_prev
    i, f, g, o = _activations(*parts)
    tc = np.tanh(f * c_prev + i * g)
    s = 1 - tc * tc
    s *= o
    s *= dh
    s += dc
    np.multiply(s, g * (i * (1 - i)), out=dparts[0])
    np.multiply(s, c_prev * (f * (1 - f)), out=dparts[1])
    np.multiply(s, i * (1 - g * g), out=dparts[2])
    np.multiply(dh, tc * (o * (1 - o)), out=dparts[3])
    return dgates, s * f


def _gru_split(xp, hp, h):
    H = h.shape[-1]
    if xp.shape != hp.shape or xp.shape[:-1] != h.shape[:-1] or xp.shape[-1] != 3 * H:
        raise ValueError(f"gru_cell: projections of shapes {tuple(xp.shape)} and {tuple(hp.shape)} "
                         f"need the shape (..., 3 * {H}) of a state of shape {tuple(h.shape)}")
    check_floating("gru_cell", xp, hp, h)
    return [a[..., k * H:(k + 1) * H] for a in (xp, hp) for k in range(3)]


def gru_cell_fwd(xp, hp, h):
    """h' of one GRU step from the input projection xp (..., 3H) = x W_ih^T + b_ih, the hidden
    one hp = h W_hh^T + b_hh and h: r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r hn),
    ``h' = n + z (h - n)``."""
    xr, xz, xn, hr, hz, hn = _gru_split(xp, hp, h)
    if backend.array_module(xp) is not np:
        out = backend.array_module(xp).empty_like(h)
        launch_elementwise("gru_cell_fwd", xr, xz, xn, hr, hz, hn, h, out)
        return out
    r, z = sigmoid_fwd(xr + hr), sigmoid_fwd(xz + hz)
    n = np.tanh(xn + r * hn)
    y = h - n
    y *= z
    y += n
    return y


def gru_cell_bwd(xp, hp, h, dy):
    """``(dxp, dhp, dh)`` from dh' = dy (see rnn.cuh: pn = dy (1-z)(1-n²), pz = dy (h-n) z(1-z),
    pr = pn hn r(1-r); dxp = [pr, pz, pn], dhp = [pr, pz, pn r], dh = dy z)."""
    xr, xz, xn, hr, hz, hn = _gru_split(xp, hp, h)
    xp_mod = backend.array_module(xp)
    dxp, H = xp_mod.empty_like(xp), h.shape[-1]
    dhp = xp_mod.empty_like(hp)
    parts = [dxp[..., k * H:(k + 1) * H] for k in range(3)] + [dhp[..., 2 * H:]]
    if xp_mod is not np:
        dh = xp_mod.empty_like(h)
        launch_elementwise("gru_cell_bwd", xr, xz, xn, hr, hz, hn, h, dy, *parts, dh)
        dhp[..., :2 * H] = dxp[..., :2 * H]
        return dxp, dhp, dh
    r, z = sigmoid_fwd(xr + hr), sigmoid_fwd(xz + hz)
    n = np.tanh(xn + r * hn)
    pn = dy * ((1 - z) * (1 - n * n))
    np.multiply(pn, hn * (r * (1 - r)), out=parts[0])
    np.multiply(dy, (h - n) * (z * (1 - z)), out=parts[1])
    parts[2][...] = pn
    np.multiply(pn, r, out=parts[3])
    dhp[..., :2 * H] = dxp[..., :2 * H]
    return dxp, dhp, dy * z
