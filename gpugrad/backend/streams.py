"""CUDA streams and events, and the process's current GPU (CuPy's, loaded lazily).

Data parallelism all-reduces gradients on a stream of its own (:class:`SideStream`) while the
current stream goes on with backward; CUDA events order the two, so nothing waits on the host:

    side.wait_for(current)       # the side stream starts where the current stream is now
    ... enqueue on side.ptr ...  # e.g. an NCCL all-reduce
    done = side.record()         # an event at the end of that work
    wait_on_current(done)        # the current stream goes on only after it

Nothing here exists on the CPU; the callers use it for CUDA devices only.
"""
from __future__ import annotations

from .cuda import cupy_module
from .device import Device

__all__ = ["use_device", "current_stream_ptr", "SideStream", "wait_on_current"]


def use_device(dev) -> None:
    """Make CUDA device ``dev`` this process's (this thread's) current device."""
    dev = Device(dev).ensure_available()
    cupy_module().cuda.Device(dev.index).use()


def current_stream_ptr(dev) -> int:
    """The handle of ``dev``'s current stream (where gpugrad's kernels are queued)."""
    cp = cupy_module()
    with cp.cuda.Device(Device(dev).index):
        return cp.cuda.get_current_stream().ptr


class SideStream:
    """A non-blocking CUDA stream on ``dev``, ordered against the current stream by events."""

    def __init__(self, dev):
        self.device = Device(dev).ensure_available()
        cp = cupy_module()
        with cp.cuda.Device(self.device.index):
            self.stream = cp.cuda.Stream(non_blocking=True)

    @property
    def ptr(self) -> int:
        return self.stream.ptr

    def wait_for_current(self) -> None:
        """Work queued on this stream from now on starts after all work queued so far on the
        current stream (e.g. the gradients backward has computed)."""
        cp = cupy_module()
        with cp.cuda.Device(self.device.index):
            ready = cp.cuda.Event(disable_timing=True)
            ready.record(cp.cuda.get_current_stream())
            self.stream.wait_event(ready)

    def record(self):
        """An event marking the end of the work queued on this stream so far. ``event.done``
        tells (without waiting) whether it has run; :func:`wait_on_current` orders after it."""
        cp = cupy_module()
        with cp.cuda.Device(self.device.index):
            done = cp.cuda.Event(disable_timing=True)
            done.record(self.stream)
        return done

    def __repr__(self):
        return f"SideStream(device='{self.device}')"


def wait_on_current(event, dev) -> None:
    """Work queued on ``dev``'s current stream from now on runs after ``event`` (no host wait)."""
    cp = cupy_module()
    with cp.cuda.Device(Device(dev).index):
        cp.cuda.get_current_stream().wait_event(event)
