"""Data parallelism on this machine's CPU: step time and scaling, overlap, and the all-reduce
wrapper's cost beside raw mpi4py.

    python -m bench.distributed                    # 1 and 2 processes, batch 64 and 256 per process
    python -m bench.distributed --quick

It starts ``mpiexec -n 1`` and ``mpiexec -n 2`` jobs of itself (``--worker``) and prints:

* all-reduce bandwidth of float32 buffers from 1 KiB to 64 MiB: ``gpugrad.distributed.all_reduce``
  beside mpi4py's ``Allreduce`` (in place, sum) of the same buffer, alternating call for call;
* the MLP's gradients (784-1024-1024-10, 7.5 MB) all-reduced through DistributedDataParallel
  (``overlap=False``: copying into its 2 buckets with the 1/N, the all-reduces, waiting, handing
  out the averaged gradients) beside raw mpi4py ``Allreduce`` of each gradient array in place;
* one SGD step of that MLP at a fixed batch per process: 1 process, and 2 processes with DDP
  overlapping communication with backward, with DDP communicating after backward
  (``overlap=False``), and computing only (``no_sync()``); scaling efficiency is
  t(1 process) / t(2 processes), 1.0 being perfect weak scaling.

Every process runs one BLAS thread (``--threads``), so 1 and 2 processes compute with the same
resources per process. Timings are medians over ``--repeats`` rounds, each round timing every
variant once in turn (a barrier before and after, the same count on every rank).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = (784, 1024, 1024, 10)
KIB = 1024


def _timed(fn, comm, min_time):
    """Seconds per call of ``fn`` on this rank, the call count chosen by rank 0 for all."""
    fn()
    comm.Barrier()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    count = comm.bcast(max(3, int(min_time / max(once, 1e-7))), root=0)
    comm.Barrier()
    start = time.perf_counter()
    for _ in range(count):
        fn()
    comm.Barrier()
    return (time.perf_counter() - start) / count


def _medians(variants, comm, repeats, min_time):
    runs = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            runs[name].append(_timed(fn, comm, min_time))
    return {name: statistics.median(values) for name, values in runs.items()}


def bandwidth(comm, sizes_kib, repeats, min_time):
    import gpugrad as gg
    import gpugrad.distributed as dist
    from mpi4py import MPI

    rows = []
    for kib in sizes_kib:
        buf = np.zeros(kib * KIB // 4, np.float32)
        tensor = gg.Tensor(buf)
        t = _medians({"raw": lambda: comm.Allreduce(MPI.IN_PLACE, buf, MPI.SUM),
                      "gpugrad": lambda: dist.all_reduce(tensor)}, comm, repeats, min_time)
        rows.append({"bytes": buf.nbytes, "raw_us": 1e6 * t["raw"], "gpugrad_us": 1e6 * t["gpugrad"]})
    return rows


def mlp(batch_seed=0):
    import gpugrad as gg
    from gpugrad.train import build_model

    gg.manual_seed(batch_seed)
    return build_model(SIZES[0], list(SIZES[1:-1]), SIZES[-1], "relu", dtype=np.float32)


def mlp_gradients(comm, repeats, min_time):
    """DDP's all-reduce of the MLP's gradients beside raw mpi4py Allreduce of the same bytes.

    Each round sets every parameter's gradient with ``p.backward(grad)`` in backward's order
    (which fires DDP's hooks) and then, for the raw variant, all-reduces each ``p.grad`` array in
    place with mpi4py; the same round without any all-reduce is subtracted from both, so both
    start from gradients just written, as after a real backward."""
    import gpugrad as gg
    import gpugrad.distributed as dist
    from mpi4py import MPI

    wrapped, plain = mlp(), mlp()
    ddp = dist.DistributedDataParallel(wrapped, overlap=False)   # nothing else runs while it communicates
    grads = [gg.Tensor(np.zeros(p.shape, np.float32)) for p in wrapped.parameters()]

    def round_of(model, raw=False):
        params = list(model.parameters())

        def run():
            for p in params:
                p.grad = None
            for p, g in zip(reversed(params), reversed(grads)):   # hooks fire in backward's order
                p.backward(g)
            if raw:
                for p in reversed(params):
                    comm.Allreduce(MPI.IN_PLACE, p.grad.array, MPI.SUM)
        return run

    t = _medians({"ddp": round_of(wrapped), "raw": round_of(plain, raw=True), "no_reduction": round_of(plain)},
                 comm, repeats, min_time)
    by_name = dict(wrapped.named_parameters())
    return {"bytes": int(sum(p.size * 4 for p in wrapped.parameters())), "buckets": ddp.buckets,
            "bucket_bytes": [int(sum(by_name[n].size * 4 for n in names)) for names in ddp.buckets],
            "raw_us": 1e6 * (t["raw"] - t["no_reduction"]), "ddp_us": 1e6 * (t["ddp"] - t["no_reduction"])}


def steps(comm, batch, repeats, min_time):
    """ms per SGD step at ``batch`` samples per process, for each variant this job can run."""
    import gpugrad as gg
    import gpugrad.distributed as dist
    from gpugrad.train import train_step

    rng = np.random.default_rng(comm.Get_rank())
    x = gg.tensor(rng.standard_normal((batch, SIZES[0])).astype(np.float32))
    y = gg.tensor(rng.integers(0, SIZES[-1], batch))

    def stepper(model, context=None):
        opt = gg.optim.SGD(model.parameters(), lr=1e-3)

        def run():
            if context is None:
                train_step(model, opt, x, y)
            else:
                with context():
                    train_step(model, opt, x, y)
        return run

    if comm.Get_size() == 1:
        variants = {"one_process": stepper(mlp())}
    else:
        overlapped = dist.DistributedDataParallel(mlp())
        computing = dist.DistributedDataParallel(mlp())
        variants = {"overlap": stepper(overlapped),
                    "back_to_back": stepper(dist.DistributedDataParallel(mlp(), overlap=False)),
                    "compute_only": stepper(computing, computing.no_sync)}
    return {name: 1e3 * t for name, t in _medians(variants, comm, repeats, min_time).items()}


def worker(args):
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    import gpugrad.distributed as dist

    group = dist.init(device="cpu")
    comm = group.mpi.comm
    result = {"processes": group.world_size,
              "steps": {b: steps(comm, b, args.repeats, args.min_time) for b in args.batches}}
    if group.world_size > 1:
        result["bandwidth"] = bandwidth(comm, args.sizes_kib, args.repeats, args.min_time)
        result["mlp_gradients"] = mlp_gradients(comm, args.repeats, args.min_time)
    if group.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- the driver

def run_job(processes, args):
    mpiexec = os.environ.get("MPIEXEC") or str(Path(sys.executable).parent / "mpiexec")
    argv = [mpiexec, "-n", str(processes), sys.executable, "-m", "bench.distributed", "--worker",
            "--batches", ",".join(map(str, args.batches)), "--sizes-kib", ",".join(map(str, args.sizes_kib)),
            "--repeats", str(args.repeats), "--min-time", str(args.min_time), "--threads", str(args.threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(HERE.parent)}
    out = subprocess.run(argv, cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=3600)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def report(one, two):
    lines = ["all-reduce of float32, 2 processes (in place, sum)", "",
             "| size | mpi4py Allreduce | gpugrad all_reduce | ratio | mpi4py GB/s | gpugrad GB/s |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in two["bandwidth"]:
        size = row["bytes"]
        label = f"{size // KIB} KiB" if size < KIB * KIB else f"{size // (KIB * KIB)} MiB"
        lines.append(f"| {label} | {row['raw_us']:.1f} us | {row['gpugrad_us']:.1f} us | "
                     f"{row['gpugrad_us'] / row['raw_us']:.2f} | {size / row['raw_us'] / 1e3:.2f} | "
                     f"{size / row['gpugrad_us'] / 1e3:.2f} |")
    g = two["mlp_gradients"]
    lines += ["", f"MLP gradients ({g['bytes'] / 1e6:.1f} MB in buckets of "
              f"{', '.join(f'{b / 1e6:.2f}' for b in g['bucket_bytes'])} MB): DistributedDataParallel "
              f"{g['ddp_us'] / 1e3:.3f} ms, raw mpi4py Allreduce of each gradient in place {g['raw_us'] / 1e3:.3f} ms: "
              f"{g['ddp_us'] / g['raw_us']:.2f}x", "",
              "SGD step of the 784-1024-1024-10 MLP, float32, ms per step (batch per process)", "",
              "| batch | 1 process | 2: overlap | 2: back to back | 2: compute only | compute + comm "
              "| scaling efficiency |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for batch, s in two["steps"].items():
        t1 = one["steps"][batch]["one_process"]
        bound = s["compute_only"] + g["ddp_us"] / 1e3
        lines.append(f"| {batch} | {t1:.2f} | {s['overlap']:.2f} | {s['back_to_back']:.2f} | "
                     f"{s['compute_only']:.2f} | {bound:.2f} | {t1 / s['overlap']:.2f} |")
    return "\n".join(lines)


def _ints(text):
    return [int(v) for v in text.split(",") if v]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=_ints, default=[64, 256], help="samples per process per step")
    p.add_argument("--sizes-kib", type=_ints, default=[1, 16, 256, 1024, 4096, 16384, 65536])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--min-time", type=float, default=0.2, help="seconds per timed block")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads per process")
    p.add_argument("--quick", action="store_true", help="3 repeats of 0.1 s")
    p.add_argument("--out", default="bench-results/distributed", help="where results.json and results.md go")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.min_time = 3, 0.1
    if args.worker:
        return worker(args)
    load_before = os.getloadavg()[0]
    one, two = run_job(1, args), run_job(2, args)
    two["steps"] = {int(k): v for k, v in two["steps"].items()}
    one["steps"] = {int(k): v for k, v in one["steps"].items()}
    text = report(one, two) + (f"\n\n1-minute load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
                               f"(on {os.cpu_count()} CPUs: other work shares them and slows the 2-process runs)")
    print(text)
    os.makedirs(args.out, exist_ok=True)
    Path(args.out, "results.json").write_text(json.dumps({"one": one, "two": two, "date": time.strftime("%Y-%m-%d"),
                                                          "cpus": os.cpu_count()}, indent=1))
    Path(args.out, "results.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
