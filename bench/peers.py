"""The implementations of one training step that ``python -m bench`` compares.

Each does the same work: one SGD step (lr 0.01) of the ReLU MLP ``sizes`` with mean softmax
cross-entropy, on the same fixed batch, from the same initial weights (gpugrad's seeded
initialiser, see :func:`bench.mlp_step.init_params`):

* ``gpugrad``      the library, exactly the step of :func:`bench.mlp_step.gpugrad_step_fn`
* ``gpugrad-graph`` the same step captured in one CUDA graph (``gg.cuda.graphed``); CUDA only
* ``hand``         the step written by hand in NumPy or CuPy (:func:`bench.mlp_step.hand_step_fn`)
* ``torch``        PyTorch eager (``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, ``optim.SGD``)
* ``torch-graph``  PyTorch with forward, backward and the optimizer step captured in one CUDA
                   graph (PyTorch's whole-network capture recipe), replayed once per step; CUDA only
* ``jax``          JAX, the whole step under ``jax.jit`` with the parameters donated

PyTorch runs with TF32 off (and JAX with ``highest`` matmul precision), so every peer does
full float32 matmuls like CuPy's cuBLAS calls.

A peer that is not installed (or cannot use the device) raises :class:`Unavailable` from
:meth:`Impl.check` with a one-line reason starting ``skipped:``; the comparison reports it
and goes on.
"""
from __future__ import annotations

import gc
import importlib
import os
import sys
import tracemalloc

import numpy as np

import gpugrad as gg
from gpugrad.train import train_step

from . import mlp_step

LR = mlp_step.LR

# Keep PyTorch's profiler (kineto) from printing a line per start/stop, and JAX from taking
# 75% of the GPU's memory at import (it shares the device with CuPy and PyTorch here).
os.environ.setdefault("KINETO_LOG_LEVEL", "5")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


class Unavailable(Exception):
    """A peer cannot run here; ``str(exc)`` is the one-line reason ('skipped: ...')."""


# ----------------------------------------------------------------------------- helpers

def _import(name, pip_name=None):
    """Import a peer's package, or raise Unavailable saying it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise Unavailable(f"skipped: {pip_name or name} is not installed") from None
    except Exception as exc:  # a broken install can raise anything at import
        raise Unavailable(f"skipped: {pip_name or name} failed to import ({exc})") from None


#: Threads for PyTorch on the CPU (``--threads``); None leaves PyTorch's default.
TORCH_THREADS = None


def _torch():
    torch = _import("torch")
    if TORCH_THREADS is not None and torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)
    # Full-precision float32 matmuls, like CuPy's (TF32 would make torch's large-batch steps
    # several times faster at lower precision, and not comparable).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


def tracemalloc_peak(build):
    """Peak bytes traced by Python's tracemalloc (NumPy reports its array buffers there)
    during one step of a runner built, and stepped twice, while tracing: so everything the
    step touches is counted (parameters, batch, gradients kept between steps, the step's
    temporaries), as the GPU figures count it."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        runner = build()
        runner.step()
        runner.step()                 # steady state: what lives between steps exists now
        tracemalloc.reset_peak()
        runner.step()
        _, peak = tracemalloc.get_traced_memory()
        del runner
    finally:
        if started:
            tracemalloc.stop()
    return peak


def cupy_peak(run):
    """Peak bytes in use in CuPy's default memory pool while ``run()`` executes: what was in
    use when it started (parameters, batch, gradients) plus the largest rise during it,
    followed allocation by allocation with a ``cupy.cuda.MemoryHook``."""
    cp = gg.backend.cupy_module()

    class PeakHook(cp.cuda.MemoryHook):
        name = "gpugrad_bench_peak"

        def __init__(self):
            self.current = self.peak = 0

        def malloc_postprocess(self, **kw):
            if kw.get("mem_ptr"):
                self.current += kw["mem_size"]
                self.peak = max(self.peak, self.current)

        def free_postprocess(self, **kw):
            self.current -= kw["mem_size"]

    pool = cp.get_default_memory_pool()
    base = pool.used_bytes()
    with PeakHook() as hook:
        run()
    return base + hook.peak


def torch_cuda_peak(torch, run):
    """``torch.cuda.max_memory_allocated()`` over ``run()`` (after resetting the peak)."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    run()
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated())


def count_cuda_kernels(run, sync):
    """Kernels launched by ``run()``, counted by ``torch.profiler`` with CUDA activity (CUPTI,
    which records every kernel of the process, CuPy's included). None when PyTorch with CUDA
    is not installed or the profiler fails."""
    try:
        torch = importlib.import_module("torch")
        if not torch.cuda.is_available():
            return None
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile
    except Exception:
        return None
    try:
        sync()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            run()
            sync()
        count = 0
        for ev in prof.events():
            if ev.device_type != DeviceType.CUDA:
                continue
            name = ev.name or ""
            if name.startswith(("Memcpy", "Memset", "memcpy", "memset")):
                continue
            kind = getattr(ev, "activity_type", None)
            if isinstance(kind, str) and kind and "kernel" not in kind.lower():
                continue
            count += 1
        return count
    except Exception:
        return None


def free_device_memory():
    """Drop cached blocks between runs, so one implementation's pool does not crowd the next."""
    gc.collect()
    if gg.cuda_available():
        cp = gg.backend.cupy_module()
        cp.get_default_memory_pool().free_all_blocks()
    torch = sys.modules.get("torch")      # only if a peer imported it already
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- runners

class Runner:
    """One implementation built for one batch size. ``step()`` queues one training step and
    returns without waiting for the device; ``sync()`` waits for it."""

    label = "?"
    mem_measure = "not measured"
    kernels_counted = False

    def step(self):
        raise NotImplementedError

    def sync(self):
        pass

    def loss_value(self, loss) -> float:
        return float(loss)

    def peak_memory(self):
        """Peak bytes of one step (see ``mem_measure``), or None when not measurable."""
        return None

    def kernels_per_step(self):
        """Kernel launches of one step, or None where they are not counted."""
        return None

    def close(self):
        pass


class _ArrayRunner(Runner):
    """A step over NumPy/CuPy arrays (gpugrad's or hand-written): synchronised through gpugrad,
    memory from tracemalloc on the CPU or CuPy's pool on the GPU."""

    def __init__(self, batch, sizes, dtype, device):
        self.args = (batch, sizes, dtype, device)
        self.device = device

    def step(self):
        return self._step()

    def sync(self):
        gg.synchronize(self.device)

    @property
    def mem_measure(self):
        return _ARRAY_MEM[self.device]

    def peak_memory(self):
        self.sync()
        if self.device == "cpu":
            return tracemalloc_peak(lambda: type(self)(*self.args))
        return cupy_peak(lambda: (self._step(), self.sync()))

    def kernels_per_step(self):
        if self.device == "cpu":
            return None
        return _nonzero(count_cuda_kernels(self._step, self.sync))


class GpugradRunner(_ArrayRunner):
    def __init__(self, batch, sizes, dtype, device):
        super().__init__(batch, sizes, dtype, device)
        self.label = "gpugrad"
        self._step, self.model = mlp_step.gpugrad_step_fn(batch, device=device, dtype=dtype,
                                                          sizes=sizes)

    def loss_value(self, loss):
        return loss.item()


class GpugradGraphRunner(_ArrayRunner):
    """gpugrad with the whole step (forward, backward, SGD) captured as one CUDA graph by
    ``gg.cuda.graphed`` after its warm-up steps, replayed once per step on the same batch (the
    static inputs stay as captured, as torch-graph's do). The warm-up updated the weights: the
    initial ones are put back in place afterwards, so the first replay is the first step from
    the same start as every other implementation (plain SGD keeps no state)."""

    def __init__(self, batch, sizes, dtype, device, warmup_iters=3):
        super().__init__(batch, sizes, dtype, device)
        if device != "cuda":
            raise Unavailable("skipped: gpugrad-graph needs CUDA (CUDA graphs run on the GPU only)")
        self.label = "gpugrad CUDA graph"
        self._mem = ("CuPy pool peak bytes in use during warm-up and capture (replay allocates "
                     "nothing; params and grads and batch included)")
        model = self.model = mlp_step.gpugrad_model(device, dtype, sizes)
        opt = gg.optim.SGD(model.parameters(), lr=LR)
        step = gg.cuda.graphed(lambda x, y: train_step(model, opt, x, y),
                               mlp_step.make_batch(batch, dtype=dtype, sizes=sizes),
                               warmup=warmup_iters)
        for p, init in zip(model.parameters(), mlp_step.init_params(sizes, dtype)):
            p.array[...] = gg.backend.to_device(init, p.device)
        self.graph, self.static_loss = step.graph, step.static_outputs
        self._step = self._replay

    def _replay(self):
        self.graph.replay()
        return self.static_loss

    def loss_value(self, loss):
        return loss.item()

    @property
    def mem_measure(self):
        return self._mem

    def peak_memory(self):
        """Peak bytes during warm-up and capture (a replay allocates nothing), as torch-graph's."""
        return cupy_peak(lambda: (type(self)(*self.args), self.sync()))


class HandRunner(_ArrayRunner):
    def __init__(self, batch, sizes, dtype, device):
        super().__init__(batch, sizes, dtype, device)
        self.xp = np if device == "cpu" else gg.backend.cupy_module()
        self.label = "hand-written NumPy" if device == "cpu" else "hand-written CuPy"
        self._step, self.params = mlp_step.hand_step_fn(batch, xp=self.xp, dtype=dtype,
                                                        sizes=sizes)


_ARRAY_MEM = {
    "cpu": "tracemalloc peak during one step (params and grads and batch included)",
    "cuda": "CuPy pool peak bytes in use during one step (params and grads and batch included)",
}


def _nonzero(n):
    # A CuPy step launches kernels; zero means the profiler did not see them: say nothing.
    return n if n else None


def _torch_model(torch, sizes, dtype, device):
    """nn.Sequential(Linear, ReLU, ..., Linear) holding the same weights as gpugrad's model
    (torch's Linear keeps W transposed, as (out, in))."""
    tdtype = getattr(torch, np.dtype(dtype).name)
    params = mlp_step.init_params(sizes, dtype)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = torch.nn.Linear(n_in, n_out, device=device, dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(params[2 * i].T)))
            lin.bias.copy_(torch.from_numpy(params[2 * i + 1]))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class TorchRunner(Runner):
    """PyTorch eager: the step as a PyTorch user writes it."""

    def __init__(self, batch, sizes, dtype, device):
        torch = self.torch = _torch()
        self.device = device
        self.label = "torch eager"
        dev = torch.device("cuda:0" if device == "cuda" else "cpu")
        self.model = _torch_model(torch, sizes, dtype, dev)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        xb, yb = mlp_step.make_batch(batch, dtype=dtype, sizes=sizes)
        self.x = torch.from_numpy(xb).to(dev)
        self.y = torch.from_numpy(yb).to(dev)
        self.F = torch.nn.functional

    def step(self):
        loss = self.F.cross_entropy(self.model(self.x), self.y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss

    def sync(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def loss_value(self, loss):
        return loss.item()

    @property
    def mem_measure(self):
        if self.device == "cpu":
            return "not measured: PyTorch's CPU allocator does not report to tracemalloc"
        return "torch.cuda.max_memory_allocated during one step (params and grads and batch included)"

    def peak_memory(self):
        if self.device == "cpu":
            return None
        return torch_cuda_peak(self.torch, self.step)

    def kernels_per_step(self):
        if self.device == "cpu":
            return None
        return count_cuda_kernels(self.step, self.sync)


class TorchGraphRunner(Runner):
    """PyTorch with the whole step (forward, backward, optimizer step) captured in one CUDA
    graph on static tensors, after warm-up iterations on a side stream, as in PyTorch's
    'whole network capture' recipe; each step is one ``graph.replay()``. The batch is the
    same every step here, so no copy into the static input is needed."""

    mem_measure = ("torch.cuda.max_memory_allocated during warm-up and capture (replay "
                   "allocates nothing; params and grads and batch included)")

    def __init__(self, batch, sizes, dtype, device, warmup_iters=3):
        torch = self.torch = _torch()
        if device != "cuda":
            raise Unavailable("skipped: torch-graph needs CUDA (CUDA graphs run on the GPU only)")
        self.device = device
        self.label = "torch CUDA graph"
        dev = torch.device("cuda:0")
        F = torch.nn.functional
        model = self.model = _torch_model(torch, sizes, dtype, dev)
        opt = self.opt = torch.optim.SGD(model.parameters(), lr=LR)
        xb, yb = mlp_step.make_batch(batch, dtype=dtype, sizes=sizes)
        self.static_x = torch.from_numpy(xb).to(dev)
        self.static_y = torch.from_numpy(yb).to(dev)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        # Warm up on a side stream (builds the optimizer state, autograd's and cuBLAS's
        # workspaces) before capture. These iterations update the weights; they count as the
        # first steps of training.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup_iters):
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(self.static_x), self.static_y)
                loss.backward()
                opt.step()
        torch.cuda.current_stream().wait_stream(side)
        # Capture: gradients are allocated inside the graph's private memory pool.
        self.graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self.static_loss = F.cross_entropy(model(self.static_x), self.static_y)
            self.static_loss.backward()
            opt.step()
        torch.cuda.synchronize()
        self._setup_peak = int(torch.cuda.max_memory_allocated())
        # Capturing ran nothing, but the warm-up updated the weights: put the initial ones back
        # (in place: the graph reads these very tensors), so the first replay is the first
        # step from the same start as every other implementation. Plain SGD keeps no state.
        with torch.no_grad():
            for p, init in zip(model.parameters(), self._initial_state(torch, sizes, dtype, dev)):
                p.copy_(init)
        torch.cuda.synchronize()

    @staticmethod
    def _initial_state(torch, sizes, dtype, dev):
        return [p.detach() for p in _torch_model(torch, sizes, dtype, dev).parameters()]

    def step(self):
        self.graph.replay()
        return self.static_loss

    def sync(self):
        self.torch.cuda.synchronize()

    def loss_value(self, loss):
        return loss.item()

    def peak_memory(self):
        return self._setup_peak

    def kernels_per_step(self):
        return count_cuda_kernels(self.step, self.sync)

    def close(self):
        self.graph.reset()


class JaxRunner(Runner):
    """JAX: loss, gradients and the SGD update in one ``jax.jit`` function, parameters donated."""

    def __init__(self, batch, sizes, dtype, device):
        jax = self.jax = _import("jax")
        jnp = importlib.import_module("jax.numpy")
        jax.config.update("jax_default_matmul_precision", "highest")
        if np.dtype(dtype) == np.float64:
            jax.config.update("jax_enable_x64", True)
        try:
            dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
        except RuntimeError:
            raise Unavailable("skipped: jax is installed without CUDA support") from None
        self.device = device
        self.label = "JAX jit"
        n_layers = len(sizes) - 1

        def loss_fn(params, x, y):
            h = x
            for i in range(n_layers):
                h = h @ params[2 * i] + params[2 * i + 1]
                if i < n_layers - 1:
                    h = jax.nn.relu(h)
            logp = jax.nn.log_softmax(h, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        def train_step(params, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            return [p - LR * g for p, g in zip(params, grads)], loss

        self._train_step = jax.jit(train_step, donate_argnums=0)
        self.params = [jax.device_put(p, dev) for p in mlp_step.init_params(sizes, dtype)]
        xb, yb = mlp_step.make_batch(batch, dtype=dtype, sizes=sizes)
        self.x = jax.device_put(xb, dev)
        self.y = jax.device_put(yb.astype(np.int32), dev)

    def step(self):
        self.params, loss = self._train_step(self.params, self.x, self.y)
        return loss

    def sync(self):
        self.jax.block_until_ready(self.params)

    mem_measure = "not measured: XLA keeps no per-step peak that can be reset"


# ----------------------------------------------------------------------------- registry

class Impl:
    """A named implementation: ``check(device)`` raises Unavailable where it cannot run,
    ``build(batch, sizes, dtype, device)`` returns a Runner."""

    def __init__(self, name, runner, description, needs=None, cuda_only=False):
        self.name, self.runner, self.description = name, runner, description
        self.needs, self.cuda_only = needs, cuda_only

    def check(self, device):
        if self.needs == "torch":
            torch = _torch()
            if device == "cuda" and not torch.cuda.is_available():
                raise Unavailable(f"skipped: torch {torch.__version__} is installed without "
                                  "CUDA support (or sees no GPU)")
        elif self.needs == "jax":
            jax = _import("jax")
            if device == "cuda":
                try:
                    jax.devices("gpu")
                except RuntimeError:
                    raise Unavailable("skipped: jax is installed without CUDA support "
                                      "(pip install 'jax[cuda12]')") from None
        if self.cuda_only and device != "cuda":
            raise Unavailable(f"skipped: {self.name} needs CUDA (CUDA graphs run on the GPU only)")

    def build(self, batch, sizes, dtype, device):
        return self.runner(batch, sizes, dtype, device)


IMPLS = {
    impl.name: impl for impl in [
        Impl("gpugrad", GpugradRunner, "gpugrad (NumPy on the CPU, CuPy on CUDA)"),
        Impl("gpugrad-graph", GpugradGraphRunner,
             "gpugrad, whole step captured in one CUDA graph (gg.cuda.graphed)", cuda_only=True),
        Impl("hand", HandRunner, "the step written by hand in NumPy / CuPy (bench/mlp_step.py)"),
        Impl("torch", TorchRunner, "PyTorch eager, TF32 off", needs="torch"),
        Impl("torch-graph", TorchGraphRunner,
             "PyTorch, whole step captured in one CUDA graph, TF32 off", needs="torch",
             cuda_only=True),
        Impl("jax", JaxRunner, "JAX, whole step under jax.jit, highest matmul precision",
             needs="jax"),
    ]
}


# ----------------------------------------------------------------------------- pytest-benchmark

class SyncEvery:
    """``fn()``, and on every ``n``-th call also ``sync()``. With pytest-benchmark's
    ``pedantic(target, iterations=n)`` (which times n calls per round) each round is then n
    calls queued back to back and one wait for the device at the end, so a GPU benchmark
    measures the device's work rather than one synchronisation per call."""

    def __init__(self, fn, sync, n):
        self.fn, self.sync, self.n, self.calls = fn, sync, max(int(n), 1), 0

    def __call__(self):
        self.fn()
        self.calls += 1
        if self.calls % self.n == 0:
            self.sync()


def cuda_sync():
    """Wait for gpugrad's default CUDA device (and so for CuPy's work on it)."""
    gg.synchronize("cuda")
