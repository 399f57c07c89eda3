"""A recurrent layer's time loop as one op: one direction of one layer over the whole sequence,
as cuDNN and oneDNN run it (``LSTMSequence``, ``GRUSequence``, ``RNNSequence``).

Forward, for steps t = 0..T-1 (T-1..0 when ``reverse``), h_{-1} = h0:
the input projection of every step at once, ``P = x W_ihᵀ + b`` (one matmul), then per step
the hidden projection ``h_{t-1} W_hhᵀ`` (one small matmul) and the cell (one fused kernel on the
GPU: ``kernels.lstm_cell_fwd``, ``gru_cell_fwd``; tanh or relu for a plain RNN).

Backward runs the steps the other way with the cell's fused backward, carrying dh (and dc):
``dh_{t-1} = dQ_t W_hh`` (+ the GRU's direct path ``dh' z``), where dQ_t is the gradient of
step t's hidden projection. The weights' gradients then take one matmul each over all steps,
not one per step: ``dW_hh = Σ_t dQ_tᵀ h_{t-1}`` = dQᵀ H_prev, ``dW_ih = dPᵀ x``,
``dx = dP W_ih``, ``db = Σ dP`` (the hidden bias ``Σ dQ``).

Under ``create_graph=True`` the backward replays the forward as per-step ops
(:func:`composed_layer`, the same arithmetic) and differentiates that, so gradients of any
order follow; the fast path above is for ordinary backward passes.

The cells (``nn.LSTMCell`` ...) run one step with :func:`cell_step`, composed of ops.
"""
from __future__ import annotations

from .. import backend, kernels
from ..autograd import Op, enable_grad, grad
from ..tensor import Tensor
from . import activation, linalg, recurrent
from . import shape as shape_ops

__all__ = ["LSTMSequence", "GRUSequence", "RNNSequence", "recurrent_layer", "cell_step",
           "composed_layer"]


# --------------------------------------------------------------------------- composed of ops

def input_projection(mode, x, w_ih, b_ih, b_hh):
    """x W_ihᵀ + b_ih, and + b_hh too except for GRU (whose b_hh's new-gate part sits inside
    r * (...)): one matmul for every time step at once."""
    bias = b_ih if b_ih is None or mode == "GRU" else b_ih + b_hh
    return linalg.linear(x, w_ih.T, bias)


def _step(mode, p, state, w_hh_t, b_hh):
    """One step from ``p`` (this step's input projection) and the state (h, or (h, c) for an
    LSTM): the new state."""
    if mode == "LSTM":
        h, c = state
        return recurrent.lstm_step(p + h @ w_hh_t, c)
    if mode == "GRU":
        hp = state @ w_hh_t if b_hh is None else linalg.linear(state, w_hh_t, b_hh)
        return recurrent.gru_step(p, hp, state)
    pre = p + state @ w_hh_t
    return activation.tanh(pre) if mode == "RNN_TANH" else activation.relu(pre)


def cell_step(mode, x, state, w_ih, w_hh, b_ih, b_hh):
    """One step of a cell (``nn.LSTMCell`` ...): x (batch, input), the state (h, or (h, c))."""
    return _step(mode, input_projection(mode, x, w_ih, b_ih, b_hh), state, w_hh.T, b_hh)


def composed_layer(mode, reverse, x, state, w_ih, w_hh, b_ih, b_hh):
    """What the sequence op computes, as per-step ops: ``(hs, h_T)`` or ``(hs, h_T, c_T)``."""
    steps = input_projection(mode, x, w_ih, b_ih, b_hh).unbind(0)
    hs = [None] * len(steps)
    for t in (range(len(steps) - 1, -1, -1) if reverse else range(len(steps))):
        state = _step(mode, steps[t], state, w_hh.T, b_hh)
        hs[t] = state[0] if mode == "LSTM" else state
    return (shape_ops.stack(hs, 0),) + (tuple(state) if mode == "LSTM" else (state,))


# --------------------------------------------------------------------------- the fused loop

class _Sequence(Op):
    """Shared by the three: the step order, the projections and the weights' gradients.
    Inputs ``(x, h0, [c0,] w_ih, w_hh, b_ih, b_hh)`` (biases may be None)."""

    mode = None
    n_state = 1

    def __init__(self, reverse):
        self.reverse = reverse

    def _order(self, T):
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def _prev(self, t, T):
        """The step before t in processing order, or None for the first."""
        p = t + 1 if self.reverse else t - 1
        return p if 0 <= p < T else None

    @staticmethod
    def _project(x, w, b):
        """x (T, B, I) W^T + b as a (T, B, G) array of its own (the loop writes into it)."""
        T, B, n_in = x.shape
        out = x.reshape(T * B, n_in) @ w.T
        if b is not None:
            out += b
        return out.reshape(T, B, w.shape[0])

    def _h_prev(self, h0, hs):
        """(T, B, H): the state each step started from (h0 for the first)."""
        xp = backend.array_module(hs)
        return (xp.concatenate([hs[1:], h0[None]]) if self.reverse
                else xp.concatenate([h0[None], hs[:-1]]))

    def _input_side(self, x, w_ih, dP, grads):
        """dx, dW_ih and db_ih from dP (T, B, G), the gradient of the input projection."""
        T, B, n_in = x.shape
        d2 = dP.reshape(T * B, dP.shape[-1])
        need, w_at = self.needs_input_grad, 1 + self.n_state
        if need[0]:
            grads[0] = (d2 @ w_ih).reshape(x.shape)
        if need[w_at]:
            grads[w_at] = d2.T @ x.reshape(T * B, n_in)
        if need[w_at + 2]:
            grads[w_at + 2] = kernels.sum_rows(d2)

    def _hidden_side(self, h0, hs, dQ, grads):
        """dW_hh and db_hh from dQ (T, B, G), the gradient of the hidden projection (for an
        LSTM and an RNN the same array as dP, so db_hh = db_ih)."""
        need, w_at = self.needs_input_grad, 1 + self.n_state
        d2 = dQ.reshape(dQ.shape[0] * dQ.shape[1], dQ.shape[-1])
        if need[w_at + 1]:
            grads[w_at + 1] = d2.T @ self._h_prev(h0, hs).reshape(d2.shape[0], hs.shape[-1])
        if need[w_at + 3]:
            db_ih = grads[w_at + 2]
            shared = self.mode != "GRU" and db_ih is not None
            grads[w_at + 3] = db_ih.copy() if shared else kernels.sum_rows(d2)

    def _recorded(self, gys):
        """The backward under create_graph: the forward replayed as per-step ops from the saved
        inputs (Tensors joined to the graph), differentiated with create_graph."""
        inputs = self.saved[:5 + self.n_state]
        state = inputs[1] if self.n_state == 1 else tuple(inputs[1:3])
        x, (w_ih, w_hh, b_ih, b_hh) = inputs[0], inputs[1 + self.n_state:]
        with enable_grad():
            outs = composed_layer(self.mode, self.reverse, x, state, w_ih, w_hh, b_ih, b_hh)
        wanted = [k for k, need in enumerate(self.needs_input_grad) if need]
        found = grad(outs, [inputs[k] for k in wanted], grad_outputs=list(gys), create_graph=True,
                     allow_unused=True)
        grads = [None] * len(inputs)
        for k, g in zip(wanted, found):
            grads[k] = g
        return tuple(grads)


class LSTMSequence(_Sequence):
    """An LSTM layer's direction: outputs ``(hs (T, B, H), h_T, c_T)``. Per step
    ``G_t = P_t + h_{t-1} W_hhᵀ``, ``(h_t, c_t) = lstm_cell(G_t, c_{t-1})``; backward
    ``dh = dH_t + dh``, ``(dG_t, dc) = lstm_cell_bwd(G_t, c_{t-1}, dh, dc)``, ``dh = dG_t W_hh``;
    dG is the gradient of both projections."""

    mode, n_state = "LSTM", 2

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        xp = backend.array_module(x)
        T, B, H = x.shape[0], x.shape[1], w_hh.shape[1]
        G = self._project(x, w_ih, None if b_ih is None else b_ih + b_hh)
        hs, cs = xp.empty((T, B, H), G.dtype), xp.empty((T, B, H), G.dtype)
        h, c, w_t, hidden = h0, c0, w_hh.T, xp.empty((B, 4 * H), G.dtype)
        for t in self._order(T):
            xp.matmul(h, w_t, out=hidden)
            G[t] += hidden
            h, c = kernels.lstm_cell_fwd(G[t], c)
            hs[t], cs[t] = h, c
        self.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, G, cs, hs)
        return hs, h, c

    def backward(self, dhs, dh_last, dc_last):
        if isinstance(dhs, Tensor):
            return self._recorded((dhs, dh_last, dc_last))
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, G, cs, hs = self.saved
        T = x.shape[0]
        dG = backend.array_module(G).empty_like(G)
        dh, dc = dh_last, dc_last
        for t in self._order(T)[::-1]:
            p = self._prev(t, T)
            dh = dhs[t] + dh
            _, dc = kernels.lstm_cell_bwd(G[t], c0 if p is None else cs[p], dh, dc, out=dG[t])
            dh = dG[t] @ w_hh
        grads = [None, dh, dc, None, None, None, None]
        self._input_side(x, w_ih, dG, grads)
        self._hidden_side(h0, hs, dG, grads)
        return tuple(grads)


class GRUSequence(_Sequence):
    """A GRU layer's direction: outputs ``(hs, h_T)``. Per step ``Q_t = h_{t-1} W_hhᵀ + b_hh``,
    ``h_t = gru_cell(P_t, Q_t, h_{t-1})``; backward ``dh = dH_t + dh``,
    ``(dP_t, dQ_t, dh') = gru_cell_bwd(P_t, Q_t, h_{t-1}, dh)``, ``dh = dQ_t W_hh + dh'``."""

    mode = "GRU"

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh):
        xp = backend.array_module(x)
        T, B, H = x.shape[0], x.shape[1], w_hh.shape[1]
        P = self._project(x, w_ih, b_ih)
        Q, hs = xp.empty_like(P), xp.empty((T, B, H), P.dtype)
        h, w_t = h0, w_hh.T
        for t in self._order(T):
            xp.matmul(h, w_t, out=Q[t])
            if b_hh is not None:
                Q[t] += b_hh
            h = kernels.gru_cell_fwd(P[t], Q[t], h)
            hs[t] = h
        self.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, P, Q, hs)
        return hs, h

    def backward(self, dhs, dh_last):
        if isinstance(dhs, Tensor):
            return self._recorded((dhs, dh_last))
        x, h0, w_ih, w_hh, b_ih, b_hh, P, Q, hs = self.saved
        T = x.shape[0]
        xp = backend.array_module(P)
        dP, dQ = xp.empty_like(P), xp.empty_like(Q)
        dh = dh_last
        for t in self._order(T)[::-1]:
            p = self._prev(t, T)
            dh = dhs[t] + dh
            dP[t], dQ[t], direct = kernels.gru_cell_bwd(P[t], Q[t], h0 if p is None else hs[p], dh)
            dh = dQ[t] @ w_hh
            dh += direct
        grads = [None, dh, None, None, None, None]
        self._input_side(x, w_ih, dP, grads)
        self._hidden_side(h0, hs, dQ, grads)
        return tuple(grads)


class RNNSequence(_Sequence):
    """An Elman RNN layer's direction (``mode`` RNN_TANH or RNN_RELU): outputs ``(hs, h_T)``.
    Per step ``h_t = act(P_t + h_{t-1} W_hhᵀ)``; backward ``dh = dH_t + dh``,
    ``dP_t = dh act'`` (from the output: 1 - h² for tanh, h > 0 for relu), ``dh = dP_t W_hh``."""

    def __init__(self, mode, reverse):
        super().__init__(reverse)
        self.mode = mode

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh):
        xp = backend.array_module(x)
        T = x.shape[0]
        P = self._project(x, w_ih, None if b_ih is None else b_ih + b_hh)
        hs = xp.empty_like(P)
        h, w_t = h0, w_hh.T
        for t in self._order(T):
            pre = P[t]
            pre += h @ w_t
            h = xp.tanh(pre) if self.mode == "RNN_TANH" else kernels.relu_fwd(pre)
            hs[t] = h
        self.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, hs)
        return hs, h

    def backward(self, dhs, dh_last):
        if isinstance(dhs, Tensor):
            return self._recorded((dhs, dh_last))
        x, h0, w_ih, w_hh, b_ih, b_hh, hs = self.saved
        dP = backend.array_module(hs).empty_like(hs)
        dh = dh_last
        for t in self._order(x.shape[0])[::-1]:
            dh = dhs[t] + dh
            if self.mode == "RNN_TANH":
                dP[t] = dh * (1 - hs[t] * hs[t])
            else:
                dP[t] = kernels.relu_bwd(hs[t], dh)
            dh = dP[t] @ w_hh
        grads = [None, dh, None, None, None, None]
        self._input_side(x, w_ih, dP, grads)
        self._hidden_side(h0, hs, dP, grads)
        return tuple(grads)


def recurrent_layer(mode, reverse, x, state, w_ih, w_hh, b_ih, b_hh):
    """One direction of one layer over x (T, B, I) from ``state`` (h0, or (h0, c0) for an
    LSTM), as one op: ``(hs, h_T)`` or ``(hs, h_T, c_T)``."""
    if mode == "LSTM":
        return LSTMSequence(reverse)(x, *state, w_ih, w_hh, b_ih, b_hh)
    op = GRUSequence(reverse) if mode == "GRU" else RNNSequence(mode, reverse)
    return op(x, state, w_ih, w_hh, b_ih, b_hh)
