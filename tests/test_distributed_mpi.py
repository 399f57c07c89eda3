"""gpugrad.distributed across real processes: ``mpiexec -n 2`` on this machine's CPU (and GPU
cases where CUDA is present). Each test starts a job, so the tests need mpiexec and mpi4py (the
``mpi`` extra, which the ``test`` extra includes) and skip with that reason where they are missing.

Scenarios live in tests/mpi_scenarios.py: every rank runs one and prints ``PASS name rank r``.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gpugrad as gg

from conftest import requires_real_cuda
from gpugrad import train

ROOT = Path(__file__).resolve().parent.parent
MPIEXEC = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
pytestmark = [
    pytest.mark.skipif(not Path(MPIEXEC).exists(), reason="needs mpiexec: pip install 'gpugrad[mpi]' (MPICH wheel)"),
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="needs mpi4py: pip install 'gpugrad[mpi]'"),
]
NEEDS_TRAIN_EXTRA = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("sklearn", "tqdm", "matplotlib")),
    reason="gpugrad-train needs the train extra")


def mpiexec(*segments, timeout=120, env=None):
    """Run ``mpiexec`` (segments joined by ':' for several programs); return (status, stdout,
    stderr, seconds). Each segment is a list of arguments after ``-n N``."""
    argv = [MPIEXEC]
    for i, segment in enumerate(segments):
        argv += ([":"] if i else []) + [str(a) for a in segment]
    environ = {**os.environ, **(env or {})}
    environ.pop("GPUGRAD_DEVICE", None)
    start = time.monotonic()
    out = subprocess.run(argv, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout)
    return out.returncode, out.stdout, out.stderr, time.monotonic() - start


def scenario(name, n=2, *extra, env=None, timeout=120):
    return mpiexec(["-n", n, sys.executable, "tests/mpi_scenarios.py", name, *extra], env=env, timeout=timeout)


def assert_passed(name, n, result):
    code, out, err, _ = result
    assert code == 0, out[-3000:] + err[-3000:]
    assert all(f"PASS {name} rank {r}" in out for r in range(n)), out


@pytest.mark.parametrize("name", ["collectives", "ddp_matches_one_process", "ddp_epoch_with_uneven_batches",
                                  "ddp_no_sync_accumulates", "ddp_checks", "ddp_overlap", "ddp_broadcasts_buffers"])
def test_two_processes(name):
    assert_passed(name, 2, scenario(name))


def test_one_process_job():
    assert_passed("one_process", 1, scenario("one_process", 1))


@pytest.mark.parametrize("name", ["nccl_standin", "mpi_backend_on_cuda_standin"])
def test_cuda_paths_on_the_cpu_stand_in(name):
    """backend/nccl.py, backend/streams.py and the NCCL transport under DDP, and the MPI
    transport's host copies of CUDA arrays, against tests/fake_cupy with nccl_standin (NCCL's
    bytes moved by MPI, streams and events logged). The GPU's own behaviour is not checked."""
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "fake_cupy"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    assert_passed(name, 2, scenario(name, env=env))


# --------------------------------------------------------------------------- failures end the job

def test_rank_1_raising_mid_epoch_ends_the_job_with_its_message():
    code, out, err, seconds = scenario("fails_mid_epoch", timeout=60)
    assert code != 0 and seconds < 30, (code, seconds)
    assert "rank 1 lost its data at step 3" in err
    assert "gpugrad.distributed: rank 1 of 2 failed (RuntimeError: rank 1 lost its data at step 3)" in err


@NEEDS_TRAIN_EXTRA
def test_gpugrad_train_rank_1_raising_ends_the_job(tmp_path):
    code, out, err, seconds = scenario("train_fails_mid_epoch", 2, tmp_path / "run", timeout=60)
    assert code != 0 and seconds < 30, (code, seconds)
    assert "rank 1 ran out of luck at step 5 of gpugrad-train" in err and "rank 1 of 2 failed" in err


def test_a_rank_that_leaves_early_is_noticed_within_the_timeout():
    code, out, err, seconds = scenario("leaves_early", timeout=60)
    assert code != 0 and seconds < 20, (code, seconds)
    assert "rank 0 of 2: all_reduce of 24 bytes has waited more than 2 s for the other ranks" in err


def test_a_rank_killed_by_a_signal_ends_the_job_at_once():
    code, out, err, seconds = scenario("dies_by_a_signal", timeout=60)
    assert code != 0 and seconds < 10, (code, seconds, err)   # mpiexec notices, not the 600 s watchdog


# --------------------------------------------------------------------------- gpugrad-train

def train_in(folder, n, *argv, wdirs=None):
    """gpugrad-train on n processes, rank r working in wdirs[r] (default: all in ``folder``)."""
    wdirs = wdirs or [folder] * n
    return mpiexec(*[["-n", 1, "-wdir", w, sys.executable, "-m", "gpugrad.train", *argv] for w in wdirs])


def metrics(folder):
    return json.loads((Path(folder) / "metrics.json").read_text())


RUN = ("--epochs", 3, "--device", "cpu")


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one")
    assert train.main([str(a) for a in (*RUN, "--out", folder)]) == 0
    return metrics(folder)


def assert_same_figures(run, reference):
    assert [e["test_accuracy"] for e in run["epochs"]] == [e["test_accuracy"] for e in reference["epochs"]]
    for key in ("train_loss", "test_loss"):
        np.testing.assert_allclose([e[key] for e in run["epochs"]], [e[key] for e in reference["epochs"]], rtol=1e-4)


@NEEDS_TRAIN_EXTRA
def test_gpugrad_train_on_two_processes_matches_one_and_only_rank_0_writes(tmp_path, one_process_run):
    rank0, rank1 = tmp_path / "rank0", tmp_path / "rank1"
    rank0.mkdir(), rank1.mkdir()
    code, out, err, _ = train_in(tmp_path, 2, *RUN, "--out", "run", wdirs=[rank0, rank1])
    assert code == 0, err
    assert err == "" and len(out.strip().splitlines()) == 4, out   # 3 epoch lines and the result: rank 0's
    assert "on cpu x 2 processes (mpi)" in out.splitlines()[-1]
    assert sorted(os.listdir(rank0 / "run")) == ["checkpoint.npz", "curves.png", "metrics.json"]
    assert os.listdir(rank1) == [], "rank 1 wrote files"
    two = metrics(rank0 / "run")
    assert two["processes"] == 2 and two["settings"]["batch_size"] == 64   # the global batch
    assert_same_figures(two, one_process_run)
    assert two["final_test_accuracy"] == one_process_run["final_test_accuracy"]


@NEEDS_TRAIN_EXTRA
def test_resume_with_a_different_number_of_processes(tmp_path, one_process_run):
    code, out, err, _ = train_in(tmp_path, 2, *RUN, "--out", "run", "--stop-after", 1)
    assert code == 0 and "continue with" in out, err
    assert train.main(["--out", str(tmp_path / "run"), "--resume", "--stop-after", "1"]) == 0   # epoch 2: 1 process
    code, out, err, _ = train_in(tmp_path, 2, "--out", "run", "--resume")                     # epoch 3: 2 again
    assert code == 0, err
    run = metrics(tmp_path / "run")
    assert [e["processes"] for e in run["epochs"]] == [2, 1, 2] and run["completed"]
    assert_same_figures(run, one_process_run)


@NEEDS_TRAIN_EXTRA
def test_bad_input_is_reported_once(tmp_path):
    code, out, err, _ = train_in(tmp_path, 2, "--out", "nowhere", "--resume")
    assert code == 2 and out == "", (out, err)
    assert err.strip().splitlines() == [
        "gpugrad-train: error: --resume: there is no checkpoint 'nowhere/checkpoint.npz' to resume from"]


@NEEDS_TRAIN_EXTRA
def test_data_missing_on_one_rank_names_the_rank(tmp_path):
    from test_train import make_idx_dataset
    rank0, rank1 = tmp_path / "rank0", tmp_path / "rank1"
    make_idx_dataset(rank0 / "data")
    rank1.mkdir()
    code, out, err, _ = train_in(tmp_path, 2, "--dataset", "mnist", "--data-dir", "data", "--epochs", 1,
                                 "--out", "run", wdirs=[rank0, rank1])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("gpugrad-train: error: rank 1: "), err


def test_readme_data_parallel_example_runs_on_two_processes(tmp_path):
    text = (ROOT / "README.md").read_text()
    script = tmp_path / "train_dp.py"
    script.write_text(re.search(r"```python\n(# train_dp.py\n.*?)```", text, re.S).group(1))
    code, out, err, _ = mpiexec(["-n", 2, sys.executable, script])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("2 processes: training accuracy "), out   # rank 0 alone
    assert float(lines[0].split()[-1]) > 0.95


# --------------------------------------------------------------------------- NCCL on GPUs

@pytest.mark.gpu
@pytest.mark.skipif(not gg.cuda_available(), reason="needs a CUDA device through CuPy")
@requires_real_cuda   # NCCL itself; the stand-in's NCCL is checked by the *_standin scenarios
def test_nccl_one_rank_all_reduce_equals_its_input():
    assert_passed("nccl_one_rank", 1, scenario("nccl_one_rank", 1))


@pytest.mark.gpu
@pytest.mark.skipif(gg.backend.cuda_device_count() < 2, reason="needs two CUDA devices")
@requires_real_cuda
def test_ddp_over_nccl_on_two_gpus_matches_one_process():
    assert_passed("nccl_gpus", 2, scenario("nccl_gpus"))


# --------------------------------------------------------------------------- the benchmark runs

def test_bench_distributed_runs_and_reports(tmp_path):
    """A tiny run of ``python -m bench.distributed`` (its figures are for the README, not asserted)."""
    pytest.importorskip("threadpoolctl")
    out = subprocess.run([sys.executable, "-m", "bench.distributed", "--repeats", "1", "--min-time", "0.01",
                          "--batches", "8", "--sizes-kib", "1,64", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "| 1 KiB |" in out.stdout and "| 64 KiB |" in out.stdout and "MLP gradients" in out.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    steps = results["two"]["steps"]["8"]
    assert set(steps) == {"overlap", "back_to_back", "compute_only"} and all(v > 0 for v in steps.values())
    assert results["one"]["steps"]["8"]["one_process"] > 0 and results["two"]["mlp_gradients"]["raw_us"] > 0
