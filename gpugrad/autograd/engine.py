"""The backward pass: walk the graph from an output back to the leaves.

Nodes run in decreasing generation order, from a heap (iteratively: a 20,000-op chain is
fine), so a node runs only after every consumer of its outputs has handed back its share. A
value used twice (the notes' copy gate) gets the *sum* of its gradients, accumulated in place
into one buffer the engine owns. Each ``Function.backward`` is a vector-Jacobian product on
arrays shaped like the inputs: no Jacobian is ever built.

A leaf's gradient is stored into its ``.grad`` when the walk ends, or, when some leaf has a
post-accumulate hook, as soon as the last node that feeds it has run (a first pass over the
graph counts those nodes).
"""
from __future__ import annotations

import heapq
from itertools import count

import numpy as np

from .. import backend
from ..tensor import Tensor, wrap
from .function import RELEASED, run_on_device
from .hooks import post_hooks_active, run_tensor_hooks

__all__ = ["backward", "retain_grad"]

_tiebreak = count()


def retain_grad(tensor):
    """Keep ``.grad`` for this non-leaf tensor too after backward (a no-op on a leaf)."""
    if tensor.grad_fn is not None:
        tensor.retains_grad = True
        tensor.grad_fn.retains_outputs = True
    return tensor


def _root_grad(root, grad):
    """The upstream gradient of ``root`` as a fresh array of its shape, dtype and device."""
    data = root.array
    if grad is None:
        if data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar (one-element) output, "
                f"got shape {tuple(data.shape)}; pass grad= with that shape")
        return root.device.xp.ones_like(data)
    if isinstance(grad, Tensor):
        if grad.device is not root.device:
            raise RuntimeError(f"backward(): grad is on {grad.device} but the output is on {root.device}")
        grad = grad.array
    elif backend.is_array(grad):
        if backend.device_of(grad) is not root.device:
            raise RuntimeError(
                f"backward(): grad is on {backend.device_of(grad)} but the output is on {root.device}")
    else:
        grad = root.device.xp.asarray(grad, dtype=data.dtype)
    if tuple(grad.shape) != tuple(data.shape):
        raise ValueError(
            f"backward(): grad has shape {tuple(grad.shape)} but the output has shape {tuple(data.shape)}")
    return grad.astype(data.dtype, copy=True)  # never alias the caller's array


def _accumulate(slots, key, g, owned):
    """Add gradient ``g`` into ``slots[key]``: the first one is stored as is, the second is
    added out of place into a fresh buffer the engine owns, later ones in place."""
    cur = slots[key]
    if cur is None:
        slots[key] = g
    elif id(cur) in owned:
        cur += g
    else:
        new = cur + g
        if isinstance(new, np.generic):
            new = np.asarray(new)
        owned.add(id(new))
        slots[key] = new


def _count_leaf_edges(root_fn):
    """{id(leaf): number of edges into it} over the nodes reachable from ``root_fn``."""
    counts, seen, stack = {}, {root_fn}, [root_fn]
    while stack:
        edges = stack.pop().next_edges
        if edges is RELEASED:
            continue
        for edge in edges:
            if edge is None:
                continue
            if isinstance(edge, Tensor):
                counts[id(edge)] = counts.get(id(edge), 0) + 1
            elif edge[0] not in seen:
                seen.add(edge[0])
                stack.append(edge[0])
    return counts


class _Leaves:
    """Gradients bound for leaves during one backward pass, and storing them into ``.grad``."""

    def __init__(self, root_fn):
        self.grads = {}      # id(leaf) -> [leaf, grad]
        self.given = set()   # ids of the memory already handed to some leaf's .grad
        track = root_fn is not None and post_hooks_active()
        self.remaining = _count_leaf_edges(root_fn) if track else None

    def add(self, leaf, g, owned):
        entry = self.grads.get(id(leaf))
        if entry is None:
            entry = self.grads[id(leaf)] = [leaf, g]
        else:
            _accumulate(entry, 1, g, owned)
        if self.remaining is not None:
            left = self.remaining[id(leaf)] = self.remaining[id(leaf)] - 1
            if left == 0:
                del self.grads[id(leaf)]
                self.store(*entry)

    def store_all(self):
        for leaf, g in self.grads.values():
            self.store(leaf, g)

    def store(self, leaf, g):
        """Run the leaf's hooks and add ``g`` into ``leaf.grad``. A leaf's ``.grad`` must be its
        own writable, contiguous array (users clip gradients in place): broadcast or strided
        views (the gradient of a sum) and memory another leaf also received (the add gate hands
        one array to both inputs; a reshape hands on a view of it) are copied."""
        hooks = leaf.hooks
        if hooks is not None and hooks.pre:
            g = run_tensor_hooks(hooks.pre, g, leaf.device)
        memory = id(g if g.base is None else g.base)
        if memory in self.given or not g.flags.c_contiguous or not getattr(g.flags, "writeable", True):
            g = g.copy()
            memory = id(g)
        self.given.add(memory)
        if g.dtype != leaf.array.dtype:
            g = g.astype(leaf.array.dtype)
        if leaf.grad is None:
            leaf.grad = wrap(g, leaf.device)
        else:  # accumulate across backward calls, out of place: .grad arrays may alias each other
            total = leaf.grad.array + g
            leaf.grad = wrap(np.asarray(total) if isinstance(total, np.generic) else total, leaf.device)
        if hooks is not None and hooks.post:
            for fn in list(hooks.post.values()):
                fn(leaf)


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into every leaf's ``.grad`` (see ``Tensor.backward``)."""
    # The walk's own arrays (the root's gradient, sums of gradients, copies for leaves) are
    # made on the current GPU: make it the root's, whichever GPU the caller has current.
    with root.device.context():
        _backward(root, grad, retain_graph)


def _backward(root, grad, retain_graph):
    if not root.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad and has no grad_fn "
            "(did you compute it under no_grad, or from tensors without requires_grad=True?)")
    grad = _root_grad(root, grad)
    root_fn = root.grad_fn
    if root_fn is None:
        _Leaves(None).store(root, grad)
        return
    leaves = _Leaves(root_fn)
    owned = set()     # ids of gradient buffers the engine allocated itself
    pending = {root_fn: [None] * len(root_fn.output_refs)}
    pending[root_fn][root.output_nr] = grad
    heap = [(-root_fn.generation, next(_tiebreak), root_fn)]
    while heap:
        fn = heapq.heappop(heap)[2]
        gys = pending.pop(fn)
        edges = fn.next_edges
        if edges is RELEASED:
            raise RuntimeError(
                f"backward through {type(fn).__name__} a second time: its saved arrays were freed "
                "by the first backward. Pass retain_graph=True to the first backward() if you "
                "need to backpropagate through the same graph twice.")
        if owned:
            for g in gys:
                owned.discard(id(g))
        if fn.tensor_hooks is not None or fn.retains_outputs:
            _output_hooks(fn, gys)
        if len(gys) > 1 and any(g is None for g in gys):
            gys = _zeros_for_missing(fn, gys)
        if fn.saved_versions:
            fn.check_saved_versions()
        gxs = run_on_device(fn.backward, gys, fn.device, fn, "backward")
        del gys
        if type(gxs) is not tuple:
            gxs = (gxs,)
        for edge, gx in zip(edges, gxs):
            if edge is None or gx is None:
                continue
            if isinstance(gx, np.generic):  # a 0-d NumPy result came back as a scalar
                gx = np.asarray(gx)
            if isinstance(edge, Tensor):
                leaves.add(edge, gx, owned)
                continue
            creator, index = edge
            slots = pending.get(creator)
            if slots is None:
                slots = pending[creator] = [None] * len(creator.output_refs)
                heapq.heappush(heap, (-creator.generation, next(_tiebreak), creator))
            _accumulate(slots, index, gx, owned)
        if not retain_graph:
            fn.release()
    leaves.store_all()


def _output_hooks(fn, gys):
    """Run the hooks registered on fn's outputs, then fill the .grad of outputs that retain it."""
    hooks = fn.tensor_hooks
    if hooks:
        for i, registry in hooks.items():
            if gys[i] is not None and registry:
                gys[i] = run_tensor_hooks(registry, gys[i], fn.out_device or fn.device)
    if fn.retains_outputs:
        for ref, g in zip(fn.output_refs, gys):
            out = ref()
            if out is not None and out.retains_grad and g is not None:
                if out.grad is None:
                    out.grad = wrap(g.copy(), out.device)
                else:
                    out.grad = wrap(out.grad.array + g, out.device)


def _zeros_for_missing(fn, gys):
    """A multi-output node whose outputs got no gradient gets zeros for them."""
    filled = list(gys)
    for i, g in enumerate(filled):
        if g is None:
            out = fn.output_refs[i]()
            if out is None:
                raise RuntimeError(f"{type(fn).__name__}: an unused output was freed before backward")
            filled[i] = out.device.xp.zeros_like(out.array)
    return filled
