"""``Function``: write an op of your own, with PyTorch's API.

    class Cube(gg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, gy):
            x, = ctx.saved_tensors
            return gy * 3 * x * x

    y = Cube.apply(x)

``forward`` gets the Tensor arguments as Tensors (and anything else as it is) and runs with
grad mode off; it returns a Tensor or a tuple of them. ``backward`` gets one gradient per output
and returns one per ``forward`` argument (None for non-tensors and inputs that need none).
Written with gpugrad ops, as here, the backward is itself differentiable: under
``create_graph=True`` it runs with grad mode on and ``ctx.saved_tensors`` hands back the saved
inputs and outputs joined to the graph, so gradients of any order work.

``ctx`` is the saved-state contract of every op (:mod:`.op`), with PyTorch's names:
``ctx.save_for_backward`` is the node's ``save_for_backward`` (same version checks, freed by the
same ``release``), ``ctx.saved_tensors`` its saved values as Tensors, ``ctx.needs_input_grad``
its ``needs_input_grad``; ``ctx.mark_non_differentiable(*outputs)`` makes outputs constants.
Other attributes set on ``ctx`` live until the backward pass frees the node.
"""
from __future__ import annotations

import weakref

from .. import backend
from ..tensor import Tensor, wrap
from .grad_mode import no_grad
from .op import RELEASED, Op

__all__ = ["Function", "FunctionCtx"]

_HOW = ("gpugrad.autograd.Function subclasses define forward(ctx, ...) and backward(ctx, ...) as "
        "@staticmethods and are called as {name}.apply(...), as in PyTorch; an op on raw arrays "
        "with forward(self, *arrays) subclasses gpugrad.autograd.Op")


class FunctionCtx:
    """The ``ctx`` of a :class:`Function`: a view of its graph node's saved state."""

    def __init__(self, node):
        self._node = weakref.ref(node)   # the node holds the ctx: no cycle

    def _the_node(self):
        node = self._node()
        if node is None:
            raise RuntimeError("this ctx's backward node no longer exists")
        return node

    def save_for_backward(self, *tensors):
        """Keep these tensors (or None) for ``backward``; read them with ``saved_tensors``."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward: argument {i} is a {type(t).__name__}; save "
                                "Tensors (or None) here, and other values as attributes of ctx")
        self._the_node().save_for_backward(*(None if t is None else t.array for t in tensors))

    @property
    def saved_tensors(self):
        node = self._the_node()
        if node.next_edges is RELEASED:
            raise RuntimeError("the saved tensors were freed by a backward pass; pass "
                               "retain_graph=True to it to keep them")
        dev = node.device
        return tuple(v if v is None or isinstance(v, Tensor) else wrap(v, dev)
                     for v in node.saved_for_graph())

    @property
    def needs_input_grad(self):
        return self._the_node().needs_input_grad

    def mark_non_differentiable(self, *outputs):
        """These outputs (Tensors ``forward`` returns) get no gradient: they do not require
        grad, and ``backward`` receives zeros for them."""
        self._the_node().non_differentiable = {id(t.array) for t in outputs}


class _FunctionNode(Op):
    """The graph node of one ``Function.apply`` call: runs the user's forward and backward."""

    non_differentiable = ()

    def __init__(self, function):
        self.function = function
        self.ctx = FunctionCtx(self)

    def forward(self, *arrays):
        dev = next(backend.device_of(a) for a in arrays if backend.is_array(a))
        self.inputs_meta = tuple((a.shape, a.dtype) if backend.is_array(a) else None
                                 for a in arrays)
        args = [wrap(a, dev) if backend.is_array(a) else a for a in arrays]
        with no_grad():
            out = self.function.forward(self.ctx, *args)
        outs = (out,) if isinstance(out, Tensor) else out
        name = self.function.__name__
        if not isinstance(outs, tuple) or not outs:
            raise TypeError(f"{name}.forward must return a Tensor or a tuple of Tensors, got "
                            f"{type(out).__name__}")
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                raise TypeError(f"{name}.forward returned a {type(o).__name__} as output {i}; "
                                "return Tensors")
            if o.device is not dev:
                raise RuntimeError(f"{name}.forward returned output {i} on {o.device}, its "
                                   f"inputs are on {dev}")
        self.single = isinstance(out, Tensor)
        return outs[0].array if self.single else tuple(o.array for o in outs)

    def backward(self, *gys):
        recorded = any(isinstance(g, Tensor) for g in gys)
        if not recorded:
            gys = tuple(None if g is None else wrap(g, self.out_device or self.device) for g in gys)
        result = self.function.backward(self.ctx, *gys)
        grads = result if isinstance(result, tuple) else (result,)
        return tuple(self._check_grad(i, g, recorded) for i, g in
                     enumerate(self._trim(grads)))

    def _trim(self, grads):
        n = len(self.inputs_meta)
        name = self.function.__name__
        if len(grads) < n or any(g is not None for g in grads[n:]):
            raise RuntimeError(f"{name}.backward returned {len(grads)} gradients; expected "
                               f"{n}, one per argument of forward (None where there is none)")
        return grads[:n]

    def _check_grad(self, i, g, recorded):
        if g is None or not self.needs_input_grad[i]:
            return None
        name = self.function.__name__
        meta = self.inputs_meta[i]
        if isinstance(g, Tensor):
            array = g.array
        elif backend.is_array(g):
            array, g = g, wrap(g, self.device)
        else:
            raise TypeError(f"{name}.backward returned a {type(g).__name__} as the gradient of "
                            f"argument {i}; return a Tensor or None")
        if tuple(array.shape) != tuple(meta[0]):
            raise ValueError(f"{name}.backward returned a gradient of shape {tuple(array.shape)}"
                             f" for argument {i}, of shape {tuple(meta[0])}")
        if backend.device_of(array) is not self.device:
            raise RuntimeError(f"{name}.backward returned the gradient of argument {i} on "
                               f"{backend.device_of(array)}; argument {i} is on {self.device}")
        return g if recorded else array


class Function:
    """Base class of custom ops (see the module): subclass it, define ``forward`` and
    ``backward`` as static methods, call ``MyOp.apply(*args)``."""

    _node_class = _FunctionNode

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            if name in cls.__dict__ and not isinstance(cls.__dict__[name], staticmethod):
                raise TypeError(f"{cls.__name__}.{name} is not a @staticmethod: "
                                + _HOW.format(name=cls.__name__))
        # its graph nodes are named after it, as the built-in ops' nodes are (Mul, Exp, ...)
        cls._node_class = type(cls.__name__, (_FunctionNode,),
                               {"__module__": cls.__module__, "__qualname__": cls.__qualname__})

    def __init__(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__}() is not how a Function is used: "
                        + _HOW.format(name=type(self).__name__))

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("a Function subclass must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass must define backward(ctx, ...)")

    @classmethod
    def apply(cls, *args):
        """Run ``forward`` and, when grad mode is on and some argument requires grad, record
        the call as a node whose backward is ``backward``."""
        node = cls._node_class(cls)
        out = node(*args)
        marked = node.non_differentiable
        if marked:
            for o in (out,) if isinstance(out, Tensor) else out:
                if id(o.array) in marked:
                    o.requires_grad, o.grad_fn = False, None
        return out
