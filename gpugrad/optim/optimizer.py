"""``Optimizer``: parameter groups, per-parameter state, and the step that updates in place."""
from __future__ import annotations

from .. import backend
from ..autograd import enable_grad
from ..tensor import Tensor, conform_array

__all__ = ["Optimizer", "required"]


class _Required:
    """The default of a hyper-parameter that every parameter group must set."""

    def __repr__(self):
        return "<required parameter>"


#: Marks a hyper-parameter with no default (each group must give it), as torch.optim.required.
required = _Required()


class Optimizer:
    """Holds ``param_groups`` (lists of parameters with their hyper-parameters) and per-parameter
    ``state``. Subclasses implement ``_update(p, grad, group, state)`` and may check a group's
    hyper-parameters in ``_check_group(group)``.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs (``named_parameters()``),
    or of dicts (parameter groups: ``{'params': [...], 'lr': ...}``), each group with its own
    hyper-parameters; what a group leaves out comes from ``defaults``."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of tensors (e.g. model.parameters()), got one Tensor")
        if isinstance(params, (set, frozenset)):
            raise TypeError("params must be an ordered collection (a list), not a set: the order "
                            "of a set changes between runs, and the state dict numbers parameters in order")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group of parameters with its own hyper-parameters (the optimizer's defaults for
        the ones it leaves out), as PyTorch's ``add_param_group``: e.g. layers unfrozen while
        fine-tuning. A parameter may belong to one group only."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"a parameter group needs a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError("a parameter group's params must be an ordered collection (a list), not a set")
        params = [params] if isinstance(params, Tensor) else list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names and len(names) != len(params):
            raise ValueError("either every parameter of a group has a name (name, tensor) or none has")
        group = {**param_group, "params": [p[1] if isinstance(p, tuple) else p for p in params]}
        if names:
            group["param_names"] = names
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"an optimizer updates tensors, but one of the params is a {type(p).__name__}")
            if p.grad_fn is not None:
                raise ValueError(f"cannot optimize a non-leaf tensor (shape {p.shape}, made by "
                                 f"{type(p.grad_fn).__name__}): pass leaf parameters")
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"parameter group {len(self.param_groups)} does not set {key!r}, "
                                 f"which {type(self).__name__} has no default for")
            group.setdefault(key, default)
        self._check_group(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in group["params"]]
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError("a parameter appears twice in the optimizer's parameter groups")
        if any(("param_names" in g) != bool(names) for g in self.param_groups):
            raise ValueError("either every parameter group names its parameters or none does")
        self.param_groups.append(group)

    def _check_group(self, group):
        """Raise for a group's invalid hyper-parameters; subclasses check their own after
        calling this, which checks PyTorch's implementation switches."""
        name = type(self).__name__
        for switch in ("differentiable", "capturable"):
            if group.get(switch):
                raise NotImplementedError(
                    f"{name}: {switch}=True is not supported: gpugrad's updates are fused in-place "
                    "kernels outside autograd, and never read the device from the host anyway")
        if group.get("fused") and group.get("foreach"):
            raise RuntimeError(f"{name}: fused and foreach cannot both be True")

    def _check_ranges(self, group, **bounds):
        """For each ``key=ok``: unless ok, a ValueError naming the optimizer, the parameter
        group and the group's value of ``key``."""
        for key, ok in bounds.items():
            if not ok:
                raise ValueError(f"{type(self).__name__}: invalid {key} {group.get(key)!r} in "
                                 f"parameter group {len(self.param_groups)}")

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.data[...] = 0   # in place: counts as a modification of the grad

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient; returns what ``closure``
        (a function that re-evaluates the model and returns the loss, called with gradients
        enabled) returns, or None.

        All optimizer state is allocated before any parameter changes, so running out of
        device memory here leaves the model and the optimizer exactly as they were."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
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
        return loss

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
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index and s}
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
