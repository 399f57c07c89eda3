"""gg.save / gg.load: state dicts and tensors in the checkpoint format (plain arrays and JSON in
one .npz, written atomically, never pickled), on each backend."""
import io
import math
import os
import pickle

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
from gpugrad.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

from conftest import to_np


def test_nested_objects_round_trip_with_their_types(device, tmp_path):
    w = gg.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    obj = {
        "w": w, "again": w, "half": gg.tensor([1.5, -2.0], dtype=gg.float16, device=device),
        "labels": gg.tensor([3, 1, 4]), "mask": gg.tensor([True, False]),
        "array": np.arange(4, dtype=np.int32), "scalar": np.float32(2.5),
        3: "an int key", 2.5: None, "numbers": [1, 2.0, True, -math.inf, math.nan],
        "tuple": (0.9, 0.999), "nested": {"list": [{"x": 1}], "empty": {}, "none": [None]},
        "text": "héllo",
    }
    path = tmp_path / "obj.gg"
    gg.save(obj, path)
    got = gg.load(path)
    assert list(got) == list(obj)                                    # keys and their order
    assert isinstance(got["w"], gg.Tensor) and got["w"].requires_grad and got["w"].device == device
    assert got["again"] is got["w"]                                  # stored once, one tensor
    np.testing.assert_array_equal(to_np(got["w"]), to_np(w))
    assert got["half"].dtype == np.float16 and got["half"].device == device
    assert got["labels"].dtype == np.int64 and got["mask"].dtype == np.bool_
    assert got["array"].dtype == np.int32 and isinstance(got["array"], np.ndarray)
    assert got["scalar"] == np.float32(2.5) and type(got["scalar"]) is np.float32
    assert got[3] == "an int key" and got[2.5] is None
    assert got["numbers"][:4] == [1, 2.0, True, -math.inf] and math.isnan(got["numbers"][4])
    assert type(got["numbers"][0]) is int and type(got["numbers"][2]) is bool
    assert got["tuple"] == (0.9, 0.999) and isinstance(got["tuple"], tuple)
    assert got["nested"] == {"list": [{"x": 1}], "empty": {}, "none": [None]}
    assert got["text"] == "héllo"


def test_a_tensor_on_its_own_and_a_parameter(tmp_path):
    gg.save(gg.tensor(7.0), tmp_path / "t")
    t = gg.load(tmp_path / "t")
    assert isinstance(t, gg.Tensor) and t.item() == 7.0 and not t.requires_grad
    layer = nn.Linear(3, 2)
    gg.save([layer.weight], tmp_path / "p")
    p, = gg.load(tmp_path / "p")
    assert isinstance(p, nn.Parameter) and p.requires_grad
    np.testing.assert_array_equal(p.numpy(), layer.weight.numpy())


def test_model_and_optimizer_state_dicts_resume_training_exactly(tmp_path):
    def make():
        gg.manual_seed(3)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        return model, gg.optim.AdamW(model.parameters(), lr=1e-2, amsgrad=True)

    x = gg.tensor(np.random.default_rng(0).standard_normal((16, 4)), dtype=gg.float32)
    y = gg.tensor([0, 1] * 8)

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            gg.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

    model, opt = make()
    train(model, opt, 5)
    resumed, ropt = make()
    train(resumed, ropt, 2)
    gg.save({"model": resumed.state_dict(), "optimizer": ropt.state_dict()}, tmp_path / "ckpt.pt")
    fresh, fopt = make()
    state = gg.load(tmp_path / "ckpt.pt")
    fresh.load_state_dict(state["model"])
    fopt.load_state_dict(state["optimizer"])
    train(fresh, fopt, 3)
    for a, b in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_map_location(device, tmp_path):
    t = gg.tensor([1.0, 2.0], device=device)
    gg.save({"t": t, "a": t.array}, tmp_path / "x")
    got = gg.load(tmp_path / "x", map_location="cpu")
    assert got["t"].device == "cpu" and isinstance(got["a"], np.ndarray)
    got = gg.load(tmp_path / "x", map_location={device: "cpu"})
    assert got["t"].device == "cpu"
    got = gg.load(tmp_path / "x", map_location=gg.Device(device))
    assert got["t"].device == device
    gg.save(gg.tensor(1.0, device="cpu"), tmp_path / "y")
    with pytest.raises(RuntimeError, match="sends data saved on cpu to cuda:7, which is not available"):
        gg.load(tmp_path / "y", map_location={"cpu": "cuda:7"})   # no such GPU anywhere here
    with pytest.raises(TypeError, match="map_location"):
        gg.load(tmp_path / "x", map_location=lambda s, loc: s)


def test_file_objects(tmp_path):
    buffer = io.BytesIO()
    gg.save({"w": gg.ones(3)}, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(gg.load(buffer)["w"].numpy(), np.ones(3, np.float32))
    with open(tmp_path / "f", "wb") as f:
        gg.save([1, 2], f)
    with open(tmp_path / "f", "rb") as f:
        assert gg.load(f) == [1, 2]


def test_what_cannot_be_saved_is_refused_and_leaves_the_old_file(tmp_path):
    path = tmp_path / "keep"
    gg.save({"v": 1}, path)
    with pytest.raises(TypeError, match=r"obj\['fn'\]\[0\] is a function.*never pickles"):
        gg.save({"fn": [lambda: 1]}, path)
    with pytest.raises(TypeError, match="key of type tuple"):
        gg.save({(1, 2): 3}, path)
    with pytest.raises(TypeError, match="Python objects"):
        gg.save(np.array([{}, []], dtype=object), path)
    assert gg.load(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["keep"]                  # no temporary files left


def test_a_pickle_is_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"__meta__": np.frombuffer(b'{"format": "gpugrad-checkpoint", "version": 1, '
                                                 b'"kind": "object", "object": {"array": "obj:0"}}', np.uint8),
                      "obj:0": np.array([object()], dtype=object)})
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        gg.load(path)
    with open(tmp_path / "p.pkl", "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(CheckpointError, match="not a complete .npz"):
        gg.load(tmp_path / "p.pkl")
    with pytest.raises(FileNotFoundError, match="no file"):
        gg.load(tmp_path / "missing")


def test_one_format_with_the_training_checkpoints(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    opt = gg.optim.Adam(model.parameters())
    save_checkpoint(tmp_path / "train.npz", model, opt, {"epoch": 4})
    got = gg.load(tmp_path / "train.npz")
    assert got["meta"] == {"epoch": 4} and got["optimizer"]["type"] == "Adam"
    np.testing.assert_array_equal(got["model"]["0.weight"].numpy(), model[0].weight.numpy())
    gg.save(model.state_dict(), tmp_path / "obj.npz")
    with pytest.raises(CheckpointError, match="saved with gg.save.*gg.load"):
        load_checkpoint(tmp_path / "obj.npz")
    with np.load(tmp_path / "obj.npz", allow_pickle=False) as npz:     # plain arrays + JSON
        assert sorted(npz.files) == ["__meta__", "obj:0", "obj:1"]
