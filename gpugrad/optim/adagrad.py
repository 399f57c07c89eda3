"""Adagrad with PyTorch's rule, in fused (on CUDA multi-tensor) kernels."""
from __future__ import annotations

from .. import backend, kernels
from .optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's rule: g = -g if maximize; g += wd·p;
    sum += g²; p -= lr / (1 + (t-1)·lr_decay) · g / (√sum + ε).

    State per parameter: ``step`` and ``sum`` (starting at initial_accumulator_value), PyTorch's
    names, made when the optimizer is (as PyTorch does) and for a group added later at its
    first step."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            for p in group["params"]:
                with p.device.context():
                    self.state[p] = self._init_state(p.array, group)

    _state_buffers = ("sum",)
    _state_counters = ("step",)

    def _check_group(self, group):
        super()._check_group(group)
        self._check_numbers(group, lr=">= 0", lr_decay=">= 0", weight_decay=">= 0", eps="> 0",
                            initial_accumulator_value=">= 0")

    def _init_state(self, p, group):
        xp = backend.array_module(p)
        return {"step": 0, "sum": xp.full_like(p, group["initial_accumulator_value"])}

    def _check_capturable(self, work):
        if any(group["lr_decay"] for _, _, group in work):
            raise RuntimeError("Adagrad.step inside a CUDA graph capture with lr_decay: the decayed "
                               "learning rate is computed on the host from the step count, so "
                               "every replay would repeat the captured step's")
        super()._check_capturable(work)

    def _update(self, p, g, group, state):
        state["step"] += 1
        kernels.adagrad_step(p, g, state["sum"], group["lr"], group["lr_decay"], group["eps"],
                             group["weight_decay"], state["step"], maximize=group["maximize"])
