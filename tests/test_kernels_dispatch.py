"""gpugrad's CuPy code paths, checked without a GPU.

Runs every `gpu`-marked test, and the `standin` tests of tests/test_standin_gpu_path.py, in a
subprocess against tests/fake_cupy: a CPU stand-in for CuPy with two "GPUs" whose arrays live
on a device, refuse work off the current device, count every host read as a synchronisation and
every allocation against a small pool; whose RawKernels check every argument against the kernel
signatures in kernels/*.cu and run the host-compiled .cuh arithmetic, and whose
ElementwiseKernels run the NumPy twins. This catches wrong argument order, types or launch
sizes, host syncs, float64 temporaries, data on the wrong GPU and mishandled errors; the GPU
arithmetic itself is checked only by `pytest -m gpu` on a real device.
"""
import os
import re
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
def test_gpu_tests_pass_against_a_cpu_stand_in_for_cupy():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "fake_cupy"), str(ROOT),
                                         env.get("PYTHONPATH", "")])
    env.pop("GPUGRAD_DEVICE", None)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-m", "gpu or standin", "tests/"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    tail = out.stdout[-3000:] + out.stderr[-2000:]
    assert out.returncode == 0, tail
    summary = out.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 600 and "failed" not in summary and "error" not in summary, tail
