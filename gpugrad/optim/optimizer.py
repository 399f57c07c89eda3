"""``Optimizer``: parameter groups, per-parameter state, and the step that updates in place."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend, kernels
from ..autograd import enable_grad
from ..tensor import Tensor, conform_array

__all__ = ["Optimizer", "required", "RULES"]

#: The ranges a hyper-parameter may be checked against (:meth:`Optimizer._check_numbers`).
RULES = {
    "": math.isfinite,   # any finite number
    ">= 0": lambda v: math.isfinite(v) and v >= 0,
    "> 0": lambda v: math.isfinite(v) and v > 0,
    "in [0, 1)": lambda v: 0 <= v < 1,
    "in [0, 1]": lambda v: 0 <= v <= 1,
}


def _is_real(value) -> bool:
    """A real number: int, float or a NumPy scalar of one; not a bool, a string or an array."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


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

    #: Whether ``capturable=True`` is accepted: the update keeps what changes from step to step
    #: on the device (Adam's step count), or nothing does (RMSprop), so a CUDA graph replays it.
    _capturable_rule = False

    #: What each parameter's entry of a state dict must hold (load_state_dict checks it):
    #: array buffers of the parameter's shape, and step counters (integers >= 0).
    _state_buffers = ()
    _state_counters = ()

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        name = type(self).__name__
        if isinstance(params, Tensor) or not hasattr(params, "__iter__"):
            what = "one Tensor" if isinstance(params, Tensor) else f"{params!r} ({type(params).__name__})"
            raise TypeError(f"{name}: params must be an iterable of tensors (e.g. model.parameters()), got {what}")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered collection (a list), not a set: the order "
                            "of a set changes between runs, and the state dict numbers parameters in order")
        groups = list(params)
        if not groups:
            raise ValueError(f"{name} got an empty parameter list: pass the tensors to optimize "
                             "(e.g. model.parameters() of a model that has parameters)")
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
        for i, p in enumerate(group["params"]):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} updates tensors, but params[{i}] of parameter group "
                                f"{len(self.param_groups)} is a {type(p).__name__}")
            if p.grad_fn is not None:
                raise ValueError(f"cannot optimize a non-leaf tensor (shape {p.shape}, made by "
                                 f"{type(p.grad_fn).__name__}): pass leaf parameters")
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"parameter group {len(self.param_groups)} does not set {key!r}, "
                                 f"which {type(self).__name__} has no default for")
            group.setdefault(key, default)
        self._checking = len(self.param_groups)   # the group index _check_group's messages name
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
        if group.get("differentiable"):
            raise NotImplementedError(
                f"{name}: differentiable=True is not supported: gpugrad's updates are fused in-place "
                "kernels outside autograd")
        capturable = group.get("capturable", False)
        if not isinstance(capturable, (bool, np.bool_)):
            raise TypeError(f"{name}: capturable must be True or False, got {capturable!r}")
        if capturable and not self._capturable_rule:
            raise NotImplementedError(
                f"{name}: capturable=True is not supported: its step count's scalars are computed "
                "on the host (Adam and AdamW keep theirs on the device with capturable=True)")
        if group.get("fused") and group.get("foreach"):
            raise RuntimeError(f"{name}: fused and foreach cannot both be True")

    def _check_numbers(self, group, **rules):
        """For each ``key=rule`` (a key of :data:`RULES`, e.g. ``lr=">= 0"``): the group's value
        of ``key`` must be a real number (TypeError otherwise) that satisfies the rule
        (ValueError otherwise), both naming the optimizer, the group and the value."""
        for key, rule in rules.items():
            self._check_number(key, group.get(key), rule)

    def _check_number(self, key, value, rule, shown=None):
        where = f"{type(self).__name__}: invalid {key} {value if shown is None else shown!r}"
        group = f"in parameter group {self._checking}"
        rule_text = f" {rule}" if rule else ""
        if not _is_real(value):
            raise TypeError(f"{where} ({type(value).__name__}) {group}: expected a real number{rule_text}")
        if not RULES[rule](value):
            raise ValueError(f"{where} {group}: expected a finite number{rule_text}")

    def _check_betas(self, group):
        """``betas``: a pair of real numbers, each in [0, 1), as PyTorch's Adam checks them."""
        betas = group.get("betas")
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise TypeError(f"{type(self).__name__}: invalid betas {betas!r} in parameter group "
                            f"{self._checking}: expected a pair of numbers (beta1, beta2)")
        group["betas"] = tuple(betas)
        for beta in group["betas"]:
            self._check_number("betas", beta, "in [0, 1)", shown=group["betas"])

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
        if backend.capturing():
            self._check_capturable(work)
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
        by_device = {}
        for item in work:
            by_device.setdefault(item[0].device, []).append(item)
        for device, items in by_device.items():
            # kernels launch on the current GPU, the parameters'; on CUDA the updates of each
            # device's parameters go out together, a few multi-tensor launches in all
            with device.context(), kernels.multi_tensor_updates():
                for p, g, group in items:
                    self._update(p.data, g.array, group, self.state[p])   # p.data: in place
        return loss

    def _check_capturable(self, work):
        """Inside a CUDA graph capture, refuse a step that replays would repeat wrongly: one
        that makes the optimizer's state (the first), or whose rule changes from step to step
        on the host (subclasses add theirs). A graph replays what was captured, scalars too."""
        for p, _, _ in work:
            if p not in self.state or self.state[p].get("fresh"):
                raise RuntimeError(
                    f"{type(self).__name__}.step inside a CUDA graph capture before its first step: "
                    "the first step makes the optimizer's state (and starts SGD's momentum), which "
                    "every replay would repeat; run the step once before capturing it "
                    "(gg.cuda.graphed does)")

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
        """Restore hyper-parameters and state (as :meth:`state_dict` gives them); arrays go to
        each parameter's device. Everything is checked before anything changes: a state dict
        that does not fit (keys, parameter counts, buffers, shapes, dtypes, step counts,
        hyper-parameters) raises TypeError/ValueError naming the optimizer and what is wrong."""
        groups, state = self._checked_layout(state_dict)
        params = [p for group in self.param_groups for p in group["params"]]
        new_state = {params[i]: self._loaded_entry(i, params[i], entry) for i, entry in state.items()}
        merged = []
        for k, (own, saved) in enumerate(zip(self.param_groups, groups)):
            group = {**own, **{key: v for key, v in saved.items() if key != "params"}}
            self._checking = k
            self._check_group(group)
            merged.append(group)
        for own, group in zip(self.param_groups, merged):
            own.update(group)
        self.state = new_state

    def _checked_layout(self, state_dict):
        """(param_groups, {index: entry}) of a state dict whose layout fits this optimizer."""
        what = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{what}: expected a dict with 'state' and 'param_groups' (as state_dict() "
                            f"gives), got {type(state_dict).__name__}")
        missing = [k for k in ("state", "param_groups") if k not in state_dict]
        if missing:
            raise ValueError(f"{what}: the state dict has no {' or '.join(map(repr, missing))} (its keys: "
                             f"{sorted(map(str, state_dict))}); expected 'state' and 'param_groups' as "
                             "state_dict() gives")
        groups, state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)) or not all(
                isinstance(g, dict) and isinstance(g.get("params"), (list, tuple)) for g in groups):
            raise TypeError(f"{what}: 'param_groups' must be a list of dicts, each with a 'params' list")
        saved_counts = [len(g["params"]) for g in groups]
        own_counts = [len(g["params"]) for g in self.param_groups]
        if saved_counts != own_counts:
            raise ValueError(f"{what}: the saved optimizer has parameter groups of {saved_counts} parameters, "
                             f"this one of {own_counts}")
        if not isinstance(state, dict):
            raise TypeError(f"{what}: 'state' must be a dict of parameter index -> dict, got {type(state).__name__}")
        entries, n = {}, sum(own_counts)
        for key, entry in state.items():
            try:
                i = int(key)
            except (TypeError, ValueError):
                raise ValueError(f"{what}: state key {key!r} is not a parameter index") from None
            if not 0 <= i < n:
                raise ValueError(f"{what}: state for parameter {i}, but there are {n} (0 to {n - 1})")
            if not isinstance(entry, dict):
                raise TypeError(f"{what}: the state of parameter {i} must be a dict, got {type(entry).__name__}")
            entries[i] = entry
        return groups, entries

    def _loaded_entry(self, i, p, entry):
        """One parameter's saved state, checked: the buffers and counters this optimizer keeps
        present, buffers floating-point arrays of the parameter's shape (moved to its device
        and dtype), counters integers >= 0."""
        what = f"{type(self).__name__}.load_state_dict: state of parameter {i}"
        missing = [k for k in (*self._state_buffers, *self._state_counters) if k not in entry]
        if missing:
            raise ValueError(f"{what} has no {', '.join(map(repr, missing))} (it has {sorted(entry)})")
        loaded = {}
        for key, value in entry.items():
            if key in self._state_counters:
                loaded[key] = _step_count(value, f"{what}: {key}")
            elif backend.is_array(value) or isinstance(value, Tensor):
                dtype = value.dtype
                if np.dtype(dtype).kind != "f":
                    raise TypeError(f"{what}: {key} has dtype {dtype}; a floating-point array is expected")
                loaded[key] = conform_array(value, p, f"{what}: {key}")
            elif key in self._state_buffers:
                raise TypeError(f"{what}: {key} must be an array of shape {tuple(p.shape)}, got "
                                f"{type(value).__name__}")
            else:
                loaded[key] = value
        return loaded


def _step_count(value, what):
    """A step counter as an int >= 0 (from an int, an integral float, or a one-element array)."""
    if (backend.is_array(value) or isinstance(value, Tensor)) and value.size == 1:
        value = (value.array if isinstance(value, Tensor) else value).reshape(()).item()
    if not _is_real(value) or not math.isfinite(value) or value != int(value) or value < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}")
    return int(value)
