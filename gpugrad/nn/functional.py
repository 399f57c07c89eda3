"""Stateless layer functions, as in ``torch.nn.functional``."""
from ..functions.activation import log_softmax, relu, sigmoid, softmax, tanh
from ..functions.linalg import linear
from ..functions.loss import cross_entropy, hinge_loss, mse_loss

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "cross_entropy",
           "mse_loss", "hinge_loss"]
