"""Streams, events and CUDA graph capture of the stand-in.

A capture runs nothing, as on a GPU: the stand-in still computes each launch when it is made
(its shapes and outputs come from NumPy), records it as a closure over the same arrays, and
when the capture ends puts back the contents every array had when it began, so the work is
left undone. A graph's launch replays the closures in order, on the same memory, as a CUDA
graph replays its kernels on the same addresses.

What a real capture refuses, the stand-in refuses the same way: a synchronising copy or a host
read (RuntimeError, as CuPy's), CuPy's own cuBLAS and cuRAND calls (NotImplementedError, as
CuPy's ``setStream`` raises), capturing on the legacy default stream. And what would silently
break a replay on a GPU fails here: an allocation during a capture outside a private pool
(``cupy.cuda.using_allocator``), whose blocks the default pool would hand to others.
"""
from __future__ import annotations

import itertools

from . import _state

_ids = itertools.count(1)
#: The capture in progress (the list the launches are recorded into), or None.
RECORDING = [None]
#: The allocator in force (cupy.cuda.using_allocator), None for the default pool.
ALLOCATOR = [None]


def capturing() -> bool:
    return RECORDING[0] is not None


def launched(replay):
    """A launch was just computed; during a capture, keep ``replay`` to run it again."""
    if RECORDING[0] is not None:
        RECORDING[0].append(replay)


def refuse(what, library=None):
    """Raise as CuPy does for what a capture cannot hold (a no-op outside one)."""
    if RECORDING[0] is None:
        return
    if library:
        raise NotImplementedError(f"calling {library} API during stream capture is currently "
                                  "unsupported")
    raise RuntimeError(f"the current stream is capturing, so synchronous API calls are "
                       f"disallowed (stand-in: {what})")


#: The arrays allocated during the capture in progress: the graph keeps them, as a private
#: pool keeps its blocks (their memory is what the graph's raw pointers address).
ALLOCATED = []


def check_allocation(nbytes):
    """Inside a capture every allocation must come from a private pool."""
    if RECORDING[0] is not None and ALLOCATOR[0] is None:
        raise AssertionError(f"an allocation of {nbytes} bytes during a CUDA graph capture from "
                             "the default pool: its blocks would be reused while the graph "
                             "still writes them (capture under cupy.cuda.using_allocator)")


def allocated(array):
    if RECORDING[0] is not None:
        ALLOCATED.append(array)


class Graph:
    def __init__(self, replays, memory):
        self.replays, self.memory = replays, memory

    def launch(self, stream=None):
        if RECORDING[0] is not None:
            raise RuntimeError("stand-in: launching a graph inside a capture")
        _state.STATS["graph_launches"] += 1
        for replay in self.replays:
            replay()

    def upload(self, stream=None):
        pass


class Stream:
    def __init__(self, null=False, non_blocking=False, ptr=None):
        self.ptr = 0 if null else next(_ids) * 4096
        self.non_blocking = non_blocking
        self._previous = []
        self._snapshot = None

    def __enter__(self):
        self._previous.append(CURRENT[0])
        CURRENT[0] = self
        return self

    def __exit__(self, *exc):
        CURRENT[0] = self._previous.pop()
        return False

    def use(self):
        CURRENT[0] = self
        return self

    def begin_capture(self, mode=None):
        if self.ptr == 0:
            raise RuntimeError("cannot capture on the default (legacy) stream")
        if RECORDING[0] is not None:
            raise RuntimeError("stand-in: a capture is already running")
        from ._array import live_arrays
        self._snapshot = [(a, a._a.copy()) for a in live_arrays()]
        RECORDING[0] = []

    def end_capture(self):
        replays, RECORDING[0] = RECORDING[0], None
        if replays is None:
            raise RuntimeError("stand-in: end_capture without begin_capture")
        for a, contents in self._snapshot:       # the capture ran nothing
            a._a[...] = contents
        self._snapshot = None
        memory = list(ALLOCATED)
        ALLOCATED.clear()
        return Graph(replays, memory)

    def is_capturing(self):
        return RECORDING[0] is not None and CURRENT[0] is self

    def wait_event(self, event):
        pass

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def synchronize(self):
        _state.sync("Stream.synchronize")


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.done = True

    def record(self, stream=None):
        pass

    def synchronize(self):
        _state.sync("Event.synchronize")


CURRENT = [Stream(null=True)]


def get_current_stream():
    return CURRENT[0]


class using_allocator:
    """``with cupy.cuda.using_allocator(pool.malloc):`` allocations come from that pool."""

    def __init__(self, allocator=None):
        self.allocator = allocator

    def __enter__(self):
        self._previous = ALLOCATOR[0]
        ALLOCATOR[0] = self.allocator
        return self

    def __exit__(self, *exc):
        ALLOCATOR[0] = self._previous
        return False
