"""Device launches per training step: ``python -m bench.launches``.

Counts what one step of the 784-1024-1024-10 ReLU MLP (softmax cross-entropy; SGD with
momentum, Adam, and Adam with ``capturable=True``) puts on the GPU, by kind: gpugrad's own kernels (RawKernels and
ElementwiseKernels), and the CuPy routines that launch one (ufuncs, reductions, matmuls through
cuBLAS, copies, fills). The optimizer's launches are counted both ways: with the multi-tensor
updates ``Optimizer.step`` uses, and one launch per parameter as before them; and the SGD and
capturable-Adam steps captured as one CUDA graph (``gg.cuda.graphed``), whose replay is one
launch.

The count needs no GPU: it runs the step on the CuPy stand-in of the test suite
(``tests/fake_cupy``, which records every launch and runs the kernels' host-compiled
arithmetic), in a subprocess. On a GPU, cuBLAS may add kernels of its own inside a matmul (a
split-K reduction); the stand-in counts each matmul once.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = 3          # the first step allocates the optimizer's state; the last one is counted


def count(optimizer: str, batch: int, multi_tensor: bool) -> dict:
    """Launches of the last of STEPS steps, by kind (run under the stand-in)."""
    from cupy import _standin

    import gpugrad as gg
    from bench.mlp_step import gpugrad_model, make_batch
    from gpugrad import kernels
    from gpugrad.train import train_step

    model = gpugrad_model("cuda")
    opt = _optimizer(gg, optimizer, model)
    xb, yb = make_batch(batch)
    x, y = gg.tensor(xb, device="cuda"), gg.tensor(yb, device="cuda")
    batched = kernels.multi_tensor_updates     # what Optimizer.step enters
    if not multi_tensor:     # one launch per parameter, as before multi-tensor updates
        kernels.multi_tensor_updates = contextlib.nullcontext
    try:
        for _ in range(STEPS):
            _standin.reset_stats()
            train_step(model, opt, x, y)
    finally:
        kernels.multi_tensor_updates = batched
    stats = _standin.STATS
    optimizer_kernels = [n for n in stats["raw_launches"] + stats["ew_launches"]
                         if "_step" in n or "_count" in n]
    kinds = collections.Counter(stats["lib_launches"])
    return {"gpugrad kernels": len(stats["raw_launches"]) + len(stats["ew_launches"]),
            "of which optimizer": len(optimizer_kernels),
            "CuPy routines": sum(kinds.values()),
            "of which matmul": kinds.get("matmul", 0),
            "total": len(stats["raw_launches"]) + len(stats["ew_launches"]) + sum(kinds.values()),
            "host syncs": len(stats["syncs"]),
            "parameters": len(list(model.parameters())),
            "routines": dict(sorted(kinds.items())),
            "kernels": sorted(set(stats["raw_launches"] + stats["ew_launches"])),
            "batch": batch}


def _optimizer(gg, name, model):
    if name == "sgd":
        return gg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return gg.optim.Adam(model.parameters(), lr=1e-3, capturable=name == "adam (capturable)")


def count_graphed(batch: int, optimizer: str) -> dict:
    """What one replay of the step captured as a CUDA graph launches (stand-in)."""
    from cupy import _standin

    import gpugrad as gg
    from bench.mlp_step import gpugrad_model, make_batch
    from gpugrad.train import train_step

    model = gpugrad_model("cuda")
    opt = _optimizer(gg, optimizer, model)
    step = gg.cuda.graphed(lambda x, y: train_step(model, opt, x, y), make_batch(batch))
    xb, yb = (gg.tensor(a, device="cuda") for a in make_batch(batch, seed=1))
    _standin.reset_stats()
    step(xb, yb)
    stats = _standin.STATS
    return {"graph launches": stats["graph_launches"],
            "kernels from Python": len(stats["raw_launches"]) + len(stats["ew_launches"]),
            "copies into the static inputs": len(stats["lib_launches"]),
            "host syncs": len(stats["syncs"])}


def _child(args) -> int:
    rows = [dict(optimizer=o, multi_tensor=m, **count(o, args.batch, m))
            for o in ("sgd", "adam", "adam (capturable)") for m in (True, False)]
    graphs = {o: count_graphed(args.batch, o) for o in ("sgd", "adam (capturable)")}
    print(json.dumps({"rows": rows, "graphs": graphs}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "tests" / "fake_cupy"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("GPUGRAD_DEVICE", None)
    out = subprocess.run([sys.executable, "-m", "bench.launches", "--child", "--batch",
                          str(args.batch)], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr)
        return out.returncode
    result = json.loads(out.stdout.strip().splitlines()[-1])
    rows, graphs = result["rows"], result["graphs"]
    print(f"Launches per training step, 784-1024-1024-10 MLP, batch {args.batch} "
          "(counted on the CuPy stand-in)\n")
    print("| optimizer | updates | gpugrad kernels | (optimizer) | CuPy routines | (matmul) "
          "| total | host syncs |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        how = "multi-tensor" if r["multi_tensor"] else "per parameter"
        print(f"| {r['optimizer']} | {how} | {r['gpugrad kernels']} | {r['of which optimizer']} "
              f"| {r['CuPy routines']} | {r['of which matmul']} | {r['total']} | {r['host syncs']} |")
    first = rows[0]
    print(f"\n{first['parameters']} parameters. CuPy routines of the SGD step: "
          + ", ".join(f"{k} {v}" for k, v in first["routines"].items()))
    print("gpugrad kernels: " + ", ".join(first["kernels"]))
    for name, graph in graphs.items():
        print(f"\nThe {name} step captured as one CUDA graph (gg.cuda.graphed), per step: "
              f"{graph['graph launches']} graph launch, {graph['kernels from Python']} kernels "
              f"launched from Python, {graph['copies into the static inputs']} copies into the "
              f"static inputs, {graph['host syncs']} host syncs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
