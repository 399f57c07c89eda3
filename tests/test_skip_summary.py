"""`python -m pytest` ends (just before pytest's own totals) with one line saying why tests were
skipped (tests/conftest.py: pytest_terminal_summary)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gpugrad as gg

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(gg.cuda_available(), reason="with CUDA the GPU tests run instead of skipping")
def test_the_run_ends_with_why_tests_were_skipped():
    env = {k: v for k, v in os.environ.items() if k != "GPUGRAD_DEVICE"}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_interop.py::test_dlpack_round_trip_with_cupy_shares_memory",
         "tests/test_interop.py::test_dlpack_from_cupy_keeps_the_arrays_gpu",
         "tests/test_interop.py::test_from_numpy_shares_memory"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0, out.stdout[-2000:]
    assert lines[-1].startswith("1 passed, 2 skipped")
    why = gg.backend.cuda_unavailable_reason()
    assert lines[-2] == f"2 GPU tests skipped: no CUDA device ({why})"
