"""cupy.cuda.runtime of the stand-in."""
from __future__ import annotations

from .. import _state

errorMemoryAllocation = 2
errorIllegalAddress = 700

_ERRORS = {2: ("cudaErrorMemoryAllocation", "out of memory"),
           101: ("cudaErrorInvalidDevice", "invalid device ordinal"),
           700: ("cudaErrorIllegalAddress", "an illegal memory access was encountered")}


class CUDARuntimeError(RuntimeError):
    """As CuPy's: ``status`` is the cudaError_t, the message is 'name: description'."""

    def __init__(self, status):
        self.status = status
        name, text = _ERRORS.get(status, (f"cudaError{status}", "unknown error"))
        super().__init__(f"{name}: {text}")


CUDARuntimeError.__module__ = "cupy_backends.cuda.api.runtime"


def getDeviceCount():
    _state.STATS["device_count_calls"] += 1
    return _state.DEVICE_COUNT


def getDevice():
    return _state.current_device()


def setDevice(device):
    _state.set_current_device(device)


def runtimeGetVersion():
    return 12090


def memGetInfo():
    """(free, total) bytes of the current device; the pool's cache is not free."""
    pool, dev = _state.POOL, _state.current_device()
    return pool.capacity - pool.used[dev] - pool.cached[dev], pool.capacity


def driverGetVersion():
    return 12090


def getDeviceProperties(device):
    return {"name": b"CuPy stand-in (a CPU)", "totalGlobalMem": _state.POOL.capacity,
            "major": 9, "minor": 0}


def streamIsCapturing(stream_ptr):
    from .. import _capture
    return _capture.RECORDING[0] is not None and _capture.CURRENT[0].ptr == stream_ptr
