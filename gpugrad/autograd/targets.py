"""Targets of a backward pass that does not go to every leaf: ``grad(outputs, inputs)`` and
``backward(inputs=...)``, and which nodes the walk must visit to reach them.

A target is a leaf (its gradient is what reaches it) or a non-leaf tensor (the gradient at its
slot of the node that made it, seen when that node is popped, after the tensor's hooks). As in
PyTorch, only the nodes on some path from the outputs to a target run: the rest of the graph
is neither executed nor freed.
"""
from __future__ import annotations

from ..tensor import Tensor
from .op import RELEASED

__all__ = ["Targets"]


class Targets:
    """``leaves``: {id(leaf): leaf}; ``node_slots``: {node: [(output_nr, tensor)]};
    ``run``: the nodes whose backward must run; ``visit``: those and the nodes popped only for
    the gradients of their outputs."""

    def __init__(self, tensors, root_fns):
        self.leaves = {}
        self.node_slots = {}
        for t in tensors:
            if t.grad_fn is None:
                self.leaves[id(t)] = t
            else:
                self.node_slots.setdefault(t.grad_fn, []).append((t.output_nr, t))
        self.run = self._nodes_leading_to_targets(root_fns)
        self.visit = self.run | set(self.node_slots)

    def _nodes_leading_to_targets(self, root_fns):
        """The nodes with an edge into a target, or into a node that leads to one
        (iteratively, children before parents)."""
        wanted_slots = {(node, nr) for node, slots in self.node_slots.items() for nr, _ in slots}
        leads = {}
        stack = [(fn, False) for fn in root_fns]
        while stack:
            fn, expanded = stack.pop()
            if fn in leads and not expanded:
                continue
            edges = fn.next_edges
            if edges is RELEASED:
                leads[fn] = True   # let the walk reach it and say it was freed
                continue
            children = [e[0] for e in edges if e is not None and not isinstance(e, Tensor)]
            if not expanded:
                leads[fn] = False
                stack.append((fn, True))
                stack.extend((c, False) for c in children if c not in leads)
                continue
            leads[fn] = any(
                e is not None and (id(e) in self.leaves if isinstance(e, Tensor)
                                   else e in wanted_slots or leads.get(e[0], False))
                for e in edges)
        return {fn for fn, lead in leads.items() if lead}
