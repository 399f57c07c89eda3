"""CUDA graph capture at the array level: a capture stream, a private memory pool, cuBLAS.

``with capture.recording():`` queues nothing on the GPU: CuPy's stream capture records every
kernel, copy and fill the block launches (on a stream of the capture's own, made current for
the block) into a CUDA graph, which :meth:`GraphCapture.launch` then replays on the current
stream with one call. What makes a replay valid:

* **Addresses.** Every array allocated during the capture comes from a memory pool of the
  capture's own (``cupy.cuda.using_allocator``), which lives as long as the capture and serves
  nothing else, so the addresses the graph reads and writes stay valid (PyTorch's private pool).
* **Matrix products.** CuPy refuses cuBLAS calls during a capture; :func:`matmul` makes them
  through gpugrad's own cuBLAS handle (:mod:`.cublas`), bound to the capture stream before the
  capture begins, with its own workspace.
* **The host.** A capture cannot read the device (a synchronising copy invalidates it): CuPy
  raises, and the layers above name the op that tried.

The graph module above this (``gpugrad.cuda``) is the user's API: static inputs, warm-up,
checks; this one only talks to CuPy.
"""
from __future__ import annotations

import contextlib
import threading

from .cuda import cupy_module
from .cublas import CublasHandle, gemm_plan
from .device import Device

__all__ = ["GraphCapture", "current_capture", "capturing", "keep_alive", "matmul"]

_local = threading.local()


def current_capture():
    """The :class:`GraphCapture` this thread is recording into, or None."""
    return getattr(_local, "capture", None)


def capturing() -> bool:
    """Whether this thread is inside a CUDA graph capture (what must not happen in one, such
    as a step count or a random key read on the host, checks this)."""
    return current_capture() is not None


def keep_alive(array) -> None:
    """Inside a capture: keep ``array`` (made before it, e.g. a cached constant) alive as long
    as the graph, which reads its address on every replay. Outside one: nothing."""
    capture = current_capture()
    if capture is not None:
        capture.kept.append(array)


class GraphCapture:
    """One CUDA graph of work on ``device``: recorded once by :meth:`recording`, launched by
    :meth:`launch` any number of times. Holds the capture stream, the private pool (and so
    every array allocated during the capture) and the cuBLAS handle for as long as it lives."""

    def __init__(self, device):
        self.device = Device(device).ensure_available()
        if self.device.type != "cuda":
            raise ValueError(f"a CUDA graph captures work on a CUDA device, not on {self.device}")
        cp = cupy_module()
        with cp.cuda.Device(self.device.index):
            self.stream = cp.cuda.Stream(non_blocking=True)
            self.pool = cp.cuda.MemoryPool()
        self.graph = None
        self.kept = []      # arrays made before the capture that the graph reads
        self._cublas = None

    @contextlib.contextmanager
    def recording(self):
        """Record the block's GPU work into this graph (once: a graph is captured one time).
        The capture starts after all work queued so far on the current stream; if the block
        raises, the capture is abandoned and the error goes on."""
        if self.graph is not None:
            raise RuntimeError("this CUDA graph is already captured; make a new one to capture again")
        if current_capture() is not None:
            raise RuntimeError("a CUDA graph capture is already running on this thread")
        cp = cupy_module()
        with contextlib.ExitStack() as stack:
            stack.enter_context(cp.cuda.Device(self.device.index))
            stack.enter_context(cp.cuda.using_allocator(self.pool.malloc))
            if self._cublas is None:     # created before the capture: creating one allocates
                self._cublas = CublasHandle(self.stream.ptr, lambda n: cp.empty(n, cp.uint8))
            ready = cp.cuda.Event(disable_timing=True)
            ready.record(cp.cuda.get_current_stream())
            self.stream.wait_event(ready)
            stack.enter_context(self.stream)
            self.stream.begin_capture()
            _local.capture = self
            try:
                yield self
            except BaseException:
                _local.capture = None
                with contextlib.suppress(Exception):   # a capture an error invalidated
                    self.stream.end_capture()
                raise
            _local.capture = None
            self.graph = self.stream.end_capture()

    def launch(self):
        """Replay the recorded work on the current stream (nothing waits for it)."""
        if self.graph is None:
            raise RuntimeError("this CUDA graph has not been captured yet")
        cp = cupy_module()
        with cp.cuda.Device(self.device.index):
            self.graph.launch(stream=cp.cuda.get_current_stream())

    def gemm(self, a, b):
        """``a @ b`` for 2-D float32 / float64 CuPy arrays, through this capture's cuBLAS
        handle, into a new C-contiguous array."""
        cp = cupy_module()
        plan = gemm_plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
        if plan.copy_a:
            a = cp.ascontiguousarray(a)
        if plan.copy_b:
            b = cp.ascontiguousarray(b)
        out = cp.empty((a.shape[0], b.shape[1]), a.dtype)
        if out.size == 0:
            return out
        if a.shape[1] == 0:
            out.fill(0)
            return out
        return self._cublas.gemm(a, b, out)


def matmul(a, b):
    """``a @ b`` for arrays of one module; inside a CUDA graph capture, 2-D float32 / float64
    products (and an N-D ``a`` by a 2-D ``b``) go through the capture's cuBLAS handle, which
    CuPy's own matmul cannot use there."""
    capture = current_capture()
    if capture is None or a.dtype != b.dtype or a.dtype.kind != "f" or a.itemsize not in (4, 8):
        return a @ b
    if b.ndim == 2 and a.ndim > 2:
        return capture.gemm(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + (b.shape[1],))
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"matmul of shapes {tuple(a.shape)} and {tuple(b.shape)} inside a CUDA "
                           "graph capture: gpugrad captures 2-D matrix products, and an N-D one "
                           "by a matrix")
    return capture.gemm(a, b)
