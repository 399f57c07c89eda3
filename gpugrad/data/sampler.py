"""Samplers: which samples an epoch visits, in what order, and which of them each step takes.

PyTorch's names and signatures. One rule sets every order: epoch ``e`` of a sampler visits its
samples in an order that is a function of ``(seed, e)`` only, where ``seed`` is fixed when the
sampler is made (given, or drawn once from ``generator``, else from gpugrad's generator, which
:func:`gpugrad.manual_seed` seeds). Nothing else moves it: iterating a sampler repeats its epoch
until :meth:`Sampler.set_epoch` (as PyTorch's ``DistributedSampler``); a DataLoader sets the
epoch of the samplers it reads (see :class:`~gpugrad.data.DataLoader`).

A gpugrad sampler hands out a whole epoch at once, :meth:`Sampler.order` (a host int64 array),
and a batch sampler describes each step as a span ``(start, stop)`` of positions in that order,
so a DataLoader moves the order to the device once per epoch and slices it there. Samplers of
your own need only ``__iter__`` (and ``__len__``), as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["epoch_order", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "DistributedSampler", "BatchSampler", "DistributedBatchSampler",
           "indices_of"]


def count(value, what, minimum):
    """``value`` as an int, checked to be an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def generator_or_default(generator, where):
    """``generator`` (a NumPy Generator), or gpugrad's generator for None (``gg.manual_seed``)."""
    if generator is None:
        return backend.cpu_generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"{where}: generator must be a numpy.random.Generator (e.g. np.random.default_rng(0)) "
                        f"or None, got {type(generator).__name__}")
    return generator


def draw_seed(seed, generator, where):
    """The seed of a random order: ``seed`` itself, else one drawn (once) from ``generator``,
    a NumPy Generator, else from gpugrad's generator."""
    if seed is not None:
        if generator is not None:
            raise ValueError(f"{where}: pass seed or generator, not both")
        return count(seed, f"{where}: seed", 0)
    return int(generator_or_default(generator, where).integers(2**63))


def epoch_order(num_samples: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order (int64 indices) of epoch ``epoch``: a function of ``(seed, epoch)`` only."""
    rng = np.random.default_rng([seed, epoch])
    return rng.permutation(num_samples).astype(np.int64, copy=False)


def _length(data_source, where):
    if isinstance(data_source, (int, np.integer)) and not isinstance(data_source, bool):
        raise TypeError(f"{where}: data_source must be a dataset (anything with a len), got the int "
                        f"{data_source}; pass range({data_source}) for that many samples")
    try:
        return len(data_source)
    except TypeError:
        raise TypeError(f"{where}: data_source must have a len, got {type(data_source).__name__}") from None


def indices_of(sampler, epoch: int) -> np.ndarray:
    """Epoch ``epoch``'s indices from any sampler: a gpugrad one's :meth:`Sampler.order`, or what
    iterating one of your own gives (after its ``set_epoch(epoch)``, when it has one)."""
    if isinstance(sampler, Sampler):
        return sampler.order(epoch)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    return as_indices(list(sampler), type(sampler).__name__)


def as_indices(values, where) -> np.ndarray:
    """A host int64 array of sample indices, or a TypeError naming what is not an index."""
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        listed = values if isinstance(values, (list, tuple)) else []
        bad = next((v for v in listed if isinstance(v, bool) or not isinstance(v, (int, np.integer))), None)
        shown = repr(bad) if bad is not None else f"an array of {arr.dtype}, shape {arr.shape}"
        raise TypeError(f"{where}: sample indices must be ints, got {shown}")
    return arr.astype(np.int64, copy=False)


class Sampler:
    """Base class: the sample indices of an epoch. A subclass defines :meth:`order` (gpugrad's,
    the whole epoch as an array) or ``__iter__`` (PyTorch's); and ``__len__``."""

    _epoch = 0

    def __init__(self, data_source=None):
        pass

    @property
    def epoch(self) -> int:
        """The epoch that iterating gives (0 until :meth:`set_epoch`)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make iteration give epoch ``epoch`` (the DataLoader calls this as its epochs go by)."""
        self._epoch = count(epoch, "epoch", 0)

    def chosen(self, epoch: int | None) -> int:
        """``epoch`` checked, or the current epoch for None."""
        return self.epoch if epoch is None else count(epoch, "epoch", 0)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The indices (host int64 array) that epoch ``epoch`` visits, in order (default: the
        sampler's current epoch)."""
        if type(self).__iter__ is Sampler.__iter__:
            raise NotImplementedError(f"{type(self).__name__} must define order(epoch) or __iter__")
        if epoch is not None:
            self.set_epoch(epoch)
        return as_indices(list(iter(self)), type(self).__name__)

    def __iter__(self):
        return iter(self.order(self.epoch).tolist())


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1, every epoch."""

    def __init__(self, data_source):
        self.data_source = data_source
        _length(data_source, "SequentialSampler")

    def order(self, epoch=None):
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random order each epoch, from ``(seed, epoch)``: a permutation of the samples
    (repeated when ``num_samples`` is larger), or ``num_samples`` draws with replacement.

    ``generator`` (a NumPy Generator) gives the seed, drawn once here; ``seed=`` (gpugrad's)
    sets it instead. With neither it is drawn from gpugrad's generator (``gg.manual_seed``)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None, *, seed=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        _length(data_source, "RandomSampler")
        self._num_samples = None if num_samples is None else count(num_samples, "RandomSampler: num_samples", 1)
        self.seed = draw_seed(seed, generator, "RandomSampler")

    @property
    def num_samples(self) -> int:
        """Indices per epoch (default: the dataset's size)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def order(self, epoch=None):
        epoch = self.chosen(epoch)
        n, k = len(self.data_source), self.num_samples
        if k == n and not self.replacement:
            return epoch_order(n, self.seed, epoch)      # gpugrad's shuffle: the DataLoader's default
        if n == 0:
            raise ValueError(f"RandomSampler: cannot draw {k} samples from an empty dataset")
        rng = np.random.default_rng([self.seed, epoch])
        if self.replacement:
            return rng.integers(0, n, k, dtype=np.int64)
        parts = [rng.permutation(n) for _ in range(k // n)] + [rng.permutation(n)[:k % n]]
        return np.concatenate(parts).astype(np.int64, copy=False)

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a new random order each epoch (from ``(seed, epoch)``)."""

    def __init__(self, indices, generator=None, *, seed=None):
        self.indices = as_indices(indices, "SubsetRandomSampler")
        self.generator = generator
        self.seed = draw_seed(seed, generator, "SubsetRandomSampler")

    def order(self, epoch=None):
        epoch = self.chosen(epoch)
        return self.indices[epoch_order(len(self.indices), self.seed, epoch)]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn each epoch with probabilities proportional to ``weights``
    (with replacement by default), from ``(seed, epoch)``."""

    def __init__(self, weights, num_samples, replacement=True, generator=None, *, seed=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"WeightedRandomSampler: replacement must be a bool, got {replacement!r}")
        w = np.asarray(backend.to_numpy(weights.array if hasattr(weights, "array") else weights), dtype=np.float64)
        if w.ndim != 1 or not w.size or not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("WeightedRandomSampler: weights must be a non-empty 1-D sequence of finite, "
                             f"non-negative numbers, not all zero (got shape {w.shape})")
        self.num_samples = count(num_samples, "WeightedRandomSampler: num_samples", 1)
        if not replacement and self.num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {self.num_samples} samples without replacement "
                             f"from {np.count_nonzero(w)} with non-zero weight")
        self.weights, self.replacement, self.generator = w, replacement, generator
        self.seed = draw_seed(seed, generator, "WeightedRandomSampler")

    def order(self, epoch=None):
        epoch = self.chosen(epoch)
        rng = np.random.default_rng([self.seed, epoch])
        drawn = rng.choice(len(self.weights), self.num_samples, replace=self.replacement,
                           p=self.weights / self.weights.sum())
        return drawn.astype(np.int64, copy=False)

    def __len__(self):
        return self.num_samples


def _replicas(num_replicas, rank):
    """``(num_replicas, rank)``, by default those of gpugrad.distributed's process group."""
    if num_replicas is None or rank is None:
        from ..distributed import current  # noqa: PLC0415  (only when not given)

        group = current()
        num_replicas = group.world_size if num_replicas is None else num_replicas
        rank = group.rank if rank is None else rank
    num_replicas, rank = count(num_replicas, "num_replicas", 1), count(rank, "rank", 0)
    if rank >= num_replicas:
        raise ValueError(f"rank {rank} is not below num_replicas {num_replicas}")
    return num_replicas, rank


class DistributedSampler(Sampler):
    """PyTorch's: this rank's share of each epoch (every ``num_replicas``-th index of the
    epoch's order, the order padded by repeating its start so that all ranks get as many;
    ``drop_last`` drops the tail instead). ``seed`` must be the same on every rank. With it,
    ``batch_size`` of the DataLoader is per rank; :class:`DistributedBatchSampler` is the
    alternative that splits each global batch, so N ranks take one process's steps."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        self.dataset, self.shuffle, self.drop_last = dataset, bool(shuffle), bool(drop_last)
        _length(dataset, "DistributedSampler")
        self.num_replicas, self.rank = _replicas(num_replicas, rank)
        self.seed = count(seed, "DistributedSampler: seed", 0)

    @property
    def num_samples(self) -> int:
        """Indices per rank per epoch."""
        n, r = len(self.dataset), self.num_replicas
        return n // r if self.drop_last else -(-n // r)

    def order(self, epoch=None):
        epoch = self.chosen(epoch)
        n = len(self.dataset)
        everything = epoch_order(n, self.seed, epoch) if self.shuffle else np.arange(n, dtype=np.int64)
        total = self.num_samples * self.num_replicas
        if total > n:
            everything = np.resize(everything, total)   # repeats the start, as PyTorch pads
        return everything[:total][self.rank::self.num_replicas]

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Batches of ``batch_size`` indices over ``sampler``'s order, each epoch; the last one
    shorter, or dropped when ``drop_last``. ``sampler`` is any sampler or iterable of indices.

    A step is a span ``(start, stop)`` of positions in the epoch's order (:meth:`spans`);
    iterating gives each batch as a list of indices, as in PyTorch."""

    num_replicas, rank = 1, 0

    def __init__(self, sampler, batch_size, drop_last=False):
        if not hasattr(sampler, "__iter__"):
            raise TypeError(f"{type(self).__name__}: sampler must be a sampler or an iterable of indices "
                            f"(e.g. SequentialSampler(dataset)), got {type(sampler).__name__} {sampler!r}")
        if not isinstance(drop_last, bool):
            raise TypeError(f"{type(self).__name__}: drop_last must be a bool, got {drop_last!r}")
        self.sampler, self.drop_last = sampler, drop_last
        self.batch_size = count(batch_size, "batch_size", 1)

    @property
    def epoch(self) -> int:
        return getattr(self.sampler, "epoch", self._epoch)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    @property
    def seed(self):
        """The seed of the sampler's order (None when it has none)."""
        return getattr(self.sampler, "seed", None)

    def order(self, epoch=None):
        """All the indices epoch ``epoch`` visits, in order (including those ``drop_last`` skips)."""
        return indices_of(self.sampler, self.chosen(epoch))

    def global_spans(self, length: int | None = None) -> list[tuple[int, int]]:
        """``(start, stop)`` in an epoch's order (of ``length`` indices, by default the
        sampler's len) of each step's whole batch."""
        n, bs = (len(self.sampler) if length is None else length), self.batch_size
        steps = n // bs if self.drop_last else -(-n // bs)
        return [(b * bs, min((b + 1) * bs, n)) for b in range(steps)]

    def spans(self, length: int | None = None) -> list[tuple[int, int]]:
        """``(start, stop)`` in an epoch's order of this process's batch at each step."""
        return self.global_spans(length)

    def loss_weight(self, step: int) -> float:
        """The factor that makes this process's mean loss its share of the whole batch's mean
        once gradients are averaged over the processes: (its samples x processes) / batch."""
        return 1.0

    def batches(self, epoch: int | None = None):
        """This process's sample indices (host int64 arrays) at each step of epoch ``epoch``."""
        order = self.order(epoch)
        for start, stop in self.spans(len(order)):
            yield order[start:stop]

    def __iter__(self):
        for batch in self.batches():
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self.global_spans())

    def __repr__(self):
        shown = f"{type(self.sampler).__name__}" + (f"(seed={self.seed})" if self.seed is not None else "")
        return (f"{type(self).__name__}({shown}, batch_size={self.batch_size}, drop_last={self.drop_last}"
                + (f", rank={self.rank}, num_replicas={self.num_replicas})" if self.num_replicas > 1 else ")"))


class DistributedBatchSampler(BatchSampler):
    """This rank's part of every global batch (``batch_size`` is the global batch): each batch
    is split into ``num_replicas`` contiguous parts whose sizes differ by at most one, so the
    ranks together see exactly the samples one process would, step for step, and every rank
    takes the same number of steps (a rank's part of a short last batch may be empty).

    ``dataset`` is a dataset, its number of samples, or a sampler whose order to split (then
    ``shuffle`` and ``seed`` are its own). ``num_replicas`` and ``rank`` default to those of
    gpugrad.distributed's process group. ``seed`` must be the same on every rank (it is what
    makes the ranks agree on the order)."""

    def __init__(self, dataset, batch_size, num_replicas=None, rank=None, shuffle=False, seed=0,
                 drop_last=False):
        if isinstance(dataset, Sampler):
            if shuffle or seed != 0:
                raise ValueError("DistributedBatchSampler: a sampler brings its own order; "
                                 "shuffle and seed are for a dataset")
            sampler = dataset
        else:
            source = range(count(dataset, "num_samples", 0)) if isinstance(dataset, (int, np.integer)) else dataset
            sampler = RandomSampler(source, seed=seed) if shuffle else SequentialSampler(source)
        super().__init__(sampler, batch_size, bool(drop_last))
        self.num_replicas, self.rank = _replicas(num_replicas, rank)

    def spans(self, length=None):
        n, r = self.num_replicas, self.rank
        return [(start + (stop - start) * r // n, start + (stop - start) * (r + 1) // n)
                for start, stop in self.global_spans(length)]

    def loss_weight(self, step):
        size = min(self.batch_size, len(self.sampler) - step * self.batch_size)
        mine = size * (self.rank + 1) // self.num_replicas - size * self.rank // self.num_replicas
        return 1.0 if mine * self.num_replicas == size else mine * self.num_replicas / size
