"""Convolution, batch norm, dropout and the CNN of ``gpugrad-train --model cnn``, beside PyTorch,
in one run on the CPU with one thread (both libraries limited to it), or on a GPU beside PyTorch's
cuDNN (``--device cuda``; TF32 off in both, so both compute in float32):

    python -m bench.cnn                      # the layer and step timings, and the conv step's memory
    python -m bench.cnn --epoch DIR          # also one epoch of the CNN on the IDX files in DIR
    python -m bench.cnn --out bench/results/cnn-cpu-DATE
    python -m bench.cnn --device cuda        # on a GPU (each call timed to its end on the device)

Times forward + backward of Conv2d (batch 64, 3x3, 32 -> 64 channels, 28x28, padding 1),
BatchNorm2d and Dropout (on that convolution's output, (64, 64, 28, 28)) and one Adam training step
of the CNN (batch 64 of 1x28x28 images), each as the median over ``--repeats`` runs of the mean
over as many calls as fill ``--min-time`` seconds, gpugrad's and PyTorch's runs interleaved (a
busy machine's drift then hits both); the ratio is gpugrad's time over PyTorch's.
The peak memory of the conv step (tracemalloc: NumPy's allocations; on the CPU only) is reported
beside the size of one whole-batch im2col buffer and of the chunk gpugrad keeps instead
(functions/conv.py).
With ``--epoch`` both libraries train the same CNN for one epoch over the same shuffled batches.
Writes ``results.json`` and ``results.md`` to ``--out`` when given.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad.functions import conv as gconv
from gpugrad.train import build_model, train_step

from .compare import device_info
from .machine import blas_line, cpu_jit_line
from .overhead import median_ms

BATCH, CIN, COUT, SIDE = 64, 32, 64, 28


def _data(rng):
    x = rng.standard_normal((BATCH, CIN, SIDE, SIDE)).astype(np.float32)
    w = (rng.standard_normal((COUT, CIN, 3, 3)) * 0.05).astype(np.float32)
    y = rng.standard_normal((BATCH, COUT, SIDE, SIDE)).astype(np.float32)
    return x, w, y


def gpugrad_cases(rng, device="cpu"):
    x, w, gy = _data(rng)
    xt, wt = gg.tensor(x, device=device, requires_grad=True), gg.tensor(w, device=device, requires_grad=True)
    g = gg.tensor(gy, device=device)
    bn = gg.nn.BatchNorm2d(COUT).to(device)
    h = gg.tensor(gy, device=device, requires_grad=True)

    def conv():
        xt.grad = wt.grad = None
        F.conv2d(xt, wt, padding=1).backward(g)

    def batch_norm():
        h.grad = None
        bn(h).backward(g)

    def dropout():
        h.grad = None
        F.dropout(h, 0.5).backward(g)
    return {"conv2d": conv, "batch_norm2d": batch_norm, "dropout": dropout,
            "cnn_step": _gpugrad_step(rng, device)}


def _images(rng):
    return (rng.standard_normal((BATCH, 1, SIDE, SIDE)).astype(np.float32),
            rng.integers(0, 10, BATCH))


def _gpugrad_step(rng, device="cpu"):
    gg.manual_seed(0)
    model = build_model((1, SIDE, SIDE), None, 10, "relu", model="cnn").to(device)
    opt = gg.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _images(rng)
    xt, yt = gg.tensor(x, device=device), gg.tensor(y, device=device)
    return lambda: train_step(model, opt, xt, yt)


def torch_cnn(torch):
    nn = torch.nn
    layers, c = [], 1
    for out in (32, 64):
        layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
        c = out
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 10))


def torch_cases(torch, rng, device="cpu"):
    dev = "cuda" if device.startswith("cuda") else "cpu"
    x, w, gy = (torch.tensor(a, device=dev) for a in _data(rng))
    x.requires_grad_(), w.requires_grad_()
    bn = torch.nn.BatchNorm2d(COUT).to(dev)
    h = gy.clone().requires_grad_()

    def conv():
        x.grad = w.grad = None
        torch.nn.functional.conv2d(x, w, padding=1).backward(gy)

    def batch_norm():
        h.grad = None
        bn(h).backward(gy)

    def dropout():
        h.grad = None
        torch.nn.functional.dropout(h, 0.5).backward(gy)

    torch.manual_seed(0)
    model = torch_cnn(torch).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xi, yi = (torch.tensor(a, device=dev) for a in _images(rng))

    def step():
        loss = torch.nn.functional.cross_entropy(model(xi), yi)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"conv2d": conv, "batch_norm2d": batch_norm, "dropout": dropout, "cnn_step": step}


def conv_memory(rng):
    """Peak bytes NumPy allocates in one conv forward + backward, and the buffers' sizes."""
    x, w, gy = _data(rng)
    xt, wt, g = gg.tensor(x, requires_grad=True), gg.tensor(w, requires_grad=True), gg.tensor(gy)
    F.conv2d(xt, wt, padding=1).backward(g)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    xt.grad = wt.grad = None
    F.conv2d(xt, wt, padding=1).backward(g)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    whole = BATCH * CIN * 9 * SIDE * SIDE * 4
    return {"peak_bytes": peak, "im2col_whole_batch_bytes": whole, "chunk_bytes": gconv.CHUNK_BYTES["cpu"],
            "operands_bytes": (x.nbytes + w.nbytes + gy.nbytes)}


def epoch_times(torch, data_dir, seed=0, device="cpu"):
    """Seconds for one epoch of the CNN (batch 64, Adam 1e-3) in each library, same batches
    (the data moved to the device once, each batch sliced there)."""
    from gpugrad.data import load_idx_dataset, standardize
    X, y, Xt, _ = load_idx_dataset(data_dir, "fashion-mnist")
    X, _, _ = standardize(X, Xt, min_std=0.1)
    X = X.reshape(-1, 1, SIDE, SIDE).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(y))
    batches = [order[i:i + BATCH] for i in range(0, len(y), BATCH)]
    dev = "cuda" if device.startswith("cuda") else "cpu"
    gg.manual_seed(seed)
    model = build_model((1, SIDE, SIDE), None, 10, "relu", model="cnn").to(device)
    opt = gg.optim.Adam(model.parameters(), lr=1e-3)
    Xg, yg = gg.tensor(X, device=device), gg.tensor(y, device=device)
    start = time.perf_counter()
    for b in batches:
        bg = gg.tensor(b, device=device)
        train_step(model, opt, Xg[bg], yg[bg])
    gg.synchronize()
    ours = time.perf_counter() - start
    torch.manual_seed(seed)
    tmodel = torch_cnn(torch).to(dev)
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
    Xtorch, ytorch = torch.tensor(X, device=dev), torch.tensor(y, device=dev)
    start = time.perf_counter()
    for b in batches:
        bt = torch.tensor(b, device=dev)
        loss = torch.nn.functional.cross_entropy(tmodel(Xtorch[bt]), ytorch[bt])
        topt.zero_grad()
        loss.backward()
        topt.step()
    if dev == "cuda":
        torch.cuda.synchronize()
    return {"gpugrad_s": ours, "torch_s": time.perf_counter() - start, "batches": len(batches)}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.cnn", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.5)
    p.add_argument("--epoch", metavar="DIR", help="also time one epoch on the fashion-mnist IDX files in DIR")
    p.add_argument("--out", help="folder for results.json and results.md")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: both libraries on it")
    args = p.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(1)
    cuda = args.device.startswith("cuda")
    ours_sync = gg.synchronize if cuda else None
    theirs_sync = torch.cuda.synchronize if cuda else None
    if cuda:   # float32 arithmetic in both: no TF32 in cuDNN's convolutions or cuBLAS's matmuls
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    rows = {}
    with threadpool_limits(1):
        print(f"{args.device}: {device_info(args.device)['name']}" if cuda else
              blas_line() + "; " + cpu_jit_line(), flush=True)
        ours = gpugrad_cases(np.random.default_rng(0), args.device)
        theirs = torch_cases(torch, np.random.default_rng(0), args.device)
        for name in ours:   # alternately, so both see the same machine
            runs = [(median_ms(ours[name], 1, args.min_time, ours_sync),
                     median_ms(theirs[name], 1, args.min_time, theirs_sync))
                    for _ in range(args.repeats)]   # interleaved: a busy machine's drift hits both
            t_ours, t_theirs = (statistics.median(r[k] for r in runs) / 1e3 for k in (0, 1))
            rows[name] = {"gpugrad_ms": 1e3 * t_ours, "torch_ms": 1e3 * t_theirs, "ratio": t_ours / t_theirs}
            print(f"{name:14s} gpugrad {1e3 * t_ours:9.2f} ms  torch {1e3 * t_theirs:9.2f} ms  "
                  f"ratio {t_ours / t_theirs:5.2f}", flush=True)
        memory = None if cuda else conv_memory(np.random.default_rng(0))
        if memory:
            print(f"conv step peak {memory['peak_bytes'] / 2**20:.1f} MiB (operands {memory['operands_bytes'] / 2**20:.1f} "
                  f"MiB); a whole-batch im2col buffer {memory['im2col_whole_batch_bytes'] / 2**20:.1f} MiB, gpugrad's "
                  f"chunk {memory['chunk_bytes'] / 2**20:.1f} MiB", flush=True)
        epoch = epoch_times(torch, args.epoch, device=args.device) if args.epoch else None
        if epoch:
            print(f"one epoch: gpugrad {epoch['gpugrad_s']:.1f} s, torch {epoch['torch_s']:.1f} s "
                  f"({epoch['batches']} batches)", flush=True)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        doc = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "threads": 1,
               "device": args.device,
               "gpugrad": gg.__version__, "torch": torch.__version__, "timings": rows, "conv_memory": memory,
               "epoch": epoch}
        (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
        lines = ["| case | gpugrad ms | PyTorch ms | ratio |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {k} | {v['gpugrad_ms']:.2f} | {v['torch_ms']:.2f} | {v['ratio']:.2f} |" for k, v in rows.items()]
        (out / "results.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
