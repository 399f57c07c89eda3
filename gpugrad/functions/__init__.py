"""The differentiable ops, one module per family (see each module's docstring for its rules),
and :mod:`.methods`, which binds them onto Tensor as operators and methods."""
from . import methods  # noqa: F401  (binds Tensor's operators and op methods)
from .activation import ACTIVATIONS, get_activation, log_softmax, relu, sigmoid, softmax, tanh
from .arithmetic import abs, add, clip, div, exp, log, maximum, minimum, mul, neg, pow, sqrt, sub
from .broadcast import broadcast_to, sum_to
from .linalg import linear, matmul
from .loss import cross_entropy, hinge_loss, mse_loss
from .reduction import argmax, argmin, max, mean, min, sum
from .shape import astype, clone, concatenate, getitem, reshape, stack, to_device, transpose

__all__ = [
    "ACTIVATIONS", "get_activation", "log_softmax", "relu", "sigmoid", "softmax", "tanh",
    "abs", "add", "clip", "div", "exp", "log", "maximum", "minimum", "mul", "neg", "pow", "sqrt",
    "sub", "sum_to", "broadcast_to", "linear", "matmul", "cross_entropy", "hinge_loss", "mse_loss",
    "argmax", "argmin", "max", "mean", "min", "sum", "astype", "concatenate", "getitem",
    "reshape", "stack", "to_device", "transpose", "clone",
]
