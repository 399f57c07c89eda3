"""Batch normalisation layers: ``BatchNorm1d`` ((N, C) or (N, C, L)) and ``BatchNorm2d``
((N, C, H, W)), PyTorch's.

In training a layer normalises with the batch's statistics and, with ``track_running_stats``,
moves its running mean and (unbiased) variance toward them: by ``momentum``, or, with
``momentum=None``, to the cumulative average over the batches seen (``num_batches_tracked``).
In eval mode it normalises with the running statistics (or with the batch's, when it keeps
none). ``running_mean``, ``running_var`` and ``num_batches_tracked`` are buffers: in
``state_dict()`` under those names, moved by ``to()``, never trained.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..functions import normalization
from ..tensor import wrap
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    ndims = ()          # the accepted numbers of input dimensions

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=np.float32):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dev, dtype = backend.resolve_device(device), np.dtype(dtype)
        with dev.context():
            xp = dev.xp
            self.weight = Parameter(xp.empty(num_features, dtype)) if affine else None
            self.bias = Parameter(xp.empty(num_features, dtype)) if affine else None
            tracked = (xp.zeros(num_features, dtype), xp.ones(num_features, dtype), xp.zeros((), np.int64)) \
                if track_running_stats else (None,) * 3
        for name, array in zip(("running_mean", "running_var", "num_batches_tracked"), tracked):
            self.register_buffer(name, None if array is None else wrap(array, dev))
        self.reset_parameters()

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            for buffer, value in ((self.running_mean, 0), (self.running_var, 1), (self.num_batches_tracked, 0)):
                with buffer.device.context():
                    buffer.data[...] = value

    def reset_parameters(self):
        """The running statistics reset, weight 1 and bias 0."""
        self.reset_running_stats()
        if self.affine:
            for p, value in ((self.weight, 1), (self.bias, 0)):
                with p.device.context():
                    p.data[...] = value

    def _check_input_dim(self, x):
        if x.ndim not in self.ndims:
            want = " or ".join(f"{n}D" for n in self.ndims)
            raise ValueError(f"{type(self).__name__}: expected {want} input (got {x.ndim}D input of shape "
                             f"{tuple(x.shape)})")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): an input of shape {tuple(x.shape)} "
                             f"has {x.shape[1]} channels (axis 1), not {self.num_features}")

    def forward(self, x):
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            counter = self.num_batches_tracked
            with counter.device.context():
                counter.data[...] += 1
            if self.momentum is None:   # the cumulative average (reads the count, as PyTorch does)
                factor = 1.0 / float(counter.item())
        batch_stats = self.training or self.running_mean is None
        use_running = not self.training or self.track_running_stats
        return normalization.batch_norm(x, self.running_mean if use_running else None,
                                        self.running_var if use_running else None, self.weight,
                                        self.bias, batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """PyTorch's BatchNorm1d: over (N, C) or (N, C, L), per channel C."""

    ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """PyTorch's BatchNorm2d: over (N, C, H, W), per channel C."""

    ndims = (4,)
