"""One LSTM step's gate arithmetic as an op: ``LSTMStep`` (forward the fused kernel
``kernels.lstm_cell_fwd``) and ``LSTMStepBackward`` (forward the fused ``lstm_cell_bwd``, with
a backward of its own written by the guide's rule 2, so gradients of any order run through it).

The recurrent layers (``nn.RNN/LSTM/GRU`` and their cells, gpugrad/nn/rnn.py) compute the input
projection of all time steps as one matmul and, per step, ``gates = xproj[t] + h W_hh^T``, then
``h, c = lstm_step(gates, c)``. GRU and plain RNN steps are composed of ordinary ops.
"""
from __future__ import annotations

from .. import kernels
from ..autograd import Op
from .activation import Sigmoid, Tanh
from .shape import Concatenate

__all__ = ["LSTMStep", "LSTMStepBackward", "lstm_step"]


def _parts(gates):
    H = gates.shape[-1] // 4
    return [gates[..., k * H:(k + 1) * H] for k in range(4)]


class LSTMStep(Op):
    """(h, c) from gates (..., 4H) = [gi | gf | gg | go] (PyTorch's order) and c_prev (..., H):
    i, f, o = σ(gi, gf, go), g = tanh(gg), ``c = f c_prev + i g``, ``h = o tanh(c)``.
    Backward: ``s = dc + dh o (1 - tanh²c)``; dgi = s g i(1-i), dgf = s c_prev f(1-f),
    dgg = s i (1-g²), dgo = dh tanh(c) o(1-o); dc_prev = s f (LSTMStepBackward)."""

    def forward(self, gates, c_prev):
        self.save_for_backward(gates, c_prev)
        return kernels.lstm_cell_fwd(gates, c_prev)

    def backward(self, dh, dc):
        gates, c_prev = self.saved
        return LSTMStepBackward().apply(gates, c_prev, dh, dc)


class LSTMStepBackward(Op):
    """(dgates, dc_prev) = the backward of LSTMStep at (gates, c_prev), given (dh, dc); linear
    in (dh, dc). Its own backward, for upstream (wG, wp), with s, t = tanh(c) and the
    derivatives i' = i(1-i), f', o' alike, g' = 1-g², t' = 1-t²:
    ws = wa g i' + wb c_prev f' + wd i g' + wp f (all that flows into s), then
    d dc = ws;  d dh = ws o t' + we t o';  through c: gc = (-2 ws dh o t + we dh o') t';
    d gi = (wa s g (1-2i) + wd s g' + gc g) i';  d gf = (wb s c_prev (1-2f) + wp s + gc c_prev) f';
    d gg = (wa s i' - 2 wd s i g + gc i) g';  d go = (ws dh t' + we dh t (1-2o)) o';
    d c_prev = wb s f' + gc f."""

    def forward(self, gates, c_prev, dh, dc):
        self.save_for_backward(gates, c_prev, dh, dc)
        return kernels.lstm_cell_bwd(gates, c_prev, dh, dc)

    def backward(self, w_gates, w_prev):
        gates, p, u, v = self.saved
        a, b, d, e = _parts(gates)
        i, f, g, o = Sigmoid().apply(a), Sigmoid().apply(b), Tanh().apply(d), Sigmoid().apply(e)
        t = Tanh().apply(f * p + i * g)
        di, df, dg, do, dt = i * (1 - i), f * (1 - f), 1 - g * g, o * (1 - o), 1 - t * t
        s = v + u * o * dt
        wa, wb, wd, we = _parts(w_gates)
        ws = wa * g * di + wb * p * df + wd * i * dg + w_prev * f
        gc = (ws * u * o * t * -2.0 + we * u * do) * dt
        g_gi = (wa * s * g * (1 - 2 * i) + wd * s * dg + gc * g) * di
        g_gf = (wb * s * p * (1 - 2 * f) + w_prev * s + gc * p) * df
        g_gg = (wa * s * di - wd * s * i * g * 2.0 + gc * i) * dg
        g_go = (ws * u * dt + we * u * t * (1 - 2 * o)) * do
        g_gates = Concatenate(-1).apply(g_gi, g_gf, g_gg, g_go)
        return g_gates, wb * s * df + gc * f, ws * o * dt + we * t * do, ws


def lstm_step(gates, c_prev):
    """``(h, c)`` of one LSTM step from the gates' pre-activations (see LSTMStep)."""
    return LSTMStep()(gates, c_prev)
