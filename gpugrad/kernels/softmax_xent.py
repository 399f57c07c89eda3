"""Softmax + cross-entropy over a batch of logits, forward and backward, fused: the CUDA kernels
of ``kernels/softmax_xent.cu`` (arithmetic in ``softmax_xent.cuh``) and their NumPy twins."""
from __future__ import annotations

import numpy as np

from .. import backend
from . import loader
from .loader import (BLOCK_SIZE, MAX_GRID, PACK_BYTES, RAW_SUFFIX, check_floating, define_raw)

__all__ = ["softmax_xent_fwd", "softmax_xent_bwd"]

define_raw("softmax_xent.cu", "softmax_xent_fwd", "softmax_xent_bwd")

def softmax_xent_fwd(logits, labels):
    """Mean softmax cross-entropy of a batch: ``loss = mean_i(-log softmax(logits_i)[labels_i])``.

    ``logits`` is (B, C) floating, ``labels`` (B,) integer. Returns ``(loss, saved)``: loss is
    a 0-d array of the logits' dtype on the logits' device, saved the softmax probabilities
    (B, C), which is what :func:`softmax_xent_bwd` needs. Stable for any logits (log-sum-exp
    with the row max subtracted). A label outside [0, C) raises IndexError on the CPU; on
    the GPU (where checking would need a host sync) it makes the loss NaN.
    """
    if logits.ndim != 2 or labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"softmax_xent_fwd needs logits (B, C) and labels (B,), got "
                         f"{logits.shape} and {labels.shape}")
    if logits.shape[1] == 0:
        raise ValueError("softmax_xent_fwd needs at least one class (C >= 1)")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if backend.array_module(logits) is np:
        return _softmax_xent_fwd_np(logits, labels)
    return _softmax_xent_fwd_cuda(logits, labels)


def softmax_xent_bwd(saved, labels, gloss):
    """``dlogits = (softmax - onehot(labels)) * gloss / B``: the gradient of the mean loss.

    ``saved`` is the probabilities from :func:`softmax_xent_fwd`; ``gloss`` the upstream
    gradient of the loss, a 0-d array on the same device (a Python float is accepted too).
    """
    if backend.array_module(saved) is np:
        return _softmax_xent_bwd_np(saved, labels, gloss)
    return _softmax_xent_bwd_cuda(saved, labels, gloss)


def _softmax_xent_fwd_np(logits, labels):
    B, C = logits.shape
    if B and (labels.min() < 0 or labels.max() >= C):
        bad = labels[(labels < 0) | (labels >= C)][0]
        raise IndexError(f"label {bad} is out of range for {C} classes")
    rows = np.arange(B)
    m = logits.max(axis=1, keepdims=True)
    p = np.subtract(logits, m)                   # x - m
    picked = p[rows, labels]                     # x[label] - m
    np.exp(p, out=p)                             # e^(x - m)
    s = p.sum(axis=1, keepdims=True)
    p /= s                                       # softmax
    loss_rows = np.log(s.reshape(B))
    loss_rows -= picked                          # log(s) - (x[label] - m)
    return loss_rows.mean(keepdims=True).reshape(()), p


def _softmax_xent_bwd_np(p, labels, gloss):
    B = p.shape[0]
    scale = np.asarray(gloss, dtype=p.dtype).reshape(()) / p.dtype.type(B)
    dx = p.copy()
    dx[np.arange(B), labels] -= 1                # p - onehot
    dx *= scale
    return dx


def _softmax_xent_fwd_cuda(logits, labels):
    cp = backend.cupy_module()
    dtype = logits.dtype
    suffix = RAW_SUFFIX.get(dtype)
    if suffix is None:                           # float16 and friends: compute in float32
        check_floating("softmax_xent_fwd", logits)
        x, suffix = logits.astype(cp.float32), "f32"
    else:
        x = cp.ascontiguousarray(logits)
    labels = cp.ascontiguousarray(labels, dtype=cp.int64)
    B, C = x.shape
    probs = cp.empty((B, C), dtype=x.dtype)
    loss_rows = cp.empty((B,), dtype=x.dtype)
    if B:
        warps_per_block = BLOCK_SIZE // 32
        grid = min((B + warps_per_block - 1) // warps_per_block, MAX_GRID)
        loader.raw_kernel(f"softmax_xent_fwd_{suffix}")(
            (grid,), (BLOCK_SIZE,), (x, labels, probs, loss_rows, np.int64(B), np.int64(C)))
    loss = loss_rows.mean()
    if loss.dtype != dtype:
        loss, probs = loss.astype(dtype), probs.astype(dtype)
    return loss, probs


def _softmax_xent_bwd_cuda(p, labels, gloss):
    cp = backend.cupy_module()
    dtype = p.dtype
    suffix = RAW_SUFFIX.get(dtype)
    if suffix is None:
        check_floating("softmax_xent_bwd", p)
        work, suffix = p.astype(cp.float32), "f32"
    elif not p.flags.c_contiguous or p.data.ptr % PACK_BYTES:
        work = p.copy()                          # fresh: contiguous and aligned
    else:
        work = p
    if isinstance(gloss, cp.ndarray):
        g = gloss.reshape(()).astype(work.dtype, copy=False)
    else:                                        # a host number: a fill kernel, no copy
        g = cp.full((), float(np.asarray(gloss).reshape(())), dtype=work.dtype)
    labels = cp.ascontiguousarray(labels, dtype=cp.int64)
    B, C = work.shape
    dx = cp.empty_like(work)
    if dx.size:
        loader.launch_flat(f"softmax_xent_bwd_{suffix}", dx.size, dx.itemsize,
                     (work, labels, g, dx, np.int64(B), np.int64(C)))
    return dx if dx.dtype == dtype else dx.astype(dtype)
