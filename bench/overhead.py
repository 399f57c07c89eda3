"""Per-op Python overhead: a long chain of small ops, forward and backward.

    python -m bench.overhead                 # gpugrad, and PyTorch when installed
    python -m bench.overhead --impl gpugrad --json

The chain is ``LINKS`` x (mul, add, tanh) on a 4-element float32 tensor, so the array work is
negligible and the time is the library's own Python: building the graph, walking it back, and
the op wrappers. Reported as microseconds per op (forward and backward of one op), the median
of ``--repeats`` runs. The design target (DESIGN.md) is no more than PyTorch's per-op overhead.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

LINKS = 300
OPS_PER_LINK = 3


def gpugrad_chain(links=LINKS):
    import gpugrad as gg

    x0 = gg.tensor(np.linspace(-1, 1, 4, dtype=np.float32), requires_grad=True)
    w = gg.tensor(np.full(4, 0.5, np.float32))

    def run():
        x = x0
        for _ in range(links):
            x = (x * w + 0.1).tanh()
        x.sum().backward()
        x0.grad = None

    return run


def torch_chain(links=LINKS):
    import torch

    torch.set_num_threads(1)
    x0 = torch.linspace(-1, 1, 4, dtype=torch.float32, requires_grad=True)
    w = torch.full((4,), 0.5)

    def run():
        x = x0
        for _ in range(links):
            x = (x * w + 0.1).tanh()
        x.sum().backward()
        x0.grad = None

    return run


IMPLS = {"gpugrad": gpugrad_chain, "torch": torch_chain}


def median_ms(run, repeats=7, min_time=0.2, sync=None):
    """Median over ``repeats`` timed runs of milliseconds per call of ``run``: each timed run
    calls it back to back for at least ``min_time`` seconds (``sync`` after each call, to wait
    for a device), after one untimed call."""
    run()
    if sync is not None:
        sync()
    runs = []
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            run()
            if sync is not None:
                sync()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        runs.append(elapsed / n * 1e3)
    return statistics.median(runs)


def us_per_op(run, repeats=7, min_time=0.2, links=LINKS):
    """Median over ``repeats`` timed runs of microseconds per op (forward + backward)."""
    return median_ms(run, repeats, min_time) * 1e3 / (links * OPS_PER_LINK)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", default="gpugrad,torch", help="comma list from: gpugrad, torch")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--min-time", type=float, default=0.2)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = p.parse_args(argv)
    results = {}
    for name in args.impl.split(","):
        try:
            run = IMPLS[name]()
        except ImportError as exc:
            print(f"{name}: skipped: {exc.name} is not installed")
            continue
        results[name] = us_per_op(run, args.repeats, args.min_time)
    if args.json:
        print(json.dumps(results))
        return
    for name, us in results.items():
        ratio = f"  ({us / results['torch']:.2f}x torch)" if "torch" in results and name != "torch" else ""
        print(f"{name:8s} {us:6.2f} us per op{ratio}")


if __name__ == "__main__":
    main()
