"""Neural-network building blocks: Module, Parameter, layers and ``functional``."""
from . import functional, init, parallel, utils
from .activation import (ELU, GELU, ElementwiseActivation, LeakyReLU, LogSoftmax, ReLU, Sigmoid,
                         SiLU, Softmax, Softplus, Tanh,
                         activation_module)
from .container import Sequential
from .linear import Flatten, Identity, Linear
from .module import Module, Parameter

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ReLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "GELU", "SiLU", "ELU", "Softplus", "LeakyReLU", "Flatten", "Identity", "ElementwiseActivation", "activation_module",
           "functional", "init", "parallel", "utils"]
