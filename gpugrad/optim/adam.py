"""Adam with PyTorch's rule (no amsgrad); one fused kernel per parameter update."""
from __future__ import annotations

from .. import backend, kernels
from .optimizer import Optimizer

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam, PyTorch's rule: g += wd·p; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
    p -= lr · (m / (1-β1^t)) / (√(v / (1-β2^t)) + ε)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        b1, b2 = betas
        if lr < 0 or not 0 <= b1 < 1 or not 0 <= b2 < 1 or eps < 0 or weight_decay < 0:
            raise ValueError(f"Adam: invalid hyper-parameters lr={lr}, betas={betas}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay))

    def _init_state(self, p, group):
        xp = backend.array_module(p)
        return {"step": 0, "exp_avg": xp.zeros_like(p), "exp_avg_sq": xp.zeros_like(p)}

    def _update(self, p, g, group, state):
        state["step"] += 1
        b1, b2 = group["betas"]
        kernels.adam_step(p, g, state["exp_avg"], state["exp_avg_sq"], group["lr"], b1, b2,
                          group["eps"], group["weight_decay"], state["step"])
