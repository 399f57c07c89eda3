"""Stateless layer functions, as in ``torch.nn.functional``."""
from ..functions.activation import log_softmax, relu, sigmoid, softmax, tanh
from ..functions.linalg import linear
from ..functions.loss import cross_entropy, hinge_loss, mse_loss
from ..functions.pad import pad
from ..functions.pointwise import elu, gelu, leaky_relu, silu, softplus

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "silu", "elu",
           "softplus", "leaky_relu", "pad", "cross_entropy", "mse_loss", "hinge_loss"]
