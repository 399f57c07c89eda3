"""Stateless layer functions, as in ``torch.nn.functional``."""
from ..functions.activation import log_softmax, relu, sigmoid, softmax, tanh
from ..functions.conv import conv1d, conv2d
from ..functions.dropout import dropout, dropout1d, dropout2d, dropout3d
from ..functions.linalg import linear
from ..functions.loss import cross_entropy, hinge_loss, mse_loss
from ..functions.normalization import batch_norm
from ..functions.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d,
                                 max_pool1d, max_pool2d)

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "cross_entropy",
           "mse_loss", "hinge_loss", "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d",
           "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "batch_norm", "dropout",
           "dropout1d", "dropout2d", "dropout3d"]
