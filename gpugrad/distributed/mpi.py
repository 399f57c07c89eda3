"""The MPI transport: collectives on NumPy arrays through mpi4py, in place.

Arrays MPI cannot work on in place (not contiguous, or on a GPU when the job's backend is
"mpi") go through a contiguous host copy (:func:`.buffers.staged`). Every blocking wait is
watched (see :mod:`.watchdog`).
"""
from __future__ import annotations

from .buffers import staged
from .launch import load_mpi
from .work import Work

__all__ = ["MPITransport"]


class MPITransport:
    """Collectives over ``comm`` (an mpi4py communicator), watched by ``watchdog``."""

    name = "mpi"

    def __init__(self, comm, watchdog):
        MPI = load_mpi()
        self.comm, self.watchdog = comm, watchdog
        self._ops = {"sum": MPI.SUM, "prod": MPI.PROD, "max": MPI.MAX, "min": MPI.MIN}
        self._in_place = MPI.IN_PLACE

    def all_reduce(self, array, op: str) -> None:
        """Reduce ``array`` in place across all ranks (op: sum, prod, max, min); blocks."""
        buf, copy_back = staged(array, host=True)
        with self.watchdog.blocking("all_reduce", buf.nbytes):
            self.comm.Allreduce(self._in_place, buf, self._ops[op])
        if copy_back is not None:
            copy_back()

    def all_reduce_async(self, array, op: str) -> Work:
        """Start an all-reduce of ``array`` in place (MPI Iallreduce); the result is there
        after ``wait()`` of the returned Work."""
        buf, copy_back = staged(array, host=True)
        request = self.comm.Iallreduce(self._in_place, buf, self._ops[op])

        def wait():
            with self.watchdog.blocking("all_reduce", buf.nbytes):
                request.Wait()

        work = Work(wait, request.Test)
        return work if copy_back is None else work.then(copy_back)

    def broadcast(self, array, src: int) -> None:
        buf, copy_back = staged(array, host=True)
        with self.watchdog.blocking("broadcast", buf.nbytes):
            self.comm.Bcast(buf, root=src)
        if copy_back is not None:
            copy_back()

    def barrier(self) -> None:
        with self.watchdog.blocking("barrier"):
            self.comm.Barrier()

    def broadcast_object(self, obj, src: int):
        with self.watchdog.blocking("broadcast_object"):
            return self.comm.bcast(obj, root=src)

    def all_gather_object(self, obj) -> list:
        with self.watchdog.blocking("all_gather_object"):
            return self.comm.allgather(obj)
