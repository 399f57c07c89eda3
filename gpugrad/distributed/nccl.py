"""The NCCL transport: collectives on CuPy arrays, queued on CUDA streams (ChainerMN's design).

The communicator is built from a unique id that rank 0 draws and broadcasts over MPI. A
blocking collective (``all_reduce``, ``broadcast``) is queued on the current stream, so it is
ordered with the kernels before and after it and the host never waits. A non-blocking one
(``all_reduce_async``, used by DistributedDataParallel) runs on a side stream that first waits
for the current stream (an event), and its ``Work.wait()`` makes the current stream wait for it
(another event): communication overlaps the rest of backward, and the optimizer's kernels still
see the reduced gradients. The watchdog follows each queued all-reduce by its event.
"""
from __future__ import annotations

from .. import backend
from ..backend import nccl, streams
from .buffers import staged
from .work import Work

__all__ = ["NCCLTransport"]


class NCCLTransport:
    """Rank ``rank`` of ``world_size`` on CUDA device ``dev``; ``mpi`` is the job's MPITransport."""

    name = "nccl"

    def __init__(self, mpi, rank: int, world_size: int, dev, watchdog):
        self.device, self.watchdog, self._mpi = dev, watchdog, mpi
        uid = mpi.broadcast_object(nccl.unique_id() if rank == 0 else None, 0)
        with watchdog.blocking("creating the NCCL communicator"):
            self._comm = nccl.Communicator(world_size, uid, rank, dev)
        self._side = streams.SideStream(dev)

    def all_reduce(self, array, op: str) -> None:
        """Queue an in-place all-reduce of ``array`` on the current stream."""
        buf, copy_back = staged(array, host=False)
        self._comm.all_reduce(buf, op, streams.current_stream_ptr(self.device))
        if copy_back is not None:
            copy_back()

    def all_reduce_async(self, array, op: str) -> Work:
        """All-reduce ``array`` in place on the side stream, after the work queued so far."""
        buf, copy_back = staged(array, host=False)
        side = self._side
        side.wait_for_current()
        self._comm.all_reduce(buf, op, side.ptr)
        done = side.record()
        self.watchdog.track("all_reduce", buf.size * buf.itemsize, done)
        dev = self.device
        work = Work(lambda: streams.wait_on_current(done, dev))
        return work if copy_back is None else work.then(copy_back)

    def broadcast(self, array, src: int) -> None:
        buf, copy_back = staged(array, host=False)
        self._comm.broadcast(buf, src, streams.current_stream_ptr(self.device))
        if copy_back is not None:
            copy_back()

    def barrier(self) -> None:
        """Every rank's queued GPU work is done, then every rank has arrived."""
        with self.watchdog.blocking("barrier (waiting for this GPU's queued work)"):
            backend.synchronize(self.device)
        self._mpi.barrier()

    def abort(self) -> None:
        self._comm.abort()

    def close(self) -> None:
        self._comm.destroy()
