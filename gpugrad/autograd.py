"""The autograd engine: ``Function`` nodes and the backward pass over the graph they form.

A forward call ``f(x, y)`` records a ``Function`` node when gradients are enabled and some input
requires them. The node keeps *edges* to where each input's gradient must go (the input's own
creator, or the leaf tensor itself), the raw arrays its backward needs, and only weak references
to its outputs: the output tensors own the graph, so dropping the loss frees it by reference
counting alone.

``backward`` walks the nodes in decreasing generation order with a heap (iteratively: a
20,000-op chain is fine), so a node runs only after every consumer of its outputs has handed
back its share. A value used twice (the notes' copy gate) gets the *sum* of its gradients,
accumulated in place into one buffer the engine owns. Each ``Function.backward`` is a
vector-Jacobian product on arrays shaped like the inputs: no Jacobian is ever built.
"""
from __future__ import annotations

import heapq
import threading
import weakref
from itertools import count

import numpy as np

from . import backend
from .backend import CPU

__all__ = ["Function", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "run_backward"]

# --------------------------------------------------------------------------- grad mode

class _GradMode(threading.local):
    """Whether ops record a graph; per thread, as in PyTorch."""

    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off."""

    __slots__ = ("_mode", "_prev")

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._prev = None

    def __enter__(self):
        self._prev = _grad_mode.enabled
        _grad_mode.enabled = self._mode
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self._prev
        return False

    def __call__(self, fn):
        mode = self._mode

        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = getattr(fn, "__doc__", None)
        wrapper.__wrapped__ = fn
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


# --------------------------------------------------------------------------- Function

_RELEASED = object()  # marks a node whose saved state was freed by a backward pass

Tensor = None  # gpugrad.tensor.Tensor, set by that module (it imports this one)


class Function:
    """One differentiable operation on raw arrays.

    Subclasses implement ``forward(*arrays) -> array | tuple`` and
    ``backward(*grad_outputs) -> grad | tuple`` (one entry per input, ``None`` where
    ``self.needs_input_grad[i]`` is false or the input is not a tensor). Non-tensor operands
    (Python scalars) are passed to ``forward`` as they are and get no gradient.
    Keep on ``self`` only what backward needs (sigmoid keeps its output, not its input).

    Call an instance on tensors: ``Mul()(a, b)``; parameters such as an axis go to ``__init__``.
    """

    generation = 0
    needs_input_grad = ()
    _next = None          # per input: None, a leaf Tensor, or (creator Function, output index)
    _outputs = None       # weak references to the output tensors
    _device = None
    _retains = False      # some output called retain_grad()
    out_device = None     # set by ops whose output lives elsewhere than their inputs (ToDevice)

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    def __call__(self, *inputs):
        dev = None
        needs = []
        arrays = []
        for x in inputs:
            if not isinstance(x, Tensor) and backend.is_array(x):
                x = Tensor(x)  # a raw array operand is a constant on its own device
            if isinstance(x, Tensor):
                if dev is None:
                    dev = x._device
                elif x._device is not dev:
                    raise RuntimeError(
                        f"{type(self).__name__}: expected all tensors on the same device, "
                        f"got {dev} and {x._device}")
                needs.append(x.requires_grad)
                arrays.append(x.data)
            else:
                needs.append(False)
                arrays.append(x)
        if dev is None:
            raise TypeError(f"{type(self).__name__}: needs at least one Tensor operand, got "
                            + ", ".join(type(x).__name__ for x in inputs))
        record = True in needs and _grad_mode.enabled
        # forward() may consult needs_input_grad to save only what backward will use
        self.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        ys = _run(self.forward, arrays, dev, self, "forward")

        odev = self.out_device or dev
        if type(ys) is not tuple and type(ys) is not np.ndarray and dev is CPU:
            ys = np.asarray(ys)  # NumPy turns 0-d results into scalars; keep them arrays
        if isinstance(ys, tuple):
            outs = tuple(Tensor._make(np.asarray(y) if isinstance(y, np.generic) else y, odev, record)
                         for y in ys)
        else:
            outs = (Tensor._make(ys, odev, record),)
        if record:
            gen = 0
            edges = []
            for x, need in zip(inputs, needs):
                if need:
                    creator = x._creator
                    if creator is None:
                        edges.append(x)
                    else:
                        edges.append((creator, x._output_index))
                        if creator.generation > gen:
                            gen = creator.generation
                else:
                    edges.append(None)
            self.generation = gen + 1
            self._next = tuple(edges)
            self._device = dev
            for i, out in enumerate(outs):
                out._creator = self
                out._output_index = i
            self._outputs = tuple(weakref.ref(o) for o in outs)
        return outs if isinstance(ys, tuple) else outs[0]

    def _release(self):
        """Free what backward needed; a second backward through this node then raises."""
        generation, outputs = self.generation, self._outputs
        self.__dict__.clear()
        self.generation, self._outputs, self._next = generation, outputs, _RELEASED


def _run(method, args, dev, fn, phase):
    """Call a node's forward/backward on its device, turning device out-of-memory into an
    error that says what was asked for (see backend.out_of_memory_error)."""
    try:
        if dev is not None and dev.index:  # a GPU other than cuda:0 must be made current
            with dev.context():
                return method(*args)
        return method(*args)
    except Exception as exc:
        if backend.is_out_of_memory(exc):
            raise backend.out_of_memory_error(exc, f"{type(fn).__name__} {phase}", dev) from exc
        raise


# --------------------------------------------------------------------------- backward

_tiebreak = count()


def _accumulate(slot_owner, key, g, owned):
    """Add gradient ``g`` into ``slot_owner[key]``: the first one is stored as is, the
    second is added out of place into a fresh buffer the engine owns, later ones in place."""
    cur = slot_owner[key]
    if cur is None:
        slot_owner[key] = g
    elif id(cur) in owned:
        cur += g
    else:
        new = cur + g
        if isinstance(new, np.generic):
            new = np.asarray(new)
        owned.add(id(new))
        slot_owner[key] = new


def run_backward(root, grad=None, retain_graph=False):
    """Backpropagate from ``root`` (see ``Tensor.backward``)."""
    if not root.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad and has no grad_fn "
            "(did you compute it under no_grad, or from tensors without requires_grad=True?)")
    data = root.data
    if grad is None:
        if data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar (one-element) output, "
                f"got shape {tuple(data.shape)}; pass grad= with that shape")
        grad = root._device.xp.ones_like(data)
    else:
        if isinstance(grad, Tensor):
            if grad._device is not root._device:
                raise RuntimeError(f"backward(): grad is on {grad._device} but the output is on {root._device}")
            grad = grad.data
        elif backend.is_array(grad):
            if backend.device_of(grad) is not root._device:
                raise RuntimeError(
                    f"backward(): grad is on {backend.device_of(grad)} but the output is on {root._device}")
        else:
            grad = root._device.xp.asarray(grad, dtype=data.dtype)
        if tuple(grad.shape) != tuple(data.shape):
            raise ValueError(
                f"backward(): grad has shape {tuple(grad.shape)} but the output has shape {tuple(data.shape)}")
        grad = grad.astype(data.dtype, copy=True)  # never alias the caller's array

    leaf_grads = {}   # id(tensor) -> [tensor, grad]
    owned = set()     # ids of gradient buffers the engine allocated itself
    root_fn = root._creator
    if root_fn is None:
        _store_leaf_grad(root, grad)
        return
    pending = {root_fn: [None] * len(root_fn._outputs)}
    pending[root_fn][root._output_index] = grad
    heap = [(-root_fn.generation, next(_tiebreak), root_fn)]

    while heap:
        fn = heapq.heappop(heap)[2]
        gys = pending.pop(fn)
        edges = fn._next
        if edges is _RELEASED:
            raise RuntimeError(
                f"backward through {type(fn).__name__} a second time: its saved arrays were freed "
                "by the first backward. Pass retain_graph=True to the first backward() if you "
                "need to backpropagate through the same graph twice.")
        if owned:
            for g in gys:
                owned.discard(id(g))
        if fn._retains:
            _fill_retained(fn, gys)
        if len(gys) > 1 and any(g is None for g in gys):
            gys = _zeros_for_missing(fn, gys)
        gxs = _run(fn.backward, gys, fn._device, fn, "backward")
        del gys
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        for edge, gx in zip(edges, gxs):
            if edge is None or gx is None:
                continue
            if isinstance(gx, np.generic):  # a 0-d NumPy result came back as a scalar
                gx = np.asarray(gx)
            if isinstance(edge, Tensor):  # a leaf
                entry = leaf_grads.get(id(edge))
                if entry is None:
                    leaf_grads[id(edge)] = [edge, gx]
                else:
                    _accumulate(entry, 1, gx, owned)
            else:
                creator, index = edge
                slots = pending.get(creator)
                if slots is None:
                    slots = pending[creator] = [None] * len(creator._outputs)
                    heapq.heappush(heap, (-creator.generation, next(_tiebreak), creator))
                _accumulate(slots, index, gx, owned)
        if not retain_graph:
            fn._release()

    # A leaf's .grad must be its own writable, contiguous array (users clip gradients in
    # place): copy broadcast or strided views (the gradient of a sum) and gradients whose
    # memory another leaf also received (the add gate hands one array to both inputs; a
    # reshape hands on a view of it).
    given = set()
    for leaf, g in leaf_grads.values():
        memory = id(g if g.base is None else g.base)
        if memory in given or not g.flags.c_contiguous or not getattr(g.flags, "writeable", True):
            g = g.copy()
            memory = id(g)
        given.add(memory)
        _store_leaf_grad(leaf, g)


def _store_leaf_grad(leaf, g):
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
    if leaf.grad is None:
        leaf.grad = Tensor._make(g, leaf._device, False)
    else:  # accumulate across backward calls, out of place: .grad arrays may alias each other
        total = leaf.grad.data + g
        leaf.grad = Tensor._make(np.asarray(total) if isinstance(total, np.generic) else total, leaf._device, False)


def _fill_retained(fn, gys):
    for ref, g in zip(fn._outputs, gys):
        out = ref()
        if out is not None and out._retains_grad and g is not None:
            if out.grad is None:
                out.grad = Tensor._make(g.copy(), out._device, False)
            else:
                out.grad = Tensor._make(out.grad.data + g, out._device, False)


def _zeros_for_missing(fn, gys):
    """A multi-output node whose outputs got no gradient gets zeros for them."""
    filled = list(gys)
    for i, g in enumerate(filled):
        if g is None:
            out = fn._outputs[i]()
            if out is None:
                raise RuntimeError(f"{type(fn).__name__}: an unused output was freed before backward")
            filled[i] = out._device.xp.zeros_like(out.data)
    return filled
