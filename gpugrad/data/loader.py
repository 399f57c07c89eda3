"""``DataLoader``: minibatches of a dataset as tensors on a device, in an order that depends only
on ``(seed, epoch)``.

PyTorch's signature, defaults and rules (``sampler`` and ``shuffle`` exclude each other,
``batch_sampler`` excludes ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``,
``batch_size=None`` yields single samples), plus gpugrad's keywords: ``seed``, ``device``,
``preload``, ``as_tensors``; and gpugrad's two-array form ``DataLoader(X, y, batch_size, ...)``,
which is ``DataLoader(TensorDataset(X, y), batch_size, ...)``.

The order rule: a pass over the loader is epoch ``loader.epoch``, read when the pass takes its
first batch, and its order is a function of ``(seed, epoch)`` alone. Handing out the pass's last
batch completes the epoch, and ``loader.epoch`` goes up by one. Nothing else changes it but
:meth:`DataLoader.set_epoch`: calling ``iter()`` does not (so a progress bar that calls it
twice, as ``tqdm.auto`` does, changes nothing), nor does a pass abandoned part way (the next
pass repeats that epoch: ``set_epoch`` picks another).
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np

from .. import backend
from ..tensor import Tensor
from .arrays import DeviceArrays
from .collate import batch_to_device, default_collate, default_convert, empty_batch
from .dataset import TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, as_indices, count, indices_of

__all__ = ["DataLoader"]


def _arguments(dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
               collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
               multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
               pin_memory_device="", in_order=True, seed=None, device=None, preload=None, as_tensors=True):
    """PyTorch's DataLoader signature, then gpugrad's keywords: the arguments, defaults filled in."""
    return dict(locals())


def _is_data(value):
    return isinstance(value, (Tensor, list, tuple)) or backend.is_array(value)


def _worker_options(num_workers, prefetch_factor, persistent_workers, timeout, multiprocessing_context):
    """PyTorch's checks of the worker options. gpugrad loads in the calling process: the fast
    path has no per-sample work to share out, and the batches are those workers would give."""
    num_workers = count(num_workers, "DataLoader: num_workers", 0)
    if timeout < 0:
        raise ValueError(f"DataLoader: timeout must be non-negative, got {timeout!r}")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("DataLoader: prefetch_factor is for worker processes (num_workers > 0)")
    if num_workers == 0 and (persistent_workers or multiprocessing_context is not None):
        raise ValueError("DataLoader: persistent_workers and multiprocessing_context are for worker processes "
                         "(num_workers > 0)")
    if num_workers:
        warnings.warn(f"DataLoader: num_workers={num_workers}: gpugrad loads every batch in this process (the "
                      "same batches, in the same order, that worker processes would give)", stacklevel=4)
    return num_workers


class DataLoader:
    """Minibatches of ``dataset`` on ``device``, as PyTorch's ``DataLoader``.

    ``DataLoader(dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
    num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
    worker_init_fn=None, multiprocessing_context=None, generator=None, *, prefetch_factor=None,
    persistent_workers=False, pin_memory_device='', in_order=True, seed=None, device=None,
    preload=None, as_tensors=True)``, or ``DataLoader(X, y, batch_size, ...)``.

    dataset : any map-style dataset (``__getitem__`` and ``__len__``): its samples are read one
        by one and batched by ``collate_fn`` (default :func:`default_collate`). A
        :class:`TensorDataset`, an array or Tensor, or a :class:`Subset` of one, takes the fast
        path instead: moved to the device once, each batch sliced (or gathered) there.
    shuffle / seed / generator : a new order each epoch, from ``(seed, epoch)``; the seed is
        ``seed``, else drawn once from ``generator`` (a NumPy Generator), else from gpugrad's
        generator (so ``gg.manual_seed`` makes it reproducible).
    sampler / batch_sampler : any sampler (gpugrad's, e.g. a
        :class:`~gpugrad.data.DistributedBatchSampler`, or one of your own with ``__iter__``).
    device : where batches live (None: the default device).
    preload : for the fast path: True moves the arrays to the device at construction; False
        gathers each batch on the host and moves it; None (default) preloads when they take at
        most ``PRELOAD_LIMIT_BYTES`` (1 GiB).
    as_tensors : yield gpugrad Tensors (default) or the raw device arrays.
    num_workers, pin_memory, ... : PyTorch's, checked as PyTorch does; batches are made in this
        process (``num_workers > 0`` warns that it does so).

    The order of each pass: see the module docstring (``epoch``, ``set_epoch``).
    """

    def __init__(self, dataset, *args, **kwargs):
        if args and _is_data(args[0]):   # gpugrad's two-array form: DataLoader(X, y, batch_size, ...)
            dataset, args = TensorDataset(dataset, args[0]), args[1:]
        try:
            a = _arguments(dataset, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(str(exc).replace("_arguments()", "DataLoader()")) from None
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError("DataLoader: dataset must be a map-style dataset (with __getitem__ and __len__), "
                            f"got {type(dataset).__name__}")
        self.dataset, self.num_samples = dataset, len(dataset)
        self.num_workers = _worker_options(a["num_workers"], a["prefetch_factor"], a["persistent_workers"],
                                           a["timeout"], a["multiprocessing_context"])
        for name in ("pin_memory", "timeout", "worker_init_fn", "multiprocessing_context", "prefetch_factor",
                     "persistent_workers", "pin_memory_device", "in_order", "generator"):
            setattr(self, name, a[name])
        self.device = backend.resolve_device(a["device"])
        self.as_tensors = bool(a["as_tensors"])
        self._epoch = 0
        self._samplers(a["batch_size"], a["shuffle"], a["sampler"], a["batch_sampler"], a["drop_last"],
                       a["generator"], a["seed"])
        self._reader(a["collate_fn"], a["preload"])

    def _samplers(self, batch_size, shuffle, sampler, batch_sampler, drop_last, generator, seed):
        """``sampler`` and ``batch_sampler`` by PyTorch's rules."""
        if shuffle is not None and not isinstance(shuffle, bool):
            raise TypeError(f"DataLoader: shuffle must be a bool or None, got {shuffle!r}")
        if not isinstance(drop_last, bool):
            raise TypeError(f"DataLoader: drop_last must be a bool, got {drop_last!r}")
        if seed is not None:
            count(seed, "DataLoader: seed", 0)
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last or seed is not None or generator is not None:
                raise ValueError("DataLoader: batch_sampler is mutually exclusive with batch_size, shuffle, sampler, "
                                 "drop_last, seed and generator (the batch sampler has its own)")
            batch_size, sampler = None, getattr(batch_sampler, "sampler", None)
        elif batch_size is None:
            if drop_last:
                raise ValueError("DataLoader: batch_size=None (one sample at a time) is mutually exclusive with drop_last")
        else:
            count(batch_size, "DataLoader: batch_size", 1)
        if sampler is not None and batch_sampler is None and (shuffle or seed is not None or generator is not None):
            raise ValueError("DataLoader: sampler is mutually exclusive with shuffle, seed and generator "
                             "(the sampler sets the order)")
        if sampler is None:
            sampler = (RandomSampler(self.dataset, generator=generator, seed=seed) if shuffle
                       else SequentialSampler(self.dataset))
        if batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.batch_size, self.drop_last = batch_size, drop_last and batch_sampler is not None
        source = getattr(sampler, "data_source", getattr(sampler, "dataset", None))
        if source is not None and source is not self.dataset and len(source) != self.num_samples:
            raise ValueError(f"DataLoader: the sampler is for {len(source)} samples, but the dataset has "
                             f"{self.num_samples}")

    def _reader(self, collate_fn, preload):
        """The fast path for whole arrays, else sample by sample through ``collate_fn``."""
        batched = self.batch_sampler is not None
        self.collate_fn = collate_fn or (default_collate if batched else default_convert)
        fast = batched and self.collate_fn is default_collate
        self._arrays = DeviceArrays.of(self.dataset, self.device, preload) if fast else None
        if self._arrays is None and preload:
            raise ValueError(f"DataLoader: preload is for datasets of whole arrays (a TensorDataset, an array, or a "
                             f"Subset of one) batched by default_collate; this {type(self.dataset).__name__} "
                             "is read sample by sample")
        self.preload = self._arrays is not None and self._arrays.preload

    # ----------------------------------------------------------------- epochs and order

    @property
    def seed(self):
        """The seed of the shuffle (None when the order is not random)."""
        return getattr(self.sampler, "seed", None)

    def _epoch_holder(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    @property
    def epoch(self) -> int:
        """The epoch the next pass will be (its sampler's, when that has one)."""
        return getattr(self._epoch_holder(), "epoch", self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` (its order depends only on the seed and the epoch);
        sets the sampler's epoch too."""
        self._epoch = count(epoch, "epoch", 0)
        holder = self._epoch_holder()
        if hasattr(holder, "set_epoch"):
            holder.set_epoch(self._epoch)

    def indices(self, epoch: int | None = None):
        """The sample indices (host int64 array) in the order epoch ``epoch`` visits them
        (default: the next epoch), including those a drop_last would skip."""
        holder = self._epoch_holder()
        if isinstance(holder, Sampler):
            return holder.order(epoch)
        epoch = self.epoch if epoch is None else count(epoch, "epoch", 0)
        if self.batch_sampler is None:
            return indices_of(holder, epoch)
        return np.concatenate([np.zeros(0, np.int64)] + list(self._own_batches(epoch)))

    def __len__(self) -> int:
        return len(self._epoch_holder())

    # ----------------------------------------------------------------- iteration

    def __iter__(self):
        return self._pass()

    def _pass(self):
        """One pass: epoch ``self.epoch`` as it is when the first batch is taken; handing out
        the last batch completes the epoch."""
        epoch = self.epoch
        steps, fetch = self._plan(epoch)
        if not steps:
            self._complete(epoch)
        for i, step in enumerate(steps):
            batch = fetch(step)
            if i == len(steps) - 1:
                self._complete(epoch)
            yield batch

    def _complete(self, epoch):
        if self.epoch == epoch:   # unless set_epoch chose another meanwhile
            self.set_epoch(epoch + 1)

    def _plan(self, epoch):
        """The epoch's steps, and how to make each step's batch."""
        bs, arrays = self.batch_sampler, self._arrays
        if bs is None:   # one sample at a time
            return indices_of(self.sampler, epoch).tolist(), self._single
        if isinstance(bs, BatchSampler):
            order = bs.order(epoch)
            spans = bs.spans(len(order))
            if arrays is None:
                return spans, lambda span: self._collated(order[span[0]:span[1]])
            on_device = arrays.epoch(None if isinstance(bs.sampler, SequentialSampler) else order)
            return spans, lambda span: arrays.take(on_device, span[0], span[1], self.as_tensors)
        steps = self._own_batches(epoch)   # a batch sampler of your own: its lists of indices
        if arrays is None:
            return steps, self._collated
        return steps, lambda idx: arrays.take(arrays.epoch(idx), 0, len(idx), self.as_tensors)

    def _own_batches(self, epoch):
        """Epoch ``epoch``'s batches from a batch sampler of your own (after its set_epoch)."""
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)
        return [as_indices(b, type(self.batch_sampler).__name__) for b in self.batch_sampler]

    def _samples(self, indices):
        get_many = getattr(self.dataset, "__getitems__", None)
        return get_many(indices) if callable(get_many) else [self.dataset[i] for i in indices]

    def _collated(self, indices):
        if len(indices):
            batch = self.collate_fn(self._samples(indices.tolist()))
        else:   # a rank's empty part of a short last batch: the batch's structure, no rows
            batch = empty_batch(self.collate_fn(self._samples([0])))
        return batch_to_device(batch, self.device, self.as_tensors)

    def _single(self, index):
        return batch_to_device(self.collate_fn(self.dataset[index]), self.device, self.as_tensors)

    def __repr__(self):
        how = self.batch_sampler if self.batch_sampler is not None else self.sampler
        return (f"DataLoader({type(self.dataset).__name__} of {self.num_samples} samples, {how!r}, "
                f"device='{self.device}', preload={self.preload})")


DataLoader.__init__.__signature__ = inspect.signature(_arguments).replace(parameters=[
    inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    *inspect.signature(_arguments).parameters.values()])
