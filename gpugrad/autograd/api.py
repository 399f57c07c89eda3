"""The two ways to start a backward pass, with PyTorch's semantics:

* ``backward(tensors, grad=None, retain_graph=None, create_graph=False, inputs=None)`` (bound as
  ``Tensor.backward``) adds the gradients into the leaves' ``.grad``;
* ``grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
  allow_unused=False)`` returns the gradients of ``outputs`` with respect to ``inputs``
  (leaves or not) and touches no ``.grad``.

``create_graph=True`` records the backward pass itself, so what it returns can be
differentiated again (Hessian-vector products, gradient penalties); ``retain_graph`` then
defaults to True, as the graph is still needed to differentiate through.
"""
from __future__ import annotations

from .. import backend
from ..tensor import Tensor, wrap
from .engine import _own, run_backward
from .targets import Targets

__all__ = ["backward", "grad"]


def _as_tuple(value, what):
    if isinstance(value, Tensor):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{what} must be a Tensor or a sequence of Tensors, got "
                        f"{type(value).__name__}") from None
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}[{i}] is a {type(t).__name__}, not a Tensor")
    return items


def _root_grad(root, grad, recorded, what):
    """The upstream gradient of ``root``: a fresh array of its shape, dtype and device (in an
    ordinary pass), or a Tensor (in a recorded one: the caller's own, so a gradient that
    requires grad stays joined to its graph)."""
    data = root.array
    if grad is None:
        if data.size != 1:
            raise RuntimeError(
                f"{what} without a gradient needs a scalar (one-element) output, got shape "
                f"{tuple(data.shape)}; pass the gradient of that shape")
        ones = root.device.xp.ones_like(data)
        return wrap(ones, root.device) if recorded else ones
    if isinstance(grad, Tensor):
        if grad.device is not root.device:
            raise RuntimeError(f"{what}: the gradient is on {grad.device} but the output is on "
                               f"{root.device}")
        if recorded:
            _check_shape(grad.shape, data.shape, what)
            return grad if grad.dtype == data.dtype else grad.astype(data.dtype)
        grad = grad.array
    elif backend.is_array(grad):
        if backend.device_of(grad) is not root.device:
            raise RuntimeError(f"{what}: the gradient is on {backend.device_of(grad)} but the "
                               f"output is on {root.device}")
    else:
        grad = root.device.xp.asarray(grad, dtype=data.dtype)
    _check_shape(grad.shape, data.shape, what)
    grad = grad.astype(data.dtype, copy=True)  # never alias the caller's array
    return wrap(grad, root.device) if recorded else grad


def _check_shape(got, want, what):
    if tuple(got) != tuple(want):
        raise ValueError(f"{what}: the gradient has shape {tuple(got)} but the output has shape "
                         f"{tuple(want)}")


def _roots_and_grads(tensors, grads, recorded, what):
    roots = _as_tuple(tensors, what)
    if not roots:
        raise ValueError(f"{what}: no output tensor to differentiate")
    # The pass's own arrays (these gradients, sums of gradients) are made on the outputs' GPU,
    # whichever GPU the caller has current.
    with roots[0].device.context():
        return roots, _root_grads(roots, tensors, grads, recorded, what)


def _root_grads(roots, tensors, grads, recorded, what):
    if grads is None:
        grads = (None,) * len(roots)
    elif isinstance(tensors, Tensor) or isinstance(grads, Tensor) or backend.is_array(grads):
        grads = (grads,)
    else:
        grads = tuple(grads)
    if len(grads) != len(roots):
        raise ValueError(f"{what}: {len(roots)} outputs but {len(grads)} gradients")
    for i, r in enumerate(roots):
        if not r.requires_grad:
            raise RuntimeError(
                f"{what}: output {i} (shape {r.shape}) does not require grad and has no grad_fn "
                "(was it computed under no_grad, or from tensors without requires_grad=True?)")
    return [_root_grad(r, g, recorded, what) for r, g in zip(roots, grads)]


def backward(tensors, grad=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad`` (``Tensor.backward``).

    ``grad`` is the gradient of the output (None for a one-element output: ones), or one per
    output when ``tensors`` is a sequence. ``retain_graph=False`` (the default, unless
    ``create_graph``) frees the graph's saved arrays as the pass goes. ``create_graph=True``
    records the pass: each ``.grad`` is then a Tensor with its own graph (which holds the leaf:
    set ``.grad = None`` when done, or prefer :func:`grad`). ``inputs``: accumulate only into
    these tensors (leaves, or non-leaves, which then get a ``.grad`` too).
    """
    if retain_graph is None:
        retain_graph = create_graph
    what = "backward()"
    roots, grads = _roots_and_grads(tensors, grad, create_graph, what)
    targets = None
    if inputs is not None:
        chosen = _as_tuple(inputs, "backward(inputs=...)")
        _check_inputs(chosen, "backward(inputs=...)")
        targets = Targets(chosen, [r.grad_fn for r in roots if r.grad_fn is not None])
    run_backward(roots, grads, retain_graph, create_graph, targets, accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """The gradients of ``outputs`` (weighted by ``grad_outputs``) with respect to each of
    ``inputs``, as a tuple; no ``.grad`` is touched.

    ``grad_outputs``: one per output (None entries for one-element outputs). With
    ``create_graph=True`` the results carry a graph and can be differentiated again. An input
    the outputs do not depend on raises, unless ``allow_unused=True`` (then its entry is None).
    """
    if retain_graph is None:
        retain_graph = create_graph
    what = "grad()"
    roots, grads = _roots_and_grads(outputs, grad_outputs, create_graph, what)
    chosen = _as_tuple(inputs, "grad(): inputs")
    if not chosen:
        raise ValueError("grad(): no input to differentiate with respect to")
    _check_inputs(chosen, what)
    targets = Targets(chosen, [r.grad_fn for r in roots if r.grad_fn is not None])
    captured = run_backward(roots, grads, retain_graph, create_graph, targets, accumulate=False)
    given = set()
    results = []
    for i, t in enumerate(chosen):
        g = captured.get(id(t) if t.grad_fn is None else (t.grad_fn, t.output_nr))
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad(): input {i} (shape {t.shape}) appears not to have been used in the "
                    "graph of the outputs; pass allow_unused=True if that is intended")
            results.append(None)
            continue
        g = _own(g, given)
        if g.dtype != t.array.dtype:
            g = g.astype(t.array.dtype)
        results.append(g if isinstance(g, Tensor) else wrap(g, t.device))
    return tuple(results)


def _check_inputs(tensors, what):
    for i, t in enumerate(tensors):
        if not t.requires_grad:
            raise RuntimeError(f"{what}: input {i} (shape {t.shape}) does not require grad")
