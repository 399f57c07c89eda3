"""The batch-size comparison command (python -m bench) at tiny sizes: it runs, writes a CSV
with the documented columns, a JSON with the device, versions and date, and a PNG, and a peer
that is not installed is reported as skipped, not as an error."""
import csv
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import compare

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_COLUMNS = [
    "batch", "impl", "label", "status", "ms_per_step", "ms_min", "ms_max", "samples_per_s",
    "ratio_to_gpugrad", "peak_mem_mb", "mem_measure", "kernels_per_step", "first_loss",
    "repeats", "steps_per_repeat", "device", "dtype", "sizes",
]
TINY = ["--batch-sizes", "2,4", "--sizes", "8,16,4", "--repeats", "2", "--warmup", "1",
        "--min-time", "0", "--device", "cpu", "--no-progress"]


@pytest.fixture
def no_peers(monkeypatch):
    """Make torch and jax look uninstalled (import raises ImportError), as in CI."""
    for name in ("torch", "jax"):
        monkeypatch.setitem(sys.modules, name, None)


def _installed(name):
    try:
        importlib.import_module(name)
    except Exception:
        return False
    return True


def _read_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def test_compare_writes_csv_json_png_and_skips_missing_peers(tmp_path, capsys, no_peers):
    out = tmp_path / "res"
    assert compare.main([*TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    assert "skipped: torch is not installed" in printed
    assert "skipped: jax is not installed" in printed
    assert "Traceback" not in printed and "error" not in printed.lower()

    columns, rows = _read_csv(out / "results.csv")
    assert columns == EXPECTED_COLUMNS
    by = {(int(r["batch"]), r["impl"]): r for r in rows}
    for batch in (2, 4):
        for impl in ("gpugrad", "hand"):
            r = by[(batch, impl)]
            assert r["status"] == "ok"
            assert float(r["ms_per_step"]) > 0
            assert float(r["samples_per_s"]) == pytest.approx(
                batch / (float(r["ms_per_step"]) / 1e3), rel=1e-3)
            assert float(r["peak_mem_mb"]) > 0
            assert (r["device"], r["dtype"], r["sizes"]) == ("cpu", "float32", "8-16-4")
        assert float(by[(batch, "gpugrad")]["ratio_to_gpugrad"]) == 1.0
        # The same work: equal first losses from the shared initial weights and batch.
        assert float(by[(batch, "hand")]["first_loss"]) == pytest.approx(
            float(by[(batch, "gpugrad")]["first_loss"]), rel=1e-5)
        for peer in ("torch", "torch-graph", "jax"):
            assert by[(batch, peer)]["status"] == "skipped: " + (
                "jax" if peer == "jax" else "torch") + " is not installed"
            assert by[(batch, peer)]["ms_per_step"] == ""

    meta = json.loads((out / "results.json").read_text())
    assert meta["device"]["type"] == "cpu" and meta["device"]["name"]
    for lib in ("python", "gpugrad", "numpy", "torch", "cupy"):
        assert lib in meta["versions"]
    assert meta["date"][:4].isdigit() and "T" in meta["date"]
    assert meta["config"]["batch_sizes"] == [2, 4]
    assert meta["skipped"]["torch"] == "skipped: torch is not installed"
    assert meta["columns"] == EXPECTED_COLUMNS
    assert len(meta["results"]) == len(rows)

    png = out / "batch_sizes.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| batch |" in (out / "results.md").read_text()


def test_cuda_graph_peer_is_skipped_on_the_cpu(tmp_path, capsys):
    if not _installed("torch"):
        pytest.skip("torch is not installed: covered by the test above")
    assert compare.main([*TINY, "--impl", "gpugrad,torch-graph", "--out", str(tmp_path)]) == 0
    assert "skipped: torch-graph needs CUDA" in capsys.readouterr().out
    _, rows = _read_csv(tmp_path / "results.csv")
    assert {r["status"] for r in rows if r["impl"] == "torch-graph"} == {
        "skipped: torch-graph needs CUDA (CUDA graphs run on the GPU only)"}


@pytest.mark.parametrize("peer", ["torch", "jax"])
def test_installed_peer_does_the_same_step(tmp_path, capsys, peer):
    """Where a peer is installed (not in CI), its first loss equals gpugrad's."""
    if not _installed(peer):
        pytest.skip(f"{peer} is not installed")
    assert compare.main([*TINY, "--impl", f"gpugrad,{peer}", "--out", str(tmp_path)]) == 0
    _, rows = _read_csv(tmp_path / "results.csv")
    by = {(int(r["batch"]), r["impl"]): r for r in rows}
    for batch in (2, 4):
        assert by[(batch, peer)]["status"] == "ok"
        assert float(by[(batch, peer)]["first_loss"]) == pytest.approx(
            float(by[(batch, "gpugrad")]["first_loss"]), rel=1e-5)
    assert "differs from gpugrad" not in capsys.readouterr().out


def test_python_dash_m_bench_runs(tmp_path):
    """The command as the README spells it, from the repository root."""
    res = subprocess.run(
        [sys.executable, "-m", "bench", *TINY, "--batch-sizes", "2", "--impl", "gpugrad,hand",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "hand-written NumPy" in res.stdout
    assert (tmp_path / "results.csv").exists() and (tmp_path / "batch_sizes.png").exists()


def test_options_are_checked():
    assert compare.parse_batch_sizes("64..512") == [64, 128, 256, 512]
    assert compare.parse_batch_sizes("16..64,100") == [16, 32, 64, 100]
    with pytest.raises(SystemExit):
        compare.main(["--impl", "gpugrad,tensorflow", "--device", "cpu"])
    with pytest.raises(SystemExit):
        compare.main(["--batch-sizes", "0", "--device", "cpu"])
    with pytest.raises(SystemExit):
        compare.main(["--sizes", "784", "--device", "cpu"])
