"""The notes' picture of a computation: ops as nodes, tensors as edges, each edge with its forward
value above it (green) and its gradient below it (red), as CS231n draws them.

    x = gg.tensor(-2.0, requires_grad=True); y = gg.tensor(5.0, requires_grad=True)
    z = gg.tensor(-4.0, requires_grad=True)
    f = (x + y) * z
    gg.viz.draw(f, names=locals())      # x -2.00 / -4.00, y 5.00 / -4.00, z -4.00 / 3.00, ...

* ``draw(tensor, values=True, grads=True, names=None, precision=2, max_elements=6)``: the graph
  behind ``tensor``. Gradients are those of ``tensor`` (of its sum, when it has several
  elements), computed by a backward pass of their own that keeps the graph and touches no
  ``.grad``. A tensor of at most ``max_elements`` shows its values; a larger one its shape,
  dtype and norm. ``names`` maps names to tensors (``names=locals()`` works) to label edges.
  An intermediate value the graph did not keep (nothing saved it, and it was dropped) shows
  its shape only: build the graph inside ``with gg.viz.keep_values():`` to keep every value and
  every constant operand (then labelled into its op: ``+1``, ``*-1``, ``1/x``).
* ``draw(model, *example_inputs, depth=None)``: one node per module, the containers above as
  clusters; ``depth=k`` folds every module below nesting level k into its ancestor (``depth=0``:
  the whole model as one node). Edges carry the shapes flowing between modules.

Returns a ``graphviz.Digraph`` (``.render(format="png")``, shown inline in Jupyter) where the
``dot`` program is installed, and the DOT text where it is not. Needs the ``graphviz`` package:
``pip install "gpugrad[viz]"``.
"""
from __future__ import annotations

import html
import shutil

import numpy as np

from . import backend
from .autograd import enable_grad
from .autograd.engine import run_backward
from .autograd.op import NODE_OBSERVERS, RELEASED
from .autograd.targets import Targets
from .nn import Module
from .tensor import Tensor, wrap

__all__ = ["draw", "keep_values"]

VALUE_COLOUR, GRAD_COLOUR = "#2e7d32", "#c62828"
_SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**", "MatMul": "dot",
            "Neg": "*-1", "Maximum": "max", "Minimum": "min"}
_COMMUTATIVE = {"Add", "Mul", "Maximum", "Minimum"}


def _keep(node, inputs, outputs):
    """Node observer of keep_values(): the outputs' arrays and the constant operands."""
    node.kept_values = tuple(o.array for o in outputs)
    node.kept_constants = {i: x for i, x in enumerate(inputs)
                           if not isinstance(x, Tensor) and not backend.is_array(x)}


class keep_values:
    """``with gg.viz.keep_values(): ...``: every node recorded inside keeps its outputs' values
    and its constant operands, for ``draw`` (and the memory they take)."""

    def __enter__(self):
        NODE_OBSERVERS.append(_keep)
        return self

    def __exit__(self, *exc):
        NODE_OBSERVERS.remove(_keep)
        return False


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise ImportError('gg.viz.draw needs the graphviz package: pip install "gpugrad[viz]"') from None
    return graphviz


def _finish(graph):
    return graph if shutil.which("dot") else graph.source


def draw(target, *example_inputs, values=True, grads=True, names=None, precision=2,
         max_elements=6, depth=None):
    """The picture of the graph behind a tensor, or of a model's modules (see the module)."""
    if isinstance(target, Module):
        return _finish(_draw_model(target, example_inputs, depth))
    if not isinstance(target, Tensor):
        raise TypeError(f"draw: expected a Tensor or a Module, got {type(target).__name__}")
    if example_inputs:
        raise TypeError("draw: example inputs go with a Module; a Tensor is drawn as it is")
    return _finish(_TensorPicture(target, names, precision, max_elements).build(values, grads))


# ------------------------------------------------------------------ labels

def _format(array, precision, max_elements):
    a = backend.to_numpy(array)
    if a.size <= max_elements:
        if a.dtype.kind in "iub":
            return html.escape(np.array2string(a, separator=", "))
        text = np.array2string(np.asarray(a, dtype=np.float64), separator=", ",
                               formatter={"float_kind": lambda v: f"{v:.{precision}f}"})
        return "<br/>".join(html.escape(line.strip()) for line in text.splitlines())
    norm = float(np.linalg.norm(a.astype(np.float64))) if a.dtype.kind == "f" else None
    shape = f"{tuple(a.shape)} {a.dtype}"
    return html.escape(shape if norm is None else f"{shape} ‖·‖={norm:.{precision}g}")


def _edge_label(name, value, grad, precision, max_elements, meta):
    rows = []
    if name:
        rows.append(f"<b>{html.escape(name)}</b>")
    if value is not None:
        rows.append(f'<font color="{VALUE_COLOUR}">{_format(value, precision, max_elements)}</font>')
    elif meta is not None:
        rows.append(f'<font color="gray">{html.escape(str(meta[0]))} {meta[1]}</font>')
    if grad is not None:
        rows.append(f'<font color="{GRAD_COLOUR}">{_format(grad, precision, max_elements)}</font>')
    return "<" + "<br/>".join(rows) + ">" if rows else None


def _op_label(node):
    name = type(node).__name__
    symbol = _SYMBOLS.get(name, name.lower())
    constants = getattr(node, "kept_constants", None)
    if not constants or len(node.next_edges) != 2:
        return symbol
    (i, c), = constants.items()
    if name in _COMMUTATIVE or i == 1:
        return f"{symbol}{c:g}" if isinstance(c, (int, float)) else symbol
    return f"{c:g}{symbol}x" if isinstance(c, (int, float)) else symbol


# ------------------------------------------------------------------ a tensor's graph

class _TensorPicture:
    def __init__(self, root, names, precision, max_elements):
        self.root, self.precision, self.max_elements = root, precision, max_elements
        self.names = {}
        for name, t in (names or {}).items():
            if isinstance(t, Tensor) and not name.startswith("_"):
                self.names[self._key(t)] = name
        self.nodes, self.leaves = self._collect()

    @staticmethod
    def _key(t):
        return id(t) if t.grad_fn is None else (t.grad_fn, t.output_nr)

    def _collect(self):
        nodes, leaves, stack = [], {}, [self.root.grad_fn] if self.root.grad_fn else []
        seen = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.next_edges is RELEASED:
                raise ValueError("draw: the graph was freed by a backward pass; draw before it, "
                                 "or pass retain_graph=True to backward()")
            nodes.append(node)
            for edge in node.next_edges:
                if isinstance(edge, Tensor):
                    leaves[id(edge)] = edge
                elif edge is not None:
                    stack.append(edge[0])
        if self.root.grad_fn is None:
            leaves[id(self.root)] = self.root
        return nodes, leaves

    def _value(self, key):
        """The forward value of a leaf (by id) or of a node's output slot, where it is kept."""
        if not isinstance(key, tuple):
            return self.leaves[key].array
        node, nr = key
        out = node.output_refs[nr]()
        if out is not None:
            return out.array
        kept = getattr(node, "kept_values", None)
        if kept is not None:
            return kept[nr]
        for k, who, _ in node.saved_versions:
            if type(who) is int and who == nr:
                return node.saved[k]
        for consumer in self.nodes:
            for k, who, _ in consumer.saved_versions:
                if isinstance(who, Tensor) and who.grad_fn is node and who.output_nr == nr:
                    return consumer.saved[k]
        return None

    def _gradients(self):
        """{key: gradient} of the root (of its sum) for every leaf and node output, by a pass
        that keeps the graph and fills no .grad."""
        stand_ins = list(self.leaves.values())
        for node in self.nodes:
            for nr in range(len(node.output_refs)):
                t = node.output_refs[nr]()
                if t is None:
                    t = wrap(None, node.device, True)
                    t.grad_fn, t.output_nr = node, nr
                stand_ins.append(t)
        root = self.root
        seed = root.device.xp.ones_like(root.array)
        targets = Targets(stand_ins, [root.grad_fn] if root.grad_fn else [])
        return run_backward([root], [seed], True, False, targets, accumulate=False)

    def build(self, values, grads):
        graphviz = _graphviz()
        g = graphviz.Digraph("gpugrad", graph_attr={"rankdir": "LR"},
                             node_attr={"fontname": "Helvetica"}, edge_attr={"fontname": "Helvetica"})
        found = self._gradients() if grads and self.root.requires_grad else {}
        for node in self.nodes:
            g.node(f"op{id(node)}", label=_op_label(node), shape="circle", style="filled",
                   fillcolor="#eeeeee")
        for key, leaf in self.leaves.items():
            g.node(f"t{key}", label=html.escape(self.names.get(key, "")) or " ", shape="plaintext")

        def label(key, meta):
            return _edge_label(self.names.get(key), self._value(key) if values else None,
                               found.get(key), self.precision, self.max_elements, meta)

        for node in self.nodes:
            for edge in node.next_edges:
                if edge is None:
                    continue
                key = id(edge) if isinstance(edge, Tensor) else edge
                tail = f"t{key}" if isinstance(edge, Tensor) else f"op{id(edge[0])}"
                g.edge(tail, f"op{id(node)}", label=label(key, self._meta(key, found.get(key))))
        root_key = self._key(self.root)
        g.node("output", label=" ", shape="point")
        tail = f"op{id(self.root.grad_fn)}" if self.root.grad_fn else f"t{root_key}"
        g.edge(tail, "output", label=label(root_key, (self.root.shape, self.root.dtype)))
        return g

    def _meta(self, key, grad):
        """(shape, dtype) of a tensor whose value may be gone (its gradient has them too)."""
        if not isinstance(key, tuple):
            t = self.leaves[key]
            return t.shape, t.dtype
        node, nr = key
        if node.output_meta is not None:
            return node.output_meta[nr]
        if grad is not None:
            return tuple(grad.shape), grad.dtype
        return "(shape unknown)", ""


# ------------------------------------------------------------------ a model's modules

def _draw_model(model, inputs, depth):
    if not inputs:
        raise TypeError("draw(model, *example_inputs): give the model an example input")
    path, where, fed = [], {}, []
    example = {id(x): i for i, x in enumerate(inputs) if isinstance(x, Tensor)}

    def note_module(node, node_inputs, outputs):
        where[node] = tuple(path)
        for x in node_inputs:
            if id(x) in example:   # (an input needing no gradient has no edge to follow)
                fed.append((example[id(x)], node, (x.shape, x.dtype)))

    def leave(module, args, output):
        path.pop()

    handles = []
    for name, m in model.named_modules():
        if name:
            handles.append(m.register_forward_pre_hook(lambda mod, args, n=name: path.append(n)))
            handles.append(m.register_forward_hook(leave))
    NODE_OBSERVERS.append(note_module)
    try:
        with enable_grad(), keep_values():
            out = model(*inputs)
    finally:
        NODE_OBSERVERS.remove(note_module)
        for h in handles:
            h.remove()
    outs = out if isinstance(out, tuple) else (out,)
    return _ModelPicture(model, where, fed, inputs, depth).build(outs)


class _ModelPicture:
    def __init__(self, model, where, fed, inputs, depth):
        self.model, self.where, self.fed, self.inputs = model, where, fed, inputs
        self.depth = depth
        self.modules = {name: m for name, m in model.named_modules()}

    def group(self, node):
        """The module a node is drawn in: the innermost module that made it, cut at depth."""
        full = self.where.get(node, ())
        inner = full[-1] if full else ""
        if self.depth is None:
            return inner
        parts = inner.split(".") if inner else []
        return ".".join(parts[:self.depth])

    def _module_label(self, name):
        m = self.modules[name]
        extra = m.extra_repr()
        title = html.escape(f"{name}: {type(m).__name__}" if name else type(m).__name__)
        return f"<<b>{title}</b>" + (f"<br/>{html.escape(extra)}" if extra else "") + ">"

    def build(self, outs):
        graphviz = _graphviz()
        g = graphviz.Digraph("model", graph_attr={"rankdir": "TB"},
                             node_attr={"fontname": "Helvetica", "shape": "box",
                                        "style": "rounded,filled", "fillcolor": "#e3f2fd"},
                             edge_attr={"fontname": "Helvetica"})
        nodes, edges = self._walk(outs)
        groups = sorted({self.group(n) for n in nodes})
        self._clusters(g, groups)
        for i, x in enumerate(self.inputs):
            if isinstance(x, Tensor):
                g.node(f"input{i}", label=f"input {i}", shape="plaintext", style="")
        edges += [(f"input{i}", node, meta) for i, node, meta in self.fed]
        drawn = set()
        for tail_key, head, meta in edges:
            tail = tail_key if isinstance(tail_key, str) else f"m_{self.group(tail_key[0])}"
            head_name = f"m_{self.group(head)}"
            if tail == head_name or (tail, head_name, str(meta)) in drawn:
                continue
            drawn.add((tail, head_name, str(meta)))
            g.edge(tail, head_name, label=html.escape(f"{meta[0]} {meta[1]}"))
        for i, o in enumerate(outs):
            g.node(f"output{i}", label=f"output {i}", shape="plaintext", style="")
            if o.grad_fn is not None:
                g.edge(f"m_{self.group(o.grad_fn)}", f"output{i}",
                       label=html.escape(f"{o.shape} {o.dtype}"))
        return g

    def _walk(self, outs):
        """The nodes behind ``outs`` and the edges between them: (tail, head node, meta), the
        tail a node's output slot (parameters and other leaves stay inside their module)."""
        nodes, edges, seen = [], [], set()
        stack = [o.grad_fn for o in outs if o.grad_fn is not None]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            nodes.append(node)
            for edge in node.next_edges:
                if edge is not None and not isinstance(edge, Tensor):
                    producer, nr = edge
                    kept = producer.kept_values[nr]
                    edges.append((edge, node, (tuple(kept.shape), kept.dtype)))
                    stack.append(producer)
        return nodes, edges

    def _clusters(self, g, groups):
        """Each group a node, inside nested clusters for the modules that contain it."""
        def place(graph, prefix, members):
            here = [m for m in members if m == prefix]
            for m in here:
                graph.node(f"m_{m}", label=self._module_label(m))
            children = sorted({m[len(prefix) + 1 if prefix else 0:].split(".")[0]
                               for m in members if m != prefix})
            for child in children:
                sub = f"{prefix}.{child}" if prefix else child
                inner = [m for m in members if m == sub or m.startswith(sub + ".")]
                if inner == [sub]:
                    place(graph, sub, inner)
                    continue
                with graph.subgraph(name=f"cluster_{sub}") as c:
                    c.attr(label=f"{sub}: {type(self.modules[sub]).__name__}", style="dashed")
                    place(c, sub, inner)

        place(g, "", groups)
