"""Data parallelism across processes, GPUs and hosts: MPI starts and connects the processes
(``mpiexec -n N``, ``-hosts a,b`` across hosts), NCCL (through CuPy) moves CUDA arrays, and MPI
itself reduces NumPy arrays on the CPU.

    import gpugrad.distributed as dist
    dist.init()                                  # rank, world size, local rank from MPI
    model = dist.DistributedDataParallel(model)  # gradients averaged across ranks

* :mod:`.launch`: whether mpiexec started this process; loading mpi4py (the ``mpi`` extra);
* :mod:`.group`: ``init``, ``rank``, ``world_size``, ``local_rank``, ``get_backend``, ``abort``;
* :mod:`.collectives`: ``all_reduce``, ``broadcast``, ``barrier``, and their object versions;
* :mod:`.mpi`, :mod:`.nccl`: the two transports; :mod:`.buffers`: what they work on;
  :mod:`.work`: collectives in flight;
* :mod:`.watchdog`: no wait on the other ranks lasts for ever;
* :mod:`.buckets`, :mod:`.ddp`: ``DistributedDataParallel``.

Importing this package never imports mpi4py: :func:`init` does, and raises ImportError naming
the ``mpi`` extra (``pip install 'gpugrad[mpi]'``) where it is missing.
"""
from .collectives import (REDUCE_OPS, all_gather_object, all_reduce, barrier, broadcast,
                          broadcast_object)
from .ddp import DistributedDataParallel
from .group import (BACKENDS, DEFAULT_TIMEOUT_S, ProcessGroup, abort, current, destroy, device,
                    get_backend, init, is_initialized, local_rank, rank, world_size)
from .launch import MPI_EXTRA_HINT, launched_world
from .work import Work

__all__ = [
    "init", "is_initialized", "destroy", "current", "rank", "world_size", "local_rank",
    "get_backend", "device", "abort", "all_reduce", "broadcast", "barrier", "broadcast_object",
    "all_gather_object", "DistributedDataParallel", "ProcessGroup", "Work", "launched_world",
    "REDUCE_OPS", "BACKENDS", "DEFAULT_TIMEOUT_S", "MPI_EXTRA_HINT",
]
