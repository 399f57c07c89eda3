"""Recurrent layers, PyTorch's: ``RNN`` (tanh or relu), ``LSTM``, ``GRU`` and their cells
``RNNCell``, ``LSTMCell``, ``GRUCell``, with PyTorch's signatures, defaults, gate order and
parameter names, so a PyTorch state dict loads one to one.

This is a PyTorch-compatibility layer, so the weights keep PyTorch's layout: ``weight_ih_l{k}``
is (gates * hidden, input) and ``weight_hh_l{k}`` (gates * hidden, hidden), gates in the order
(input, forget, cell, output) for LSTM and (reset, update, new) for GRU; ``nn.Linear``'s weight
is (in, out) instead, as in the lecture notes. The reverse direction's names end in
``_reverse``.

How a layer runs: each direction of each layer is one op over the whole sequence
(``functions.recurrent_sequence``: the input projection of all steps as one matmul, per step
``h W_hh^T`` and the fused cell kernel, and in backward the weights' gradients as one matmul
over all steps, as cuDNN and oneDNN do); a cell runs one step composed of ops.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend, creation
from ..functions import dropout, recurrent_sequence
from ..functions import shape as shape_ops
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


# --------------------------------------------------------------------------- parameters

def _check_sizes(name, input_size, hidden_size):
    for what, size in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
            raise ValueError(f"{name}: {what} must be a positive int, got {size!r}")


def _make_weights(module, suffix, mode, input_size, hidden_size, bias, dev, dtype):
    """weight_ih, weight_hh, bias_ih, bias_hh (None without bias) named as PyTorch names them."""
    rows = GATES[mode] * hidden_size
    with dev.context():
        shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size),
                  "bias_ih": (rows,), "bias_hh": (rows,)}
        for name, shape in shapes.items():
            value = Parameter(dev.xp.empty(shape, dtype)) if bias or name[0] == "w" else None
            setattr(module, name + suffix, value)


def _reset(module):
    """PyTorch's initialisation of every recurrent weight and bias: U(-1/√hidden, 1/√hidden)."""
    bound = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _zeros_state(mode, x, shape):
    h = creation.zeros(*shape, dtype=x.dtype, device=x.device)
    if mode == "LSTM":
        return h, creation.zeros(*shape, dtype=x.dtype, device=x.device)
    return h


def _check_state(name, state, shape, x):
    """An initial state must be a tensor of ``shape`` on x's device."""
    if not isinstance(state, Tensor):
        raise TypeError(f"{name}: the initial state must be a Tensor, got {type(state).__name__}")
    if tuple(state.shape) != tuple(shape):
        raise ValueError(f"{name}: expected an initial state of shape {tuple(shape)}, got "
                         f"{tuple(state.shape)}")
    if state.device is not x.device:
        raise RuntimeError(f"{name}: the input is on {x.device} but the initial state on {state.device}")


# --------------------------------------------------------------------------- the layers

class RNNBase(Module):
    """A stack of ``num_layers`` recurrent layers, each one or two directions (see the module
    docstring); ``forward(input, hx=None)`` returns ``(output, h_n)``, and for an LSTM
    ``(output, (h_n, c_n))``."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size, hidden_size)
        if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ValueError(f"{name}: num_layers must be an int >= 1, got {num_layers!r}")
        if isinstance(dropout, bool) or not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        self.mode, self.input_size, self.hidden_size = mode, int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = int(num_layers), bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        dev, dtype = backend.resolve_device(device), np.dtype(dtype)
        for layer in range(self.num_layers):
            size = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for direction in range(self.num_directions):
                _make_weights(self, self._suffix(layer, direction), mode, size, self.hidden_size,
                              self.bias, dev, dtype)
        self.reset_parameters()

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer, direction):
        return f"_l{layer}" + ("_reverse" if direction else "")

    def reset_parameters(self):
        _reset(self)

    def flatten_parameters(self):
        """PyTorch packs the weights for cuDNN here; gpugrad has nothing to pack (kept so that
        PyTorch code calling it runs unchanged)."""

    def _weights(self, layer, direction):
        s = self._suffix(layer, direction)
        return tuple(getattr(self, n + s) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def forward(self, input, hx=None):  # noqa: A002 (PyTorch's name)
        name = type(self).__name__
        x = input
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor input, got {type(x).__name__}")
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected an input of shape (seq, batch, {self.input_size}) "
                             f"{'batch first ' if self.batch_first else ''}or (seq, "
                             f"{self.input_size}) unbatched, got {tuple(x.shape)}")
        if x.shape[0 if x.ndim == 2 or not self.batch_first else 1] == 0:
            raise ValueError(f"{name}: an input of shape {tuple(x.shape)} has no time steps")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
            hx = _map_state(hx, lambda t: t.reshape(t.shape[0], 1, t.shape[1]))
        elif self.batch_first:
            x = x.transpose(0, 1)
        out, state = self._run(x, self._initial_state(x, hx))
        if unbatched:
            out = out.reshape(out.shape[0], out.shape[2])
            state = _map_state(state, lambda t: t.reshape(t.shape[0], t.shape[2]))
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, state

    def _initial_state(self, x, hx):
        shape = (self.num_layers * self.num_directions, x.shape[1], self.hidden_size)
        if hx is None:
            return _zeros_state(self.mode, x, shape)
        name = type(self).__name__
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: the initial state must be a tuple (h_0, c_0)")
            for t in hx:
                _check_state(name, t, shape, x)
            return tuple(hx)
        _check_state(name, hx, shape, x)
        return hx

    def _run(self, x, state):
        """(output (seq, batch, directions * hidden), final state) of the whole stack."""
        lstm = self.mode == "LSTM"
        firsts = [s.unbind(0) for s in state] if lstm else [state.unbind(0)]
        finals = [[] for _ in firsts]
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                h0 = tuple(f[k] for f in firsts) if lstm else firsts[0][k]
                hs, last = self._run_direction(x, h0, layer, direction)
                outs.append(hs)
                for finals_i, s in zip(finals, last if lstm else (last,)):
                    finals_i.append(s)
            x = outs[0] if len(outs) == 1 else shape_ops.concatenate(outs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = dropout.dropout(x, self.dropout)   # the fused mask kernel on the GPU
        stacked = [shape_ops.stack(f, 0) for f in finals]
        return x, (tuple(stacked) if lstm else stacked[0])

    def _run_direction(self, x, state, layer, direction):
        """(hs, final state) of one direction of one layer: one op over the whole sequence."""
        outs = recurrent_sequence.recurrent_layer(self.mode, bool(direction), x, state,
                                                  *self._weights(layer, direction))
        return outs[0], (outs[1:] if self.mode == "LSTM" else outs[1])

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for flag, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, flag) != default:
                s += f", {flag}={getattr(self, flag)}"
        return s


def _map_state(state, fn):
    if state is None:
        return None
    return tuple(fn(t) for t in state) if isinstance(state, (tuple, list)) else fn(state)


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act ``tanh``
    (default) or ``relu``."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device, dtype)
        self.nonlinearity = nonlinearity

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"


class LSTM(RNNBase):
    """LSTM (PyTorch's gates i, f, g, o): ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``;
    ``forward(input, (h_0, c_0)=None)`` returns ``(output, (h_n, c_n))``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=np.float32):
        if proj_size:
            raise NotImplementedError(f"LSTM: proj_size={proj_size} (projected LSTM states) is not "
                                      "supported by gpugrad; use proj_size=0, or an nn.Linear on "
                                      "the output")
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)


class GRU(RNNBase):
    """GRU (PyTorch's gates r, z, n): ``n = tanh(x_n + r (h W_hn^T + b_hn))``,
    ``h_t = (1 - z) n + z h_{t-1}``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=np.float32):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)


# --------------------------------------------------------------------------- the cells

class RNNCellBase(Module):
    """One step of a recurrent layer: parameters ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh`` (PyTorch's names and layout); input (batch, input_size) or (input_size,)."""

    def __init__(self, mode, input_size, hidden_size, bias=True, device=None, dtype=np.float32):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.mode, self.input_size, self.hidden_size = mode, int(input_size), int(hidden_size)
        self.bias = bool(bias)
        _make_weights(self, "", mode, self.input_size, self.hidden_size, self.bias,
                      backend.resolve_device(device), np.dtype(dtype))
        self.reset_parameters()

    def reset_parameters(self):
        _reset(self)

    def forward(self, input, hx=None):  # noqa: A002
        name = type(self).__name__
        x = input
        if not isinstance(x, Tensor) or x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected an input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},), got {tuple(getattr(x, 'shape', ()))}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape(1, self.input_size)
            hx = _map_state(hx, lambda t: t.reshape(1, self.hidden_size))
        shape = (x.shape[0], self.hidden_size)
        if hx is None:
            hx = _zeros_state(self.mode, x, shape)
        elif self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: the state must be a tuple (h, c)")
            for t in hx:
                _check_state(name, t, shape, x)
        else:
            _check_state(name, hx, shape, x)
        state = recurrent_sequence.cell_step(self.mode, x, tuple(hx) if self.mode == "LSTM" else hx,
                                             self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return _map_state(state, lambda t: t.reshape(self.hidden_size)) if unbatched else state

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, act ``tanh`` or ``relu``."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity


class LSTMCell(RNNCellBase):
    """One LSTM step: ``forward(input, (h, c)=None)`` returns ``(h', c')``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=np.float32):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)


class GRUCell(RNNCellBase):
    """One GRU step: ``forward(input, h=None)`` returns ``h'``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=np.float32):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)
