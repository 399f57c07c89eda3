"""Elementwise comparisons: boolean tensors, no gradient (``==``, ``!=``, ``<``, ``<=``, ``>``,
``>=``)."""
from __future__ import annotations

from .. import backend
from ..tensor import Tensor, wrap
from .promotion import promote_operands

__all__ = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]


def _compare(name, a, b):
    if isinstance(b, Tensor):
        if b.device is not a.device:
            raise RuntimeError(f"{name}: tensors on different devices: {a.device} and {b.device}")
        b = b.array
    elif backend.is_array(b):
        raise TypeError(f"{name}: wrap the raw array operand with gg.tensor(...)")
    x, y = promote_operands(a.array, b, name)
    try:
        return wrap(getattr(a.device.xp, name)(x, y), a.device)
    except ValueError:
        raise ValueError(f"{name}: shapes {tuple(x.shape)} and {tuple(getattr(y, 'shape', ()))} "
                         "cannot be broadcast together") from None


def _comparison(name):
    def compare(a, b):
        return _compare(name, a, b)
    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"Elementwise ``{name}`` of a tensor and a tensor or number (no gradient)."
    return compare


equal = _comparison("equal")
not_equal = _comparison("not_equal")
less = _comparison("less")
less_equal = _comparison("less_equal")
greater = _comparison("greater")
greater_equal = _comparison("greater_equal")
