"""Stochastic gradient descent with PyTorch's rule, in fused (on CUDA multi-tensor) kernels."""
from __future__ import annotations

from .. import backend, kernels
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule: g = -g if maximize; g += wd·p; with
    momentum μ, buf = μ·buf + (1 - dampening)·g (buf = g on the first step),
    g = g + μ·buf if nesterov else buf; then p -= lr·g. With no momentum it is the notes'
    w <- w - α dL/dw. ``foreach`` and ``fused`` are accepted for PyTorch's signature: every
    update here is fused, and on CUDA one launch updates up to 48 parameters."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _check_group(self, group):
        super()._check_group(group)
        self._check_numbers(group, lr=">= 0", momentum=">= 0", dampening="", weight_decay=">= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")

    def _init_state(self, p, group):
        # the buffer is filled with the first gradient by the first update
        return {"momentum_buffer": backend.array_module(p).empty_like(p), "fresh": True} if group["momentum"] else {}

    def _update(self, p, g, group, state):
        buf = state.get("momentum_buffer")
        if group["momentum"] and buf is None:  # momentum switched on after earlier steps
            buf = state["momentum_buffer"] = backend.array_module(p).empty_like(p)
            state["fresh"] = True
        kernels.sgd_step(p, g, buf, group["lr"], group["momentum"], group["dampening"],
                         group["weight_decay"], group["nesterov"], state.pop("fresh", False),
                         group["maximize"])
