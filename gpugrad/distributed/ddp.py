"""``DistributedDataParallel``: the same model on every rank, gradients averaged across ranks.

    gpugrad.distributed.init()                      # under mpiexec -n N
    model = DistributedDataParallel(build_model())  # rank 0's parameters on every rank
    loss = F.cross_entropy(model(xb), yb)           # xb: this rank's share of the batch
    opt.zero_grad(); loss.backward(); opt.step()    # .grad is the mean over the N ranks

At wrap time every rank's parameters are checked to have the same names, shapes and dtypes
(else ValueError listing what differs) and rank 0's values are broadcast. During backward, a
post-accumulate hook on each parameter tells when its gradient is final; a bucket (see
:mod:`.buckets`) whose gradients are all final is all-reduced at once, without blocking,
while backward goes on (MPI ``Iallreduce``; NCCL on a side stream). Buckets start in
the same order on every rank. When the last gradient is final, backward waits for them all (on
NCCL: the current stream does, not the host), so ``loss.backward()`` returns with averaged
gradients and the optimizer reads them as usual. ``no_sync()`` skips the averaging for
gradient accumulation.

Every trainable parameter must get a gradient in every backward on every rank; one that did not
is reported (by name) at the next forward, as PyTorch does.
"""
from __future__ import annotations

import contextlib
import time

from .buckets import MB, Bucket, assign_buckets
from .collectives import all_gather_object, broadcast
from .group import current

__all__ = ["DistributedDataParallel"]


def _named_trainable(module):
    if hasattr(module, "named_parameters"):
        named = list(module.named_parameters())
    else:
        named = [(f"parameter {i}", p) for i, p in enumerate(module.parameters())]
    return [(name, p) for name, p in named if p.requires_grad]


def _check_same_parameters(named, group):
    """Every rank must hold the same parameters; raise ValueError (on every rank) saying which differ."""
    mine = [(name, tuple(p.shape), str(p.dtype)) for name, p in named]
    everyone = all_gather_object(mine)
    problems = []
    for r, theirs in enumerate(everyone[1:], 1):
        if len(theirs) != len(everyone[0]):
            problems.append(f"rank {r} has {len(theirs)} trainable parameters, rank 0 has {len(everyone[0])}")
        problems += [f"{n1!r} is {s1} {d1} on rank {r} but {n0!r} is {s0} {d0} on rank 0"
                     for (n0, s0, d0), (n1, s1, d1) in zip(everyone[0], theirs) if (n0, s0, d0) != (n1, s1, d1)]
    if problems:
        more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
        raise ValueError("DistributedDataParallel: the ranks' models differ: " + "; ".join(problems[:8]) + more)
    wrong = [(name, p.device) for name, p in named if p.device is not group.device]
    if wrong:
        raise ValueError(f"DistributedDataParallel: parameter {wrong[0][0]!r} is on {wrong[0][1]}, but rank "
                         f"{group.rank}'s device is {group.device} (move the model with model.to(...))")


class DistributedDataParallel:
    """Wraps ``module`` (anything with ``parameters()`` and ``__call__``) for data-parallel training.

    ``bucket_cap_mb``: bucket size (PyTorch's default 25 MB). ``broadcast_buffers`` (PyTorch's
    default True): each forward first copies rank 0's buffers (BatchNorm's running statistics)
    to every rank, so all ranks evaluate and checkpoint the same model. ``overlap=False`` starts no
    all-reduce before backward has finished every gradient (the back-to-back baseline the
    benchmark compares with). Set ``timeline`` to a list to record ``(time.perf_counter(), event,
    index)`` tuples: ``"grad_ready"`` (parameter index), ``"launch"`` and ``"reduced"`` (bucket).
    """

    def __init__(self, module, bucket_cap_mb=25, overlap=True, broadcast_buffers=True):
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        group = current()
        named = _named_trainable(module)
        _check_same_parameters(named, group)
        self.module, self.group = module, group
        self.bucket_cap_mb, self.overlap = bucket_cap_mb, bool(overlap)
        buffers = getattr(module, "buffers", None)
        self._buffers = list(buffers()) if broadcast_buffers and buffers and group.world_size > 1 else []
        self.timeline = None
        self._names = [name for name, _ in named]
        self._params = [p for _, p in named]
        for p in self._params:
            broadcast(p, 0)
        self._sync = True
        self._buckets = []
        if group.world_size > 1 and self._params:
            self._buckets = [Bucket([self._params[i] for i in indices], indices)
                             for indices in assign_buckets(self._params, bucket_cap_mb * MB)]
            self._bucket_of = {i: b for b in self._buckets for i in b.indices}
            self._index = {id(p): i for i, p in enumerate(self._params)}
            self._transport = group.transport_for(self._params[0].array)
            for p in self._params:
                p.register_post_accumulate_grad_hook(self._on_grad_ready)
        self._new_round()

    # ------------------------------------------------------------------ the module's face
    def forward(self, *args, **kwargs):
        if self._n_ready:
            raise RuntimeError(self._unfinished_message())
        for b in self._buffers:
            broadcast(b, 0)
        return self.module(*args, **kwargs)

    __call__ = forward

    def parameters(self):
        return self.module.parameters()

    def named_parameters(self, *args, **kwargs):
        return self.module.named_parameters(*args, **kwargs)

    def state_dict(self):
        """The wrapped module's state dict (the same keys as without the wrapper)."""
        return self.module.state_dict()

    def load_state_dict(self, state_dict, strict=True):
        return self.module.load_state_dict(state_dict, strict)

    def train(self, mode=True):
        self.module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    @property
    def buckets(self):
        """The gradient buckets, in all-reduce order: lists of parameter names."""
        return [[self._names[i] for i in b.indices] for b in self._buckets]

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside only accumulate local gradients; the first one after the block
        averages the accumulated sum across ranks (gradient accumulation)."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous

    def __repr__(self):
        return (f"DistributedDataParallel(rank {self.group.rank} of {self.group.world_size}, "
                f"{len(self._buckets)} buckets, backend '{self.group.backend}')\n  (module): "
                + repr(self.module).replace("\n", "\n  "))

    # ------------------------------------------------------------------ one round of averaging
    def _new_round(self):
        self._ready = [False] * len(self._params)
        self._n_ready = 0
        self._next_bucket = 0
        self._in_flight = []
        for b in self._buckets:
            b.pending = len(b.params)

    def _log(self, event, index):
        self.timeline.append((time.perf_counter(), event, index))

    def _on_grad_ready(self, p):
        """Post-accumulate hook: ``p.grad`` is final for this backward."""
        if not self._sync:
            return
        i = self._index[id(p)]
        if self._ready[i]:
            raise RuntimeError(self._unfinished_message())
        self._ready[i] = True
        self._n_ready += 1
        if self.timeline is not None:
            self._log("grad_ready", i)
        self._bucket_of[i].pending -= 1
        if self.overlap:
            self._launch_ready_buckets()
        if self._n_ready == len(self._params):
            self._finish_round()
        elif self._in_flight:
            self._in_flight[0].poll()   # MPI moves data only inside MPI calls

    def _launch_ready_buckets(self):
        """Start, in bucket order, every bucket whose gradients are all final."""
        buckets = self._buckets
        while self._next_bucket < len(buckets) and buckets[self._next_bucket].pending == 0:
            b = buckets[self._next_bucket]
            b.launch(self._transport, self.group.world_size)
            self._in_flight.append(b)
            if self.timeline is not None:
                self._log("launch", self._next_bucket)
            self._next_bucket += 1

    def _finish_round(self):
        """Every gradient is final: wait for every bucket (the gradients are then averaged)."""
        self._launch_ready_buckets()
        for k, b in enumerate(self._buckets):
            b.finish()
            if self.timeline is not None:
                self._log("reduced", k)
        self._new_round()

    def _unfinished_message(self):
        missing = [name for name, ready in zip(self._names, self._ready) if not ready]
        return (f"DistributedDataParallel: the previous backward on rank {self.group.rank} gave no gradient to "
                f"{', '.join(map(repr, missing[:10]))}{' ...' if len(missing) > 10 else ''}, so their "
                "buckets were never averaged across ranks. Every trainable parameter must take part in the "
                "loss on every rank (set requires_grad=False on the ones that do not, before wrapping).")
