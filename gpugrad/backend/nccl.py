"""NCCL through CuPy (``cupy.cuda.nccl``): a communicator per process, and collectives that work
in place on contiguous CuPy arrays, queued on a CUDA stream (they never wait on the host).

The communicator of a job of N processes is made from one unique id that rank 0 draws with
:func:`unique_id` and hands to the others (gpugrad.distributed sends it over MPI), then every
process builds ``Communicator(N, uid, rank, device)``.
"""
from __future__ import annotations

import numpy as np

from .cuda import cuda_unavailable_reason, cupy_module
from .device import Device

__all__ = ["nccl_unavailable_reason", "unique_id", "Communicator", "REDUCE_OPS"]

REDUCE_OPS = ("sum", "prod", "max", "min")
_DTYPES = {  # NumPy dtype name -> the name of CuPy's NCCL data type constant
    "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "uint32": "NCCL_UINT32",
    "int64": "NCCL_INT64", "uint64": "NCCL_UINT64", "float16": "NCCL_FLOAT16",
    "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
}


def _nccl():
    from cupy.cuda import nccl  # noqa: PLC0415  (backend is the one place that imports cupy)

    return nccl


def nccl_unavailable_reason() -> str | None:
    """None when NCCL can be used here, else a sentence saying why not."""
    why = cuda_unavailable_reason()
    if why is not None:
        return why
    cupy_module()
    try:
        nccl = _nccl()
        getattr(nccl, "NcclCommunicator")
    except Exception as exc:  # ImportError, or CuPy built without NCCL
        return f"this CuPy has no NCCL ({exc}); install NCCL (pip install nvidia-nccl-cu12) or use backend='mpi'"
    return None


def unique_id() -> tuple:
    """A fresh NCCL unique id (drawn by one rank, then sent to all)."""
    return tuple(_nccl().get_unique_id())


class Communicator:
    """This process's NCCL communicator: rank ``rank`` of ``world_size``, on CUDA device ``dev``."""

    def __init__(self, world_size: int, uid, rank: int, dev):
        self.device = Device(dev).ensure_available()
        nccl = _nccl()
        self._ops = {name: getattr(nccl, f"NCCL_{name.upper()}") for name in REDUCE_OPS}
        self._dtypes = {k: getattr(nccl, v) for k, v in _DTYPES.items() if hasattr(nccl, v)}
        with cupy_module().cuda.Device(self.device.index):
            self._comm = nccl.NcclCommunicator(int(world_size), tuple(uid), int(rank))

    def _nccl_dtype(self, array, what):
        code = self._dtypes.get(np.dtype(array.dtype).name)
        if code is None:
            raise TypeError(f"{what}: NCCL cannot reduce dtype {array.dtype} (it takes "
                            f"{', '.join(sorted(self._dtypes))})")
        if not array.flags.c_contiguous:
            raise ValueError(f"{what}: NCCL needs a contiguous array")
        return code

    def all_reduce(self, array, op: str, stream_ptr: int) -> None:
        """Reduce ``array`` across all ranks in place (``op``: sum, prod, max or min), queued on
        the stream ``stream_ptr``."""
        code = self._nccl_dtype(array, "all_reduce")
        with cupy_module().cuda.Device(self.device.index):
            self._comm.allReduce(array.data.ptr, array.data.ptr, array.size, code, self._ops[op], stream_ptr)

    def broadcast(self, array, root: int, stream_ptr: int) -> None:
        """Overwrite ``array`` on every rank with rank ``root``'s, queued on ``stream_ptr``."""
        code = self._nccl_dtype(array, "broadcast")
        with cupy_module().cuda.Device(self.device.index):
            self._comm.bcast(array.data.ptr, array.size, code, int(root), stream_ptr)

    def abort(self) -> None:
        """Abort the communicator: collectives in flight on any rank end instead of hanging."""
        self._comm.abort()

    def destroy(self) -> None:
        self._comm.destroy()
