"""The job's process group: who this process is (rank, world size, local rank), its device, the
transport that moves its arrays (MPI, and NCCL on CUDA), and what happens when a rank fails.

:func:`init` is called once per process, after ``mpiexec`` has started the job. On CUDA each
process takes the GPU of its local rank (its index among the processes on its host) and the
backend is "nccl"; on the CPU it is "mpi". An uncaught exception on any rank afterwards ends all
ranks (``MPI_Abort``, after aborting NCCL) with that rank's message, and the watchdog ends the
job when a wait on the other ranks lasts longer than the timeout.
"""
from __future__ import annotations

import datetime
import os
import sys
import time

import numpy as np

from ..backend import Device, cuda_device_count, resolve_device, set_default_device
from .launch import load_mpi, share_cpu_cores
from .mpi import MPITransport
from .watchdog import Watchdog

__all__ = ["ProcessGroup", "init", "is_initialized", "current", "rank", "world_size", "local_rank",
           "get_backend", "device", "abort", "destroy", "DEFAULT_TIMEOUT_S", "BACKENDS"]

BACKENDS = ("mpi", "nccl")
DEFAULT_TIMEOUT_S = 600.0   # PyTorch's default for NCCL; GPUGRAD_DIST_TIMEOUT overrides it
# mpiexec ends the job as soon as one rank aborts, and may drop what that rank wrote just before
# unless it has a moment to forward it: the failing rank's message must reach the user.
ABORT_GRACE_S = 0.5
_state = {"group": None}


class ProcessGroup:
    """The processes of this job, as seen from one of them (see the module docstring)."""

    def __init__(self, MPI, dev, backend_name, timeout, local_rank):
        comm = MPI.COMM_WORLD
        self.rank, self.world_size, self.local_rank = comm.Get_rank(), comm.Get_size(), local_rank
        self.device, self.backend = dev, backend_name
        self._comm = comm
        self.watchdog = Watchdog(timeout, self._timed_out)
        self.mpi = MPITransport(comm, self.watchdog)
        self.nccl = None
        if backend_name == "nccl":
            from .nccl import NCCLTransport  # noqa: PLC0415  (only CUDA jobs load the NCCL path)

            try:
                self.nccl = NCCLTransport(self.mpi, self.rank, self.world_size, dev, self.watchdog)
            except Exception as exc:   # the other ranks may be waiting inside NCCL: end them too
                if self.world_size == 1:
                    self.watchdog.stop()
                    raise
                self.abort(f"gpugrad.distributed.init: rank {self.rank} of {self.world_size} could not create "
                           f"its NCCL communicator ({type(exc).__name__}: {exc}); ending all ranks", 1)

    def transport_for(self, array):
        """NCCL for CUDA arrays of an "nccl" job; MPI for everything else."""
        if self.nccl is not None and not isinstance(array, np.ndarray):
            return self.nccl
        return self.mpi

    def abort(self, message=None, code=1):
        """Print ``message`` on stderr and end every rank of the job with status ``code``."""
        sys.stdout.flush()
        if message:
            sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()
        time.sleep(ABORT_GRACE_S)
        if self.nccl is not None:
            try:
                self.nccl.abort()
            except Exception:   # already broken: MPI_Abort below still ends the job
                pass
        self._comm.Abort(int(code))

    def _timed_out(self, what):
        self.abort(f"gpugrad.distributed: rank {self.rank} of {self.world_size}: {what} has waited more than "
                   f"{self.watchdog.timeout:g} s for the other ranks (one of them has died, hangs, or left the "
                   "job early); ending all ranks", 1)

    def close(self):
        self.watchdog.stop()
        if self.nccl is not None:
            self.nccl.close()

    def __repr__(self):
        return (f"ProcessGroup(rank={self.rank}, world_size={self.world_size}, local_rank={self.local_rank}, "
                f"backend='{self.backend}', device='{self.device}')")


# --------------------------------------------------------------------------- setting up

def _timeout_seconds(timeout):
    if timeout is None:
        text = os.environ.get("GPUGRAD_DIST_TIMEOUT")
        if text is None:
            return DEFAULT_TIMEOUT_S
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"GPUGRAD_DIST_TIMEOUT={text!r} is not a number of seconds") from None
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


def _wants_local_gpu(spec):
    """True when the device was left to choose: None/'auto' (the default) or plain 'cuda'."""
    if spec is None:
        return os.environ.get("GPUGRAD_DEVICE", "auto").strip().lower() in ("", "auto", "cuda")
    return isinstance(spec, str) and spec.strip().lower() in ("auto", "cuda")


def _this_rank_device(spec, local_rank, local_size):
    """The device this rank computes on: with CUDA and no GPU named, the GPU of its local rank."""
    dev = resolve_device(spec, check=True)
    if dev.type == "cuda" and _wants_local_gpu(spec):
        count = cuda_device_count()
        if local_size > count:
            raise RuntimeError(f"{local_size} processes on this host need a GPU each, but {count} CUDA "
                               "device(s) are visible; start at most that many per host, or use device='cpu'")
        dev = Device(f"cuda:{local_rank}")
    return dev


def _agreed(comm, fn, *args):
    """Run ``fn`` on every rank; if it raised on any, raise the same error on all of them."""
    try:
        result, problem = fn(*args), None
    except (RuntimeError, ValueError) as exc:
        result, problem = None, (type(exc), str(exc))
    problems = comm.allgather(problem)
    failed = [(r, p) for r, p in enumerate(problems) if p is not None]
    if failed:
        r, (kind, message) = failed[0]
        where = "" if len(failed) == len(problems) else f"rank {r}: "
        raise kind(f"gpugrad.distributed.init: {where}{message}")
    return result


def init(backend=None, device=None, timeout=None) -> ProcessGroup:
    """Join the job that ``mpiexec`` started: rank, world size and local rank come from MPI.

    ``device``: None (the default device), 'auto' or 'cuda' take the GPU of this process's local
    rank when CUDA is present (and make it the default device); 'cpu' or 'cuda:N' are used as
    given. ``backend``: None chooses from the device, "nccl" on CUDA and "mpi" on the CPU; "mpi"
    also works for CUDA tensors (through host copies). ``timeout`` (seconds or a timedelta;
    default ``$GPUGRAD_DIST_TIMEOUT``, else 600): how long any wait on the other ranks may last
    before the job is ended. The processes of a host share its cores: each caps its BLAS threads
    at its share, unless OMP_NUM_THREADS or the like is set. Returns the ProcessGroup (also
    reachable through the functions of this package).
    """
    if _state["group"] is not None:
        raise RuntimeError("gpugrad.distributed.init() was already called in this process")
    if backend not in (None, *BACKENDS):
        raise ValueError(f"gpugrad.distributed.init: backend must be one of {BACKENDS} or None, got {backend!r}")
    seconds = _timeout_seconds(timeout)
    MPI = load_mpi()
    comm = MPI.COMM_WORLD
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    local_rank, local_size = local.Get_rank(), local.Get_size()
    local.Free()
    share_cpu_cores(local_size)
    dev = _agreed(comm, _this_rank_device, device, local_rank, local_size)
    name = backend or ("nccl" if dev.type == "cuda" else "mpi")
    if name == "nccl":
        _agreed(comm, _check_nccl, dev)
    if dev.type == "cuda":
        from ..backend import streams  # noqa: PLC0415

        streams.use_device(dev)
        if _wants_local_gpu(device):
            set_default_device(dev)
    group = ProcessGroup(MPI, dev, name, seconds, local_rank)
    _state["group"] = group
    _state["previous_hook"] = sys.excepthook
    sys.excepthook = _end_all_ranks
    return group


def _check_nccl(dev):
    if dev.type != "cuda":
        raise ValueError(f"backend 'nccl' needs a CUDA device, but this rank's device is {dev}; "
                         "use backend='mpi' (or None) on the CPU")
    from ..backend import nccl  # noqa: PLC0415

    why = nccl.nccl_unavailable_reason()
    if why is not None:
        raise RuntimeError(f"backend 'nccl' is not available: {why}")


def _end_all_ranks(exc_type, exc, tb):
    """sys.excepthook while a group is live: print the traceback, then end every rank."""
    _state["previous_hook"](exc_type, exc, tb)
    group = _state["group"]
    if group is not None:
        code = 130 if issubclass(exc_type, KeyboardInterrupt) else 1
        group.abort(f"gpugrad.distributed: rank {group.rank} of {group.world_size} failed "
                    f"({exc_type.__name__}: {exc}); ending all ranks", code)


# --------------------------------------------------------------------------- who am I

def is_initialized() -> bool:
    return _state["group"] is not None


def current() -> ProcessGroup:
    """The live ProcessGroup; raises RuntimeError before :func:`init`."""
    group = _state["group"]
    if group is None:
        raise RuntimeError("gpugrad.distributed is not initialized: call gpugrad.distributed.init() "
                           "first, in a script started with mpiexec -n N")
    return group


def rank() -> int:
    return current().rank


def world_size() -> int:
    return current().world_size


def local_rank() -> int:
    return current().local_rank


def get_backend() -> str:
    return current().backend


def device():
    return current().device


def abort(message=None, code=1):
    """End every rank of the job now with exit status ``code``, printing ``message`` first."""
    current().abort(message, code)


def destroy() -> None:
    """Leave the group (the watchdog stops, the NCCL communicator is freed, sys.excepthook is
    restored); MPI itself is finalized when the process exits."""
    group = _state["group"]
    if group is None:
        return
    _state["group"] = None
    sys.excepthook = _state.pop("previous_hook")
    group.close()
