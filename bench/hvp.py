"""What a Hessian-vector product of the MLP's loss costs, against one backward pass.

    python -m bench.hvp                          # CPU, 1 thread, batch 16..1024, gpugrad and torch
    python -m bench.hvp --device cuda --batch-sizes 64,512,4096

The model is bench.mlp_step's 784-1024-1024-10 ReLU MLP with softmax cross-entropy (gpugrad:
the fused Linear+ReLU and fused cross-entropy of a training step). Timed, per batch size:

* ``fwd``: the forward pass to the loss;
* ``fwd+bwd``: forward and ``loss.backward()`` (a training step's gradients);
* ``fwd+hvp``: forward, ``g = grad(loss, params, create_graph=True)`` and
  ``grad(Σ <g_i, v_i>, params)``: H v for a fixed random v (reverse over reverse).

Reported: ms of each (median of --repeats runs of at least --min-time s), ``hvp/bwd`` =
(fwd+hvp - fwd) / (fwd+bwd - fwd), the cost of the product over that of the backward pass alone,
and ``(fwd+hvp)/(fwd+bwd)``; the same for PyTorch (eager, float32, same weights) when installed.
"""
from __future__ import annotations

import argparse

import numpy as np

from . import mlp_step
from .overhead import median_ms

SIZES = mlp_step.SIZES


def _steps(fwd, params, vs, grad):
    """The three timed steps over one library's forward ``fwd`` and its ``grad``."""

    def fwd_bwd():
        fwd().backward()
        for p in params:
            p.grad = None

    def fwd_hvp():
        gs = grad(fwd(), params, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(gs, vs))
        return grad(dot, params)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd, "fwd+hvp": fwd_hvp}


def gpugrad_fns(batch, device):
    import gpugrad as gg
    import gpugrad.nn.functional as F

    model = mlp_step.gpugrad_model(device)
    params = list(model.parameters())
    xb, yb = mlp_step.make_batch(batch)
    x, y = gg.tensor(xb, device=device), gg.tensor(yb, device=device)
    rng = np.random.default_rng(1)
    vs = [gg.tensor(rng.standard_normal(p.shape).astype(np.float32), device=device) for p in params]

    def fwd():
        return F.cross_entropy(model(x), y)

    return _steps(fwd, params, vs, gg.autograd.grad), gg.synchronize


def torch_fns(batch, device):
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    dev = "cuda" if device.startswith("cuda") else "cpu"
    weights = [torch.tensor(a, device=dev) for a in mlp_step.init_params()]
    params = [w.requires_grad_() for w in weights]
    xb, yb = mlp_step.make_batch(batch)
    x, y = torch.tensor(xb, device=dev), torch.tensor(yb, device=dev)
    rng = np.random.default_rng(1)
    vs = [torch.tensor(rng.standard_normal(p.shape).astype(np.float32), device=dev) for p in params]

    def fwd():
        h = x
        for i in range(0, len(params) - 2, 2):
            h = torch.relu(h @ params[i] + params[i + 1])
        return torch.nn.functional.cross_entropy(h @ params[-2] + params[-1], y)

    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    return _steps(fwd, params, vs, torch.autograd.grad), sync


def measure(impl, batch, device, repeats, min_time):
    fns, sync = (gpugrad_fns if impl == "gpugrad" else torch_fns)(batch, device)
    ms = {name: median_ms(fn, repeats, min_time, sync) for name, fn in fns.items()}
    ms["hvp/bwd"] = (ms["fwd+hvp"] - ms["fwd"]) / (ms["fwd+bwd"] - ms["fwd"])
    ms["(fwd+hvp)/(fwd+bwd)"] = ms["fwd+hvp"] / ms["fwd+bwd"]
    return ms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-sizes", default="16,64,256,1024")
    p.add_argument("--impl", default="gpugrad,torch")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (CPU)")
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    print(f"{'impl':8s} {'batch':>6s} {'fwd':>9s} {'fwd+bwd':>9s} {'fwd+hvp':>9s} "
          f"{'hvp/bwd':>8s} {'(fwd+hvp)/(fwd+bwd)':>20s}")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        for impl in args.impl.split(","):
            try:
                ms = measure(impl, batch, args.device, args.repeats, args.min_time)
            except ImportError as exc:
                print(f"{impl:8s} skipped: {exc.name} is not installed")
                continue
            print(f"{impl:8s} {batch:6d} {ms['fwd']:9.3f} {ms['fwd+bwd']:9.3f} "
                  f"{ms['fwd+hvp']:9.3f} {ms['hvp/bwd']:8.2f} {ms['(fwd+hvp)/(fwd+bwd)']:20.2f}")


if __name__ == "__main__":
    main()
