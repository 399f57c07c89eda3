"""The processes of a ``gpugrad-train`` run: one, or one per rank when ``mpiexec -n N`` started it.

With several processes the run is data-parallel and needs no option of its own: each process
joins the job (MPI; NCCL on CUDA, one GPU per local rank), the model is wrapped in
DistributedDataParallel, ``--batch-size`` stays the global batch and each rank takes its part of
every batch (:class:`~gpugrad.data.DistributedBatchSampler`), and the epoch's figures are summed
over the ranks. Rank 0 alone prints and writes files; it alone reads a checkpoint to resume
from, and sends it to the others, so ``--out`` need only exist on rank 0's host.

Failures: bad input found while setting up (options, data, checkpoints) is agreed on by all
ranks, so the job ends with one ``gpugrad-train: error: ...`` line from rank 0 and status 2
(naming the rank when only some failed); a failure after that on one rank ends every rank at
once (``MPI_Abort``) with that rank's message.
"""
from __future__ import annotations

import sys

from .. import distributed
from ..checkpoint import CheckpointError
from ..data import DataError, DistributedBatchSampler
from .settings import UsageError, run_device

__all__ = ["Processes", "SETUP_ERRORS"]

SETUP_ERRORS = (UsageError, DataError, CheckpointError)


class Processes:
    """This process's place in the run (rank 0 of 1 without mpiexec)."""

    def __init__(self, launched=None):
        launched = distributed.launched_world() if launched is None else launched
        self.rank, self.size = launched if launched is not None and launched[1] > 1 else (0, 1)
        self.group = None
        self.setting_up = True   # bad input found so far is found by every rank (see agree)

    @property
    def parallel(self) -> bool:
        return self.size > 1

    @property
    def is_writer(self) -> bool:
        """Rank 0 prints, writes metrics, curves and checkpoints; the others stay silent."""
        return self.rank == 0

    def start(self, device_spec):
        """The device this process trains on; with several processes, join the job first."""
        if not self.parallel:
            return run_device(device_spec)
        if distributed.is_initialized():
            self.group = distributed.current()
        else:
            try:
                self.group = distributed.init(device=device_spec)
            except ImportError as exc:
                raise UsageError(f"training under mpiexec: {exc}") from None
            except (RuntimeError, ValueError) as exc:  # the same on every rank (init agrees)
                raise UsageError(str(exc)) from None
        self.rank, self.size = self.group.rank, self.group.world_size
        return self.group.device

    def from_rank0(self, fn, *args):
        """``fn(*args)`` run on rank 0 alone and sent to every rank; a setup error it raises is
        raised on every rank."""
        if not self.parallel:
            return fn(*args)
        outcome = None
        if self.rank == 0:
            try:
                outcome = ("ok", fn(*args))
            except SETUP_ERRORS as exc:
                outcome = ("error", (type(exc), str(exc)))
        kind, value = distributed.broadcast_object(outcome, 0)
        if kind == "error":
            raise value[0](value[1])
        return value

    def agree(self, fn, *args):
        """Run a setup step on every rank; when it failed on some (bad input), raise the first
        failing rank's error on all of them, so they all stop at the same point."""
        try:
            result, problem = fn(*args), None
        except SETUP_ERRORS as exc:
            if not self.parallel:
                raise
            result, problem = None, exc
        if not self.parallel:
            return result
        problems = distributed.all_gather_object(None if problem is None else (type(problem), str(problem)))
        failed = [(r, p) for r, p in enumerate(problems) if p is not None]
        if not failed:
            return result
        r, (kind, message) = failed[0]
        raise kind(message if len(failed) == self.size else f"rank {r}: {message}")

    def setup_done(self) -> None:
        """From here on a failure is one rank's own: it ends the whole job."""
        self.setting_up = False

    def batch_sampler(self, num_samples, batch_size, shuffle=False, seed=0):
        """This process's batches: its rank's part of each batch (all of it, with one process)."""
        return DistributedBatchSampler(num_samples, batch_size, self.size, self.rank, shuffle=shuffle, seed=seed)

    def data_parallel(self, model):
        """``model`` itself, or wrapped so its gradients are averaged over the processes."""
        return distributed.DistributedDataParallel(model) if self.parallel else model

    def fail(self, message: str, code: int, agreed=False, every_rank=False) -> int:
        """Report a failure; return the exit status ``code``, or end the whole job with it.

        ``agreed``: every rank has this failure at the same point (bad input found while setting
        up, see :meth:`agree`): rank 0 reports it and every rank returns. ``every_rank``: all ranks
        have it, but not at one point (Ctrl-C, which mpiexec sends to all): rank 0 reports it and
        the job is ended. Otherwise this rank alone failed: it reports it, naming its rank, and
        ends every rank (MPI_Abort)."""
        quiet = agreed or every_rank
        if self.parallel and not quiet:
            message = message.replace(": error: ", f": error: rank {self.rank}: ", 1)
        if self.is_writer or not quiet:
            print(message, file=sys.stderr, flush=True)
        if self.group is not None and not agreed:
            self.group.abort(None, code)
        return code
