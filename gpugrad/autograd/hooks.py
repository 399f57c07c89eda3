"""Gradient hooks on tensors, and the handles that remove them.

* ``register_hook(t, fn)``: ``fn(grad) -> Tensor | None`` sees the gradient flowing into ``t``
  during backward and may replace it. On a leaf it sees the gradient of this backward pass
  before it is added into ``t.grad``; on a non-leaf, the gradient of ``t`` before it flows on
  to the op that made ``t``.
* ``register_post_accumulate_grad_hook(t, fn)``: on a leaf, ``fn(t)`` runs as soon as
  ``t.grad`` is final for this backward pass, while the rest of backward is still to come
  (data parallelism starts communicating a gradient there).

Each returns a :class:`RemovableHandle`. Without hooks, backward pays nothing for them.
"""
from __future__ import annotations

import itertools

from ..tensor import Tensor, wrap

__all__ = ["RemovableHandle", "register_hook", "register_post_accumulate_grad_hook",
           "post_hooks_active", "run_tensor_hooks"]

_keys = itertools.count()
_post_hook_count = [0]   # registered post-accumulate hooks, so backward knows to track leaves


class RemovableHandle:
    """Returned by every ``register_*`` call; ``remove()`` unregisters (twice is harmless)."""

    __slots__ = ("_registry", "_key", "_on_remove")

    def __init__(self, registry, key, on_remove=None):
        self._registry, self._key, self._on_remove = registry, key, on_remove

    def remove(self):
        if self._registry.pop(self._key, None) is not None and self._on_remove is not None:
            self._on_remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class LeafHooks:
    """The hooks of one leaf tensor (``Tensor.hooks``)."""

    __slots__ = ("pre", "post")

    def __init__(self):
        self.pre, self.post = {}, {}


def _check(tensor, fn, what):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expected a Tensor, got {type(tensor).__name__}")
    if not callable(fn):
        raise TypeError(f"{what}: the hook must be callable, got {type(fn).__name__}")
    if not tensor.requires_grad:
        raise RuntimeError(f"{what}: cannot register a hook on a tensor that does not require grad")


def register_hook(tensor, fn) -> RemovableHandle:
    """Call ``fn(grad)`` with the gradient flowing into ``tensor``; a returned Tensor replaces it."""
    _check(tensor, fn, "register_hook")
    key = next(_keys)
    if tensor.grad_fn is None:
        if tensor.hooks is None:
            tensor.hooks = LeafHooks()
        registry = tensor.hooks.pre
    else:
        node = tensor.grad_fn
        if node.tensor_hooks is None:
            node.tensor_hooks = {}
        registry = node.tensor_hooks.setdefault(tensor.output_nr, {})
    registry[key] = fn
    return RemovableHandle(registry, key)


def register_post_accumulate_grad_hook(tensor, fn) -> RemovableHandle:
    """Call ``fn(tensor)`` once ``tensor.grad`` (a leaf's) is final during backward."""
    _check(tensor, fn, "register_post_accumulate_grad_hook")
    if tensor.grad_fn is not None:
        raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors accumulate a .grad")
    if tensor.hooks is None:
        tensor.hooks = LeafHooks()
    key = next(_keys)
    tensor.hooks.post[key] = fn
    _post_hook_count[0] += 1

    def forget():
        _post_hook_count[0] -= 1

    return RemovableHandle(tensor.hooks.post, key, forget)


def post_hooks_active() -> bool:
    return _post_hook_count[0] > 0


def run_tensor_hooks(hooks, grad, device):
    """Pass the gradient ``grad`` through ``hooks`` (a dict of fn) in registration order. The
    hooks see a Tensor; ``grad`` is a raw array in an ordinary backward pass (and one comes
    back) or a Tensor in a recorded one (``create_graph=True``)."""
    recorded = isinstance(grad, Tensor)
    for fn in list(hooks.values()):
        out = fn(grad if recorded else wrap(grad, device))
        if out is not None:
            if not isinstance(out, Tensor):
                raise TypeError(f"a gradient hook returned a {type(out).__name__}; return a Tensor or None")
            if out.shape != tuple(grad.shape):
                raise ValueError(f"a gradient hook returned shape {out.shape} for a gradient of shape "
                                 f"{tuple(grad.shape)}")
            grad = out if recorded else out.array
    return grad
