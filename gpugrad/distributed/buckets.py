"""Gradient buckets of DistributedDataParallel (PyTorch DDP's design, VLDB 2020).

Parameters are grouped into buckets of about ``bucket_cap_mb`` in the reverse of their
registration order, which is roughly the order backward finishes their gradients, so a bucket
fills early and its all-reduce overlaps the rest of backward. The first bucket is capped at
``FIRST_BUCKET_MB`` (PyTorch's ``_DEFAULT_FIRST_BUCKET_BYTES``) so communication starts soon.

Each bucket owns one flat buffer. When its gradients are all final they are copied into it and
scaled by 1/N in the same pass (``multiply(g, 1/N, out=slot)``), one all-reduce (sum) of the
buffer averages them across the N ranks, and each parameter's ``.grad`` then *is* its slot of
the buffer, reshaped (PyTorch's ``gradient_as_bucket_view``): no copy back. The gradients
backward made are only read, never written: backward may still be using that memory (an add
of a parameter to an activation of the same shape hands both the same gradient array), so
scaling them in place in the middle of backward would change gradients not yet propagated.
"""
from __future__ import annotations

from ..tensor import wrap

__all__ = ["FIRST_BUCKET_MB", "assign_buckets", "Bucket"]

FIRST_BUCKET_MB = 1.0
MB = 2 ** 20


def assign_buckets(params, cap_bytes, first_cap_bytes=FIRST_BUCKET_MB * MB) -> list[list[int]]:
    """Lists of indices into ``params``, in the order the buckets will be all-reduced.

    Parameters are taken from last to first; one bucket per (device, dtype) is open at a time,
    and it closes as soon as it holds at least its cap (``first_cap_bytes`` for the first bucket
    to close, ``cap_bytes`` after). Buckets are all-reduced in the order of their first
    parameter (the one whose gradient is expected first)."""
    open_buckets = {}   # (device, dtype) -> [indices, bytes]
    closed = []
    for i in reversed(range(len(params))):
        p = params[i]
        entry = open_buckets.setdefault((p.device, p.dtype), [[], 0])
        entry[0].append(i)
        entry[1] += p.size * p.dtype.itemsize
        if entry[1] >= (cap_bytes if closed else min(cap_bytes, first_cap_bytes)):
            closed.append(entry[0])
            del open_buckets[(p.device, p.dtype)]
    return sorted(closed + [indices for indices, _ in open_buckets.values()], key=lambda b: -b[0])


class Bucket:
    """One flat buffer for the gradients of ``params`` (same device and dtype)."""

    def __init__(self, params, indices):
        self.params, self.indices = params, indices
        dev = params[0].device
        self.nbytes = sum(p.size * p.dtype.itemsize for p in params)
        with dev.context():
            self.flat = dev.xp.empty(sum(p.size for p in params), dtype=params[0].dtype)
        self.views, offset = [], 0
        for p in params:
            self.views.append(self.flat[offset:offset + p.size])
            offset += p.size
        self.pending = len(params)   # gradients not final yet in this round
        self.work = None             # the all-reduce in flight

    def launch(self, transport, world_size) -> None:
        """Copy every gradient into the buffer times 1/N (one pass), then start the all-reduce."""
        dev = self.params[0].device
        xp, scale = dev.xp, self.params[0].dtype.type(1.0 / world_size)
        with dev.context():
            for p, view in zip(self.params, self.views):
                xp.multiply(p.grad.array.reshape(-1), scale, out=view)
        self.work = transport.all_reduce_async(self.flat, "sum")

    def poll(self) -> None:
        self.work.poll()

    def finish(self) -> None:
        """Wait for the all-reduce; each parameter's ``.grad`` becomes its averaged slot."""
        self.work.wait()
        self.work = None
        for p, view in zip(self.params, self.views):
            p.grad = wrap(view.reshape(p.array.shape), p.device)

    def __repr__(self):
        return f"Bucket({len(self.params)} parameters, {self.nbytes / MB:.3g} MiB)"
