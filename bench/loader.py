"""DataLoader throughput: microseconds per batch of one shuffled epoch, by kind of dataset.

    python -m bench.loader                       # this tree, beside PyTorch's DataLoader
    python -m bench.loader --json --samples 20000
    PYTHONPATH=/tmp/gg-before python -m bench.loader --cases arrays   # an older tree (its API)

Data: ``--samples`` x 784 float32 features and int64 labels (MNIST's shape), batch 64 and 512,
``shuffle=True``, on the default device (run with ``GPUGRAD_DEVICE=cuda`` on a GPU). Cases:

* ``arrays``: ``DataLoader(X, y, batch_size)``, the two-array form (the fast path);
* ``tensor_dataset``: ``DataLoader(TensorDataset(X, y), ...)`` (the fast path);
* ``subset``: a ``random_split`` 90% Subset of that TensorDataset (fast path, its rows gathered once);
* ``map_style``: a plain ``Dataset`` whose ``__getitem__`` returns ``(X[i], int(y[i]))``, read
  sample by sample and batched by ``default_collate``;
* ``torch_tensor_dataset``: PyTorch's DataLoader over its TensorDataset (CPU), for reference.

Each case: the median over ``--repeats`` epochs, after one warm-up epoch. Every batch's labels
are touched (summed lazily on the device), and the device synchronised at the end of each epoch.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

CASES = ("arrays", "tensor_dataset", "subset", "map_style", "torch_tensor_dataset")


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n)


def _gpugrad_loader(case, X, y, batch):
    import gpugrad.data as data

    if case == "arrays":
        return data.DataLoader(X, y, batch, shuffle=True, seed=0)
    if case == "tensor_dataset":
        return data.DataLoader(data.TensorDataset(X, y), batch, shuffle=True, seed=0)
    if case == "subset":
        part, _ = data.random_split(data.TensorDataset(X, y), [0.9, 0.1], generator=np.random.default_rng(0))
        return data.DataLoader(part, batch, shuffle=True, seed=0)

    class MapStyle(data.Dataset):
        def __getitem__(self, i):
            return X[i], int(y[i])

        def __len__(self):
            return len(X)

    return data.DataLoader(MapStyle(), batch, shuffle=True, seed=0)


def _epoch_seconds(case, X, y, batch, repeats):
    """Median seconds of one epoch and the number of batches in it."""
    if case.startswith("torch"):
        import torch

        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                                             batch, shuffle=True)
        finish = lambda total: float(total)   # noqa: E731
        touch = lambda b: b[1].sum()           # noqa: E731
    else:
        from gpugrad import backend

        loader = _gpugrad_loader(case, X, y, batch)
        finish = lambda total: backend.synchronize(loader.device)   # noqa: E731
        touch = lambda b: b[1].sum()           # noqa: E731
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        total = 0
        for b in loader:
            total = total + touch(b)
        finish(total)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:]), len(loader)


def run(cases, samples, batches, repeats):
    X, y = _data(samples)
    results = {}
    for case in cases:
        for batch in batches:
            try:
                seconds, steps = _epoch_seconds(case, X, y, batch, repeats)
            except ImportError as exc:   # no torch, or an older gpugrad without this case
                results[f"{case}_b{batch}"] = f"skipped: {exc}"
                continue
            results[f"{case}_b{batch}"] = {"us_per_batch": seconds / steps * 1e6, "epoch_s": seconds}
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--batches", type=int, nargs="+", default=[64, 512])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    results = run(args.cases, args.samples, args.batches, args.repeats)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, value in results.items():
        shown = value if isinstance(value, str) else f"{value['us_per_batch']:9.1f} us/batch  ({value['epoch_s']:.3f} s/epoch)"
        print(f"{name:28s} {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
