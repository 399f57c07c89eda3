"""The DataLoader's fast path: a dataset of whole arrays (a :class:`TensorDataset`, one array
or Tensor, or a :class:`Subset` of either) is moved to the loader's device once, and each
batch is a slice, or a gather through the epoch's order, made there: no per-sample Python, and
no host round trip. Integer arrays that were on the host keep their value bounds in every
batch (``Tensor.value_bounds``), so a GPU loss checks labels without reading them.
"""
from __future__ import annotations

import numpy as np

from .. import backend, creation
from ..tensor import Tensor, wrap
from .dataset import Subset, TensorDataset
from .sampler import as_indices

__all__ = ["DeviceArrays", "PRELOAD_LIMIT_BYTES"]

PRELOAD_LIMIT_BYTES = 1 << 30  # preload=None moves datasets up to this size to the device once


def _positions(indices, n, what):
    """``indices`` checked to lie in ``[-n, n)``, negatives counted from the end (as Python's)."""
    if indices.size and (indices.min() < -n or indices.max() >= n):
        bad = indices[(indices < -n) | (indices >= n)][0]
        raise IndexError(f"{what} gives index {bad}, but the dataset has {n} samples")
    return np.where(indices < 0, indices + n, indices) if indices.size and indices.min() < 0 else indices


def _unwrap(dataset):
    """``(tensors, single, index_map)`` of a dataset made of whole arrays, or None."""
    index_map = None
    while isinstance(dataset, Subset):
        inner = as_indices(dataset.indices, "Subset")
        if index_map is not None:
            index_map = inner[_positions(index_map, len(inner), "a Subset")]
        else:
            index_map = inner
        dataset = dataset.dataset
    if isinstance(dataset, TensorDataset):
        tensors, single = dataset.tensors, False
    elif isinstance(dataset, Tensor) or backend.is_array(dataset):
        if dataset.ndim == 0:
            raise ValueError("DataLoader: a dataset array needs a first (sample) dimension, got a 0-d one")
        tensors, single = (dataset if isinstance(dataset, Tensor) else creation.as_tensor(dataset),), True
    else:
        return None
    if any(t.requires_grad for t in tensors):
        return None   # read sample by sample, so batches keep their graph (as in PyTorch)
    if index_map is not None:
        index_map = _positions(index_map, tensors[0].shape[0], "a Subset")
    return tensors, single, index_map


class DeviceArrays:
    """The arrays of an in-memory dataset, on the loader's device (``preload``), or on the
    host, gathered batch by batch and moved (not ``preload``)."""

    @classmethod
    def of(cls, dataset, device, preload):
        """The fast path for ``dataset``, or None when it is not made of whole arrays."""
        found = _unwrap(dataset)
        return None if found is None else cls(*found, device, preload)

    def __init__(self, tensors, single, index_map, device, preload):
        self.device, self.single = device, single
        self.bounds = [t.value_bounds for t in tensors]
        arrays = [t.array for t in tensors]
        self.num_samples = arrays[0].shape[0] if index_map is None else len(index_map)
        on_host = all(isinstance(a, np.ndarray) for a in arrays)
        if preload is None:
            row_bytes = sum(a.nbytes // max(a.shape[0], 1) for a in arrays)
            preload = row_bytes * self.num_samples <= PRELOAD_LIMIT_BYTES
        self.preload = bool(preload) or not on_host   # arrays already on a device are never gathered on the host
        if self.preload:
            if index_map is not None:   # the subset's rows, gathered once where the data is
                arrays = [a[backend.to_device(index_map, backend.device_of(a))] for a in arrays]
                index_map = None
            if device.type != "cpu":
                arrays = [np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a for a in arrays]
            arrays = [backend.to_device(a, device) for a in arrays]
        self.arrays, self.index_map = arrays, index_map

    def epoch(self, order):
        """The epoch's ``order`` (host int64 indices, or None for 0, 1, ..., n-1) ready for
        :meth:`take`: checked, mapped through a Subset's indices, and on the device when
        preloaded (moved once per epoch)."""
        if order is not None:
            order = _positions(order, self.num_samples, "the sampler")
            if self.index_map is not None:
                order = self.index_map[order]
        elif self.index_map is not None:
            order = self.index_map
        if order is not None and self.preload:
            order = backend.to_device(order, self.device)
        return order

    def take(self, order, start, stop, as_tensors=True):
        """The batch at positions ``start:stop`` of an :meth:`epoch` order: one Tensor for a
        single array, else a list of them (as collating a TensorDataset's tuples gives)."""
        dev, preload, parts = self.device, self.preload, []
        idx = None if order is None else order[start:stop]
        with dev.context():   # a gather runs on the loader's GPU
            for array, bounds in zip(self.arrays, self.bounds):
                part = array[start:stop] if idx is None else array[idx]
                if not preload:
                    part = backend.to_device(part, dev)
                if as_tensors:
                    part = wrap(part, dev)
                    if bounds is not None:
                        part.value_bounds = bounds
                parts.append(part)
        return parts[0] if self.single else parts
