"""``DataLoader``: minibatches of host arrays as tensors on a device, in an order that depends
only on ``(seed, epoch)``."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import wrap
from .sampler import BatchSampler

__all__ = ["DataLoader", "PRELOAD_LIMIT_BYTES"]


PRELOAD_LIMIT_BYTES = 1 << 30  # preload=None moves datasets up to this size to the device once


class DataLoader:
    """Minibatches ``(Tensor(xb), Tensor(yb))`` of ``(X, y)`` on a device.

    Parameters
    ----------
    X, y : arrays with the same first dimension (host NumPy arrays, normally).
    batch_size : positive int.
    shuffle : visit samples in a new random order each epoch.
    seed : seed of the shuffle. The order of epoch ``e`` depends only on ``(seed, e)``, so a
        resumed run reproduces it (see :meth:`set_epoch`). None draws a seed once from
        :func:`gpugrad.backend.cpu_generator` (so ``gg.manual_seed`` makes it reproducible).
    device : where batches live; None is the default device.
    drop_last : drop the last batch when it is smaller than ``batch_size``.
    preload : True moves X and y to the device once, at construction, and slices each batch
        there (shuffling gathers through an index array moved once per epoch); False gathers each
        batch on the host and moves it; None (default) preloads when X and y together take at
        most ``PRELOAD_LIMIT_BYTES`` (1 GiB).
    as_tensors : yield gpugrad Tensors (default) or the raw device arrays.
    batch_sampler : which samples each step takes, instead of ``batch_size``, ``shuffle``,
        ``seed`` and ``drop_last`` (as in PyTorch): e.g. a
        :class:`~gpugrad.data.DistributedBatchSampler`, this rank's part of each global batch.

    Iterating starts an epoch: it uses the current epoch number and then advances it, so a plain
    ``for epoch in ...: for xb, yb in loader:`` sees epochs 0, 1, 2, ... ``set_epoch(e)`` makes the
    next iteration be epoch ``e``.
    """

    def __init__(self, X, y, batch_size=None, shuffle=False, seed=None, device=None, drop_last=False,
                 preload=None, as_tensors=True, batch_sampler=None):
        if batch_sampler is None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                      or batch_size <= 0):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not backend.is_array(X):
            X = np.asarray(X)
        if not backend.is_array(y):
            y = np.asarray(y)
        if X.ndim == 0 or y.ndim == 0:
            raise ValueError(f"X and y must have a sample axis, got shapes {X.shape} and {y.shape}")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}; they must match")
        self.batch_sampler = self._sampler(batch_sampler, int(X.shape[0]), batch_size, shuffle, seed, drop_last)
        self.device = backend.resolve_device(device)
        self.as_tensors = bool(as_tensors)
        self.num_samples = int(X.shape[0])
        self._epoch = 0
        # Integer labels' bounds, read while they are on the host: lets a GPU loss check the
        # labels of every batch without a device synchronisation (Tensor.value_bounds).
        self._label_bounds = (int(y.min()), int(y.max())) if (
            isinstance(y, np.ndarray) and y.dtype.kind in "iu" and y.size) else None
        on_host = isinstance(X, np.ndarray) and isinstance(y, np.ndarray)
        if preload is None:
            preload = (not on_host) or (X.nbytes + y.nbytes <= PRELOAD_LIMIT_BYTES)
        self.preload = bool(preload) or not on_host  # arrays already on a device are never gathered on the host
        if self.preload:
            if self.device.type != "cpu":
                X = backend.to_device(np.ascontiguousarray(X) if isinstance(X, np.ndarray) else X, self.device)
                y = backend.to_device(np.ascontiguousarray(y) if isinstance(y, np.ndarray) else y, self.device)
            else:
                X, y = backend.to_device(X, self.device), backend.to_device(y, self.device)
        self._X, self._y = X, y

    @staticmethod
    def _sampler(given, num_samples, batch_size, shuffle, seed, drop_last):
        if given is not None:
            if batch_size is not None or shuffle or seed is not None or drop_last:
                raise ValueError("batch_sampler is mutually exclusive with batch_size, shuffle, seed and drop_last "
                                 "(the sampler has its own)")
            if given.num_samples != num_samples:
                raise ValueError(f"the batch_sampler is for {given.num_samples} samples, but X has {num_samples}")
            return given
        if seed is None:
            seed = int(backend.cpu_generator().integers(2**63))
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        return BatchSampler(num_samples, batch_size, shuffle, seed, drop_last)

    batch_size = property(lambda self: self.batch_sampler.batch_size)
    shuffle = property(lambda self: self.batch_sampler.shuffle)
    seed = property(lambda self: self.batch_sampler.seed)
    drop_last = property(lambda self: self.batch_sampler.drop_last)

    # ----------------------------------------------------------------- epochs and order

    @property
    def epoch(self) -> int:
        """The epoch number the next iteration will use."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (its order depends only on seed and epoch)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self._epoch = int(epoch)

    def indices(self, epoch: int | None = None) -> np.ndarray:
        """The sample indices (host int64 array) in the order epoch ``epoch`` visits them
        (default: the next epoch), including those a drop_last would skip."""
        return self.batch_sampler.order(self._epoch if epoch is None else int(epoch))

    def __len__(self) -> int:
        return len(self.batch_sampler)

    # ----------------------------------------------------------------- iteration

    def __iter__(self):
        order = self.indices(self._epoch) if self.shuffle else None
        self._epoch += 1
        return self._batches(order)

    def _batches(self, order):
        X, y, dev = self._X, self._y, self.device
        if order is not None and self.preload:
            order = backend.to_device(order, dev)  # once per epoch; batches gather on the device
        for start, stop in self.batch_sampler.spans():
            if order is None:
                xb, yb = X[start:stop], y[start:stop]
            else:
                idx = order[start:stop]
                with dev.context():   # the gather runs on the loader's GPU
                    xb, yb = X[idx], y[idx]
            if not self.preload:
                xb, yb = backend.to_device(xb, dev), backend.to_device(yb, dev)
            if self.as_tensors:
                xb, yb = wrap(xb, dev), wrap(yb, dev)
                yb.value_bounds = self._label_bounds
            yield xb, yb

    def __repr__(self):
        return (f"DataLoader(num_samples={self.num_samples}, {self.batch_sampler!r}, device='{self.device}', "
                f"preload={self.preload})")
