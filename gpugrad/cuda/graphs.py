"""Whole-step CUDA graphs: capture a training step once, replay it with one launch.

At small batch a step is launch-bound: tens of kernels, each costing the host a few
microseconds of Python and CUDA API. A CUDA graph records them once and replays them all with
one call, as PyTorch's ``torch.cuda.CUDAGraph`` / ``make_graphed_callables`` do::

    step = gg.cuda.graphed(lambda x, y: train_step(model, opt, x, y), (x0, y0))
    for xb, yb in loader:          # batches of x0's and y0's shapes
        loss = step(xb, yb)        # copies into the static inputs, replays, returns the loss

or, by hand, as in PyTorch::

    g = gg.cuda.CUDAGraph()
    with g.capture():              # after a few warm-up steps: nothing runs here
        static_loss = train_step(model, opt, static_x, static_y)
    static_x.copy_(xb); static_y.copy_(yb); g.replay()

A replay does exactly the captured work on exactly the captured memory: the inputs must be
copied into the same (static) tensors, the outputs are the same tensors every time, shapes
cannot change, and anything the step decided on the host (a learning rate, Adam's step count,
a dropout key) is frozen at capture. gpugrad refuses what would replay wrongly, naming the op
or optimizer, rather than give a silently different result; and whatever cannot be captured at
all (reading a value back to the host, CuPy's own cuBLAS or cuRAND calls) ends the capture
with an error naming the op and the line of your code it came from.
"""
from __future__ import annotations

import contextlib
import os

from .. import backend
from ..autograd import Op
from ..optim import Optimizer
from ..tensor import Tensor

__all__ = ["CUDAGraph", "graph", "graphed", "GraphedStep", "GraphCaptureError"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class GraphCaptureError(RuntimeError):
    """Something in the captured code cannot run inside a CUDA graph."""


def _culprit(exc) -> str:
    """Which op (or optimizer) the error came from, and the line of the user's code that led
    there: the innermost frame that is neither gpugrad's nor CuPy's and calls into gpugrad."""
    op, line, frames = None, None, []
    tb = exc.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    for (frame, lineno), following in zip(frames, frames[1:] + [(None, 0)]):
        owner = frame.f_locals.get("self")
        if isinstance(owner, (Op, Optimizer)):
            op = type(owner).__name__
        if not _is_library(frame) and following[0] is not None and \
                following[0].f_code.co_filename.startswith(_PACKAGE_DIR):
            line = f"{frame.f_code.co_filename}:{lineno} in {frame.f_code.co_name}"
    return (f"in {op}" if op else "outside any op") + (f", called from {line}" if line else "")


def _is_library(frame) -> bool:
    """A frame of gpugrad, CuPy or the standard library's contextlib: not the user's code."""
    module = frame.f_globals.get("__name__", "")
    return (frame.f_code.co_filename.startswith(_PACKAGE_DIR) or module == "contextlib"
            or module.split(".")[0] in ("cupy", "cupyx", "cupy_backends"))


class CUDAGraph:
    """A CUDA graph of gpugrad work on one device (the default device unless given), as
    ``torch.cuda.CUDAGraph``: :meth:`capture` records it once, :meth:`replay` runs it."""

    def __init__(self, device=None):
        dev = backend.resolve_device(device)
        if dev.type != "cuda":
            raise ValueError(f"CUDAGraph: a CUDA graph needs a CUDA device, got {dev} "
                             "(gg.set_default_device('cuda') or CUDAGraph(device='cuda'))")
        self.device = dev
        self._capture = backend.GraphCapture(dev)

    @property
    def captured(self) -> bool:
        return self._capture.graph is not None

    @contextlib.contextmanager
    def capture(self):
        """Record the GPU work of the block (which therefore does not run now). Run the code at
        least once before capturing it (kernels compile, optimizer state and caches are made on
        first use, which a capture cannot hold). An error inside names the op it came from."""
        try:
            with self._capture.recording():
                yield self
        except Exception as exc:
            if isinstance(exc, GraphCaptureError):
                raise
            raise GraphCaptureError(f"CUDA graph capture failed {_culprit(exc)}: "
                                    f"{type(exc).__name__}: {exc}") from exc

    def replay(self):
        """Run the captured work again, on the current stream (nothing waits for it)."""
        self._capture.launch()


def graph(cuda_graph: CUDAGraph):
    """``with gg.cuda.graph(g):`` captures into ``g`` (PyTorch's spelling of ``g.capture()``)."""
    return cuda_graph.capture()


class GraphedStep:
    """A function of tensors captured as one CUDA graph (see :func:`graphed`). Calling it
    copies the arguments into the static inputs, replays the graph and returns the static
    outputs: the same tensors every call, overwritten by the next one. ``warmup_outputs``:
    what the last warm-up run returned (its own tensors)."""

    def __init__(self, fn, example_inputs, warmup=3, device=None):
        if not example_inputs:
            raise ValueError("graphed: give the example inputs the step is captured for")
        if warmup < 1:
            raise ValueError(f"graphed: warmup must be at least 1 (kernels compile and optimizer "
                             f"state is made on the first run, which a capture cannot hold), got {warmup}")
        self.graph = CUDAGraph(device)
        self.static_inputs = tuple(self._static(x, i) for i, x in enumerate(example_inputs))
        for _ in range(warmup):        # real steps: the model trains on the example inputs
            self.warmup_outputs = fn(*self.static_inputs)
        with self.graph.capture():
            self.static_outputs = fn(*self.static_inputs)

    def _static(self, x, i):
        """A tensor of the graph's own holding input i (a copy: the caller's stays theirs)."""
        array = x.array if isinstance(x, Tensor) else x
        if not backend.is_array(array):
            raise TypeError(f"graphed: input {i} must be a tensor or an array, got {type(x).__name__}")
        with self.graph.device.context():
            return Tensor(backend.to_device(array, self.graph.device).copy())

    def __call__(self, *inputs):
        if len(inputs) != len(self.static_inputs):
            raise TypeError(f"graphed step: captured with {len(self.static_inputs)} inputs, "
                            f"called with {len(inputs)}")
        arrays = [x.array if isinstance(x, Tensor) else x for x in inputs]
        for i, (static, array) in enumerate(zip(self.static_inputs, arrays)):
            if tuple(array.shape) != static.shape or array.dtype != static.dtype:
                raise ValueError(
                    f"graphed step: input {i} has shape {tuple(array.shape)} and dtype "
                    f"{array.dtype}, but the graph was captured for shape {static.shape} and "
                    f"dtype {static.dtype}: a CUDA graph replays fixed shapes (capture one per "
                    "shape, or drop the short last batch)")
        with self.graph.device.context():     # the copies run on the graph's GPU
            for static, array in zip(self.static_inputs, arrays):
                static.array[...] = backend.to_device(array, self.graph.device)
        self.graph.replay()
        return self.static_outputs


def graphed(fn, example_inputs, *, warmup=3, device=None) -> GraphedStep:
    """``fn`` (a function of tensors: forward, backward and the optimizer step) captured as one
    CUDA graph for inputs shaped like ``example_inputs``: runs it ``warmup`` times first (real
    steps, on the example inputs), then captures it; see :class:`GraphedStep`."""
    return GraphedStep(fn, example_inputs, warmup=warmup, device=device)
