"""bench/gpu_check.sh, the script a session with a GPU runs first, checked without one: bad usage
and a missing GPU stop it at once with status 2; on the CPU stand-in for CuPy a stage runs and
passes (the README tour on "cuda:0"), a stage that overruns its time fails the script with
status 1, and the summary table comes last."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"
STAND_IN = ROOT / "tests" / "fake_cupy"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils' timeout")


def run(tmp_path, *stages, stand_in=False, **env):
    environ = dict(os.environ, OUT=str(tmp_path / "out"), **env)
    environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + environ.get("PATH", "")
    environ.pop("GPUGRAD_DEVICE", None)
    if stand_in:
        environ["PYTHONPATH"] = str(STAND_IN)
    else:
        environ.pop("PYTHONPATH", None)
    return subprocess.run(["bash", str(SCRIPT), *stages], capture_output=True, text=True, env=environ,
                          cwd=tmp_path, timeout=300)


def test_an_unknown_stage_is_refused_with_status_2(tmp_path):
    done = run(tmp_path, "tests", "benchmarks")
    assert done.returncode == 2
    assert "unknown stage 'benchmarks'" in done.stderr and "layers" in done.stderr


def test_without_a_usable_gpu_it_stops_before_any_stage(tmp_path):
    pytest.importorskip("gpugrad")
    import gpugrad as gg
    if gg.cuda_available():
        pytest.skip("a GPU is usable here")
    done = run(tmp_path, "tour")
    assert done.returncode == 2
    assert "cannot start" in done.stderr
    assert "CUDA is not usable" in done.stderr or "missing Python modules: cupy" in done.stderr
    assert "== tour" not in done.stdout


def test_on_the_stand_in_the_tour_stage_passes_and_the_summary_comes_last(tmp_path):
    done = run(tmp_path, "tour", stand_in=True)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert "gpu_check.sh summary" in lines[-4]
    assert lines[-1].startswith("| tour") and "PASS" in lines[-1]
    assert "the README tour ran on cuda:0" in lines[-1]
    assert (tmp_path / "out" / "tour.log").exists() and (tmp_path / "out" / "environment.log").exists()


def test_a_stage_past_its_time_limit_fails_the_script(tmp_path):
    done = run(tmp_path, "sweep", stand_in=True, STAGE_TIMEOUT="2")
    assert done.returncode == 1
    assert "TIMEOUT (2 s)" in done.stdout.strip().splitlines()[-1]
