"""Adam and AdamW with PyTorch's rules (amsgrad and maximize included), in fused (on CUDA
multi-tensor) kernels."""
from __future__ import annotations

from .. import backend, kernels
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam, PyTorch's rule: g = -g if maximize; g += wd·p (or, with
    ``decoupled_weight_decay``, p *= 1 - lr·wd: AdamW); m = β1·m + (1-β1)·g;
    v = β2·v + (1-β2)·g²; with amsgrad v_max = max(v_max, v) takes v's place below;
    p -= lr · (m / (1-β1^t)) / (√(v / (1-β2^t)) + ε).

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq`` (and ``max_exp_avg_sq`` with
    amsgrad), PyTorch's names. ``foreach`` and ``fused`` are accepted for PyTorch's signature:
    every update here is fused, and on CUDA one launch updates up to 48 parameters.

    ``capturable=True`` (PyTorch's name) keeps each ``step`` on the device, a 0-d array of the
    parameter's dtype that the update kernel counts and computes the bias corrections from, so
    a step captured in a CUDA graph (:mod:`gpugrad.cuda`) is right at every replay; the step
    count stays exact up to 2^24 steps in float32, as PyTorch's."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused, decoupled_weight_decay=decoupled_weight_decay))

    _state_buffers = ("exp_avg", "exp_avg_sq")
    _state_counters = ("step",)

    def _check_group(self, group):
        super()._check_group(group)
        self._check_numbers(group, lr=">= 0", eps="> 0", weight_decay=">= 0")
        self._check_betas(group)

    _capturable_rule = True

    def _check_capturable(self, work):
        super()._check_capturable(work)
        if not all(group["capturable"] for _, _, group in work):
            raise RuntimeError(
                f"{type(self).__name__}.step inside a CUDA graph capture without capturable=True: "
                "its bias corrections 1 - beta^t are computed on the host from the step count, so "
                f"every replay would repeat the captured step's; construct it as {type(self).__name__}"
                "(..., capturable=True) to keep the step count on the device, as PyTorch does")

    def _init_state(self, p, group):
        xp = backend.array_module(p)
        step = xp.zeros((), p.dtype) if group["capturable"] else 0
        state = {"step": step, "exp_avg": xp.zeros_like(p), "exp_avg_sq": xp.zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p)
        return state

    def _update(self, p, g, group, state):
        if group["amsgrad"] and "max_exp_avg_sq" not in state:   # switched on after earlier steps
            state["max_exp_avg_sq"] = backend.array_module(p).zeros_like(p)
        if group["capturable"]:
            self._update_on_device(p, g, group, state)
            return
        if backend.is_array(state["step"]):   # capturable switched off (a read of the device)
            state["step"] = int(state["step"])
        state["step"] += 1
        b1, b2 = group["betas"]
        kernels.adam_step(p, g, state["exp_avg"], state["exp_avg_sq"], group["lr"], b1, b2,
                          group["eps"], group["weight_decay"], state["step"],
                          v_max=state["max_exp_avg_sq"] if group["amsgrad"] else None,
                          decoupled_weight_decay=group["decoupled_weight_decay"],
                          maximize=group["maximize"])

    def _update_on_device(self, p, g, group, state):
        """capturable=True: the step count a 0-d array beside p, counted and read where the
        update runs (a count loaded from a state dict, or kept before, moves there first)."""
        step = state["step"]
        if not backend.is_array(step):
            step = state["step"] = backend.array_module(p).full((), step, p.dtype)
        elif step.dtype != p.dtype:   # the parameter was cast since
            step = state["step"] = step.astype(p.dtype)
        b1, b2 = group["betas"]
        kernels.adam_step_dev(p, g, state["exp_avg"], state["exp_avg_sq"], step, group["lr"], b1,
                              b2, group["eps"], group["weight_decay"],
                              v_max=state["max_exp_avg_sq"] if group["amsgrad"] else None,
                              decoupled_weight_decay=group["decoupled_weight_decay"],
                              maximize=group["maximize"])


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter), PyTorch's rule: Adam with the weight decay decoupled from
    the gradient, p *= 1 - lr·wd before the Adam step; weight_decay defaults to 1e-2."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)
