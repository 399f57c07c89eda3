"""The differentiable ops, one module per family (see each module's docstring for its rules)."""
from .activation import log_softmax, relu, sigmoid, softmax, tanh
from .arithmetic import (abs, add, clip, div, exp, log, maximum, minimum, mul, neg, pow, sqrt,
                         sub, sum_to)
from .linalg import linear, matmul
from .loss import cross_entropy, hinge_loss, mse_loss
from .reduction import max, mean, min, sum
from .shape import astype, concatenate, getitem, reshape, stack, to_device, transpose

__all__ = [
    "log_softmax", "relu", "sigmoid", "softmax", "tanh",
    "abs", "add", "clip", "div", "exp", "log", "maximum", "minimum", "mul", "neg", "pow", "sqrt",
    "sub", "sum_to", "linear", "matmul", "cross_entropy", "hinge_loss", "mse_loss",
    "max", "mean", "min", "sum", "astype", "concatenate", "getitem", "reshape", "stack",
    "to_device", "transpose",
]
