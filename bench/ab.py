"""Before/after in one run: time two source trees of gpugrad alternately, on the CPU.

    git worktree add /tmp/gg-before main           # the tree to compare against
    python -m bench.ab --before /tmp/gg-before --after . --rounds 5

Each measurement runs in a fresh process with ``PYTHONPATH`` set to one tree and one BLAS
thread; the two trees alternate round by round, so drift in the machine's load hits both
alike. Measured: the per-op overhead of ``bench.overhead`` (us per op) and one SGD step of the
784-1024-1024-10 MLP of ``bench.mlp_step`` (ms per step) at each batch size. The table gives the
median of each over the rounds and after / before (below 1: the after tree is faster). The
measuring code is this tree's, so both trees are timed doing exactly the same thing.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

_PROBE = r"""
import json, os, sys, time, statistics
sys.path.insert(0, {bench_link_dir!r})   # this tree's bench/, and nothing else of this tree
import gpugrad
assert os.path.dirname(os.path.dirname(gpugrad.__file__)) == {tree!r}, gpugrad.__file__
from threadpoolctl import threadpool_limits
threadpool_limits(1)
from bench import overhead, mlp_step
out = {{"gpugrad": gpugrad.__file__,
       "per_op_us": overhead.us_per_op(overhead.gpugrad_chain(), repeats=5, min_time=0.2)}}
for batch in {batches!r}:
    step, _ = mlp_step.gpugrad_step_fn(batch)
    for _ in range(3):
        step()
    runs = []
    for _ in range(5):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.2:
            step(); n += 1
        runs.append((time.perf_counter() - t0) / n * 1e3)
    out[f"step_ms_b{{batch}}"] = statistics.median(runs)
print(json.dumps(out))
"""


def measure(tree, batches):
    """One process, PYTHONPATH=tree, run from a folder holding only a link to this tree's
    bench/ (so neither the working directory nor the bench's own tree shadows ``tree``'s
    gpugrad: the probe checks which one it imported): {measure: value}, and under "gpugrad"
    the path of the gpugrad it measured."""
    tree = str(Path(tree).resolve())
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", GPUGRAD_DEVICE="cpu")
    with tempfile.TemporaryDirectory() as link_dir:
        os.symlink(HERE, os.path.join(link_dir, "bench"))
        code = _PROBE.format(bench_link_dir=link_dir, tree=tree, batches=list(batches))
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=False, cwd=link_dir)
    if done.returncode:
        raise RuntimeError(f"measuring {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="source tree (a folder holding gpugrad/)")
    p.add_argument("--after", default=".", help="source tree to compare (default: this one)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch-sizes", default="16,64,256,1024")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    samples = {"before": [], "after": []}
    for r in range(args.rounds):
        for which in (("before", "after") if r % 2 == 0 else ("after", "before")):
            samples[which].append(measure(getattr(args, which), batches))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    keys = [k for k in samples["before"][0] if k != "gpugrad"]
    print(f"{'measure':16s} {'before':>10s} {'after':>10s} {'after/before':>13s}")
    for key in keys:
        b = statistics.median(s[key] for s in samples["before"])
        a = statistics.median(s[key] for s in samples["after"])
        print(f"{key:16s} {b:10.3f} {a:10.3f} {a / b:13.3f}")


if __name__ == "__main__":
    main()
