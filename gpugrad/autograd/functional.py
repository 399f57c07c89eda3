"""Derivatives of a whole function, as ``torch.autograd.functional`` gives them, for small inputs:
``jacobian``, ``hessian``, ``vjp``, ``jvp``, ``vhp``, ``hvp``.

``func`` takes Tensors (one per input) and returns a Tensor or a tuple of Tensors; ``inputs``
is a Tensor or a tuple of them. The inputs are used as fresh leaves (or, with
``create_graph=True``, as they are, so the result can be differentiated through them too); the
results are constants unless ``create_graph=True``. An output that does not depend on an input
gives zeros for it, or raises with ``strict=True``.

Everything is built on :func:`gpugrad.autograd.grad`: a Jacobian is one backward pass per
output element, ``jvp`` is the double-backward trick (the gradient of ``uᵀJ`` with respect to a
dummy ``u``), a Hessian is the Jacobian of the gradient. Each costs a few backward passes per
output element, so these are meant for small problems; ``vhp``/``hvp`` cost two passes in all.
"""
from __future__ import annotations

from .. import backend
from ..tensor import Tensor, wrap
from .api import grad
from .grad_mode import enable_grad
from .op import Op

__all__ = ["jacobian", "hessian", "vjp", "jvp", "vhp", "hvp"]


def _tuple(value, what, name):
    """(tuple of Tensors, whether the caller gave a tuple)."""
    if isinstance(value, Tensor):
        return (value,), False
    if isinstance(value, (tuple, list)) and all(isinstance(t, Tensor) for t in value):
        return tuple(value), True
    raise TypeError(f"{name}: {what} must be a Tensor or a tuple of Tensors, got "
                    f"{type(value).__name__}")


def _leaves(inputs, create_graph):
    """The inputs as the graph's starting points: themselves when a graph is kept and they
    require grad, else fresh leaves sharing their arrays."""
    return tuple(x if create_graph and x.requires_grad else wrap(x.array, x.device, True)
                 for x in inputs)


def _zeros(like):
    return wrap(like.device.xp.zeros(like.shape, like.array.dtype), like.device)


def _finish(t, create_graph):
    return t if create_graph else wrap(t.array, t.device)


def _call(func, xs, name):
    with enable_grad():
        out = func(*xs)
    return _tuple(out, "the function's output", name)


def _vector(v, like, name, what):
    """``v`` checked against the tensors ``like`` (one-element ones may go without)."""
    if v is None:
        if any(t.numel() != 1 for t in like):
            raise RuntimeError(f"{name}: v may be omitted only when every {what} has one element")
        return tuple(wrap(t.device.xp.ones_like(t.array), t.device) for t in like)
    vs, _ = _tuple(v, "v", name)
    if len(vs) != len(like) or any(a.shape != b.shape for a, b in zip(vs, like)):
        raise ValueError(f"{name}: v has shapes {[t.shape for t in vs]}, the {what}s have "
                         f"{[t.shape for t in like]}")
    return vs


def _grads(outputs, xs, vs, create_graph, strict, name):
    """d<outputs, vs>/dxs, with zeros (or, ``strict``, an error) for an unused input."""
    live = [(o, v) for o, v in zip(outputs, vs) if o.requires_grad]
    found = (grad([o for o, _ in live], xs, [v for _, v in live], retain_graph=True,
                  create_graph=create_graph, allow_unused=True) if live else (None,) * len(xs))
    result = []
    for i, (g, x) in enumerate(zip(found, xs)):
        if g is None:
            if strict:
                raise RuntimeError(f"{name}: the output is independent of input {i}, which "
                                   "strict=True does not allow")
            g = _zeros(x)
        result.append(g)
    return tuple(result)


def _shaped(values, tuple_given):
    return tuple(values) if tuple_given else values[0]


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), vᵀ J)``: the vector-Jacobian product, one backward pass."""
    xs, tuple_in = _tuple(inputs, "inputs", "vjp")
    xs = _leaves(xs, create_graph)
    outs, tuple_out = _call(func, xs, "vjp")
    vs = _vector(v, outs, "vjp", "output")
    g = _grads(outs, xs, vs, create_graph, strict, "vjp")
    return (_shaped([_finish(o, create_graph) for o in outs], tuple_out),
            _shaped([_finish(t, create_graph) for t in g], tuple_in))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)``: the Jacobian-vector product, by the double-backward trick."""
    xs, tuple_in = _tuple(inputs, "inputs", "jvp")
    xs = _leaves(xs, create_graph)
    vs = _vector(v, xs, "jvp", "input")
    outs, tuple_out = _call(func, xs, "jvp")
    dummies = tuple(wrap(o.device.xp.zeros_like(o.array), o.device, True) for o in outs)
    with enable_grad():
        ujs = _grads(outs, xs, dummies, True, strict, "jvp")   # uᵀJ, linear in u
        live = [(g, v) for g, v in zip(ujs, vs) if g.requires_grad]
        if live:
            jv = grad([g for g, _ in live], dummies, [v for _, v in live],
                      create_graph=create_graph, allow_unused=True)
        else:
            jv = (None,) * len(outs)
    jv = [_zeros(o) if g is None else g for g, o in zip(jv, outs)]
    return (_shaped([_finish(o, create_graph) for o in outs], tuple_out),
            _shaped([_finish(t, create_graph) for t in jv], tuple_out))


class _StackRows(Op):
    """Rows of one shape stacked along a new first axis: d row_k = dY[k]. (Assembles a Jacobian
    that ``create_graph=True`` keeps differentiable.)"""

    def forward(self, *rows):
        return backend.array_module(rows[0]).stack(rows)

    def backward(self, g):
        return tuple(g[k] for k in range(len(self.needs_input_grad)))


def _jacobian_of(outs, xs, create_graph, strict, name):
    """J[i][j] of shape outs[i].shape + xs[j].shape, one backward pass per output element."""
    blocks = []
    for o in outs:
        rows = [[] for _ in xs]
        flat_size = o.numel()
        for k in range(flat_size):
            onehot = o.device.xp.zeros(flat_size, o.array.dtype)
            onehot[k] = 1
            seed = wrap(onehot.reshape(o.shape), o.device)
            for j, g in enumerate(_grads((o,), xs, (seed,), create_graph, strict, name)):
                rows[j].append(g)
        block = []
        for j, x in enumerate(xs):
            shape = o.shape + x.shape
            if not rows[j]:
                block.append(wrap(x.device.xp.zeros(shape, x.array.dtype), x.device))
            elif create_graph:
                block.append(_StackRows()(*rows[j]).reshape(shape))
            else:
                block.append(wrap(x.device.xp.stack([r.array for r in rows[j]]).reshape(shape),
                                  x.device))
        blocks.append(tuple(block))
    return blocks


def jacobian(func, inputs, create_graph=False, strict=False):
    """The Jacobian of ``func`` at ``inputs``: for one output and one input a Tensor of shape
    ``output.shape + input.shape``; a tuple over inputs and/or outputs where those are tuples."""
    xs, tuple_in = _tuple(inputs, "inputs", "jacobian")
    xs = _leaves(xs, create_graph)
    outs, tuple_out = _call(func, xs, "jacobian")
    blocks = _jacobian_of(outs, xs, create_graph, strict, "jacobian")
    return _shaped([_shaped(list(b), tuple_in) for b in blocks], tuple_out)


def _scalar(func, name):
    def checked(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError(f"{name}: the function must return a single-element Tensor, got "
                               + (f"shape {out.shape}" if isinstance(out, Tensor)
                                  else type(out).__name__))
        return out
    return checked


def hessian(func, inputs, create_graph=False, strict=False):
    """The Hessian of the scalar ``func`` at ``inputs``: the Jacobian of its gradient. For one
    input a Tensor of shape ``input.shape * 2``; for a tuple, H[i][j] blocks."""
    xs, tuple_in = _tuple(inputs, "inputs", "hessian")
    func = _scalar(func, "hessian")

    def gradient(*ys):
        return _grads((func(*ys),), ys, (None,), True, strict, "hessian")

    xs = _leaves(xs, create_graph)
    with enable_grad():
        gs = gradient(*xs)
    blocks = _jacobian_of(gs, xs, create_graph, strict, "hessian")
    return _shaped([_shaped(list(b), tuple_in) for b in blocks], tuple_in)


def _gradient_graph(func, inputs, v, create_graph, strict, name):
    """What vhp and hvp start from: (the inputs' leaves, whether a tuple was given, v, the
    output, its gradient recorded as a graph)."""
    xs, tuple_in = _tuple(inputs, "inputs", name)
    xs = _leaves(xs, create_graph)
    vs = _vector(v, xs, name, "input")
    out, _ = _call(_scalar(func, name), xs, name)
    with enable_grad():
        gs = _grads(out, xs, (None,), True, strict, name)
    return xs, tuple_in, vs, out[0], gs


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), vᵀ H)`` of the scalar ``func``: two backward passes."""
    xs, tuple_in, vs, out, gs = _gradient_graph(func, inputs, v, create_graph, strict, "vhp")
    result = _grads(gs, xs, vs, create_graph, strict, "vhp")
    return _finish(out, create_graph), _shaped([_finish(t, create_graph) for t in result],
                                               tuple_in)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` of the scalar ``func``, by the double-backward trick (as PyTorch;
    equal to ``vhp`` for a twice-differentiable function, whose Hessian is symmetric)."""
    xs, tuple_in, vs, out, gs = _gradient_graph(func, inputs, v, create_graph, strict, "hvp")
    with enable_grad():
        dummies = tuple(wrap(x.device.xp.zeros_like(x.array), x.device, True) for x in xs)
        ugs = _grads(gs, xs, dummies, True, strict, "hvp")        # (uᵀH), linear in u
    result = _grads(ugs, dummies, vs, create_graph, strict, "hvp")
    return _finish(out, create_graph), _shaped([_finish(t, create_graph) for t in result],
                                               tuple_in)
