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


def _adamw_unfused(xp, p, g, m, v, lr=1e-3, wd=1e-2, step=3):
    p *= 1 - lr * wd
    m *= 0.9
    m += 0.1 * g
    v *= 0.999
    v += 0.001 * g * g
    p -= lr / (1 - 0.9 ** step) * m / (xp.sqrt(v) / (1 - 0.999 ** step) ** 0.5 + 1e-8)


def _rmsprop_unfused(xp, p, g, sq, lr=1e-2):
    sq *= 0.99
    sq += 0.01 * g * g
    p -= lr * g / (xp.sqrt(sq) + 1e-8)


def _adagrad_unfused(xp, p, g, state_sum, lr=1e-2):
    state_sum += g * g
    p -= lr * g / (xp.sqrt(state_sum) + 1e-10)


# rule -> (state arrays, fused update, unfused update), arrays moved once: p r/w, g r, state r/w
OPTIM = {
    "adamw": (2, lambda p, g, s: kernels.adam_step(p, g, *s, 1e-3, 0.9, 0.999, 1e-8, 1e-2, 3,
                                                   decoupled_weight_decay=True), _adamw_unfused),
    "rmsprop": (1, lambda p, g, s: kernels.rmsprop_step(p, g, s[0], 1e-2, 0.99, 1e-8, 0.0),
                _rmsprop_unfused),
    "adagrad": (1, lambda p, g, s: kernels.adagrad_step(p, g, s[0], 1e-2, 0.0, 1e-10, 0.0, 3),
                _adagrad_unfused),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rule", sorted(OPTIM))
@pytest.mark.parametrize("impl", ["fused", "unfused"])
def test_optimizer_update(benchmark, device, rule, impl):
    """One in-place update of a parameter: the fused kernel (the twin on the CPU) against the
    same rule written as array expressions."""
    xp = _xp(device)
    n = GPU_N if device == "cuda" else CPU_N
    n_state, fused, unfused = OPTIM[rule]
    rng = np.random.default_rng(0)
    p, g = (xp.asarray(rng.standard_normal(n, dtype=np.float32)) for _ in range(2))
    state = [xp.asarray(np.abs(rng.standard_normal(n, dtype=np.float32))) for _ in range(n_state)]
    fn = (lambda: fused(p, g, state)) if impl == "fused" else (lambda: unfused(xp, p, g, *state))
    benchmark.group = f"{device}-kernels-optim-{rule}-2^{n.bit_length() - 1}"
    benchmark.extra_info["impl"] = impl
    if impl == "unfused":
        benchmark.extra_info["anchor"] = True
    _bench(benchmark, device, fn, (3 + 2 * n_state) * n * 4)
    if device == "cuda":
        del p, g, state
        peers.free_device_memory()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["kernels.total_norm", "sqrt(sum(g*g)) (unfused)"])
def test_grad_norm(benchmark, device, impl):
    """The total 2-norm of 16 gradients (clip_grad_norm_'s reduction): one fused kernel per
    gradient and one to finish, against a square, a sum and a stack per gradient."""
    xp = _xp(device)
    n = (GPU_N if device == "cuda" else CPU_N) // 16
    rng = np.random.default_rng(0)
    grads = [xp.asarray(rng.standard_normal(n, dtype=np.float32)) for _ in range(16)]
    fn = {"kernels.total_norm": lambda: kernels.total_norm(grads, 2.0, 1.0),
          "sqrt(sum(g*g)) (unfused)": lambda: xp.sqrt(xp.stack([(g * g).sum() for g in grads]).sum())}[impl]
    benchmark.group = f"{device}-kernels-grad-norm-16x2^{n.bit_length() - 1}"
    benchmark.extra_info["impl"] = impl
    if impl != "kernels.total_norm":
        benchmark.extra_info["anchor"] = True
    _bench(benchmark, device, fn, 16 * n * 4)
    if device == "cuda":
        del grads
        peers.free_device_memory()
