"""A CPU stand-in for CuPy's NCCL (``cupy.cuda.nccl``), streams and events, on top of the fake
CuPy of this folder: ``install()`` adds them to it. Used by tests/mpi_scenarios.py under
``mpiexec -n 2`` to run gpugrad's NCCL path (backend/nccl.py, backend/streams.py,
distributed/nccl.py) without a GPU.

The fake communicator moves the bytes with MPI: it turns each device pointer it is given back
into the NumPy memory behind the fake CuPy array and all-reduces or broadcasts that, checking
the count, data type and root the way NCCL would use them. Streams and events run nothing (the
fake arrays compute eagerly); they write what is asked of them into ``LOG``, so a test can check
the ordering gpugrad asks for: the side stream waits for an event of the current stream before
the all-reduce, and the current stream waits for the all-reduce's event before reading it.
"""
import ctypes
import itertools
import sys
import types

import numpy as np

LOG = []                     # ("record", stream ptr, event id) / ("wait", stream ptr, event id) / ("allReduce", ...)
_ids = itertools.count(1)
NULL_STREAM_PTR = 0

_NCCL_CONSTANTS = dict(
    NCCL_SUM=0, NCCL_PROD=1, NCCL_MAX=2, NCCL_MIN=3,
    NCCL_INT8=0, NCCL_CHAR=0, NCCL_UINT8=1, NCCL_INT32=2, NCCL_INT=2, NCCL_UINT32=3, NCCL_INT64=4,
    NCCL_UINT64=5, NCCL_FLOAT16=6, NCCL_HALF=6, NCCL_FLOAT32=7, NCCL_FLOAT=7, NCCL_FLOAT64=8, NCCL_DOUBLE=8,
)
_CTYPES = {0: ctypes.c_int8, 1: ctypes.c_uint8, 2: ctypes.c_int32, 3: ctypes.c_uint32, 4: ctypes.c_int64,
           5: ctypes.c_uint64, 6: ctypes.c_uint16, 7: ctypes.c_float, 8: ctypes.c_double}


def _memory(ptr, count, datatype):
    if datatype == 6:
        raise AssertionError("the stand-in does not reduce float16")
    return np.ctypeslib.as_array((_CTYPES[datatype] * count).from_address(ptr))


class NcclCommunicator:
    def __init__(self, ndev, commId, rank):
        from mpi4py import MPI
        assert isinstance(commId, tuple) and len(commId) == 128, "the unique id of get_unique_id()"
        world = MPI.COMM_WORLD
        assert ndev == world.Get_size() and rank == world.Get_rank(), (ndev, rank)
        ids = world.allgather(commId)
        assert all(i == commId for i in ids), "ranks built the communicator from different unique ids"
        self._mpi, self._MPI = world.Dup(), MPI
        self._ops = {0: MPI.SUM, 1: MPI.PROD, 2: MPI.MAX, 3: MPI.MIN}
        self.aborted = False

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        assert isinstance(stream, int)
        LOG.append(("allReduce", stream, count))
        send, recv = _memory(sendbuf, count, datatype), _memory(recvbuf, count, datatype)
        self._mpi.Allreduce(self._MPI.IN_PLACE if sendbuf == recvbuf else send, recv, self._ops[op])

    def bcast(self, buff, count, datatype, root, stream):
        LOG.append(("bcast", stream, count))
        self._mpi.Bcast(_memory(buff, count, datatype), root=root)

    def abort(self):
        self.aborted = True

    def destroy(self):
        self._mpi.Free()


def get_unique_id():
    return tuple(int(b) for b in np.random.default_rng().integers(-128, 128, 128))


class Stream:
    def __init__(self, null=False, non_blocking=False):
        self.ptr = NULL_STREAM_PTR if null else next(_ids) * 4096
        self.non_blocking = non_blocking

    def wait_event(self, event):
        LOG.append(("wait", self.ptr, event.id))


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.id = next(_ids)
        self.done = True     # the fake's work has always run

    def record(self, stream=None):
        LOG.append(("record", (stream or _CURRENT).ptr, self.id))


_CURRENT = Stream(null=True)   # CuPy's default: the null stream


def _multiply(a, b, out):
    np.multiply(a._a, b, out=out._a)
    return out


def install():
    """Teach the fake cupy (already imported) NCCL, streams, events and Device.use(), and what
    else DistributedDataParallel's buckets and the autograd engine's leaf path use
    (``multiply(..., out=)``, ``ndarray.base``)."""
    import cupy

    cupy.multiply = _multiply
    cupy.ndarray.base = property(lambda self: None)   # the fake's arrays each own a NumPy array

    nccl = types.ModuleType("cupy.cuda.nccl")
    nccl.__dict__.update(_NCCL_CONSTANTS, NcclCommunicator=NcclCommunicator, get_unique_id=get_unique_id)
    cuda = cupy.cuda
    cuda.nccl = nccl
    cuda.Stream, cuda.Event = Stream, Event
    cuda.get_current_stream = lambda: _CURRENT
    device_class = type(cuda.Device(0))
    device_class.use = lambda self: None
    sys.modules["cupy.cuda"] = cuda
    sys.modules["cupy.cuda.nccl"] = nccl
