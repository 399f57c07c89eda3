"""In-place ops, with PyTorch's names and rules: ``t += u`` (``-= *= /= **=``), ``add_ sub_ mul_
div_ pow_ neg_ abs_ exp_ log_ sqrt_ relu_ sigmoid_ tanh_ clamp_ clamp_min_ clamp_max_ clip_
addcmul_ addcdiv_`` here, and the writes of values (``t[index] = v``, ``fill_ zero_ copy_
uniform_ normal_ masked_fill_``) in :mod:`.assign`, on the mechanism here.

Every one writes into the tensor's own memory (a view's writes reach its base) and bumps the
version counter it shares with its views, naming itself, so a graph node that saved the old
values refuses to run backward instead of using the new ones. Which of two ways it runs:

* **Outside autograd** (under ``no_grad``, or when neither the tensor nor an operand requires
  grad): a NumPy/CuPy ufunc or assignment straight into the array, nothing recorded, no copy.
  This is ``with gg.no_grad(): p -= lr * p.grad``, the update of a parameter.
* **Recorded** (grad mode on, and the tensor or an operand requires grad): as PyTorch, the op
  is differentiable. Its out-of-place twin runs on the tensor's old value (a private copy, so
  nothing the new node saves is overwritten), the result is written into the tensor, and the
  tensor takes the new node's place in the graph, its old history behind it
  (``autograd.rebase_history``). ``t[index] = v`` writes into the tensor directly
  (:class:`.assign.IndexPut` saves nothing, so nothing needs a copy). Views made of the tensor
  before take their new history from it at once.

Refused, with PyTorch's reasons (RuntimeError): a leaf that requires grad, outside ``no_grad``
(its old value is what its gradient is for); a view of a leaf that requires grad; a view made
under ``no_grad`` of a tensor that requires grad, modified with grad mode on. gpugrad goes one
step short of PyTorch here: an in-place op recorded on a *view* (``y[0].mul_(2)``, ``y.T[0] =
v`` while ``y`` or ``v`` requires grad), which PyTorch records as a rewrite of the base
(CopySlices), is refused, with a message that says how to write it into the base with one index
(``y[0] = y[0] * 2``) or out of place. A result that does not fit the tensor (a broadcast to a
larger shape, a float result in an integer tensor) is a ValueError / TypeError, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import backend, kernels
from ..autograd import rebase_history
from ..autograd.grad_mode import GRAD_MODE
from ..tensor import Tensor, wrap
from . import activation, arithmetic

__all__ = ["inplace", "operand", "records", "record", "plain", "add_", "sub_", "mul_", "div_", "pow_",
           "neg_", "abs_", "exp_", "log_", "sqrt_", "relu_", "sigmoid_", "tanh_", "clamp_",
           "clamp_min_", "clamp_max_", "addcmul_", "addcdiv_"]


# --------------------------------------------------------------------------- the two ways

def records(t, name, operands=()):
    """Whether the op on ``t`` is recorded in the graph; raises where PyTorch refuses it."""
    if not GRAD_MODE.enabled:
        return False
    view = t.view_source()
    if t.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in operands):
        if view is not None:
            raise RuntimeError(_view_refusal(t, name))
        if t.grad_fn is None and t.requires_grad:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad (shape {t.shape}) is being used in an "
                "in-place operation (PyTorch refuses it too: its gradient is for the value it has "
                "now). Update it under `with gg.no_grad():`, as an optimizer does, or change a "
                "copy (t.clone()) instead.")
        return True
    if view is not None and view[0].requires_grad:
        raise RuntimeError(
            f"{name}: this view was made under no_grad from a tensor that requires grad, and is "
            "modified in place with grad mode on, which autograd cannot follow (PyTorch refuses "
            "it too): make the view and modify it both inside the no_grad block, or both "
            "outside it.")
    return False


def _view_refusal(t, name):
    base = t.view_source()[0]
    if base.grad_fn is None and base.requires_grad:
        return (f"{name}: a view of a leaf tensor that requires grad (shape {base.shape}) is "
                "being used in an in-place operation (PyTorch refuses it too). Update the leaf "
                "under `with gg.no_grad():`, or change a copy (t.clone()).")
    return (f"{name}: an in-place op on a view (of a tensor of shape {base.shape}) is not "
            "recorded by gpugrad while the view or the value requires grad. Write the new "
            "values into the tensor itself with one index, `y[index] = new_values` (e.g. "
            "`y[0] = y[0] * 2` for `y[0].mul_(2)`, `y[0, 1] = v` for `y[0][1] = v`), or out of "
            "place (`v = v * 2`).")


def _stand_in(t, copy):
    """``t``'s value and history now, as a tensor of its own: the recorded op's input. A copy
    of the values, unless the op saves nothing that the in-place write would change."""
    if copy:
        with t.device.context():
            array = t.array.copy()
    else:
        array = t.array
    src = wrap(array, t.device, t.requires_grad)
    src.grad_fn, src.output_nr = t.grad_fn, t.output_nr
    return src


def record(t, name, compute, copy=True):
    """The recorded way: ``compute(old)`` (out of place, recorded) written into ``t``, which
    takes the result's place in the graph."""
    out = compute(_stand_in(t, copy))
    if out.shape != t.shape:
        raise ValueError(f"{name}: the result has shape {out.shape}, but an in-place op must keep "
                         f"the tensor's shape {t.shape}")
    if out.dtype != t.dtype:
        _check_cast(name, out.dtype, t.dtype)
        out = out.astype(t.dtype)
    if out.array is not t.array:
        with t.device.context():
            t.array[...] = out.array
    t.increment_version(name)
    rebase_history(t, out)
    return t


def _check_cast(name, result, target):
    if not np.can_cast(result, target, "same_kind"):
        raise TypeError(f"{name}: the result's dtype {result} cannot be stored in place in a "
                        f"tensor of dtype {target}")


def plain(t, name, write):
    """The way outside autograd: ``write(array)`` changes ``t``'s array in place."""
    try:
        with t.device.context():
            write(t.array)
    except TypeError as exc:   # NumPy's UFuncTypeError: the result does not cast to t's dtype
        raise TypeError(f"{name}: the result cannot be stored in place in a tensor of dtype "
                        f"{t.dtype} ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"{name}: the result does not fit a tensor of shape {t.shape} in place "
                         f"({exc})") from None
    t.increment_version(name)
    return t


def operand(t, name, value):
    """A number, or the array of a tensor / raw array on ``t``'s device."""
    if isinstance(value, Tensor):
        if value.device is not t.device:
            raise RuntimeError(f"{name}: expected all tensors on the same device, got {t.device} "
                               f"and {value.device}")
        return value.array
    if backend.is_array(value):
        if backend.device_of(value) is not t.device:
            raise RuntimeError(f"{name}: expected all tensors on the same device, got {t.device} "
                               f"and {backend.device_of(value)}")
        return value
    if isinstance(value, (int, float, bool, np.number)):
        return value
    if isinstance(value, (list, tuple)):   # nested numbers, as NumPy takes them
        with t.device.context():
            return backend.array_module(t.array).asarray(value, dtype=t.dtype)
    raise TypeError(f"{name}: expected a Tensor, an array, a number or a list of numbers, got "
                    f"{type(value).__name__}")


def inplace(t, name, operands, write, compute, copy=True):
    """Run an in-place op one way or the other (see the module docstring)."""
    if records(t, name, operands):
        return record(t, name, compute, copy)
    return plain(t, name, write)


# --------------------------------------------------------------------------- arithmetic

def _binary(name, ufunc, twin):
    def op(self, other, alpha=1):
        value = operand(self, name, other)
        if alpha != 1:
            value = value * alpha
            other = arithmetic.mul(other, alpha) if isinstance(other, Tensor) else value

        def write(a):
            getattr(backend.array_module(a), ufunc)(a, value, out=a, casting="same_kind")

        return inplace(self, name, (other,), write, lambda old: twin(old, other))

    op.__name__ = name
    op.__doc__ = f"In place: ``self = {twin.__name__}(self, other * alpha)``."
    return op


def _unary(name, write_fn, twin):
    def op(self):
        return inplace(self, name, (), lambda a: write_fn(a), twin)

    op.__name__ = name
    op.__doc__ = f"In place: ``self = {twin.__name__}(self)``."
    return op


def _ufunc_into(ufunc):
    return lambda a: getattr(backend.array_module(a), ufunc)(a, out=a, casting="same_kind")


def _sigmoid_into(a):
    a[...] = kernels.sigmoid_fwd(a)


def _relu_into(a):
    backend.array_module(a).maximum(a, 0, out=a)


add_ = _binary("add_", "add", arithmetic.add)
sub_ = _binary("sub_", "subtract", arithmetic.sub)
mul_ = _binary("mul_", "multiply", arithmetic.mul)
div_ = _binary("div_", "true_divide", arithmetic.div)
pow_ = _binary("pow_", "power", arithmetic.pow)
neg_ = _unary("neg_", _ufunc_into("negative"), arithmetic.neg)
abs_ = _unary("abs_", _ufunc_into("absolute"), arithmetic.abs)
exp_ = _unary("exp_", _ufunc_into("exp"), arithmetic.exp)
log_ = _unary("log_", _ufunc_into("log"), arithmetic.log)
sqrt_ = _unary("sqrt_", _ufunc_into("sqrt"), arithmetic.sqrt)
tanh_ = _unary("tanh_", _ufunc_into("tanh"), activation.tanh)
sigmoid_ = _unary("sigmoid_", _sigmoid_into, activation.sigmoid)
relu_ = _unary("relu_", _relu_into, activation.relu)


def clamp_(self, min=None, max=None):  # noqa: A002 (PyTorch's names)
    """In place: ``self = clamp(self, min, max)`` (numbers or tensors as bounds)."""
    if min is None and max is None:
        raise ValueError("clamp_: give at least one of min and max")
    lo = None if min is None else operand(self, "clamp_", min)
    hi = None if max is None else operand(self, "clamp_", max)

    def write(a):
        xp = backend.array_module(a)
        if lo is not None:
            xp.maximum(a, lo, out=a, casting="same_kind")
        if hi is not None:
            xp.minimum(a, hi, out=a, casting="same_kind")

    return inplace(self, "clamp_", (min, max), write,
                    lambda old: arithmetic.clamp(old, min, max))


def clamp_min_(self, min):  # noqa: A002
    return clamp_(self, min=min)


def clamp_max_(self, max):  # noqa: A002
    return clamp_(self, max=max)


def addcmul_(self, tensor1, tensor2, value=1):
    """In place: ``self += value * tensor1 * tensor2``."""
    return add_(self, arithmetic.mul(tensor1, tensor2), alpha=value)


def addcdiv_(self, tensor1, tensor2, value=1):
    """In place: ``self += value * tensor1 / tensor2``."""
    return add_(self, arithmetic.div(tensor1, tensor2), alpha=value)
