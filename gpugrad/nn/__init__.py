"""Neural-network building blocks: Module, Parameter, layers and ``functional``."""
from . import functional, init, parallel, utils
from .activation import (ElementwiseActivation, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh,
                         activation_module)
from .container import Sequential
from .linear import Flatten, Identity, Linear
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ReLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "Flatten", "Identity", "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase",
           "RNNCell", "LSTMCell", "GRUCell", "ElementwiseActivation", "activation_module",
           "functional", "init", "parallel", "utils"]
