"""gpugrad: reverse-mode tensor autograd on the GPU (CuPy) with a NumPy fallback.

    import gpugrad as gg
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # tensor([2., 4.])
"""
import numpy as _np

__version__ = "0.1.0"

from . import autograd, backend, functions  # noqa: E402  (functions binds Tensor's operators)
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from .backend import (Device, cuda_available, get_default_device, manual_seed,  # noqa: E402
                      set_default_device, synchronize)
from .creation import (arange, as_tensor, from_dlpack, from_numpy, full, ones,  # noqa: E402
                       ones_like, rand, randn, tensor, zeros, zeros_like)
from .functions import (abs, argmax, argmin, broadcast_to, cat, chunk, clamp, clip,  # noqa: E402
                        concat, concatenate, cumsum, einsum, exp, flip, gather, log, log_softmax, logsumexp, matmul,
                        maximum, minimum, norm, relu, repeat_interleave, sigmoid, softmax, split,
                        sqrt, squeeze, stack, std, take_along_axis, take_along_dim, tanh, tile,
                        unbind, unsqueeze, var, where)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
from .tensor import Tensor  # noqa: E402

from . import checkpoint, cuda, data, distributed, nn, optim, viz  # noqa: E402
from .serialization import load, save  # noqa: E402

float16, float32, float64 = _np.float16, _np.float32, _np.float64
int32, int64, bool_ = _np.int32, _np.int64, _np.bool_

__all__ = [
    "Tensor", "tensor", "as_tensor", "from_numpy", "from_dlpack", "zeros", "ones", "full", "zeros_like", "ones_like", "randn",
    "rand", "arange", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "gradcheck", "gradgradcheck", "GradcheckError", "autograd", "manual_seed", "Device", "cuda_available",
    "get_default_device", "set_default_device", "synchronize", "backend", "functions", "nn",
    "optim", "data", "checkpoint", "distributed", "viz", "cuda", "save", "load", "abs", "clamp", "clip",
    "concatenate", "exp", "log", "log_softmax",
    "matmul", "maximum", "minimum", "relu", "sigmoid", "softmax", "sqrt", "stack", "tanh",
    "where", "gather", "take_along_axis", "take_along_dim", "cumsum", "var", "std", "logsumexp",
    "norm", "cat", "concat", "squeeze", "unsqueeze", "broadcast_to", "repeat_interleave", "tile",
    "flip", "split", "chunk", "unbind", "einsum", "argmax", "argmin",
    "float16", "float32", "float64", "int32", "int64", "bool_",
]
