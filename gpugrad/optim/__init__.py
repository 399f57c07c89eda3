"""Optimizers with PyTorch's update rules, names, defaults and state-dict keys, and learning-rate
schedulers (:mod:`.lr_scheduler`). Each parameter update is one fused kernel on the GPU (its
NumPy twin on the CPU), in place, and never waits on the device."""
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer, required
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "required", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
