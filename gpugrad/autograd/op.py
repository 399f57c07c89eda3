"""``Op``: one differentiable operation, and the graph node it leaves behind.

A call ``Mul()(x, y)`` runs ``forward`` on the raw arrays and, when grad mode is on and some
input requires a gradient, records the call as a node of the graph. The node keeps *edges*
to where each input's gradient must go (the input's own ``grad_fn``, or the leaf tensor
itself), what its backward needs, and only weak references to its outputs: the output tensors
own the graph, so dropping the loss frees it by reference counting alone.

**The saved-state contract**, one for every op, the built-in ones and those written with the
public :class:`gpugrad.autograd.Function` alike: ``forward`` keeps what ``backward`` needs with
``self.save_for_backward(a, b, ...)``, and ``backward`` reads it back from ``self.saved``;
hyper-parameters (an axis, a shape) are plain attributes. A saved array that is an input's or an
output's array is *that tensor's*: its version is recorded (the engine refuses to run
``backward`` if the tensor was modified in place since, see ``Tensor.data``), and when the
backward pass is itself recorded (``create_graph=True``) ``self.saved`` hands it back as that
tensor, joined to the graph, so the gradient's own gradient flows through it. Anything else
saved (a mask, indices) is a constant. A backward pass frees it all (``release``) unless told to
retain the graph.

How to write an op is in :mod:`gpugrad.functions`.
"""
from __future__ import annotations

import weakref

import numpy as np

from .. import backend
from ..tensor import MODIFICATIONS, Tensor, wrap
from .grad_mode import GRAD_MODE, set_grad_enabled

__all__ = ["Op", "RELEASED", "NODE_OBSERVERS", "run_on_device", "array_of", "rebase_history",
           "refresh_view"]

RELEASED = object()  # next_edges of a node whose saved state was freed by a backward pass
_NUMBERS = (int, float, bool, complex)   # operands that are constants, never tensors

#: Callables ``observer(node, inputs, outputs)`` run for every node recorded while this list is
#: not empty (anomaly mode notes where each node was made, ``gpugrad.viz`` keeps values). Empty,
#: as it is unless one of those is on, recording pays one truth test for it.
NODE_OBSERVERS = []


def array_of(value):
    """The raw array of a Tensor (anything else as it is): for what a backward formula computes
    without a gradient (masks, indices, counts), whether it was handed arrays or Tensors."""
    return value.array if isinstance(value, Tensor) else value


class Op:
    """One differentiable operation: ``forward`` on raw arrays, ``backward`` on gradients.

    Subclasses implement ``forward(*arrays) -> array | tuple`` and
    ``backward(*grad_outputs) -> grad | tuple`` (one entry per input, ``None`` where
    ``self.needs_input_grad[i]`` is false or the input is not a tensor), written once for
    arrays and Tensors (see :mod:`gpugrad.functions`). Non-tensor operands (Python scalars) are
    passed to ``forward`` as they are and get no gradient. Save only what backward needs
    (sigmoid keeps its output, not its input).

    Call an instance on tensors: ``Mul()(a, b)``; parameters such as an axis go to ``__init__``.

    Node state read by the engine: ``generation`` (1 + the largest generation of its inputs'
    nodes), ``next_edges`` (per input: None, a leaf Tensor, or ``(node, output_nr)``),
    ``output_refs`` (weak references to the outputs), ``device``, ``saved_versions``,
    ``modifications``, ``retains_outputs`` (some output asked to keep its gradient) and
    ``tensor_hooks`` (not None when an output has hooks or keeps its gradient).
    """

    generation = 0
    needs_input_grad = ()
    saved = ()
    saved_versions = ()   # ((slot in saved, input Tensor or output index, version), ...)
    modifications = 0     # tensor.MODIFICATIONS when saved_versions was recorded
    next_edges = None
    output_refs = None
    output_meta = None    # ((shape, dtype), ...) of each output, for nodes with several
    device = None
    retains_outputs = False
    tensor_hooks = None   # {output_nr: {key: fn}}: hooks registered on non-leaf outputs
    out_device = None     # set by ops whose output lives elsewhere than their inputs (ToDevice)

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    def save_for_backward(self, *values):
        """Keep ``values`` (arrays, None allowed) for ``backward``, which reads ``self.saved``."""
        self.saved = values

    def __call__(self, *inputs):
        dev = None
        needs = []
        arrays = []
        for x in inputs:
            if not isinstance(x, Tensor):
                if type(x) in _NUMBERS or not backend.is_array(x):
                    needs.append(False)   # a Python number (or other constant) operand
                    arrays.append(x)
                    continue
                x = Tensor(x)  # a raw array operand is a constant on its own device
            if dev is None:
                dev = x.device
            elif x.device is not dev:
                raise RuntimeError(
                    f"{type(self).__name__}: expected all tensors on the same device, "
                    f"got {dev} and {x.device}")
            needs.append(x.requires_grad)
            arrays.append(x.array)
        if dev is None:
            raise TypeError(f"{type(self).__name__}: needs at least one Tensor operand, got "
                            + ", ".join(type(x).__name__ for x in inputs))
        record = True in needs and GRAD_MODE.enabled
        # forward() may consult needs_input_grad to save only what backward will use
        self.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        ys = run_on_device(self.forward, arrays, dev, self, "forward")
        if type(ys) is tuple:
            outs = self._wrap_outputs(ys, dev, record)
        else:   # one output, the common case, inline
            odev = self.out_device or dev
            if type(ys) is not np.ndarray and odev.type == "cpu":
                ys = self._as_array(ys)   # NumPy turns 0-d results into scalars
            outs = (wrap(ys, odev, record),)
        if record:
            self._connect(inputs, needs, outs, dev)
        elif self.saved:
            self.saved = ()   # nothing will run backward: free what forward kept at once
        return outs if type(ys) is tuple else outs[0]

    def apply(self, *values):
        """This op inside a backward formula: on raw arrays (an ordinary backward pass) just its
        ``forward``, nothing recorded and no Tensor made; when some value is a Tensor (a
        recorded backward pass) a call that records a node, so the formula is differentiable."""
        for v in values:
            if isinstance(v, Tensor):
                return self(*values)
        self.needs_input_grad = (False,) * len(values)
        return self.forward(*values)

    def _wrap_outputs(self, ys, dev, record):
        odev = self.out_device or dev
        return tuple(wrap(self._as_array(y) if isinstance(y, np.generic) else y, odev, record)
                     for y in ys)

    def _as_array(self, y):
        """A 0-d array for the NumPy scalar ``y`` that forward returned, which also replaces
        ``y`` where forward saved it: a saved output stays that output (see saved_for_graph)."""
        array = np.asarray(y)
        if self.saved:
            self.saved = tuple(array if s is y else s for s in self.saved)
        return array

    def _connect(self, inputs, needs, outs, dev):
        """Make this call a node of the graph: edges to the inputs, weak refs to the outputs."""
        gen = 0
        edges = []
        for x, need in zip(inputs, needs):
            if need:
                creator = x.grad_fn
                if creator is None:
                    edges.append(x)
                else:
                    edges.append((creator, x.output_nr))
                    if creator.generation > gen:
                        gen = creator.generation
            else:
                edges.append(None)
        self.generation = gen + 1
        self.next_edges = tuple(edges)
        self.device = dev
        if len(outs) == 1:
            out = outs[0]
            out.grad_fn = self
            self.output_refs = (weakref.ref(out),)
        else:
            for i, out in enumerate(outs):
                out.grad_fn = self
                out.output_nr = i
            self.output_refs = tuple(map(weakref.ref, outs))
            self.output_meta = tuple((o.array.shape, o.array.dtype) for o in outs)
        if self.saved:
            self._record_versions(inputs, outs)
        if NODE_OBSERVERS:
            for observe in tuple(NODE_OBSERVERS):
                observe(self, inputs, outs)

    def _record_versions(self, inputs, outs):
        """Note which saved arrays are an input's or an output's, and that tensor's version."""
        record = []
        for k, s in enumerate(self.saved):
            if s is None:
                continue
            for x in inputs:
                if isinstance(x, Tensor) and x.array is s:
                    record.append((k, x, x._version))
                    break
            else:
                for i, out in enumerate(outs):
                    if out.array is s:
                        record.append((k, i, out._version))
                        break
        if record:
            self.saved_versions = record
            self.modifications = MODIFICATIONS[0]

    def check_saved_versions(self):
        """Raise if a tensor whose array this node saved was modified in place since."""
        for _, who, version in self.saved_versions:
            t = self.output_refs[who]() if type(who) is int else who
            if t is not None and t._version != version:
                what = f"output {who}" if type(who) is int else "an input"
                raise RuntimeError(
                    f"backward through {type(self).__name__}: {what} of shape {t.shape} that it saved "
                    f"was modified in place after the forward pass, last by {t.modified_by()} "
                    f"(version {version} then, {t._version} now). Modify a copy instead "
                    "(t = t.clone()), or an in-place op's out-of-place twin (t = t + u for "
                    "t += u); read values with .numpy() or .array, which do not count as writes.")

    def adopt_output(self, out, t):
        """Make ``t`` this node's output in place of ``out`` (which holds the same values), as
        an in-place op or a view made again does. If the node saved ``out``'s array, that
        stays saved, with ``out`` itself (no longer reachable from outside) standing for it:
        writes into ``t`` later cannot change it."""
        nr = out.output_nr
        refs = list(self.output_refs)
        refs[nr] = weakref.ref(t)
        self.output_refs = tuple(refs)
        t.grad_fn, t.output_nr, t.requires_grad = self, nr, True
        if self.saved_versions:
            self.saved_versions = [(k, out, version) if type(who) is int and who == nr
                                   else (k, who, version)
                                   for k, who, version in self.saved_versions]

    def saved_for_graph(self):
        """``self.saved`` as a recorded backward sees it: a saved input is that input Tensor, a
        saved output that output Tensor (rebuilt, with this node as its ``grad_fn``, if it was
        dropped), anything else the array itself (a constant)."""
        values = list(self.saved)
        for k, who, _ in self.saved_versions:
            if type(who) is int:
                out = self.output_refs[who]()
                if out is None:
                    out = wrap(values[k], self.out_device or self.device, True)
                    out.grad_fn, out.output_nr = self, who
                who = out
            values[k] = who
        return tuple(values)

    def graft(self, i, op, output):
        """Record ``op`` (its saved state already set) as if it had been applied to input ``i``
        of this node and had produced ``output``: the Tensor of that output, joined to the graph
        where input ``i``'s gradient goes. A fused op's recorded backward uses it to bring back,
        as a node, an intermediate its forward computed (softmax cross-entropy's probabilities)."""
        edge = self.next_edges[i]
        if edge is None:
            return wrap(output, self.device)
        if isinstance(edge, Tensor):
            stand_in = edge
        else:
            stand_in = wrap(None, self.device, True)
            stand_in.grad_fn, stand_in.output_nr = edge
        out = wrap(output, self.device, True)
        op.needs_input_grad = (True,)
        op._connect((stand_in,), (True,), (out,), self.device)
        return out

    def release(self):
        """Free what backward needed; a second backward through this node then raises."""
        generation, outputs = self.generation, self.output_refs
        self.__dict__.clear()
        self.generation, self.output_refs, self.next_edges = generation, outputs, RELEASED


def rebase_history(t, out):
    """After an in-place op recorded in the graph: ``t``'s array now holds the values of
    ``out``, a fresh output of the node that computed them out of place from ``t``'s old value,
    so ``t`` takes ``out``'s place in the graph, its old history behind that node (PyTorch's
    rebase_history). The views made of ``t``'s memory before take their history from ``t``
    again (:func:`refresh_view`)."""
    out.grad_fn.adopt_output(out, t)
    t.new_history()
    for view in t.views_of_memory():
        source = view.view_source()
        if source[0] is t and source[2] != t.history_count():
            refresh_view(view)


def refresh_view(view):
    """A view whose base got a new history in place since the view was made (its values are
    the base's new ones, its ``grad_fn`` still the old): made again from the base, as PyTorch
    regenerates a view's grad_fn, so what is computed from it now differentiates through the
    in-place op."""
    base, replay, _ = view.view_source()
    with set_grad_enabled(True):
        fresh = replay(base)
    if fresh.grad_fn is not None:
        fresh.grad_fn.adopt_output(fresh, view)
    view.set_view_source(base, replay)


def run_on_device(method, args, dev, fn, phase):
    """Call a node's forward/backward on its device, turning device out-of-memory into an
    error that says what was asked for (see backend.out_of_memory_error)."""
    try:
        if dev is None or dev.index is None:   # the CPU
            return method(*args)
        with dev.context():   # the node's GPU is made current unless it is already
            return method(*args)
    except Exception as exc:
        if backend.is_out_of_memory(exc):
            raise backend.out_of_memory_error(exc, f"{type(fn).__name__} {phase}", dev) from exc
        raise
