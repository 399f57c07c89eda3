"""Neural-network building blocks: Module, Parameter, layers and ``functional``."""
from . import functional, init, parallel, utils
from .activation import (ElementwiseActivation, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh,
                         activation_module)
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import Sequential
from .conv import Conv1d, Conv2d
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .linear import Flatten, Identity, Linear
from .module import Module, Parameter
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d,
                      MaxPool2d)

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ReLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "Flatten", "Identity", "ElementwiseActivation", "activation_module",
           "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout", "Dropout1d", "Dropout2d",
           "Dropout3d", "functional", "init", "parallel", "utils"]
