"""Module hooks, as PyTorch calls them.

* forward pre-hook ``hook(module, args) -> None | new args``, before ``forward``;
* forward hook ``hook(module, args, output) -> None | new output``, after it;
* full backward pre-hook ``hook(module, grad_output) -> None | new grad_output``, when the
  gradients of the module's outputs are known;
* full backward hook ``hook(module, grad_input, grad_output) -> None | new grad_input``, when
  the gradients of its inputs are known (``grad_input`` has None for inputs that need none).

The backward hooks work as PyTorch's ``BackwardHook`` does: the call's tensor inputs and its
outputs each pass through an identity node, a :class:`Boundary`, whose backward is where the
gradients of the outputs (the output boundary, which runs first) and then of the inputs (the
input boundary) are seen and may be replaced. When no input requires grad, the backward hooks
run at the output boundary with ``grad_input`` all None (and a warning), as in PyTorch.

A module without hooks never reaches this module: ``Module.__call__`` checks one attribute.
"""
from __future__ import annotations

import itertools
import warnings

from ..autograd import Op, RemovableHandle, is_grad_enabled
from ..tensor import Tensor, wrap

__all__ = ["ModuleHooks", "Boundary"]

_keys = itertools.count()


class ModuleHooks:
    """The hooks of one module, by kind, in registration order."""

    __slots__ = ("forward_pre", "forward", "backward_pre", "backward")

    def __init__(self):
        self.forward_pre, self.forward, self.backward_pre, self.backward = {}, {}, {}, {}

    def add(self, kind, hook):
        if not callable(hook):
            raise TypeError(f"a module hook must be callable, got {type(hook).__name__}")
        registry = getattr(self, kind)
        key = next(_keys)
        registry[key] = hook
        return RemovableHandle(registry, key)

    def __bool__(self):
        return bool(self.forward_pre or self.forward or self.backward_pre or self.backward)

    def call(self, module, args, kwargs):
        """``module(*args, **kwargs)`` with its hooks."""
        for hook in list(self.forward_pre.values()):
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        state = None
        if (self.backward or self.backward_pre) and is_grad_enabled():
            state = _CallState(module, self)
            args = state.wrap_inputs(args)
        out = module.forward(*args, **kwargs)
        for hook in list(self.forward.values()):
            result = hook(module, args, out)
            if result is not None:
                out = result
        if state is not None:
            out = state.wrap_outputs(out)
        return out


class Boundary(Op):
    """Identity over a call's tensors; its backward hands the gradients to ``on_backward``
    (which returns them, maybe replaced). Written once for arrays and Tensors."""

    def __init__(self, on_backward):
        self.on_backward = on_backward

    def forward(self, *xs):
        return xs if len(xs) > 1 else xs[0]

    def backward(self, *gys):
        gys = tuple(g if need else None for g, need in zip(gys, self.needs_input_grad))
        return self.on_backward(gys, self.out_device or self.device)


def _through_boundary(tensors, on_backward):
    """``tensors`` passed through one Boundary: new tensors sharing their memory and version
    (a tensor that needs no gradient stays a constant)."""
    outs = Boundary(on_backward)(*tensors)
    outs = outs if isinstance(outs, tuple) else (outs,)
    for out, t in zip(outs, tensors):
        out.share_version(t)
        if not t.requires_grad:
            out.requires_grad, out.grad_fn = False, None
    return outs


def _as_tensors(grads, device):
    return tuple(g if g is None or isinstance(g, Tensor) else wrap(g, device) for g in grads)


def _like_engine(new, old, what, module):
    """Hook results back in the engine's kind (arrays in an ordinary pass, Tensors in a
    recorded one), checked against the gradients they replace."""
    if not isinstance(new, (tuple, list)) or len(new) != len(old):
        raise RuntimeError(f"a {what} hook of {type(module).__name__} returned "
                           f"{type(new).__name__}; return None or a tuple of {len(old)} gradients")
    recorded = any(isinstance(g, Tensor) for g in old)
    result = []
    for i, (g, was) in enumerate(zip(new, old)):
        if g is not None and not isinstance(g, Tensor):
            raise TypeError(f"a {what} hook of {type(module).__name__} returned a "
                            f"{type(g).__name__} as gradient {i}; return Tensors or None")
        if g is not None and was is not None and g.shape != tuple(was.shape):
            raise ValueError(f"a {what} hook of {type(module).__name__} returned shape "
                             f"{g.shape} for gradient {i} of shape {tuple(was.shape)}")
        result.append(g if g is None or recorded else g.array)
    return tuple(result)


class _CallState:
    """One hooked call: its input and output boundaries and the gradients between them."""

    def __init__(self, module, hooks):
        self.module, self.hooks = module, hooks
        self.grad_output = None
        self.n_inputs = 0
        self.inputs_need_grad = False

    def wrap_inputs(self, args):
        places = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(places)
        self.inputs_need_grad = any(args[i].requires_grad for i in places)
        if not self.inputs_need_grad:
            return args
        wrapped = _through_boundary([args[i] for i in places], self._at_inputs)
        args = list(args)
        for i, t in zip(places, wrapped):
            args[i] = t
        return tuple(args)

    def wrap_outputs(self, out):
        single = isinstance(out, Tensor)
        items = [out] if single else list(out) if isinstance(out, (tuple, list)) else None
        if items is None:
            return out
        places = [i for i, o in enumerate(items) if isinstance(o, Tensor) and o.requires_grad]
        if not places:
            return out
        for i, t in zip(places, _through_boundary([items[i] for i in places], self._at_outputs)):
            items[i] = t
        return items[0] if single else type(out)(items)

    def _at_outputs(self, grads, device):
        grad_output = _as_tensors(grads, device)
        for hook in list(self.hooks.backward_pre.values()):
            result = hook(self.module, grad_output)
            if result is not None:
                grads = _like_engine(result, grads, "full backward pre-", self.module)
                grad_output = _as_tensors(grads, device)
        self.grad_output = grad_output
        if not self.inputs_need_grad and self.hooks.backward:
            warnings.warn(f"full backward hooks of {type(self.module).__name__} run when the "
                          "gradients of its outputs are known, since no input requires grad",
                          stacklevel=2)
            for hook in list(self.hooks.backward.values()):
                hook(self.module, (None,) * self.n_inputs, grad_output)
        return grads

    def _at_inputs(self, grads, device):
        grad_input = _as_tensors(grads, device)
        for hook in list(self.hooks.backward.values()):
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                grads = _like_engine(result, grads, "full backward", self.module)
                grad_input = _as_tensors(grads, device)
        return grads
