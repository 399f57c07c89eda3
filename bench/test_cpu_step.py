"""CPU: one SGD step of the 784-1024-1024-10 ReLU MLP, gpugrad on NumPy beside the same step
written by hand in NumPy (target: gpugrad within 1.15x).

    pytest bench/test_cpu_step.py --benchmark-only
"""
import pytest

from bench.mlp_step import gpugrad_step_fn, hand_step_fn


@pytest.mark.parametrize("batch", [64, 512])
def test_step_gpugrad_numpy(benchmark, batch):
    step, _ = gpugrad_step_fn(batch, device="cpu")
    benchmark.group = f"cpu-step-batch-{batch}"
    benchmark.extra_info["impl"] = "gpugrad (numpy)"
    step()  # warm-up
    benchmark.pedantic(step, rounds=30, warmup_rounds=3)


@pytest.mark.parametrize("batch", [64, 512])
def test_step_hand_written_numpy(benchmark, batch):
    step, _ = hand_step_fn(batch)
    benchmark.group = f"cpu-step-batch-{batch}"
    benchmark.extra_info.update(impl="hand-written numpy", anchor=True)
    step()
    benchmark.pedantic(step, rounds=30, warmup_rounds=3)


def test_both_steps_compute_the_same_update():
    """The two implementations must be doing the same work for the ratio to mean anything."""
    import numpy as np

    g_step, model = gpugrad_step_fn(16)
    h_step, params = hand_step_fn(16)
    for _ in range(2):
        lg, lh = g_step(), h_step()
        np.testing.assert_allclose(lg.item(), float(lh), rtol=1e-5)
    for p, q in zip(model.parameters(), params):
        np.testing.assert_allclose(p.numpy(), q, rtol=1e-4, atol=1e-6)
