"""Central-difference gradient checking in float64, on any backend: ``gradcheck`` (first
derivatives) and ``gradgradcheck`` (second derivatives, through a recorded backward pass)."""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import enable_grad, grad, no_grad
from .tensor import Tensor, wrap

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Analytic and numeric gradients disagree."""


def _project(out, weights):
    """<out, weights> as a Python float (sum over every output)."""
    return sum(float((o.array * w).sum()) for o, w in zip(out, weights))


def _outputs(fn, args, name):
    """``fn(*args)`` as a tuple of Tensors; TypeError saying what ``name`` needs otherwise."""
    out = fn(*args)
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            which = f"output {k} of {len(outs)}" if len(outs) > 1 else "its output"
            raise TypeError(f"{name}: fn must return a Tensor or a tuple of Tensors (computed from the "
                            f"inputs with gpugrad ops), but {which} is {type(o).__name__}: {o!r:.60}")
    return outs


def _checked_inputs(fn, inputs, name):
    """(the inputs as a tuple, the indices of those that require grad: at least one)."""
    if not callable(fn):
        raise TypeError(f"{name}: fn must be a function of the inputs, got {type(fn).__name__}")
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{name}: no input requires grad")
    return inputs, checked


def _numeric_grad(value, x, eps):
    """Central differences of ``value()`` with respect to every element of ``x`` (in place)."""
    numeric = np.zeros(x.shape)
    flat = x.array.reshape(-1)  # a view: perturbing it perturbs x
    with no_grad():
        for k in range(flat.size):
            orig = float(flat[k])
            flat[k] = orig + eps
            plus = value()
            flat[k] = orig - eps
            minus = value()
            flat[k] = orig
            numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
    return numeric


def gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0):
    """Check ``fn``'s backward against central differences.

    ``fn(*inputs)`` returns a Tensor (or a tuple of them). A fixed random vector v of the
    output's shape is drawn; the analytic gradient of <v, fn(x)> from ``backward`` is compared
    elementwise with (<v, fn(x + eps e_i)> - <v, fn(x - eps e_i)>) / (2 eps) for every element
    i of every input that requires grad. Those inputs must be float64.

    Returns True, or raises :class:`GradcheckError` naming the worst element.
    """
    inputs, checked = _checked_inputs(fn, inputs, "gradcheck")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64")

    # Fresh leaves, so the caller's tensors and their .grad are left alone.
    # (contiguous copies, so perturbing a flat view perturbs the input itself)
    xs = [wrap(x.array.copy(), x.device, True) if i in checked else x for i, x in enumerate(inputs)]

    def run(args):
        return _outputs(fn, args, "gradcheck")

    out = run(xs)
    rng = np.random.default_rng(seed)
    weights = [backend.to_device(rng.standard_normal(o.shape), o.device).astype(o.dtype) for o in out]
    total = None
    for o, w in zip(out, weights):
        if not o.requires_grad:
            continue
        term = (o * wrap(w, o.device)).sum()
        total = term if total is None else total + term
    if total is None:
        raise GradcheckError("gradcheck: the output does not depend on any input that requires grad")
    total.backward()

    worst = None
    for i in checked:
        x = xs[i]
        analytic = np.zeros(x.shape) if x.grad is None else backend.to_numpy(x.grad.array).astype(np.float64)
        numeric = _numeric_grad(lambda: _project(run(xs), weights), x, eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if err.size and err.max() > 0:
            k = np.unravel_index(int(err.argmax()), err.shape)
            if worst is None or err[k] > worst[0]:
                worst = (err[k], i, k, analytic[k], numeric[k])
    if worst is not None:
        _, i, k, a, n = worst
        raise GradcheckError(f"gradcheck failed for input {i} at index {tuple(int(j) for j in k)}: "
                             f"analytic {a:.10g} vs numeric {n:.10g} (|diff| {abs(a - n):.3g})")
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0):
    """Check the *backward* of ``fn``'s backward (its second derivatives) against central
    differences, as PyTorch's gradgradcheck does.

    The first derivative ``g(x, v) = vᵀ ∂fn/∂x`` is computed with ``create_graph=True`` (so
    through every op's recorded backward) for a weight ``v`` per output (``grad_outputs``, or
    random float64 tensors drawn from ``seed``), and :func:`gradcheck` then checks ``g`` with
    respect to both ``x`` and ``v``: every second derivative, and every backward's linearity in
    its upstream gradient. Returns True, or raises :class:`GradcheckError`.
    """
    inputs, checked = _checked_inputs(fn, inputs, "gradgradcheck")
    with enable_grad():
        outs = _outputs(fn, inputs, "gradgradcheck")
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = tuple(
            wrap(backend.to_device(rng.standard_normal(o.shape), o.device), o.device, True)
            for o in outs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise ValueError(f"gradgradcheck: {len(outs)} outputs but {len(grad_outputs)} "
                         "grad_outputs")
    n = len(inputs)

    def first_derivative(*args):
        xs, vs = args[:n], args[n:]
        with enable_grad():
            res = _outputs(fn, xs, "gradgradcheck")
            live = [(o, v) for o, v in zip(res, vs) if o.requires_grad]
            if not live:
                raise GradcheckError("gradgradcheck: the output does not depend on any input "
                                     "that requires grad")
            grads = grad([o for o, _ in live], [xs[i] for i in checked], [v for _, v in live],
                         create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivative, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     seed=seed)
