"""RMSprop with PyTorch's rule, in fused (on CUDA multi-tensor) kernels."""
from __future__ import annotations

from .. import backend, kernels
from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's rule: g = -g if maximize; g += wd·p;
    square_avg = α·square_avg + (1-α)·g²; centered: grad_avg = α·grad_avg + (1-α)·g and
    avg = √(square_avg - grad_avg²) + ε, else avg = √square_avg + ε; with momentum μ > 0
    buf = μ·buf + g/avg, p -= lr·buf, else p -= lr·g/avg.

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered), PyTorch's names."""

    _capturable_rule = True   # no scalar of the rule changes from step to step

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, capturable=capturable,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable))

    _state_buffers = ("square_avg",)
    _state_counters = ("step",)

    def _check_group(self, group):
        super()._check_group(group)
        self._check_numbers(group, lr=">= 0", eps="> 0", momentum=">= 0", alpha="in [0, 1]",
                            weight_decay=">= 0")

    def _init_state(self, p, group):
        xp = backend.array_module(p)
        state = {"step": 0, "square_avg": xp.zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p)
        return state

    def _update(self, p, g, group, state):
        state["step"] += 1
        xp = backend.array_module(p)
        # an option switched on after earlier steps starts from zeros, as its buffer would have
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = xp.zeros_like(p)
        kernels.rmsprop_step(p, g, state["square_avg"], group["lr"], group["alpha"], group["eps"],
                             group["weight_decay"], group["momentum"],
                             grad_avg=state["grad_avg"] if group["centered"] else None,
                             momentum_buffer=state.get("momentum_buffer"),
                             maximize=group["maximize"])
