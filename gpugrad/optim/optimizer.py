"""``Optimizer``: parameter groups, per-parameter state, and the step that updates in place."""
from __future__ import annotations

from .. import backend
from ..tensor import Tensor, conform_array

__all__ = ["Optimizer"]


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
                    p.grad.data[...] = 0   # in place: counts as a modification of the grad

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
                    with p.device.context():   # state lives on the parameter's GPU
                        self.state[p] = self._init_state(p.array, group)
                    fresh.append(p)
        except Exception as exc:
            for p in fresh:  # roll back: the optimizer looks as if step() never ran
                del self.state[p]
            if backend.is_out_of_memory(exc):
                raise backend.out_of_memory_error(exc, f"{type(self).__name__}.step", work[0][0].device) from exc
            raise
        for p, g, group in work:
            with p.device.context():   # kernels launch on the current GPU: the parameter's
                self._update(p.data, g.array, group, self.state[p])   # p.data: in place

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
                    value = conform_array(value, p, f"load_state_dict: {name} of parameter {i}")
                entry[name] = value
            new_state[p] = entry
        for group, saved in zip(self.param_groups, groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state
