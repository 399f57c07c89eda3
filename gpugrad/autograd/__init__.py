"""Reverse-mode automatic differentiation: graph nodes, the backward pass, grad modes, hooks.

* :mod:`.op`: ``Op``, one op on raw arrays and the graph node it leaves behind (the built-in
  ops of :mod:`gpugrad.functions` subclass it), and the saved-state contract;
* :mod:`.function`: ``Function``, PyTorch's API for writing an op of your own;
* :mod:`.api`: ``backward`` and ``grad`` (``create_graph=True`` for higher-order gradients);
* :mod:`.engine`: the walk from the outputs back to the leaves (:mod:`.targets` cuts it down);
* :mod:`.grad_mode`: ``no_grad``, ``enable_grad``, ``set_grad_enabled`` (per thread);
* :mod:`.hooks`: gradient hooks on tensors;
* :mod:`.anomaly`: ``detect_anomaly``, which names the op and the line behind a NaN;
* :mod:`.functional`: ``jacobian``, ``hessian``, ``vjp``, ``jvp``, ``vhp``, ``hvp``.
"""
from . import functional
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .api import backward, grad
from .engine import retain_grad
from .function import Function, FunctionCtx
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .hooks import RemovableHandle, register_hook, register_post_accumulate_grad_hook
from .op import Op, array_of, rebase_history

__all__ = ["Op", "array_of", "rebase_history", "Function", "FunctionCtx", "backward", "grad", "retain_grad", "functional",
           "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "detect_anomaly",
           "set_detect_anomaly", "is_anomaly_enabled", "RemovableHandle", "register_hook",
           "register_post_accumulate_grad_hook"]
