"""Optimizers with PyTorch's update rules. Each parameter update is one fused kernel on the GPU
(its NumPy twin on the CPU), in place, and never waits on the device."""
from __future__ import annotations

from . import backend, kernels
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Holds ``param_groups`` (lists of parameters with their hyper-parameters) and per-parameter
    ``state``. Subclasses implement ``_update(p, grad, group, state)``."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of tensors (e.g. model.parameters()), got one Tensor")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        seen = set()
        for g in groups:
            group = {**self.defaults, **g, "params": list(g["params"])}
            for p in group["params"]:
                if not isinstance(p, Tensor) or not p.requires_grad:
                    raise TypeError("optimizer can only update tensors with requires_grad=True, got "
                                    + (type(p).__name__ if not isinstance(p, Tensor) else "one without it"))
                if id(p) in seen:
                    raise ValueError("a parameter appears twice in the optimizer's parameter groups")
                seen.add(id(p))
            self.param_groups.append(group)
        self.state = {}

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self):
        """Apply one update to every parameter that has a gradient.

        All optimizer state is allocated before any parameter changes, so running out of
        device memory here leaves the model and the optimizer exactly as they were."""
        work = []
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if g.device is not p.device or g.shape != p.shape:
                    raise RuntimeError(f"parameter of shape {p.shape} on {p.device} has a gradient of shape "
                                       f"{g.shape} on {g.device}")
                work.append((p, g, group))
        fresh = []
        try:
            for p, _, group in work:
                if p not in self.state:
                    self.state[p] = self._init_state(p.data, group)
                    fresh.append(p)
        except Exception as exc:
            for p in fresh:  # roll back: the optimizer looks as if step() never ran
                del self.state[p]
            if backend.is_out_of_memory(exc):
                raise backend.out_of_memory_error(exc, f"{type(self).__name__}.step", work[0][0].device) from exc
            raise
        for p, g, group in work:
            self._update(p.data, g.data, group, self.state[p])

    def _init_state(self, p, group):
        """The per-parameter state (buffers) for a parameter's first update."""
        return {}

    def _update(self, p, g, group, state):
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        """``{'state': {index: {name: array or number}}, 'param_groups': [...]}`` with parameters
        numbered in group order, as PyTorch does."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state; arrays go to each parameter's device."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError("load_state_dict: the saved optimizer has a different number of parameter groups "
                             "or parameters than this one")
        params = [p for group in self.param_groups for p in group["params"]]
        new_state = {}
        for key, s in state_dict["state"].items():
            i = int(key)
            if not 0 <= i < len(params):
                raise ValueError(f"load_state_dict: state for parameter {i}, but there are {len(params)}")
            p = params[i]
            entry = {}
            for name, value in s.items():
                if backend.is_array(value) or isinstance(value, Tensor):
                    value = value.data if isinstance(value, Tensor) else value
                    if tuple(value.shape) != p.shape:
                        raise ValueError(f"load_state_dict: {name} of parameter {i} has shape "
                                         f"{tuple(value.shape)}, the parameter {p.shape}")
                    value = backend.to_device(value, p.device).astype(p.dtype, copy=True)
                entry[name] = value
            new_state[p] = entry
        for group, saved in zip(self.param_groups, groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state


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
