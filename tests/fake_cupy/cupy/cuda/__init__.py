"""cupy.cuda of the stand-in: devices, the runtime, memory, and the CUDA libraries."""
from __future__ import annotations

import types

from .. import _state
from .._capture import Event, Graph, Stream, get_current_stream, using_allocator  # noqa: F401
from . import memory, runtime
from .memory import MemoryPool  # noqa: F401

__all__ = ["Device", "MemoryHook", "runtime", "memory", "nvrtc", "Stream", "Event", "Graph",
           "get_current_stream", "using_allocator"]


class Device:
    """``with Device(i):`` makes GPU i current for the block, as in CuPy."""

    def __init__(self, device=None):
        self.id = _state.current_device() if device is None else int(device)
        self._previous = []

    def __enter__(self):
        self._previous.append(_state.current_device())
        _state.set_current_device(self.id)
        return self

    def __exit__(self, *exc):
        _state.set_current_device(self._previous.pop())
        return False

    def use(self):
        _state.set_current_device(self.id)

    def synchronize(self):
        _state.sync("Device.synchronize")

    @property
    def compute_capability(self):
        return "90"

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class MemoryHook:
    """Sees every allocation from the pool and every block given back, inside ``with hook:``."""

    name = "MemoryHook"

    def __enter__(self):
        _state.HOOKS.append(self)
        return self

    def __exit__(self, *exc):
        _state.HOOKS.remove(self)
        return False

    def malloc_postprocess(self, **kwargs):
        pass

    def free_postprocess(self, **kwargs):
        pass


def _library(name, version):
    def get_version(*args):
        if name in _state.MISSING_LIBRARIES:
            raise RuntimeError(f'Failure finding "lib{name}.so.12": No such file (stand-in)')
        return version
    return types.SimpleNamespace(getVersion=get_version)


nvrtc = _library("nvrtc", (12, 9))


def __getattr__(name):
    """cuBLAS and cuRAND are imported on first access, as in CuPy (ImportError if missing)."""
    if name in ("cublas", "curand"):
        if name in _state.MISSING_LIBRARIES:
            raise ImportError(f'Failure finding "lib{name}.so.12": No such file (stand-in)')
        return _library(name, 120900)
    raise AttributeError(name)
