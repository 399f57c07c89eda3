"""Reverse-mode automatic differentiation: graph nodes, the backward pass, grad modes, hooks.

* :mod:`.grad_mode`: ``no_grad``, ``enable_grad``, ``set_grad_enabled`` (per thread);
* :mod:`.function`: ``Function``, one op and the graph node it leaves behind;
* :mod:`.engine`: ``backward``, the walk from an output back to the leaves;
* :mod:`.hooks`: gradient hooks on tensors.
"""
from .engine import backward, retain_grad
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .hooks import RemovableHandle, register_hook, register_post_accumulate_grad_hook

__all__ = ["Function", "backward", "retain_grad", "no_grad", "enable_grad", "is_grad_enabled",
           "set_grad_enabled", "RemovableHandle", "register_hook",
           "register_post_accumulate_grad_hook"]
