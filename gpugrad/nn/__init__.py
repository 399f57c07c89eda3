"""Neural-network building blocks: Module, Parameter, layers and ``functional``."""
from . import functional, init, parallel
from .activation import (ElementwiseActivation, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh,
                         activation_module)
from .container import Sequential
from .linear import Flatten, Identity, Linear
from .module import Module, Parameter

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ReLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "Flatten", "Identity", "ElementwiseActivation", "activation_module",
           "functional", "init", "parallel"]
