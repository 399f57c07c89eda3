"""Checkpoints: plain arrays + JSON metadata in one .npz, written atomically, read without pickle."""
import json
import os
import zipfile

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
from gpugrad import checkpoint as ckpt
from gpugrad.checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from gpugrad.train import train_step


def mlp(hidden=8, seed=0, device="cpu"):
    gg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, hidden, device=device), nn.ReLU(), nn.Linear(hidden, 3, device=device))


def train_steps(model, opt, steps=3, seed=1, device="cpu"):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = gg.tensor(rng.standard_normal((5, 4)).astype(np.float32), device=device)
        y = gg.tensor(rng.integers(0, 3, 5), device=device)
        train_step(model, opt, x, y)


def params(model):
    return {name: p.numpy().copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_roundtrip_model_optimizer_and_meta(tmp_path, kind, device):
    model = mlp(device=device)
    opt = gg.optim.Adam(model.parameters(), lr=1e-2) if kind == "adam" else \
        gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train_steps(model, opt, device=device)
    meta = {"epoch": 3, "history": [{"loss": 1.25}], "note": "ünïcode"}
    path = tmp_path / "ck.npz"
    assert save_checkpoint(path, model, opt, meta) == str(path)

    model_state, optim_state, meta2 = load_checkpoint(path)
    assert meta2 == meta
    assert list(model_state) == [n for n, _ in model.named_parameters()]
    for name, value in params(model).items():
        assert isinstance(model_state[name], np.ndarray)
        np.testing.assert_array_equal(model_state[name], value)
    assert optim_state["type"] == type(opt).__name__
    if kind == "adam":
        assert optim_state["state"][0]["step"] == 3 and optim_state["param_groups"][0]["betas"] == (0.9, 0.999)

    # restore into fresh objects: the continued run equals the original one exactly
    model2 = mlp(seed=99, device=device)
    opt2 = type(opt)(model2.parameters(), lr=123.0)
    restore(model2, opt2, model_state, optim_state)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    train_steps(model, opt, seed=7, device=device)
    train_steps(model2, opt2, seed=7, device=device)
    for name, value in params(model).items():
        np.testing.assert_array_equal(params(model2)[name], value)


def test_file_is_plain_arrays_and_loads_without_pickle(tmp_path):
    model = mlp()
    opt = gg.optim.Adam(model.parameters())
    train_steps(model, opt, steps=1)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, opt, {"epoch": 1})
    with np.load(path, allow_pickle=False) as npz:
        assert "__meta__" in npz.files and npz["__meta__"].dtype == np.uint8
        assert all(npz[k].dtype != object for k in npz.files)
        header = json.loads(npz["__meta__"].tobytes().decode())
    assert header["format"] == "gpugrad-checkpoint" and header["meta"] == {"epoch": 1}
    assert [p[0] for p in header["parameters"]] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_without_optimizer(tmp_path):
    model = mlp()
    save_checkpoint(tmp_path / "m.npz", model, None)
    model_state, optim_state, meta = load_checkpoint(tmp_path / "m.npz")
    assert optim_state is None and meta == {}
    other = mlp(seed=5)
    restore(other, None, model_state)
    for name, value in params(model).items():
        np.testing.assert_array_equal(params(other)[name], value)


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(CheckpointError, match="JSON"):
        save_checkpoint(tmp_path / "x.npz", mlp(), None, {"bad": object()})
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- atomic writes

def test_no_temporary_files_left_and_overwrite(tmp_path):
    model = mlp()
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, None, {"epoch": 1})
    save_checkpoint(path, model, None, {"epoch": 2})
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert load_checkpoint(path)[2] == {"epoch": 2}
    mode = os.stat(path).st_mode & 0o777
    assert mode & 0o044, f"checkpoint is not readable by others (mode {oct(mode)}): umask not applied"


def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model = mlp()
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, None, {"epoch": 1})
    before = path.read_bytes()

    def half_written_then_crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk on fire")

    monkeypatch.setattr(ckpt.np, "savez", half_written_then_crash)
    with pytest.raises(OSError, match="disk on fire"):
        save_checkpoint(path, mlp(seed=3), None, {"epoch": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert load_checkpoint(path)[2] == {"epoch": 1}


def test_interrupt_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, mlp(), None, {"epoch": 1})

    def interrupted(f, **arrays):
        f.write(b"PK")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, mlp(), None, {"epoch": 2})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert load_checkpoint(path)[2] == {"epoch": 1}


# --------------------------------------------------------------------------- bad files

@pytest.fixture
def good(tmp_path):
    model = mlp()
    opt = gg.optim.Adam(model.parameters())
    train_steps(model, opt, steps=1)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, opt, {"epoch": 1})
    return path


def one_sentence(exc):
    msg = str(exc.value)
    assert "\n" not in msg and msg.endswith(".")
    return msg


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist") as e:
        load_checkpoint(tmp_path / "nope.npz")
    one_sentence(e)


def test_directory(tmp_path):
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file(good, keep):
    data = good.read_bytes()
    good.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as e:
        load_checkpoint(good)
    one_sentence(e)


def test_corrupted_bytes_in_an_array(good):
    data = bytearray(good.read_bytes())
    # flip bytes inside the first parameter's data (the zip's CRC catches it)
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("model:0.weight.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    for i in range(start, start + 16):
        data[i] ^= 0xFF
    good.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated or corrupt") as e:
        load_checkpoint(good)
    one_sentence(e)


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "text.npz"
    text.write_text("hello, I am not a zip file\n")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(text)
    arr = tmp_path / "arr.npy"
    np.save(arr, np.arange(3))
    with pytest.raises(CheckpointError, match="single .npy array"):
        load_checkpoint(arr)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(CheckpointError, match="__meta__"):
        load_checkpoint(other)


def test_pickled_object_is_refused(tmp_path):
    bad = tmp_path / "pickled.npz"
    np.savez(bad, __meta__=np.array([{"evil": True}], dtype=object))
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(bad)


def rewrite(path, drop=(), meta=None):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k not in drop}
    if meta is not None:
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_missing_parameter_array(good):
    rewrite(good, drop=["model:2.bias"])
    with pytest.raises(CheckpointError, match="'2.bias' is listed but missing") as e:
        load_checkpoint(good)
    one_sentence(e)


def test_missing_metadata_keys_and_bad_json(good):
    with np.load(good) as npz:
        header = json.loads(npz["__meta__"].tobytes())
    del header["optimizer"]
    rewrite(good, meta=header)
    with pytest.raises(CheckpointError, match="no 'optimizer' entry"):
        load_checkpoint(good)
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["__meta__"] = np.frombuffer(b"{not json", dtype=np.uint8)
    np.savez(good, **arrays)
    with pytest.raises(CheckpointError, match="unreadable metadata"):
        load_checkpoint(good)


def test_wrong_version(good):
    with np.load(good) as npz:
        header = json.loads(npz["__meta__"].tobytes())
    header["version"] = 99
    rewrite(good, meta=header)
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(good)


# --------------------------------------------------------------------------- restoring into a model

def test_architecture_mismatch_names_and_shapes(tmp_path):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, mlp(hidden=8), None)
    model_state, _, _ = load_checkpoint(path)
    model = mlp(hidden=16)
    before = params(model)
    with pytest.raises(CheckpointError, match="another architecture") as e:
        restore(model, None, model_state, source="checkpoint 'ck.npz'")
    msg = one_sentence(e)
    assert "0.weight (4, 8)" in msg and "0.weight (4, 16)" in msg and "2.weight (8, 3)" in msg
    for name, value in before.items():  # nothing changed
        np.testing.assert_array_equal(params(model)[name], value)

    deeper = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.raises(CheckpointError, match="4.weight"):
        restore(deeper, None, model_state)


def test_optimizer_type_mismatch(tmp_path):
    model = mlp()
    opt = gg.optim.Adam(model.parameters())
    train_steps(model, opt, steps=1)
    save_checkpoint(tmp_path / "ck.npz", model, opt)
    model_state, optim_state, _ = load_checkpoint(tmp_path / "ck.npz")
    model2 = mlp(seed=4)
    before = params(model2)
    with pytest.raises(CheckpointError, match="Adam optimizer, not SGD"):
        restore(model2, gg.optim.SGD(model2.parameters(), lr=0.1), model_state, optim_state)
    for name, value in before.items():
        np.testing.assert_array_equal(params(model2)[name], value)


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
