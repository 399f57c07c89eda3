"""How the processes of a job were started, and loading MPI (mpi4py, the ``mpi`` extra).

``mpiexec`` (MPICH, Intel MPI, Open MPI, MVAPICH, Slurm's ``srun --mpi=pmi2``) tells each process
its rank and the job's size in the environment, so :func:`launched_world` knows a job's shape
without importing MPI: gpugrad-train uses it to decide whether to train data-parallel at all.
Importing gpugrad never imports mpi4py; :func:`load_mpi` does, once, when asked.
"""
from __future__ import annotations

import os

__all__ = ["MPI_EXTRA_HINT", "THREAD_VARIABLES", "launched_world", "load_mpi", "share_cpu_cores"]

MPI_EXTRA_HINT = "pip install 'gpugrad[mpi]' (mpi4py and the MPICH library, both as wheels)"

# (size, rank) variables that MPI launchers set for each process they start.
_LAUNCHER_VARIABLES = (
    ("PMI_SIZE", "PMI_RANK"),                          # MPICH (Hydra), Intel MPI, srun --mpi=pmi2
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),  # Open MPI
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"),    # MVAPICH
)


def launched_world(environ=None) -> tuple[int, int] | None:
    """(rank, size) of this process when an MPI launcher started it, else None."""
    env = os.environ if environ is None else environ
    for size_var, rank_var in _LAUNCHER_VARIABLES:
        size, rank = env.get(size_var), env.get(rank_var)
        if size is not None and rank is not None:
            try:
                return int(rank), int(size)
            except ValueError:
                continue
    return None


# Set by the user, these say how many threads each process's BLAS may use: left as they are.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def share_cpu_cores(processes_on_host: int):
    """Cap the BLAS/OpenMP threads of this process at its share of the host's cores, as torchrun
    does (OMP_NUM_THREADS=1) and for the same reason: N processes each running as many BLAS
    threads as there are cores, plus MPI's busy-polling, slow a step down many times over.
    Does nothing when one of THREAD_VARIABLES is set, or without threadpoolctl (the ``mpi``
    extra brings it). Returns the number of threads, or None when nothing was changed."""
    if processes_on_host <= 1 or any(v in os.environ for v in THREAD_VARIABLES):
        return None
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415  (optional: the `mpi` extra)
    except ImportError:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // processes_on_host)
    threadpool_limits(threads)
    return threads


_loaded = {"MPI": None}


def load_mpi():
    """``mpi4py.MPI``, imported (and MPI initialised) on first use. Raises ImportError naming
    the ``mpi`` extra when mpi4py or an MPI library is missing."""
    if _loaded["MPI"] is None:
        try:
            from mpi4py import MPI  # noqa: PLC0415  (optional: the `mpi` extra)
        except ImportError as exc:
            raise ImportError(f"gpugrad.distributed needs mpi4py and an MPI library, which are not "
                              f"installed ({exc}): {MPI_EXTRA_HINT}") from None
        except RuntimeError as exc:  # mpi4py present but no MPI library it can load
            raise ImportError(f"gpugrad.distributed could not load an MPI library ({exc}): "
                              f"{MPI_EXTRA_HINT}") from None
        _loaded["MPI"] = MPI
    return _loaded["MPI"]
