"""Which samples each step takes.

Epoch ``e`` visits the samples in an order that depends only on ``(seed, e)`` (a resumed run
repeats it), cut into global batches of ``batch_size``. A :class:`BatchSampler` hands out those
batches; a :class:`DistributedBatchSampler` hands each rank its part of every global batch: the
batch is split into ``num_replicas`` contiguous parts whose sizes differ by at most one, so the
ranks together see exactly the samples one process would, step for step, and every rank takes
the same number of steps (a rank's part of a short last batch may be empty).

A sampler describes a step as a span ``(start, stop)`` of positions in the epoch's order, so a
DataLoader can slice an order it has moved to the device once per epoch.
"""
from __future__ import annotations

import numpy as np

__all__ = ["epoch_order", "BatchSampler", "DistributedBatchSampler"]


def _count(value, what, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def epoch_order(num_samples: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order (int64 indices) of epoch ``epoch``: a function of ``(seed, epoch)`` only."""
    rng = np.random.default_rng([seed, epoch])
    return rng.permutation(num_samples).astype(np.int64, copy=False)


class BatchSampler:
    """Batches of ``batch_size`` positions over each epoch's order (the DataLoader's default)."""

    num_replicas, rank = 1, 0

    def __init__(self, num_samples, batch_size, shuffle=False, seed=0, drop_last=False):
        self.num_samples = _count(num_samples, "num_samples", 0)
        self.batch_size = _count(batch_size, "batch_size", 1)
        self.seed = _count(seed, "seed", 0)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices in the order epoch ``epoch`` visits them (all of them, including
        those a drop_last would skip)."""
        if not self.shuffle:
            return np.arange(self.num_samples, dtype=np.int64)
        return epoch_order(self.num_samples, self.seed, epoch)

    def global_spans(self) -> list[tuple[int, int]]:
        """``(start, stop)`` in the epoch's order of each step's whole batch."""
        n, bs = self.num_samples, self.batch_size
        steps = n // bs if self.drop_last else -(-n // bs)
        return [(b * bs, min((b + 1) * bs, n)) for b in range(steps)]

    def spans(self) -> list[tuple[int, int]]:
        """``(start, stop)`` in the epoch's order of this process's batch at each step."""
        return self.global_spans()

    def loss_weight(self, step: int) -> float:
        """The factor that makes this process's mean loss its share of the whole batch's mean
        once gradients are averaged over the processes: (its samples x processes) / batch."""
        return 1.0

    def batches(self, epoch: int):
        """This process's sample indices at each step of epoch ``epoch``."""
        order = self.order(epoch)
        for start, stop in self.spans():
            yield order[start:stop]

    def __len__(self) -> int:
        return len(self.global_spans())

    def __repr__(self):
        return (f"{type(self).__name__}(num_samples={self.num_samples}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}"
                + (f", rank={self.rank}, num_replicas={self.num_replicas})" if self.num_replicas > 1 else ")"))


class DistributedBatchSampler(BatchSampler):
    """This rank's part of every global batch (``batch_size`` is the global batch).

    ``num_replicas`` and ``rank`` default to those of gpugrad.distributed's process group.
    ``seed`` must be the same on every rank (it is what makes the ranks agree on the order)."""

    def __init__(self, num_samples, batch_size, num_replicas=None, rank=None, shuffle=False, seed=0,
                 drop_last=False):
        super().__init__(num_samples, batch_size, shuffle, seed, drop_last)
        if num_replicas is None or rank is None:
            from ..distributed import current  # noqa: PLC0415  (only when not given)

            group = current()
            num_replicas = group.world_size if num_replicas is None else num_replicas
            rank = group.rank if rank is None else rank
        self.num_replicas = _count(num_replicas, "num_replicas", 1)
        self.rank = _count(rank, "rank", 0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"rank {self.rank} is not below num_replicas {self.num_replicas}")

    def spans(self):
        n, r = self.num_replicas, self.rank
        return [(start + (stop - start) * r // n, start + (stop - start) * (r + 1) // n)
                for start, stop in self.global_spans()]

    def loss_weight(self, step):
        size = min(self.batch_size, self.num_samples - step * self.batch_size)
        mine = size * (self.rank + 1) // self.num_replicas - size * self.rank // self.num_replicas
        return 1.0 if mine * self.num_replicas == size else mine * self.num_replicas / size
