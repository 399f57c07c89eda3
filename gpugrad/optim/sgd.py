"""Stochastic gradient descent with PyTorch's rule; one fused kernel per parameter update."""
from __future__ import annotations

from .. import backend, kernels
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule: g += wd·p; with momentum μ,
    buf = μ·buf + (1 - dampening)·g (buf = g on the first step), g = g + μ·buf if nesterov else buf;
    then p -= lr·g. With no momentum it is the notes' w <- w - α dL/dw."""

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _init_state(self, p, group):
        # the buffer is filled with the first gradient by the first update
        return {"momentum_buffer": backend.array_module(p).empty_like(p), "fresh": True} if group["momentum"] else {}

    def _update(self, p, g, group, state):
        buf = state.get("momentum_buffer")
        if group["momentum"] and buf is None:  # momentum switched on after earlier steps
            buf = state["momentum_buffer"] = backend.array_module(p).empty_like(p)
            state["fresh"] = True
        kernels.sgd_step(p, g, buf, group["lr"], group["momentum"], group["dampening"],
                         group["weight_decay"], group["nesterov"], state.pop("fresh", False))
