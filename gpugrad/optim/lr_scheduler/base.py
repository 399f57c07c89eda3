"""``LRScheduler``: the base of the epoch-indexed schedulers, PyTorch's protocol.

A scheduler remembers each group's starting lr as ``group['initial_lr']`` (``base_lrs``) and an
epoch counter ``last_epoch`` (-1 before the first step). Making one already takes the first step
(epoch 0). ``step()`` advances the epoch and sets every group's lr from ``get_lr()``, the
*chainable* form, which computes the next lr from the current one (so schedulers can be chained
and the lr can be changed by hand between steps), as PyTorch does. ``step(epoch)`` (deprecated
in PyTorch) jumps to ``epoch`` through the closed form ``_get_closed_form_lr()`` where the
schedule has one.
"""
from __future__ import annotations

import numbers
import types
import warnings

from ..optimizer import Optimizer

__all__ = ["LRScheduler", "per_group", "check_optimizer"]


def check_optimizer(optimizer, who):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{who} needs a gpugrad Optimizer, got {type(optimizer).__name__}")
    return optimizer


def per_group(name, optimizer, value):
    """``value`` for each parameter group: a list or tuple with one per group, or one for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} has {len(value)} values, but the optimizer has "
                             f"{len(optimizer.param_groups)} parameter groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


class LRScheduler:
    """Base class: subclasses implement ``get_lr()`` (and ``_get_closed_form_lr()`` where the
    schedule has a closed form)."""

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = check_optimizer(optimizer, type(self).__name__)
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: resuming at last_epoch={last_epoch}, but "
                               f"parameter group {i} has no 'initial_lr': load the optimizer's "
                               "state dict first, or start with last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """Reset the step count and take the first step (epoch 0) without changing the lr."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        """The lr of each group for epoch ``last_epoch`` (the chainable form)."""
        raise NotImplementedError

    def get_last_lr(self):
        """The lrs the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def step(self, epoch=None):
        """Advance one epoch (or, deprecated, jump to ``epoch``) and set each group's lr."""
        self._step_count += 1
        if epoch is not None:
            warnings.warn("step(epoch) is deprecated, as in PyTorch: call step() once per epoch",
                          UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Every attribute but the optimizer (and functions, which cannot be saved): plain
        numbers, lists and dicts."""
        return {key: value for key, value in self.__dict__.items()
                if key not in ("optimizer", "lr_lambdas", "_schedulers")}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` gave, checked first: a dict of this scheduler's own
        keys, ``last_epoch`` an integer >= -1 and ``base_lrs`` one real number per parameter
        group (TypeError/ValueError naming the scheduler and the key otherwise)."""
        what = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{what}: expected a dict (as state_dict() gives), got {type(state_dict).__name__}")
        own = self.state_dict()
        unknown = sorted(map(str, set(state_dict) - set(own)))
        if unknown:
            raise ValueError(f"{what}: unknown keys {unknown}; a {type(self).__name__}'s state has {sorted(own)}")
        epoch = state_dict.get("last_epoch", -1)
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < -1:
            raise ValueError(f"{what}: last_epoch must be an integer >= -1, got {epoch!r}")
        groups = len(self.optimizer.param_groups)
        base_lrs = state_dict.get("base_lrs", [0.0] * groups)
        if not isinstance(base_lrs, (list, tuple)) or len(base_lrs) != groups or not all(
                isinstance(lr, numbers.Real) and not isinstance(lr, bool) for lr in base_lrs):
            raise ValueError(f"{what}: base_lrs must be a list of {groups} numbers (one per parameter "
                             f"group), got {base_lrs!r}")
        self.__dict__.update({k: v for k, v in state_dict.items()
                              if k not in ("lr_lambdas", "_schedulers")})


class LambdaScheduler(LRScheduler):
    """A scheduler driven by one function of the epoch per group (LambdaLR, MultiplicativeLR).
    Its state dict holds, for each function, None (a plain function cannot be saved) or the
    attributes of a callable object, as PyTorch's does."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        check_optimizer(optimizer, type(self).__name__)
        self.lr_lambdas = per_group("lr_lambda", optimizer, lr_lambda)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"{type(self).__name__}: lr_lambda must be callable, got "
                                f"{type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        state = super().state_dict()
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(vars(fn))
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for fn, saved in zip(self.lr_lambdas, state_dict.get("lr_lambdas", ())):
            if saved is not None:
                vars(fn).update(saved)
