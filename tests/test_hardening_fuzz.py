"""Fuzzing gpugrad-train's inputs (issue 12): random truncations and bit flips of valid IDX files
(plain and gzipped) and of a valid checkpoint, each run through the CLI's entry point in-process.
Every case ends with status 0 (the damage left a valid input) or status 2 and exactly one
``gpugrad-train: error:`` line: never a traceback, another status, or a NumPy warning. The IDX
cases also go through gpugrad.data, whose error must be a ValueError naming the damaged file.

The run writes no curves (matplotlib's drawing is most of a tiny run's time and reads nothing the
fuzz damages; tests/test_train.py checks the curves), so ~400 cases take seconds."""
import gzip
import os
import shutil

import numpy as np
import pytest

from gpugrad import data, train
from test_train import IDX_NAMES, make_idx_dataset

N_IDX_CASES = 240
N_CHECKPOINT_CASES = 200
# A fixed seed in CI; GPUGRAD_FUZZ_SEED=<n> runs another set of cases (to fuzz further by hand).
RNG_SEED = int(os.environ.get("GPUGRAD_FUZZ_SEED", "12"))
TINY = ("--epochs", "1", "--hidden", "4", "--batch-size", "10", "--device", "cpu")


def damage(raw: bytes, rng, hot=(0, 64)) -> bytes:
    """A random truncation (a quarter of the cases) or one to three random bit flips, half of
    them in the ``hot`` byte range (the headers, where most of the checks are)."""
    if rng.random() < 0.25:
        return raw[:int(rng.integers(0, len(raw)))]
    out = bytearray(raw)
    lo, hi = hot[0], min(hot[1], len(out))
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(lo, hi)) if rng.random() < 0.5 else int(rng.integers(0, len(out)))
        out[k] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def run_cli(capsys, argv):
    code = train.main([str(a) for a in argv])
    _, err = capsys.readouterr()
    return code, err


def assert_valid_outcome(code, err, case, diverging_ok=False):
    """Status 0 and nothing on stderr, or one error line and status 2 (bad input), or with
    ``diverging_ok`` status 1 for valid but absurd settings that made the loss non-finite."""
    if code == 0:
        assert err == "", (case, err)
        return
    if diverging_ok and code == 1:
        assert "loss" in err and ("nan" in err or "inf" in err), (case, err)
    else:
        assert code == 2, (case, code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpugrad-train: error: "), (case, err)
    assert "Traceback" not in err, (case, err)


@pytest.fixture
def no_curves(monkeypatch):
    drawn = []
    monkeypatch.setattr(train.report, "save_curves", lambda path, history, title="": drawn.append(len(history)))
    return drawn


@pytest.mark.filterwarnings("error")
def test_damaged_idx_files(tmp_path, capsys, no_curves):
    clean = make_idx_dataset(tmp_path / "clean", n_train=20, n_test=10, side=4)
    rng = np.random.default_rng(RNG_SEED)
    outcomes = {0: 0, 2: 0}
    work = tmp_path / "case"
    for case in range(N_IDX_CASES):
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(clean, work / "data")
        key = list(IDX_NAMES)[case % 4]
        path = work / "data" / IDX_NAMES[key]
        raw = path.read_bytes()
        if case % 3 == 2:   # a gzipped file, damaged after compression
            path.unlink()
            path = path.with_name(path.name + ".gz")
            raw = gzip.compress(raw, mtime=0)
        path.write_bytes(damage(raw, rng))
        code, err = run_cli(capsys, ["--dataset", "mnist", "--data-dir", work / "data", *TINY, "--out", work / "run"])
        assert_valid_outcome(code, err, (case, path.name))
        outcomes[code] += 1
        try:
            data.load_idx_dataset(work / "data", "mnist")
        except ValueError as exc:
            assert path.name in str(exc), (case, str(exc))
    assert outcomes[2] > N_IDX_CASES // 2 and outcomes[0] > 10, outcomes   # both outcomes were exercised
    assert no_curves and set(no_curves) == {1}


@pytest.mark.filterwarnings("error")
def test_damaged_checkpoints(tmp_path, capsys, no_curves):
    folder = make_idx_dataset(tmp_path / "data", n_train=20, n_test=10, side=4)
    base = ["--dataset", "mnist", "--data-dir", folder]
    code, err = run_cli(capsys, [*base, *TINY, "--out", tmp_path / "clean"])
    assert code == 0, err
    clean = (tmp_path / "clean" / "checkpoint.npz").read_bytes()
    meta = clean.index(b'{"format"')   # the JSON metadata (stored uncompressed): its values are checked too
    rng = np.random.default_rng(RNG_SEED)
    outcomes = {0: 0, 2: 0}
    for case in range(N_CHECKPOINT_CASES):
        out = tmp_path / "case"
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        (out / "checkpoint.npz").write_bytes(damage(clean, rng, hot=(meta, clean.index(b"PK", meta))))
        code, err = run_cli(capsys, ["--resume", "--epochs", "2", "--out", out])
        assert_valid_outcome(code, err, case)
        outcomes[code] += 1
    assert outcomes[2] > N_CHECKPOINT_CASES // 2, outcomes


N_EDIT_CASES = 150
ODD_VALUES = [-5, -1, 0, 1, 2.5, 10**12, 1e308, float("nan"), float("-inf"), True, None, "abc", "", [], [0], {}, {"a": 1}]


def _leaves(tree, path=()):
    """Every (path, value) of a JSON tree's leaves, and its lists and dicts themselves."""
    yield path, tree
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        yield from _leaves(value, (*path, key))


@pytest.mark.filterwarnings("error")
def test_hand_edited_checkpoint_metadata(tmp_path, capsys, no_curves):
    """The checkpoint's JSON metadata edited at random (its CRC kept right, as an editor would):
    one value anywhere in it replaced by an odd one, or one entry deleted."""
    import json

    from gpugrad.checkpoint import META_KEY, read_arrays
    folder = make_idx_dataset(tmp_path / "data", n_train=20, n_test=10, side=4)
    code, err = run_cli(capsys, ["--dataset", "mnist", "--data-dir", folder, *TINY, "--out", tmp_path / "clean"])
    assert code == 0, err
    arrays = read_arrays(str(tmp_path / "clean" / "checkpoint.npz"))
    header = json.loads(arrays.pop(META_KEY).tobytes().decode())
    paths = [p for p, _ in _leaves(header) if p]
    rng = np.random.default_rng(RNG_SEED)
    outcomes = {0: 0, 2: 0}
    for case in range(N_EDIT_CASES):
        edited = json.loads(json.dumps(header))
        path = paths[int(rng.integers(len(paths)))]
        parent = edited
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
        out = tmp_path / "case"
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        with open(out / "checkpoint.npz", "wb") as f:
            np.savez(f, **arrays, **{META_KEY: np.frombuffer(json.dumps(edited).encode(), np.uint8)})
        code, err = run_cli(capsys, ["--resume", "--epochs", "2", "--out", out])
        assert_valid_outcome(code, err, (case, path), diverging_ok=True)
        outcomes[code] = outcomes.get(code, 0) + 1
    assert outcomes[2] > N_EDIT_CASES // 4 and outcomes[0] > 10, outcomes
