"""Stateless layer functions, as in ``torch.nn.functional``."""
from ..functions.activation import log_softmax, relu, sigmoid, softmax, tanh
from ..functions.conv import conv1d, conv2d
from ..functions.dropout import dropout, dropout1d, dropout2d, dropout3d
from ..functions.linalg import linear
from ..functions.elementwise_loss import (binary_cross_entropy, binary_cross_entropy_with_logits,
                                          l1_loss, mse_loss, smooth_l1_loss)
from ..functions.embedding import embedding
from ..functions.layer_norm import layer_norm
from ..functions.loss import cross_entropy, hinge_loss, multi_margin_loss, nll_loss
from ..functions.normalization import batch_norm
from ..functions.pad import pad
from ..functions.pointwise import elu, gelu, leaky_relu, silu, softplus
from ..functions.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d,
                                 max_pool1d, max_pool2d)

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "silu", "elu",
           "softplus", "leaky_relu", "pad", "cross_entropy", "mse_loss", "hinge_loss",
           "nll_loss", "multi_margin_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "layer_norm", "embedding", "conv1d", "conv2d",
           "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "batch_norm", "dropout", "dropout1d", "dropout2d", "dropout3d"]
