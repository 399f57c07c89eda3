"""GPU: one SGD step of the 784-1024-1024-10 ReLU MLP (float32) per batch size, 64 to 32768,
with gpugrad on CuPy beside the hand-written CuPy step, PyTorch eager and PyTorch with the
whole step in a CUDA graph (TF32 off; see bench/peers.py). Skipped without CUDA.

    pytest bench/test_gpu_step.py --benchmark-only

Each round queues several steps and waits for the GPU once at its end (peers.SyncEvery), so
the figures are device throughput, as in a training loop. The anchor of each batch-size group
is PyTorch eager where it is installed with CUDA (the DESIGN.md targets are against it), else
the hand-written CuPy step.
"""
import numpy as np
import pytest

import gpugrad as gg
from bench import peers
from bench.mlp_step import SIZES

CUDA = gg.cuda_available()
BATCHES = [64 << i for i in range(10)]          # 64 ... 32768
IMPLS = ["gpugrad", "hand", "torch", "torch-graph"]

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not CUDA, reason="needs a CUDA device through CuPy")]


def _available(name):
    try:
        peers.IMPLS[name].check("cuda")
        return True
    except peers.Unavailable:
        return False


ANCHOR = ("torch" if _available("torch") else "hand") if CUDA else None


def iterations_for(batch):
    """Steps per timed round: about 1-2 ms of GPU work or more, at least 2."""
    return max(2, min(20, 65536 // batch))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("impl", IMPLS)
def test_gpu_step(benchmark, impl, batch):
    try:
        peers.IMPLS[impl].check("cuda")
    except peers.Unavailable as why:
        pytest.skip(str(why))
    runner = peers.IMPLS[impl].build(batch, SIZES, np.float32, "cuda")
    try:
        benchmark.group = f"gpu-step-batch-{batch:05d}"
        benchmark.extra_info["impl"] = runner.label
        benchmark.extra_info["batch"] = batch
        if impl == ANCHOR:
            benchmark.extra_info["anchor"] = True
        n = iterations_for(batch)
        benchmark.pedantic(peers.SyncEvery(runner.step, runner.sync, n), rounds=15,
                           warmup_rounds=2, iterations=n)
        runner.sync()
        benchmark.extra_info["samples_per_s"] = batch / benchmark.stats.stats.median
    finally:
        runner.sync()
        runner.close()
        del runner
        peers.free_device_memory()
