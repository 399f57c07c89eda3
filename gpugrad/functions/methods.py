"""The one place that binds Tensor's operators and op methods (as DeZero's ``setup_variable``).

:class:`gpugrad.tensor.Tensor` sits below the ops and knows nothing of them; importing this
module (``gpugrad`` does) gives it ``+ - * / ** @``, comparisons, the elementwise maths, the
reductions, the shape methods, device and dtype moves, ``backward`` and the gradient hooks.
Where an op's signature already reads as a method (``add(a, b)``, ``sum(x, axis, keepdims)``)
it is bound as is, with no wrapper in between.
"""
from __future__ import annotations

import numpy as np

from .. import autograd, backend, creation
from ..creation import as_dtype
from ..tensor import Tensor
from . import (activation, arithmetic, arrange, assign, broadcast, comparison, inplace, linalg,
               reduction, selection, shape)

__all__ = ["bind_tensor_methods"]


def _shape_args(shape_):
    return tuple(shape_[0]) if len(shape_) == 1 and isinstance(shape_[0], (tuple, list)) else shape_


def reshape(self, *shape_):
    return shape.reshape(self, _shape_args(shape_))


def transpose(self, *dims, **kwargs):
    """``transpose(dim0, dim1)`` swaps two axes, as in PyTorch; ``transpose()`` reverses them
    all, as ``.T`` does. NumPy's ``transpose(axes)`` (a full permutation) is ``permute``: a call
    meaning that raises instead of silently doing something else."""
    if kwargs:
        if set(kwargs) - {"dim0", "dim1"} or len(dims) + len(kwargs) != 2:
            raise TypeError(f"transpose() takes dim0 and dim1, got {dims} and {sorted(kwargs)}")
        dims = dims + tuple(kwargs[k] for k in ("dim0", "dim1")[len(dims):])
    if not dims:
        return shape.transpose(self, None)
    if len(dims) == 2 and not any(isinstance(d, (tuple, list)) for d in dims):
        return shape.swap_axes(self, *dims)
    raise TypeError(f"transpose{dims!r}: transpose takes two dims to swap, as in PyTorch "
                    f"(transpose(dim0, dim1)), or none to reverse the axes (as .T); to reorder "
                    f"all the axes (NumPy's transpose(axes)) use permute(*dims)")


def permute(self, *dims):
    return shape.permute(self, _shape_args(dims))


def size(self, dim=None):
    """The shape (a tuple), or the length of axis ``dim``, as PyTorch's ``size()``."""
    if dim is None:
        return tuple(self.array.shape)
    if self.array.ndim == 0:
        raise IndexError(f"size({dim}): a 0-d tensor has no dimensions")
    return self.array.shape[shape.normalize_axis(dim, self.array.ndim, "size")]


def to(self, device=None, dtype=None):
    """This tensor on another device and/or with another dtype (differentiable), as PyTorch's
    ``to``: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, or ``to(other)`` for another
    tensor's device and dtype."""
    if isinstance(device, Tensor):
        device, dtype = device.device, device.dtype if dtype is None else dtype
    elif device is not None and not isinstance(device, backend.Device) and _is_dtype(device):
        if dtype is not None:
            raise TypeError(f"to: two dtypes given ({device!r} and {dtype!r})")
        device, dtype = None, device
    out = self
    if device is not None:
        dev = backend.resolve_device(device)
        if dev is not self.device:
            out = shape.to_device(out, dev)
    return out if dtype is None else astype(out, dtype)


def _is_dtype(value):
    """A dtype (np.float32, 'float64', ...) rather than a device ('cpu', 'cuda:0', ...)."""
    if isinstance(value, str):
        try:
            backend.resolve_device(value)
            return False
        except (TypeError, ValueError, RuntimeError):
            pass
    try:
        np.dtype(value)
        return True
    except TypeError:
        return False


def t(self):
    """PyTorch's ``t()``: a 2-D tensor transposed; 0-d and 1-D ones as they are."""
    if self.array.ndim > 2:
        raise ValueError(f"t: expects a tensor of at most 2 dimensions, got shape {self.shape} "
                         "(transpose(dim0, dim1) or permute for more)")
    return self if self.array.ndim < 2 else shape.swap_axes(self, 0, 1)


def add(self, other, *, alpha=1):
    """PyTorch's ``x.add(y, alpha=a)``: x + a·y."""
    return arithmetic.add(self, other if alpha == 1 else other * alpha)


def sub(self, other, *, alpha=1):
    """PyTorch's ``x.sub(y, alpha=a)``: x - a·y."""
    return arithmetic.sub(self, other if alpha == 1 else other * alpha)


def masked_fill(self, mask, value):
    """PyTorch's ``masked_fill``: ``value`` where ``mask`` holds, else x, in x's dtype; the
    gradient reaches x where the mask does not hold (the in-place form is ``masked_fill_``)."""
    out = selection.where(mask, value, self)
    return out if out.dtype == self.dtype else astype(out, self.dtype)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """PyTorch's ``new_full``: a tensor of ``size`` filled with ``fill_value``, x's dtype and
    device unless given (``new_zeros`` / ``new_ones`` take the sizes as ``*size``)."""
    return creation.full(tuple(size), fill_value, dtype=self.dtype if dtype is None else dtype,
                         device=self.device if device is None else device,
                         requires_grad=requires_grad)


def _new(fill):
    def new(self, *size, **kwargs):
        return new_full(self, _shape_args(size), fill, **kwargs)
    new.__name__ = f"new_{'zeros' if fill == 0 else 'ones'}"
    return new


def contiguous(self):
    """PyTorch's ``contiguous``: x itself when its memory is C-contiguous, else a C-contiguous
    copy (differentiable)."""
    return self if self.array.flags.c_contiguous else shape.clone(self)


def astype(self, dtype):
    """Cast to ``dtype`` (differentiable between floating dtypes)."""
    dtype = as_dtype(dtype)
    return self if dtype == self.array.dtype else shape.astype(self, dtype)


def where(self, condition, other):
    """PyTorch's ``x.where(condition, other)``: x where condition holds, else other."""
    return selection.where(condition, self, other)


def expand_as(self, other):
    return arrange.expand(self, other.shape)


def __iter__(self):  # noqa: N807
    if self.array.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (shape.getitem(self, i) for i in range(len(self.array)))


def _reflected(op):
    def method(self, other):
        return op(other, self)
    method.__name__ = f"r{op.__name__}"
    return method


_METHODS = {
    # arithmetic operators (the notes' gates)
    "__add__": arithmetic.add, "__radd__": _reflected(arithmetic.add),
    "__sub__": arithmetic.sub, "__rsub__": _reflected(arithmetic.sub),
    "__mul__": arithmetic.mul, "__rmul__": _reflected(arithmetic.mul),
    "__truediv__": arithmetic.div, "__rtruediv__": _reflected(arithmetic.div),
    "__pow__": arithmetic.pow, "__rpow__": _reflected(arithmetic.pow),
    "__matmul__": linalg.matmul, "__rmatmul__": _reflected(linalg.matmul),
    "__neg__": arithmetic.neg, "__pos__": lambda self: self, "__abs__": arithmetic.abs,
    # comparisons: boolean tensors, no gradient
    "__eq__": comparison.equal, "__ne__": comparison.not_equal, "__lt__": comparison.less,
    "__le__": comparison.less_equal, "__gt__": comparison.greater,
    "__ge__": comparison.greater_equal,
    # PyTorch's method spellings of the operators
    "add": add, "sub": sub, "subtract": sub, "mul": arithmetic.mul, "multiply": arithmetic.mul,
    "div": arithmetic.div, "divide": arithmetic.div, "true_divide": arithmetic.div,
    "pow": arithmetic.pow, "neg": arithmetic.neg, "negative": arithmetic.neg,
    "matmul": linalg.matmul, "maximum": arithmetic.maximum, "minimum": arithmetic.minimum,
    "eq": comparison.equal, "ne": comparison.not_equal, "lt": comparison.less,
    "le": comparison.less_equal, "gt": comparison.greater, "ge": comparison.greater_equal,
    "masked_fill": masked_fill, "t": t, "square": lambda self: arithmetic.mul(self, self),
    "reciprocal": lambda self: arithmetic.div(1.0, self),
    "rsqrt": lambda self: arithmetic.div(1.0, arithmetic.sqrt(self)),
    # elementwise maths and activations
    "exp": arithmetic.exp, "log": arithmetic.log, "sqrt": arithmetic.sqrt, "abs": arithmetic.abs,
    "clip": arithmetic.clip, "clamp": arithmetic.clamp, "relu": activation.relu, "sigmoid": activation.sigmoid,
    "tanh": activation.tanh, "softmax": activation.softmax, "log_softmax": activation.log_softmax,
    # reductions
    "sum": reduction.sum, "mean": reduction.mean, "max": reduction.max, "min": reduction.min,
    "amax": reduction.amax, "amin": reduction.amin,
    "argmax": selection.argmax, "argmin": selection.argmin, "any": reduction.any,
    "all": reduction.all, "var": reduction.var, "std": reduction.std,
    "logsumexp": reduction.logsumexp, "norm": reduction.norm, "cumsum": reduction.cumsum,
    # selecting and gathering
    "where": where, "gather": selection.gather, "take_along_dim": selection.take_along_dim,
    # shape
    "reshape": reshape, "view": reshape, "flatten": shape.flatten, "unflatten": shape.unflatten,
    "transpose": transpose, "permute": permute, "squeeze": arrange.squeeze,
    "unsqueeze": arrange.unsqueeze, "expand": arrange.expand, "expand_as": expand_as,
    "broadcast_to": broadcast.broadcast_to, "repeat": arrange.repeat, "tile": arrange.tile,
    "repeat_interleave": arrange.repeat_interleave, "flip": arrange.flip, "split": arrange.split,
    "chunk": arrange.chunk, "unbind": arrange.unbind,
    "T": property(lambda self: shape.transpose(self, None)), "__getitem__": shape.getitem,
    "__iter__": __iter__,
    # sizes, as PyTorch spells them (ndim and shape are Tensor's own properties)
    "size": size, "numel": lambda self: int(self.array.size), "dim": lambda self: self.array.ndim,
    "nelement": lambda self: int(self.array.size), "ndimension": lambda self: self.array.ndim,
    "element_size": lambda self: self.array.itemsize, "contiguous": contiguous,
    "is_cuda": property(lambda self: self.device.type == "cuda"),
    # devices and dtypes
    "clone": shape.clone, "to": to, "cpu": lambda self: to(self, "cpu"),
    "cuda": lambda self, index=0: to(self, f"cuda:{index}"), "astype": astype,
    "float": lambda self: astype(self, np.float32), "double": lambda self: astype(self, np.float64),
    "long": lambda self: astype(self, np.int64), "int": lambda self: astype(self, np.int32),
    "type_as": lambda self, other: astype(self, other.dtype),
    "half": lambda self: astype(self, np.float16), "bool": lambda self: astype(self, np.bool_),
    "new_zeros": _new(0), "new_ones": _new(1), "new_full": new_full,
    # in place (functions/inplace.py, assign.py: each bumps the version; recorded when autograd
    # follows it)
    "__iadd__": inplace.add_, "__isub__": inplace.sub_, "__imul__": inplace.mul_,
    "__itruediv__": inplace.div_, "__ipow__": inplace.pow_, "__setitem__": assign.setitem,
    "add_": inplace.add_, "sub_": inplace.sub_, "mul_": inplace.mul_, "div_": inplace.div_,
    "pow_": inplace.pow_, "neg_": inplace.neg_, "abs_": inplace.abs_, "exp_": inplace.exp_,
    "log_": inplace.log_, "sqrt_": inplace.sqrt_, "relu_": inplace.relu_,
    "sigmoid_": inplace.sigmoid_, "tanh_": inplace.tanh_, "clamp_": inplace.clamp_,
    "clip_": inplace.clamp_, "clamp_min_": inplace.clamp_min_, "clamp_max_": inplace.clamp_max_,
    "fill_": assign.fill_, "zero_": assign.zero_, "copy_": assign.copy_,
    "uniform_": assign.uniform_, "normal_": assign.normal_,
    "masked_fill_": assign.masked_fill_, "addcmul_": inplace.addcmul_,
    "addcdiv_": inplace.addcdiv_,
    # autograd
    "backward": autograd.backward, "retain_grad": autograd.retain_grad,
    "register_hook": autograd.register_hook,
    "register_post_accumulate_grad_hook": autograd.register_post_accumulate_grad_hook,
}


def bind_tensor_methods():
    """Attach every method of ``_METHODS`` to Tensor (idempotent)."""
    for name, fn in _METHODS.items():
        setattr(Tensor, name, fn)


bind_tensor_methods()
