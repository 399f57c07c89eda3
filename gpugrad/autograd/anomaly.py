"""Anomaly mode: find the op whose backward made a NaN or an infinity, and the user's line that
made the op.

    with gg.autograd.detect_anomaly():
        y = model(x)          # each node notes the line of user code that created it
        loss.backward()       # a backward returning NaN/inf raises, naming the op and that line

While it is on, every node recorded notes where it was created (the innermost frame outside
gpugrad, and the stack up to it), and the backward pass checks every gradient each node
returns: a NaN or an infinity raises ``RuntimeError`` naming the op, the input, and that line.
Any other error raised inside a node's backward gets the same line added as a note. Checking
reads every gradient back to the host, so it is slow on a GPU, as in PyTorch; off (the default),
nothing is noted and nothing is checked.
"""
from __future__ import annotations

import functools
import os
import sys
import traceback

from .. import backend
from ..tensor import Tensor
from .op import NODE_OBSERVERS

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled", "ANOMALY", "check_gradients", "note_creation"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class _Anomaly:
    enabled = False
    check_nan = True


ANOMALY = _Anomaly()


def _note_where_created(node, inputs, outputs):
    """Node observer: keep the user's frame that made ``node`` (not gpugrad's own frames)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is not None:
        node.created_at = traceback.extract_stack(frame, limit=8)


def _set(enabled, check_nan):
    ANOMALY.check_nan = bool(check_nan)
    if enabled and not ANOMALY.enabled:
        NODE_OBSERVERS.append(_note_where_created)
    elif not enabled and ANOMALY.enabled:
        NODE_OBSERVERS.remove(_note_where_created)
    ANOMALY.enabled = bool(enabled)


def is_anomaly_enabled() -> bool:
    return ANOMALY.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return ANOMALY.check_nan


class set_detect_anomaly:
    """Context manager (and decorator) that turns anomaly mode on or off."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._mode, self._check_nan = bool(mode), bool(check_nan)
        self._prev = None

    def __enter__(self):
        self._prev = (ANOMALY.enabled, ANOMALY.check_nan)
        _set(self._mode, self._check_nan)
        return self

    def __exit__(self, *exc):
        _set(*self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_detect_anomaly(self._mode, self._check_nan):
                return fn(*args, **kwargs)

        return wrapper


class detect_anomaly(set_detect_anomaly):
    """``with gg.autograd.detect_anomaly(): ...`` turns anomaly mode on (see the module)."""

    def __init__(self, check_nan: bool = True):
        super().__init__(True, check_nan)


def where_created(node) -> str:
    """Where ``node`` was created, for messages: the user's line, or how to find it."""
    stack = getattr(node, "created_at", None)
    if not stack:
        return ("(run the forward pass inside gg.autograd.detect_anomaly() to see the line that "
                "created it)")
    last = stack[-1]
    code = f": {last.line}" if last.line else ""
    return (f"{type(node).__name__} was created at {last.filename}:{last.lineno} in "
            f"{last.name}{code}\nforward traceback (most recent call last):\n"
            + "".join(traceback.format_list(stack)).rstrip())


def check_gradients(node, grads):
    """In anomaly mode, raise if a gradient ``node``'s backward returned holds NaN or inf."""
    if not (ANOMALY.enabled and ANOMALY.check_nan):
        return
    for i, g in enumerate(grads):
        if g is None:
            continue
        a = g.array if isinstance(g, Tensor) else g
        if a.dtype.kind not in "fc":
            continue
        xp = backend.array_module(a)
        if bool(xp.isfinite(a).all()):
            continue
        what = "nan" if bool(xp.isnan(a).any()) else "inf"
        raise RuntimeError(
            f"anomaly: the backward of {type(node).__name__} returned {what} values in the "
            f"gradient of its input {i} (shape {tuple(a.shape)}, dtype {a.dtype}); "
            + where_created(node))


def note_creation(exc, node):
    """In anomaly mode, add to an error raised in ``node``'s backward where it was created."""
    if ANOMALY.enabled and hasattr(exc, "add_note"):
        exc.add_note(f"in the backward of {type(node).__name__}; " + where_created(node))
