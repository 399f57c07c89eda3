"""The backward pass: walk the graph from the outputs back to the leaves.

Nodes run in decreasing generation order, from a heap (iteratively: a 20,000-op chain is
fine), so a node runs only after every consumer of its outputs has handed back its share. A
value used twice (the notes' copy gate) gets the *sum* of its gradients, accumulated in place
into one buffer the engine owns. Each ``Op.backward`` is a vector-Jacobian product on arrays
shaped like the inputs: no Jacobian is ever built.

Two kinds of pass share the one walk:

* an ordinary pass (``create_graph=False``) hands raw arrays to each backward and records
  nothing: the fast path, exactly what a training step needs;
* a recorded pass (``create_graph=True``) hands Tensors, runs with grad mode on and gives each
  backward its saved inputs and outputs as Tensors joined to the graph (``Op.saved_for_graph``),
  so every gradient it computes is itself a graph that can be differentiated again. The
  engine's own sums of gradients are then ``+`` on Tensors, recorded too.

A pass delivers gradients either into the leaves' ``.grad`` (``backward``) or back to the
caller for chosen tensors (``grad``; see :mod:`.targets` for how the walk is cut down to what
those need). A leaf's ``.grad`` is stored when the walk ends, or, when some leaf has a
post-accumulate hook, as soon as the last node that feeds it has run.
"""
from __future__ import annotations

import heapq
from itertools import count

import numpy as np

from ..tensor import MODIFICATIONS, Tensor, wrap
from . import anomaly
from .grad_mode import GRAD_MODE
from .hooks import post_hooks_active, run_tensor_hooks
from .op import RELEASED, run_on_device

__all__ = ["run_backward", "retain_grad"]

_tiebreak = count()


def retain_grad(tensor):
    """Keep ``.grad`` for this non-leaf tensor too after backward (a no-op on a leaf)."""
    if tensor.grad_fn is not None:
        tensor.retains_grad = True
        node = tensor.grad_fn
        node.retains_outputs = True
        if node.tensor_hooks is None:
            node.tensor_hooks = {}   # the engine looks at a node's outputs only when not None
    return tensor


class _NeverOwned:
    """The ``owned`` set of a recorded pass: no gradient is ever added into in place."""

    __slots__ = ()

    def __contains__(self, key):
        return False

    def __bool__(self):
        return False

    def add(self, key):
        pass


_NEVER_OWNED = _NeverOwned()


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


def _own(g, given):
    """``g`` (an array, or a Tensor in a recorded pass) as memory no other result of this pass
    holds, contiguous and writable (users clip gradients in place): broadcast or strided views
    (the gradient of a sum) and memory already handed out (the add gate hands one array to
    both inputs; a reshape hands on a view of it) are copied."""
    recorded = isinstance(g, Tensor)
    a = g.array if recorded else g
    memory = id(a if a.base is None else a.base)
    if memory in given or not a.flags.c_contiguous or not getattr(a.flags, "writeable", True):
        g = g.clone() if recorded else g.copy()
        memory = id(g.array if recorded else g)
    given.add(memory)
    return g


def _add_into_grad(t, g):
    """``t.grad += g``, out of place (.grad arrays may alias each other), or set it."""
    if isinstance(g, Tensor):
        t.grad = g if t.grad is None else t.grad + g
        return
    if t.grad is None:
        t.grad = wrap(g, t.device)
    else:
        total = t.grad.array + g
        t.grad = wrap(np.asarray(total) if isinstance(total, np.generic) else total, t.device)


class _Leaves:
    """Gradients bound for leaves during one pass: stored into ``.grad``, or handed back."""

    def __init__(self, root_fns, targets, accumulate):
        self.grads = {}      # id(leaf) -> [leaf, grad]
        self.given = set()   # ids of the memory already handed out by this pass
        self.targets = targets
        self.accumulate = accumulate
        track = accumulate and root_fns and post_hooks_active()
        self.remaining = _count_leaf_edges(root_fns) if track else None

    def add(self, leaf, g, owned):
        if self.targets is not None and id(leaf) not in self.targets.leaves:
            return
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

    def finish(self, captured):
        """Store every pending leaf gradient, or (handing back) put it into ``captured``."""
        for leaf, g in self.grads.values():
            if self.accumulate:
                self.store(leaf, g)
            else:
                hooks = leaf.hooks
                if hooks is not None and hooks.pre:
                    g = run_tensor_hooks(hooks.pre, g, leaf.device)
                captured[id(leaf)] = g

    def store(self, leaf, g):
        """Run the leaf's hooks and add ``g`` into ``leaf.grad`` (in the leaf's dtype)."""
        hooks = leaf.hooks
        if hooks is not None and hooks.pre:
            g = run_tensor_hooks(hooks.pre, g, leaf.device)
        g = _own(g, self.given)
        if g.dtype != leaf.array.dtype:
            g = g.astype(leaf.array.dtype)
        _add_into_grad(leaf, g)
        if hooks is not None and hooks.post:
            for fn in list(hooks.post.values()):
                fn(leaf)


def run_backward(roots, grads, retain_graph, create_graph, targets=None, accumulate=True):
    """Backpropagate ``grads`` (one per root: arrays, or Tensors in a recorded pass) from the
    tensors ``roots``. ``targets`` (a :class:`.targets.Targets`, or None for every leaf) says
    where gradients go; with ``accumulate`` they are added into ``.grad``, otherwise returned:
    ``{id(leaf) or (node, output_nr): gradient}``."""
    prev = GRAD_MODE.enabled
    GRAD_MODE.enabled = create_graph   # a recorded pass records; an ordinary one never does
    try:
        with roots[0].device.context():   # the walk's own arrays go on the roots' GPU
            return _walk(roots, grads, retain_graph, create_graph, targets, accumulate)
    finally:
        GRAD_MODE.enabled = prev


def _walk(roots, grads, retain_graph, create_graph, targets, accumulate):
    root_fns = [r.grad_fn for r in roots if r.grad_fn is not None]
    leaves = _Leaves(root_fns, targets, accumulate)
    owned = _NEVER_OWNED if create_graph else set()   # ids of buffers the engine allocated
    captured = {}
    visit = None if targets is None else targets.visit
    pending, heap = _seed(roots, grads, leaves, owned, visit)
    plain = not create_graph and not anomaly.ANOMALY.enabled
    while heap:
        fn = heapq.heappop(heap)[2]
        gys = pending.pop(fn)
        edges = fn.next_edges
        if edges is RELEASED:
            _freed(fn)
        if owned:
            for g in gys:
                owned.discard(id(g))
        if fn.tensor_hooks is not None:
            _output_hooks(fn, gys)
        if visit is not None and fn in targets.node_slots:
            _capture(fn, gys, targets, captured, accumulate)
            if fn not in targets.run:
                continue   # only its outputs' gradients were wanted, nothing behind it
        if len(gys) > 1 and any(g is None for g in gys):
            gys = _zeros_for_missing(fn, gys, create_graph)
        if fn.saved_versions and fn.modifications != MODIFICATIONS[0]:
            fn.check_saved_versions()
        if plain:
            gxs = run_on_device(fn.backward, gys, fn.device, fn, "backward")
        else:
            gxs = _run_node(fn, gys, create_graph)
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
                if visit is not None and creator not in visit:
                    continue
                slots = pending[creator] = [None] * len(creator.output_refs)
                heapq.heappush(heap, (-creator.generation, next(_tiebreak), creator))
            _accumulate(slots, index, gx, owned)
        if not retain_graph:
            fn.release()
    leaves.finish(captured)
    return captured


def _seed(roots, grads, leaves, owned, visit):
    """The gradients of the roots, pending at their nodes (or handed to the leaves)."""
    pending, heap = {}, []
    for root, g in zip(roots, grads):
        fn = root.grad_fn
        if fn is None:
            leaves.add(root, g, owned)
            continue
        if visit is not None and fn not in visit:
            continue
        slots = pending.get(fn)
        if slots is None:
            slots = pending[fn] = [None] * len(fn.output_refs)
            heapq.heappush(heap, (-fn.generation, next(_tiebreak), fn))
        _accumulate(slots, root.output_nr, g, owned)
    return pending, heap


def _freed(fn):
    raise RuntimeError(
        f"backward through {type(fn).__name__} a second time: its saved arrays were freed by the "
        "first backward. Pass retain_graph=True to the first backward() if you need to "
        "backpropagate through the same graph twice.")


def _run_node(fn, gys, recorded):
    """One node's backward in a recorded pass (its saved state as Tensors joined to the graph,
    its gradients Tensors) and/or in anomaly mode (non-finite gradients raise, errors name
    where the node was made)."""
    if recorded:
        saved = fn.saved
        fn.saved = fn.saved_for_graph()
    try:
        gxs = run_on_device(fn.backward, gys, fn.device, fn, "backward")
    except Exception as exc:
        anomaly.note_creation(exc, fn)
        raise
    finally:
        if recorded:
            fn.saved = saved
    if type(gxs) is not tuple:
        gxs = (gxs,)
    if recorded:   # a raw array among Tensors (a constant gradient) is wrapped as one
        gxs = tuple(g if g is None or isinstance(g, Tensor)
                    else wrap(np.asarray(g) if isinstance(g, np.generic) else g, fn.device)
                    for g in gxs)
    anomaly.check_gradients(fn, gxs)
    return gxs


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
                _add_into_grad(out, g.clone() if isinstance(g, Tensor) else g.copy())


def _capture(fn, gys, targets, captured, accumulate):
    """The gradients of fn's outputs that are targets: into their ``.grad`` (``backward(inputs=)``)
    or handed back (``grad``)."""
    for nr, tensor in targets.node_slots[fn]:
        g = gys[nr]
        if g is None:
            continue
        if accumulate:
            _add_into_grad(tensor, g.clone() if isinstance(g, Tensor) else g.copy())
        else:
            captured[(fn, nr)] = g


def _zeros_for_missing(fn, gys, recorded):
    """A multi-output node whose outputs got no gradient gets zeros for them."""
    filled = list(gys)
    dev = fn.out_device or fn.device
    for i, g in enumerate(filled):
        if g is None:
            shape, dtype = fn.output_meta[i]
            filled[i] = dev.xp.zeros(shape, dtype)
            if recorded:
                filled[i] = wrap(filled[i], dev)
    return filled


def _count_leaf_edges(root_fns):
    """{id(leaf): number of edges into it} over the nodes reachable from ``root_fns``."""
    counts, seen, stack = {}, set(root_fns), list(root_fns)
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
