"""An LSTM layer's forward+backward, gpugrad beside PyTorch, in one run.

    python -m bench.lstm                        # CPU, 1 thread: batch 32, 128 steps, 256 hidden
    python -m bench.lstm --device cuda --threads 16

Both libraries run ``nn.LSTM(input, hidden)`` (float32, the same weights, loaded into PyTorch's
layer by name) on the same (steps, batch, input) sequence, and time ``forward`` and
``forward + (output.sum() + h_n.sum() + c_n.sum()).backward()``, gradients of the weights and
the input. Reported: ms of each (median of --repeats alternating rounds of at least --min-time
s) and gpugrad / PyTorch. On the CPU PyTorch runs its LSTM as oneDNN's fused RNN primitive (the
whole sequence in one call); ``torch-no-onednn`` is PyTorch's own per-step path (matmul and
fused gates per step, as gpugrad does), timed alongside.
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np

from .machine import blas_line, cpu_jit_line
from .overhead import median_ms


def _inputs(steps, batch, n_in):
    return np.random.default_rng(0).standard_normal((steps, batch, n_in)).astype(np.float32)


def _timed(layer, x):
    """The two timed steps, the same code for both libraries (the same API)."""

    def fwd():
        return layer(x)

    def fwd_bwd():
        out, (h, c) = layer(x)
        (out.sum() + h.sum() + c.sum()).backward()
        layer.zero_grad()
        x.grad = None

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}


def _without_onednn(fn):
    import torch

    def run():
        with torch.backends.mkldnn.flags(enabled=False):
            return fn()

    return run


def gpugrad_fns(steps, batch, n_in, hidden, device):
    import gpugrad as gg

    gg.manual_seed(0)
    layer = gg.nn.LSTM(n_in, hidden, device=device)
    x = gg.tensor(_inputs(steps, batch, n_in), device=device, requires_grad=True)
    return layer, _timed(layer, x), gg.synchronize


def torch_fns(steps, batch, n_in, hidden, device, weights):
    import torch

    dev = "cuda" if device.startswith("cuda") else "cpu"
    layer = torch.nn.LSTM(n_in, hidden).to(dev)
    layer.load_state_dict({k: torch.tensor(v, device=dev) for k, v in weights.items()})
    x = torch.tensor(_inputs(steps, batch, n_in), device=dev, requires_grad=True)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    return _timed(layer, x), sync


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=128)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--input", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--min-time", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=1, help="BLAS / PyTorch threads (CPU)")
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    shape = (args.steps, args.batch, args.input, args.hidden)
    layer, fns, sync = gpugrad_fns(*shape, args.device)
    impls = {"gpugrad": (fns, sync)}
    try:
        import torch
        torch.set_num_threads(args.threads)
        weights = {k: v.numpy() for k, v in layer.state_dict().items()}
        impls["torch"] = torch_fns(*shape, args.device, weights)
        if args.device == "cpu":     # PyTorch's own per-step path, without oneDNN's fused RNN
            fns, sync = torch_fns(*shape, args.device, weights)
            impls["torch-no-onednn"] = ({k: _without_onednn(f) for k, f in fns.items()}, sync)
    except ImportError:
        print("torch skipped: it is not installed")
    # rounds alternate between the libraries, so a change in the machine's load hits both
    runs = {impl: {"fwd": [], "fwd+bwd": []} for impl in impls}
    for _ in range(args.repeats):
        for impl, (fns, sync) in impls.items():
            for k, f in fns.items():
                runs[impl][k].append(median_ms(f, 1, args.min_time, sync))
    print(blas_line() + "; " + cpu_jit_line())
    print(f"LSTM({args.input}, {args.hidden}), {args.steps} steps, batch {args.batch}, "
          f"{args.device}, {args.threads} thread(s); median of {args.repeats} alternating rounds")
    print(f"{'impl':26s} {'fwd ms':>9s} {'fwd+bwd ms':>11s}")
    for impl, ms in runs.items():
        print(f"{impl:26s} {statistics.median(ms['fwd']):9.2f} {statistics.median(ms['fwd+bwd']):11.2f}")
    for other in runs:
        if other != "gpugrad":
            ratio = {k: statistics.median(a / b for a, b in zip(runs["gpugrad"][k], runs[other][k]))
                     for k in ("fwd", "fwd+bwd")}
            print(f"{'gpugrad / ' + other:26s} {ratio['fwd']:9.2f} {ratio['fwd+bwd']:11.2f}   "
                  "(median of the rounds' ratios)")


if __name__ == "__main__":
    main()
