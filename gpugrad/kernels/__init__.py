"""Fused kernels: one launch per gate instead of two to four, each with a NumPy twin.

Every public function takes NumPy or CuPy arrays and dispatches on the array module of its
first argument, with the same signature and semantics on both: the NumPy *twin* (written with
in-place ufuncs and as few temporaries as the rule allows; the CPU backend's hot path and the
oracle of the GPU tests), or the CUDA kernels of ``kernels/*.cu``. The package mirrors those
files: :mod:`.loader` loads, caches and launches; one module per family holds its twins and its
dispatch. Nothing here synchronises the host with the device.
"""
from .activations import (ACTIVATION_CODES, activation_bwd, activation_fwd, bias_act_fwd,
                          relu_bwd, relu_fwd, sigmoid_bwd, sigmoid_fwd)
from .layer_norm import layer_norm_bwd, layer_norm_fwd
from .loader import (ELEMENTWISE_PRELUDE, ELEMENTWISE_SPECS, KERNEL_DIR, NVRTC_OPTIONS,
                     elementwise_kernel, kernel_source, raw_kernel)
from .pointwise import POINTWISE_CODES, pointwise_bwd, pointwise_fwd
from .conv import Window, col2im, im2col
from .dropout import dropout_apply, dropout_key
from .normalization import (batch_norm_apply, batch_norm_grad, batch_norm_stats, channel_dots,
                            channel_sums)
from .optim import (adagrad_step, adam_step, adam_step_dev, multi_tensor_updates, rmsprop_step,
                    sgd_step)
from .reduction import sum_rows, total_norm
from .rnn import gru_cell_bwd, gru_cell_fwd, lstm_cell_bwd, lstm_cell_fwd
from .scatter import index_add_rows
from .softmax_xent import softmax_xent_bwd, softmax_xent_fwd

__all__ = [
    "KERNEL_DIR", "NVRTC_OPTIONS", "ELEMENTWISE_SPECS", "ELEMENTWISE_PRELUDE", "kernel_source",
    "raw_kernel", "elementwise_kernel", "ACTIVATION_CODES", "sigmoid_fwd", "sigmoid_bwd",
    "relu_fwd", "relu_bwd", "activation_fwd", "activation_bwd", "bias_act_fwd", "softmax_xent_fwd",
    "softmax_xent_bwd", "sgd_step", "adam_step", "adam_step_dev", "rmsprop_step", "adagrad_step",
    "multi_tensor_updates", "sum_rows", "total_norm",
    "lstm_cell_fwd", "lstm_cell_bwd", "gru_cell_fwd", "gru_cell_bwd",
    "index_add_rows", "layer_norm_fwd", "layer_norm_bwd", "POINTWISE_CODES", "pointwise_fwd", "pointwise_bwd",
    "Window", "im2col", "col2im", "dropout_apply", "dropout_key",
    "channel_sums", "channel_dots", "batch_norm_stats", "batch_norm_apply", "batch_norm_grad",
]
