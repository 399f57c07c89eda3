"""Neural-network building blocks: Module, Parameter, layers and ``functional``."""
from . import functional, init, parallel, utils
from .activation import (ELU, GELU, ElementwiseActivation, LeakyReLU, LogSoftmax, ReLU, Sigmoid,
                         SiLU, Softmax, Softplus, Tanh,
                         activation_module)
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .layer_norm import LayerNorm
from .linear import Flatten, Identity, Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, MultiMarginLoss,
                   NLLLoss, SmoothL1Loss)
from .module import IncompatibleKeys, Module, Parameter
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d,
                      MaxPool2d)
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .sparse import Embedding

__all__ = ["Module", "Parameter", "IncompatibleKeys", "ModuleList", "ModuleDict", "LayerNorm",
           "Embedding", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss",
           "BCEWithLogitsLoss", "SmoothL1Loss", "MultiMarginLoss", "Linear", "Sequential", "ReLU",
           "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "GELU", "SiLU", "ELU", "Softplus",
           "LeakyReLU", "Flatten", "Identity", "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase",
           "RNNCell", "LSTMCell", "GRUCell", "ElementwiseActivation", "activation_module",
           "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout",
           "Dropout1d", "Dropout2d", "Dropout3d", "functional", "init", "parallel", "utils"]
