"""gpugrad.kernels' CuPy code paths, checked without a GPU.

Runs tests/test_kernels_gpu.py in a subprocess against tests/fake_cupy, a CPU stand-in for
CuPy whose RawKernels check every argument against the kernel signatures in kernels/*.cu and
then run the host-compiled .cuh arithmetic, and whose ElementwiseKernels run the NumPy twins.
This catches wrong argument order, types or launch sizes and host syncs in the dispatch code;
the GPU arithmetic itself is checked only by `pytest -m gpu` on a real device.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gpugrad as gg

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="the stand-in compiles the .cuh with g++")
@pytest.mark.skipif(gg.cuda_available(), reason="with a real GPU, pytest -m gpu runs these for real")
def test_cupy_dispatch_against_a_cpu_stand_in():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "fake_cupy"), str(ROOT),
                                         env.get("PYTHONPATH", "")])
    env.pop("GPUGRAD_DEVICE", None)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_kernels_gpu.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    tail = out.stdout[-3000:] + out.stderr[-2000:]
    assert out.returncode == 0, tail
    assert " passed" in out.stdout and "skipped" not in out.stdout.splitlines()[-1], tail
