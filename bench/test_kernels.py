"""The fused kernels of gpugrad.kernels against the unfused array expressions they replace,
and against a plain copy of the same bytes (the ceiling of an elementwise kernel).

GPU (skipped without CUDA): sigmoid and ReLU forward and backward on 2^26 float32 elements,
and the batch-axis reduction ``kernels.sum_rows`` against ``G.sum(axis=0)`` at (32768, 1024).
CPU: the same comparisons at small sizes, with the NumPy twins.

    pytest bench/test_kernels.py --benchmark-only

Each benchmark records its effective bandwidth (bytes read and written once, over the median
time) in ``extra_info['GB/s']``; the anchor of each group is the copy (for the reduction:
the plain ``sum(axis=0)``).
"""
import numpy as np
import pytest

import gpugrad as gg
from bench import peers
from gpugrad import kernels

CUDA = gg.cuda_available()
requires_cuda = [pytest.mark.gpu,
                 pytest.mark.skipif(not CUDA, reason="needs a CUDA device through CuPy")]

GPU_N = 1 << 26
CPU_N = 1 << 20
GPU_ROWS = (32768, 1024)
CPU_ROWS = (2048, 512)


def _xp(device):
    return np if device == "cpu" else gg.backend.cupy_module()


# name -> (number of input arrays, {impl: (function of the inputs, is_anchor)})
def _cases(xp):
    return {
        "sigmoid-fwd": (1, {
            "copy": (lambda x: x.copy(), True),
            "kernels.sigmoid_fwd (fused)": (kernels.sigmoid_fwd, False),
            "1/(1+exp(-x)) (unfused)": (lambda x: 1 / (1 + xp.exp(-x)), False),
        }),
        "sigmoid-bwd": (2, {
            "copy": (lambda y, gy: y.copy(), True),
            "kernels.sigmoid_bwd (fused)": (kernels.sigmoid_bwd, False),
            "gy*y*(1-y) (unfused)": (lambda y, gy: gy * y * (1 - y), False),
        }),
        "relu-fwd": (1, {
            "copy": (lambda x: x.copy(), True),
            "kernels.relu_fwd (fused)": (kernels.relu_fwd, False),
            "maximum(x, 0)": (lambda x: xp.maximum(x, 0), False),
            "x*(x>0) (unfused)": (lambda x: x * (x > 0), False),
        }),
        "relu-bwd": (2, {
            "copy": (lambda y, gy: y.copy(), True),
            "kernels.relu_bwd (fused)": (kernels.relu_bwd, False),
            "gy*(y>0) (unfused)": (lambda y, gy: gy * (y > 0), False),
        }),
    }


ELEMENTWISE = [(op, impl) for op, (_, impls) in _cases(np).items() for impl in impls]
DEVICES = ["cpu", pytest.param("cuda", marks=requires_cuda)]


def _bench(benchmark, device, fn, nbytes):
    if device == "cuda":
        benchmark.pedantic(peers.SyncEvery(fn, peers.cuda_sync, 10), rounds=20,
                           warmup_rounds=2, iterations=10)
        peers.cuda_sync()
    else:
        fn()
        benchmark.pedantic(fn, rounds=30, warmup_rounds=2)
    benchmark.extra_info["GB/s"] = round(nbytes / benchmark.stats.stats.median / 1e9, 1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op,impl", ELEMENTWISE)
def test_elementwise(benchmark, device, op, impl):
    xp = _xp(device)
    n = GPU_N if device == "cuda" else CPU_N
    n_inputs, impls = _cases(xp)[op]
    fn, anchor = impls[impl]
    rng = np.random.default_rng(0)
    inputs = [xp.asarray(rng.standard_normal(n, dtype=np.float32)) for _ in range(n_inputs)]
    if op == "sigmoid-bwd":          # y is a sigmoid output, in (0, 1)
        inputs[0] = xp.asarray(1 / (1 + np.exp(-rng.standard_normal(n, dtype=np.float32))))
    benchmark.group = f"{device}-kernels-{op}-2^{n.bit_length() - 1}"
    benchmark.extra_info["impl"] = impl
    if anchor:
        benchmark.extra_info["anchor"] = True
    # bytes each moves at least once: every input read, one output written (copy: 1 in, 1 out)
    arrays = 2 if impl == "copy" else n_inputs + 1
    _bench(benchmark, device, lambda: fn(*inputs), arrays * n * 4)
    if device == "cuda":
        del inputs
        peers.free_device_memory()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["sum(axis=0)", "kernels.sum_rows", "ones(1,B) @ G"])
def test_sum_rows(benchmark, device, impl):
    """The batch-axis reduction of bias gradients (DESIGN.md: on an H100 CuPy's sum(axis=0)
    of (32768, 1024) float32 took 786 us, ones @ G 51 us, the bytes floor 46 us)."""
    xp = _xp(device)
    B, N = GPU_ROWS if device == "cuda" else CPU_ROWS
    g = xp.asarray(np.random.default_rng(0).standard_normal((B, N), dtype=np.float32))
    ones = xp.ones((1, B), dtype=np.float32)
    fn = {"sum(axis=0)": lambda: g.sum(axis=0),
          "kernels.sum_rows": lambda: kernels.sum_rows(g),
          "ones(1,B) @ G": lambda: ones @ g}[impl]
    np.testing.assert_allclose(gg.backend.to_numpy(fn()).reshape(N),
                               gg.backend.to_numpy(g.sum(axis=0)), rtol=1e-3, atol=5e-2)
    benchmark.group = f"{device}-kernels-sum-rows-{B}x{N}"
    benchmark.extra_info["impl"] = impl
    if impl == "sum(axis=0)":
        benchmark.extra_info["anchor"] = True
    _bench(benchmark, device, fn, (B * N + N) * 4)
    if device == "cuda":
        del g, ones
        peers.free_device_memory()
