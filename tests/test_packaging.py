"""The wheel ships the CUDA sources of kernels/ (as gpugrad/kernel_sources/)."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_contains_every_kernel_source(tmp_path):
    pytest.importorskip("hatchling", reason="the test extra installs hatchling to build offline")
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    wheel = next(tmp_path.glob("gpugrad-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = sorted(p.name for p in (ROOT / "kernels").iterdir() if p.suffix in (".cu", ".cuh"))
    assert sources, "kernels/ holds no CUDA sources"
    missing = [s for s in sources if f"gpugrad/kernel_sources/{s}" not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert "gpugrad/tensor.py" in names and "gpugrad/backend/__init__.py" in names


def test_gpu_extras_bring_the_cuda_libraries_on_a_driver_only_host():
    """`gpugrad[cuda12]` / `[cuda13]` must pull CuPy's `ctk` extra: plain cupy-cudaXXx has no
    NVRTC, cuBLAS or cuRAND, so a host with only the driver could not compile a kernel. The
    `-system` extras (a host with a CUDA toolkit) are CuPy alone."""
    tomllib = pytest.importorskip("tomllib")
    requirements = pytest.importorskip("packaging.requirements")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for major in ("12", "13"):
        (req,) = [requirements.Requirement(r) for r in extras[f"cuda{major}"]]
        assert req.name == f"cupy-cuda{major}x" and req.extras == {"ctk"}
        assert req.specifier.contains("14.0") and not req.specifier.contains("13.6")
        (system,) = [requirements.Requirement(r) for r in extras[f"cuda{major}-system"]]
        assert system.name == req.name and not system.extras and system.specifier == req.specifier
