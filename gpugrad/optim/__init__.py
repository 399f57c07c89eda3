"""Optimizers with PyTorch's update rules. Each parameter update is one fused kernel on the GPU
(its NumPy twin on the CPU), in place, and never waits on the device."""
from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam"]
