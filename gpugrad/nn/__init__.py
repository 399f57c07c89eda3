"""Neural-network building blocks: Module, Parameter, layers and ``functional``."""
from . import functional, init
from .layers import Flatten, Identity, Linear, LogSoftmax, ReLU, Sequential, Sigmoid, Softmax, Tanh
from .module import Module, Parameter

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ReLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "Flatten", "Identity", "functional", "init"]
