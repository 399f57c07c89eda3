"""Collectives on tensors, PyTorch's ``torch.distributed`` calls: every rank calls the same ones,
in the same order, with tensors of the same shape and dtype.

* ``all_reduce(t, op="sum")``: ``t`` becomes the reduction of every rank's ``t``, in place
  (op: sum, mean, max, min, prod);
* ``broadcast(t, src=0)``: ``t`` becomes rank ``src``'s ``t``, in place;
* ``barrier()``; ``broadcast_object(obj, src)`` and ``all_gather_object(obj)`` for picklable
  Python objects (settings, shapes, error messages).

CUDA tensors of an "nccl" job go through NCCL, queued on the current stream; everything else
through MPI. Writing into a tensor counts as an in-place modification (its version goes up).
With ``async_op=True``, ``all_reduce`` and ``broadcast`` return a :class:`~.work.Work` whose
``wait()`` completes them; otherwise they return None once done.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor
from .group import current
from .work import DoneWork

__all__ = ["REDUCE_OPS", "all_reduce", "broadcast", "barrier", "broadcast_object", "all_gather_object"]

REDUCE_OPS = ("sum", "mean", "max", "min", "prod")


def _writable_tensor(what, tensor):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expected a Tensor, got {type(tensor).__name__}")
    if not getattr(tensor.array.flags, "writeable", True):
        raise ValueError(f"{what}: the tensor of shape {tensor.shape} is a read-only view; "
                         "pass a tensor that owns its memory")
    return tensor


def _check_op(tensor, op):
    if op not in REDUCE_OPS:
        raise ValueError(f"all_reduce: op must be one of {', '.join(REDUCE_OPS)}; got {op!r}")
    kind = tensor.dtype.kind
    if op == "mean" and kind != "f":
        raise TypeError(f"all_reduce: op 'mean' needs a floating-point tensor, got dtype {tensor.dtype} "
                        "(use op='sum' and divide)")
    if kind == "b" and op not in ("max", "min"):
        raise TypeError(f"all_reduce: a bool tensor can only be reduced with 'max' (any) or 'min' (all), "
                        f"not {op!r}")


def all_reduce(tensor, op="sum", async_op=False):
    """Reduce ``tensor`` across all ranks, in place (see the module docstring)."""
    _writable_tensor("all_reduce", tensor)
    _check_op(tensor, op)
    group = current()
    tensor.increment_version()
    if group.world_size == 1:
        return DoneWork() if async_op else None
    transport = group.transport_for(tensor.array)
    base_op = "sum" if op == "mean" else op
    if not async_op:
        transport.all_reduce(tensor.array, base_op)
        if op == "mean":
            _divide(tensor.array, group.world_size)
        return None
    work = transport.all_reduce_async(tensor.array, base_op)
    if op == "mean":
        array = tensor.array
        work.then(lambda: _divide(array, group.world_size))
    return work


def _divide(array, n):
    backend.array_module(array).multiply(array, array.dtype.type(1.0 / n), out=array)


def broadcast(tensor, src=0, async_op=False):
    """Overwrite ``tensor`` on every rank with rank ``src``'s, in place."""
    _writable_tensor("broadcast", tensor)
    group = current()
    _check_rank("broadcast", src, group)
    tensor.increment_version()
    if group.world_size > 1:
        group.transport_for(tensor.array).broadcast(tensor.array, int(src))
    return DoneWork() if async_op else None


def barrier() -> None:
    """Return once every rank has called barrier() (on an "nccl" job, after this GPU's queued work)."""
    group = current()
    (group.nccl or group.mpi).barrier()


def broadcast_object(obj, src=0):
    """Rank ``src``'s ``obj`` (any picklable object) on every rank."""
    group = current()
    _check_rank("broadcast_object", src, group)
    return group.mpi.broadcast_object(obj, int(src))


def all_gather_object(obj) -> list:
    """Every rank's ``obj``, as a list indexed by rank."""
    return current().mpi.all_gather_object(obj)


def _check_rank(what, src, group):
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < group.world_size:
        raise ValueError(f"{what}: src={src!r} is not a rank of this job (ranks 0 to {group.world_size - 1})")
