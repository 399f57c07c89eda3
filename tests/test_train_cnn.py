"""gpugrad-train's CNN (--model cnn), learning-rate schedule (--scheduler) and gradient clipping
(--clip-grad-norm): the model, the schedule's values, resuming exactly (schedule and batch-norm
statistics included) and the errors."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import train
from gpugrad.checkpoint import load_checkpoint
from gpugrad.train.cli import image_shape
from gpugrad.train.settings import UsageError

pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn (gpugrad[train])")
pytest.importorskip("tqdm", reason="gpugrad-train needs tqdm (gpugrad[train])")
pytest.importorskip("matplotlib", reason="gpugrad-train needs matplotlib (gpugrad[train])")

CNN_RUN = ("--model", "cnn", "--epochs", 3, "--batch-size", 128, "--scheduler", "cosine",
           "--clip-grad-norm", 2.0, "--seed", 1, "--device", "cpu")


def cli(capsys, *argv):
    code = train.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_metrics(folder):
    return json.loads((Path(folder) / "metrics.json").read_text())


def test_the_cnn_model():
    gg.manual_seed(0)
    model = train.build_model((1, 28, 28), None, 10, "relu", model="cnn")
    names = [type(m).__name__ for m in model]
    assert names == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] * 2 + ["Flatten", "Dropout", "Linear"]
    assert model[0].weight.shape == (32, 1, 3, 3) and model[4].weight.shape == (64, 32, 3, 3)
    assert model[0].bias is None and model[-1].weight.shape == (64 * 7 * 7, 10)
    assert "1.running_mean" in model.state_dict() and "5.num_batches_tracked" in model.state_dict()
    x = gg.tensor(np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32))
    assert model(x).shape == (3, 10)
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())     # eval: no dropout
    assert train.describe_model((1, 28, 28), None, 10, "relu", "cnn").startswith("CNN 1x28x28 conv32-conv64")
    assert image_shape(784, "mnist") == (1, 28, 28)
    with pytest.raises(UsageError, match="square images"):
        image_shape(60, "data")


def test_clip_grad_norm_in_the_step():
    """With plain SGD (lr 1) the update is the clipped gradient: its norm is the bound (the
    gradient here is far larger)."""
    gg.manual_seed(0)
    model = train.build_model(5, [7], 3, dtype=np.float64)
    x = gg.tensor(np.random.default_rng(1).standard_normal((8, 5)))
    y = gg.tensor(np.arange(8) % 3)
    before = [p.numpy().copy() for p in model.parameters()]
    train.train_step(model, gg.optim.SGD(model.parameters(), lr=1.0), x, y, clip_grad_norm=1e-3)
    change = math.sqrt(sum(((p.numpy() - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert change == pytest.approx(1e-3, rel=1e-5)   # PyTorch's coefficient: max / (norm + 1e-6)


@pytest.mark.parametrize("scheduler, factors", [
    ("cosine", [1.0, (1 + math.cos(math.pi / 3)) / 2, (1 + math.cos(2 * math.pi / 3)) / 2]),
    ("step", [1.0, 0.1, 0.01]),
    ("none", [1.0, 1.0, 1.0]),
])
def test_the_schedule_of_each_epoch(tmp_path, capsys, scheduler, factors):
    code, _, err = cli(capsys, "--epochs", 3, "--hidden", 16, "--optimizer", "sgd", "--lr", 0.1,
                       "--scheduler", scheduler, "--device", "cpu", "--out", tmp_path)
    assert code == 0, err
    lrs = [e["lr"] for e in read_metrics(tmp_path)["epochs"]]
    np.testing.assert_allclose(lrs, [0.1 * f for f in factors], rtol=1e-12)


@pytest.fixture(scope="module")
def cnn_uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cnn-full")
    assert train.main([str(a) for a in (*CNN_RUN, "--out", folder)]) == 0
    return read_metrics(folder), load_checkpoint(folder / "checkpoint.npz")


def test_cnn_trains_on_digits(cnn_uninterrupted):
    metrics, (model_state, _, meta) = cnn_uninterrupted
    assert metrics["model"].startswith("CNN 1x8x8") and metrics["settings"]["model"] == "cnn"
    assert metrics["final_test_accuracy"] > 0.85
    assert meta["scheduler"]["last_epoch"] == 3
    assert model_state["1.num_batches_tracked"] == 3 * math.ceil(1437 / 128)


def test_cnn_stop_then_resume_matches_uninterrupted(tmp_path, capsys, cnn_uninterrupted):
    """The schedule, the optimizer, the weights and BatchNorm's running statistics come back
    from the checkpoint: the resumed run is the uninterrupted one, bit for bit."""
    assert cli(capsys, *CNN_RUN, "--out", tmp_path, "--stop-after", 1)[0] == 0
    code, out, err = cli(capsys, "--out", tmp_path, "--resume", "--device", "cpu")
    assert code == 0, err
    ref_metrics, (ref_model, _, _) = cnn_uninterrupted
    metrics = read_metrics(tmp_path)
    assert metrics["resumed_at_epoch"] == 1
    figures = [(e["train_loss"], e["test_loss"], e["test_accuracy"], e["lr"]) for e in metrics["epochs"]]
    assert figures == [(e["train_loss"], e["test_loss"], e["test_accuracy"], e["lr"]) for e in ref_metrics["epochs"]]
    model_state = load_checkpoint(tmp_path / "checkpoint.npz")[0]
    assert set(model_state) == set(ref_model)
    for name, value in ref_model.items():
        np.testing.assert_array_equal(model_state[name], value)


@pytest.mark.parametrize("argv, words", [
    (["--model", "rnn"], ["--model", "rnn"]),
    (["--scheduler", "linear"], ["--scheduler", "linear"]),
    (["--clip-grad-norm", "0"], ["--clip-grad-norm"]),
    (["--clip-grad-norm", "inf"], ["--clip-grad-norm"]),
])
def test_bad_new_options(tmp_path, capsys, argv, words):
    code, out, err = cli(capsys, *argv, "--out", tmp_path)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert all(w in err for w in words), err


def test_resume_an_mlp_run_as_a_cnn_is_refused(tmp_path, capsys):
    assert cli(capsys, "--epochs", 1, "--hidden", 8, "--device", "cpu", "--out", tmp_path)[0] == 0
    code, _, err = cli(capsys, "--out", tmp_path, "--resume", "--epochs", 2, "--model", "cnn")
    assert code == 2 and "--model mlp" in err and "cnn" in err, err


def test_rng_state_round_trip():
    """A checkpoint's generator state gives back the same dropout masks."""
    gg.manual_seed(4)
    gg.backend.cpu_generator().integers(0, 10, size=3)
    state = json.loads(json.dumps(gg.backend.get_rng_state()))      # as a checkpoint keeps it
    x = gg.ones((50, 40))
    first = gg.nn.functional.dropout(x, 0.5).numpy()
    gg.backend.set_rng_state(state)
    np.testing.assert_array_equal(gg.nn.functional.dropout(x, 0.5).numpy(), first)
    with pytest.raises(ValueError, match="set_rng_state"):
        gg.backend.set_rng_state({"bit_generator": "MT19937"})
