"""Grad mode: whether ops record a graph. Per thread, as in PyTorch."""
from __future__ import annotations

import functools
import threading

__all__ = ["is_grad_enabled", "set_grad_enabled", "no_grad", "enable_grad"]


class _GradMode(threading.local):
    enabled = True


GRAD_MODE = _GradMode()   # read by Function.__call__ on every op


def is_grad_enabled() -> bool:
    return GRAD_MODE.enabled


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off."""

    __slots__ = ("_mode", "_prev")

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._prev = None

    def __enter__(self):
        self._prev = GRAD_MODE.enabled
        GRAD_MODE.enabled = self._mode
        return self

    def __exit__(self, *exc):
        GRAD_MODE.enabled = self._prev
        return False

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):
    """``with gg.no_grad(): ...`` records no graph (evaluation, optimizer updates)."""

    __slots__ = ()

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Re-enables graph recording inside a ``no_grad`` block."""

    __slots__ = ()

    def __init__(self):
        super().__init__(True)
