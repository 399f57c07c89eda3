"""Schedulers made of schedulers: ``SequentialLR`` (one after another, switching at milestones)
and ``ChainedScheduler`` (all at once, each multiplying in its factor)."""
from __future__ import annotations

from bisect import bisect_right

from .base import LRScheduler, check_optimizer
from .plateau import ReduceLROnPlateau

__all__ = ["SequentialLR", "ChainedScheduler"]


def _check_children(who, optimizer, schedulers):
    if len(schedulers) < 1:
        raise ValueError(f"{who} needs at least one scheduler")
    for i, s in enumerate(schedulers):
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{who}: scheduler {i} is a ReduceLROnPlateau, whose step() needs a metric")
        if not isinstance(s, LRScheduler):
            raise TypeError(f"{who}: scheduler {i} is a {type(s).__name__}, not an LRScheduler")
        if s.optimizer is not optimizer:
            raise ValueError(f"{who}: scheduler {i} ({type(s).__name__}) belongs to another optimizer")


class _Composite(LRScheduler):
    """State dicts of a scheduler of schedulers hold their children's state dicts."""

    def state_dict(self):
        return {**super().state_dict(), "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict):
        saved = state_dict.get("_schedulers") if isinstance(state_dict, dict) else []
        if isinstance(state_dict, dict) and (not isinstance(saved, list) or len(saved) != len(self._schedulers)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: '_schedulers' must be a list of the "
                             f"{len(self._schedulers)} schedulers' state dicts, got {saved!r:.80}")
        super().load_state_dict(state_dict)
        for s, saved_state in zip(self._schedulers, saved):
            s.load_state_dict(saved_state)


class SequentialLR(_Composite):
    """``schedulers[i]`` runs from ``milestones[i-1]`` until ``milestones[i]`` (e.g. a LinearLR
    warm-up, then a CosineAnnealingLR); each starts from its own epoch 0 at its milestone."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        check_optimizer(optimizer, "SequentialLR")
        _check_children("SequentialLR", optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need {len(schedulers) - 1} "
                             f"milestones, got {len(milestones)}")
        self._schedulers, self._milestones = list(schedulers), list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:       # undo what making the children did
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:
            s.last_epoch -= 1
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self):
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)        # the next scheduler starts at its epoch 0
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Steps every scheduler at each step, so their factors multiply."""

    def __init__(self, schedulers, optimizer=None):
        optimizer = check_optimizer(optimizer or schedulers[0].optimizer, "ChainedScheduler")
        _check_children("ChainedScheduler", optimizer, schedulers)
        self._schedulers, self.optimizer = list(schedulers), optimizer
        self._last_lr = self._current_lrs()

    def step(self):
        for s in self._schedulers:
            s.step()
        self._last_lr = self._current_lrs()
