"""Datasets, as PyTorch's ``torch.utils.data``: the map-style :class:`Dataset` protocol
(``dataset[i]`` is sample ``i``, ``len(dataset)`` their number), :class:`TensorDataset` (the rows
of tensors), :class:`Subset`, :class:`ConcatDataset` and :func:`random_split`.

A DataLoader reads any of them sample by sample; a TensorDataset (or a Subset of one) it reads
as whole arrays instead, on the device (see :mod:`gpugrad.data.arrays`).
"""
from __future__ import annotations

import bisect
import math
import warnings

import numpy as np

from .. import backend, creation
from ..tensor import Tensor
from .sampler import generator_or_default

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """Base class of map-style datasets: define ``__getitem__(index)`` (one sample: a tensor,
    an array, a number, or a tuple / list / dict of them) and ``__len__``. ``a + b`` is their
    :class:`ConcatDataset`."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__ (and __len__)")

    def __add__(self, other):
        return ConcatDataset([self, other])


def _tensor_of(data, position):
    """``data`` as a Tensor: itself, an array wrapped without a copy, or Python data converted."""
    if isinstance(data, Tensor):
        return data
    try:
        return creation.as_tensor(data) if backend.is_array(data) else creation.tensor(data)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"TensorDataset: tensor {position}: {exc}") from None


class TensorDataset(Dataset):
    """Sample ``i`` is ``tuple(t[i] for t in tensors)``: the ``i``-th rows of tensors (gpugrad
    Tensors, NumPy or CuPy arrays, kept where they are without a copy) that share their first
    dimension. A DataLoader takes its batches as slices of the whole arrays, on the device."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(_tensor_of(t, k) for k, t in enumerate(tensors))
        for k, t in enumerate(self.tensors):
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {k} is 0-d; every tensor needs a first (sample) dimension")
            if t.shape[0] != self.tensors[0].shape[0]:
                raise ValueError("TensorDataset: the tensors must have the same number of samples (first "
                                 f"dimension), got shapes {self.tensors[0].shape} and {t.shape} (tensors 0 and {k})")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def __repr__(self):
        return f"TensorDataset({', '.join(f'{t.shape} {t.dtype} on {t.device}' for t in self.tensors)})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (any sequence of ints), in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices):
        """Several samples at once (the DataLoader's batched read, as in PyTorch)."""
        inner = [self.indices[i] for i in indices]
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__(inner)
        return [self.dataset[i] for i in inner]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of ``datasets``, one dataset after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets must not be empty")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ConcatDataset indices must be ints, got {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for {n} samples")
        index = int(index) % n
        which = bisect.bisect_right(self.cumulative_sizes, index)
        return self.datasets[which][index - (self.cumulative_sizes[which - 1] if which else 0)]


def _split_lengths(n, lengths):
    """Integer lengths from ``lengths`` (ints summing to ``n``, or fractions summing to 1:
    floored, the remainder handed out one by one from the first split on, as PyTorch does)."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths must not be empty")
    if any(isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) for x in lengths):
        raise TypeError(f"random_split: lengths must be ints or fractions, got {lengths!r}")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and not all(isinstance(x, (int, np.integer)) for x in lengths):
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction {frac!r} at index {i} is not between 0 and 1")
        sizes = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        empty = [i for i, size in enumerate(sizes) if size == 0]
        if empty:
            warnings.warn(f"random_split: split{'s' * (len(empty) > 1)} {', '.join(map(str, empty))} of "
                          f"{n} samples {'are' if len(empty) > 1 else 'is'} empty", stacklevel=3)
        return sizes
    if any(isinstance(x, (float, np.floating)) or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative ints summing to {n}, or fractions summing to "
                         f"1, got {lengths!r}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the dataset has {n} samples")
    return [int(x) for x in lengths]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into :class:`Subset` s of the given ``lengths`` (ints that sum
    to its size, or fractions that sum to 1). The permutation comes from ``generator`` (a NumPy
    Generator, e.g. ``np.random.default_rng(42)``), by default gpugrad's (``gg.manual_seed``)."""
    generator = generator_or_default(generator, "random_split")
    sizes = _split_lengths(len(dataset), lengths)
    order = generator.permutation(sum(sizes)).tolist()
    ends = np.cumsum(sizes).tolist()
    return [Subset(dataset, order[end - size:end]) for end, size in zip(ends, sizes)]
