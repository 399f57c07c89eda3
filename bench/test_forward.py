"""Forward pass only (inference, no graph recorded) of the 784-1024-1024-10 ReLU MLP, float32:
gpugrad beside the same forward written by hand (the anchor) and PyTorch where installed.
Small batches on the CPU; 64 to 32768 on CUDA (skipped without it).

    pytest bench/test_forward.py --benchmark-only
"""
import numpy as np
import pytest

import gpugrad as gg
from bench import peers
from bench.mlp_step import SIZES, gpugrad_forward_fn, hand_forward_fn, make_batch

CUDA = gg.cuda_available()
requires_cuda = [pytest.mark.gpu,
                 pytest.mark.skipif(not CUDA, reason="needs a CUDA device through CuPy")]
CPU_BATCHES = [16, 128]
GPU_BATCHES = [64 << i for i in range(10)]      # 64 ... 32768
CASES = ([("cpu", b) for b in CPU_BATCHES]
         + [pytest.param("cuda", b, marks=requires_cuda, id=f"cuda-{b}") for b in GPU_BATCHES])


def _torch_forward_fn(batch, device):
    try:
        peers.IMPLS["torch"].check(device)
    except peers.Unavailable as why:
        pytest.skip(str(why))
    torch = peers._torch()
    dev = torch.device("cuda:0" if device == "cuda" else "cpu")
    model = peers._torch_model(torch, SIZES, np.float32, dev)
    x = torch.from_numpy(make_batch(batch)[0]).to(dev)

    def forward():
        with torch.no_grad():
            return model(x)

    return forward, (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)


def _build(impl, batch, device):
    sync = peers.cuda_sync if device == "cuda" else (lambda: None)
    if impl == "gpugrad":
        return gpugrad_forward_fn(batch, device=device)[0], sync, "gpugrad"
    if impl == "hand":
        xp = np if device == "cpu" else gg.backend.cupy_module()
        label = "hand-written NumPy" if device == "cpu" else "hand-written CuPy"
        return hand_forward_fn(batch, xp=xp)[0], sync, label
    fn, sync = _torch_forward_fn(batch, device)
    return fn, sync, "torch eager"


@pytest.mark.parametrize("device,batch", CASES)
@pytest.mark.parametrize("impl", ["gpugrad", "hand", "torch"])
def test_forward(benchmark, impl, device, batch):
    fn, sync, label = _build(impl, batch, device)
    benchmark.group = f"{device}-forward-batch-{batch:05d}"
    benchmark.extra_info["impl"] = label
    if impl == "hand":
        benchmark.extra_info["anchor"] = True
    if device == "cuda":
        n = max(2, min(50, 131072 // batch))
        benchmark.pedantic(peers.SyncEvery(fn, sync, n), rounds=15, warmup_rounds=2,
                           iterations=n)
        sync()
        peers.free_device_memory()
    else:
        fn()
        benchmark.pedantic(fn, rounds=15, warmup_rounds=2)
