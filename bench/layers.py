"""LayerNorm and Embedding, forward + backward, beside PyTorch: CPU, one thread, float32 (or on a
GPU, ``--device cuda``: each step timed to its end on the device).

    python -m bench.layers                   # both libraries, a table of ms per step
    python -m bench.layers --json
    python -m bench.layers --device cuda

A step is the layer's forward on fresh-graph inputs, a sum, and backward (the input's and the
parameters' gradients), then the gradients dropped; the median of ``--repeats`` rounds, each
timing a block of ``--inner`` steps of gpugrad and then of PyTorch. The issue's target: gpugrad at most 1.2x PyTorch's time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

from .machine import blas_line, cpu_jit_line  # noqa: E402

LAYER_NORM = (512, 1024)            # (rows, features)
EMBEDDING = (50_000, 256, (64, 128))   # (num_embeddings, dim, indices' shape)


def _median_ms(step, repeats, inner, sync=lambda: None):
    step()                                      # warm up
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            step()
        sync()
        times.append((time.perf_counter() - t0) / inner * 1e3)
    return statistics.median(times)


def gpugrad_steps(rng, device="cpu"):
    import gpugrad as gg
    import gpugrad.nn as nn

    x = gg.tensor(rng.standard_normal(LAYER_NORM).astype(np.float32), device=device, requires_grad=True)
    ln = nn.LayerNorm(LAYER_NORM[1]).to(device)
    rows, dim, shape = EMBEDDING
    emb = nn.Embedding(rows, dim).to(device)
    idx = gg.tensor(rng.integers(0, rows, shape), device=device)

    def layer_norm():
        ln(x).sum().backward()
        x.grad = None
        ln.zero_grad()

    def embedding():
        emb(idx).sum().backward()
        emb.zero_grad()

    return {"layer_norm": layer_norm, "embedding": embedding}, gg.synchronize


def torch_steps(rng, device="cpu"):
    import torch

    torch.set_num_threads(1)
    dev = "cuda" if device.startswith("cuda") else "cpu"
    x = torch.tensor(rng.standard_normal(LAYER_NORM).astype(np.float32), device=dev, requires_grad=True)
    ln = torch.nn.LayerNorm(LAYER_NORM[1]).to(dev)
    rows, dim, shape = EMBEDDING
    emb = torch.nn.Embedding(rows, dim).to(dev)
    idx = torch.tensor(rng.integers(0, rows, shape), device=dev)

    def layer_norm():
        ln(x).sum().backward()
        x.grad = None
        ln.zero_grad(set_to_none=True)

    def embedding():
        emb(idx).sum().backward()
        emb.zero_grad(set_to_none=True)

    return {"layer_norm": layer_norm, "embedding": embedding}, (torch.cuda.synchronize if dev == "cuda" else lambda: None)


def run(repeats=7, inner=10, device="cpu"):
    """ms per step of each layer in each library: the median of ``repeats`` rounds, each round
    timing gpugrad's step and then PyTorch's, so a busy machine's drift reaches both."""
    rng = np.random.default_rng(0)
    libraries = {"gpugrad": gpugrad_steps(rng, device)}
    try:
        libraries["torch"] = torch_steps(rng, device)
    except ImportError:
        pass
    times = {lib: {name: [] for name in steps} for lib, (steps, _) in libraries.items()}
    for name in libraries["gpugrad"][0]:
        for steps, sync in libraries.values():
            _median_ms(steps[name], 1, 1, sync)               # warm up
        for _ in range(repeats):
            for lib, (steps, sync) in libraries.items():
                times[lib][name].append(_median_ms(steps[name], 1, inner, sync))
    return {lib: {name: statistics.median(t) for name, t in per.items()} for lib, per in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--inner", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: both libraries on it")
    args = ap.parse_args(argv)
    results = run(args.repeats, args.inner, args.device)
    if args.json:
        print(json.dumps(results))
        return
    print(f"on {args.device}; " + blas_line() + "; " + cpu_jit_line())
    print(f"{'layer (fwd + bwd)':<22}{'gpugrad ms':>12}{'torch ms':>12}{'ratio':>8}")
    for name, ms in results["gpugrad"].items():
        t = results.get("torch", {}).get(name)
        print(f"{name:<22}{ms:>12.3f}" + (f"{t:>12.3f}{ms / t:>8.2f}" if t else ""))


if __name__ == "__main__":
    main()
