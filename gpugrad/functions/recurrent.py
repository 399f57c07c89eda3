"""One LSTM step's gate arithmetic as an op: ``LSTMStep`` (forward the fused kernel
``kernels.lstm_cell_fwd``) and ``LSTMStepBackward`` (forward the fused ``lstm_cell_bwd``, with
a backward of its own written by the guide's rule 2, so gradients of any order run through it).

The recurrent layers (``nn.RNN/LSTM/GRU`` and their cells, gpugrad/nn/rnn.py) compute the input
projection of all time steps as one matmul and, per step, ``gates = xproj[t] + h W_hh^T``, then
``h, c = lstm_step(gates, c)``; a GRU step is ``h = gru_step(xproj[t], h W_hh^T + b_hh, h)``
(``GRUStep``, fused the same way). Plain RNN steps are composed of ordinary ops.
"""
from __future__ import annotations

from .. import kernels
from ..autograd import Op
from .activation import Sigmoid, Tanh
from .shape import Concatenate

__all__ = ["LSTMStep", "LSTMStepBackward", "lstm_step", "GRUStep", "GRUStepBackward", "gru_step"]


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


def _thirds(a):
    H = a.shape[-1] // 3
    return [a[..., k * H:(k + 1) * H] for k in range(3)]


class GRUStep(Op):
    """h' from the input projection xp = [xr | xz | xn] (x W_ih^T + b_ih), the hidden one
    hp = [hr | hz | hn] (h W_hh^T + b_hh) and h: r = σ(xr + hr), z = σ(xz + hz),
    n = tanh(xn + r hn), ``h' = n + z (h - n)``. Backward (GRUStepBackward): pn = dh' (1-z)(1-n²),
    pz = dh' (h-n) z(1-z), pr = pn hn r(1-r); dxp = [pr, pz, pn], dhp = [pr, pz, pn r],
    dh = dh' z."""

    def forward(self, xp, hp, h):
        self.save_for_backward(xp, hp, h)
        return kernels.gru_cell_fwd(xp, hp, h)

    def backward(self, dy):
        xp, hp, h = self.saved
        return GRUStepBackward().apply(xp, hp, h, dy)


class GRUStepBackward(Op):
    """(dxp, dhp, dh) = the backward of GRUStep at (xp, hp, h) for dh' = u. Its own backward,
    for upstream (w_xp, w_hp, w_h), with n' = 1-n², r' = r(1-r), z' = z(1-z), the weights of
    pr, pz, pn, pn r, u z being wr = w_xr + w_hr, wz = w_xz + w_hz, wn = w_xn, wq = w_hn, wd = w_h,
    and m = wr hn r' + wn + wq r:
    d u = (1-z) n' m + wz (h-n) z' + wd z;  d h = wz u z';
    through n: gn = (-2 n u (1-z) m - wz u z') n' (the gradient of xn + r hn);
    d(xz, hz) = (-u n' m + wz u (h-n)(1-2z) + wd u) z';
    d(xr, hr) = (u (1-z) n' (wr hn (1-2r) + wq) + gn hn) r';  d xn = gn;
    d hn = u (1-z) n' wr r' + gn r."""

    def forward(self, xp, hp, h, dy):
        self.save_for_backward(xp, hp, h, dy)
        return kernels.gru_cell_bwd(xp, hp, h, dy)

    def backward(self, w_xp, w_hp, w_h):
        xp, hp, h, u = self.saved
        xr, xz, xn = _thirds(xp)
        hr, hz, hn = _thirds(hp)
        r, z = Sigmoid().apply(xr + hr), Sigmoid().apply(xz + hz)
        n = Tanh().apply(xn + r * hn)
        dn, dr, dz = 1 - n * n, r * (1 - r), z * (1 - z)
        w_xr, w_xz, w_xn = _thirds(w_xp)
        w_hr, w_hz, w_hn = _thirds(w_hp)
        wr, wz = w_xr + w_hr, w_xz + w_hz
        m = wr * hn * dr + w_xn + w_hn * r
        k = u * (1 - z) * dn
        g_n = (n * u * (1 - z) * m * -2.0 - wz * u * dz) * dn
        g_z = (m * u * dn * -1.0 + wz * u * (h - n) * (1 - 2 * z) + w_h * u) * dz
        g_r = ((wr * hn * (1 - 2 * r) + w_hn) * k + g_n * hn) * dr
        g_hn = wr * k * dr + g_n * r
        g_u = m * (1 - z) * dn + wz * (h - n) * dz + w_h * z
        return (Concatenate(-1).apply(g_r, g_z, g_n), Concatenate(-1).apply(g_r, g_z, g_hn),
                wz * u * dz, g_u)


def gru_step(xp, hp, h):
    """h' of one GRU step (see GRUStep)."""
    return GRUStep()(xp, hp, h)
