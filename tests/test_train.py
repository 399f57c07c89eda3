"""gpugrad-train end to end: a shortened default run, interrupt and resume, and bad input."""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import train
from gpugrad.checkpoint import load_checkpoint, save_checkpoint

pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn (gpugrad[train])")
pytest.importorskip("tqdm", reason="gpugrad-train needs tqdm (gpugrad[train])")
pytest.importorskip("matplotlib", reason="gpugrad-train needs matplotlib (gpugrad[train])")

ROOT = Path(__file__).resolve().parent.parent
CUDA = gg.cuda_available()
PNG = b"\x89PNG\r\n\x1a\n"


def cli(capsys, *argv):
    """Run gpugrad-train in-process; return (exit code, stdout, stderr)."""
    code = train.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *words):
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("gpugrad-train: error: "), lines[0]
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


def epoch_figures(metrics):
    return [(e["epoch"], e["train_loss"], e["test_loss"], e["test_accuracy"]) for e in metrics["epochs"]]


def read_metrics(folder):
    return json.loads((Path(folder) / "metrics.json").read_text())


# --------------------------------------------------------------------------- the default run, shortened

def test_default_run_shortened_reaches_97_percent(tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, err = cli(capsys, "--epochs", 10, "--out", out_dir)
    assert code == 0, err
    assert err == ""
    # not a terminal: one line per epoch and the result, no progress bar
    lines = out.strip().splitlines()
    assert len(lines) == 11 and all(line.startswith("epoch ") for line in lines[:10])
    assert "train loss" in lines[0] and "test acc" in lines[0] and "samples/s" in lines[0]
    assert lines[-1].startswith("test accuracy ") and "batch/s" not in out

    assert sorted(os.listdir(out_dir)) == ["checkpoint.npz", "curves.png", "metrics.json"]  # no temp files
    m = read_metrics(out_dir)
    for key in ("dataset", "device", "model", "settings", "epochs", "final_test_accuracy", "final_test_loss",
                "wall_time_s", "completed", "train_samples", "test_samples"):
        assert key in m, key
    assert m["dataset"] == "digits" and m["device"] == str(gg.get_default_device())
    assert m["completed"] is True and len(m["epochs"]) == 10 and m["test_samples"] == 360
    assert m["settings"]["hidden"] == train.DEFAULTS["hidden"] and m["settings"]["optimizer"] == "adam"
    for e in m["epochs"]:
        assert set(e) >= {"epoch", "train_loss", "test_loss", "test_accuracy", "samples_per_s"}
        assert e["samples_per_s"] > 0
    assert m["final_test_accuracy"] >= 0.97, m["final_test_accuracy"]
    assert m["epochs"][-1]["train_loss"] < m["epochs"][0]["train_loss"]
    assert 0 < m["wall_time_s"] < 60

    assert (out_dir / "curves.png").read_bytes()[:8] == PNG
    model_state, optim_state, meta = load_checkpoint(out_dir / "checkpoint.npz")
    assert meta["epoch"] == 10 and meta["history"] == m["epochs"]
    assert [v.shape for v in model_state.values()] == [(64, 1024), (1024,), (1024, 10), (10,)]
    assert optim_state["type"] == "Adam" and optim_state["state"][0]["step"] == 10 * 23  # 23 batches an epoch


def test_progress_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    bar = train.report.progress_bar
    monkeypatch.setattr(train.report, "progress_bar", lambda *a: bar(*a, mininterval=0, miniters=1))  # draw every batch
    monkeypatch.setattr(train.loop, "PROGRESS_EVERY", 5)
    code, out, err = cli(capsys, "--epochs", 1, "--hidden", 32, "--out", tmp_path)
    assert code == 0, err
    assert out.startswith("gpugrad-train: training: digits")  # the header, shown on a terminal only
    assert "/23 [" in out and "batch/s" in out                 # tqdm's bar: 23 batches an epoch
    assert "loss=" in out, out[:3000]                          # with the running loss
    assert "epoch   1/1  train loss" in out


def test_running_loss_stays_on_the_device(monkeypatch):
    """One host read of the loss per epoch (no .item() per batch) when no bar is shown."""
    X = np.random.default_rng(0).standard_normal((200, 5)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 200)
    model = train.build_model(5, [8], 3)
    opt = gg.optim.SGD(model.parameters(), lr=0.1)
    loader = gg.data.DataLoader(X, y, 16, shuffle=True, seed=0)
    calls = []
    real_item = gg.Tensor.item
    monkeypatch.setattr(gg.Tensor, "item", lambda self: calls.append(1) or real_item(self))
    loss, seconds, seen = train.train_one_epoch(model, opt, loader)
    assert len(calls) == 1 and seen == 200 and np.isfinite(loss) and seconds > 0


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device through CuPy")
def test_training_loop_never_waits_for_the_gpu_between_batches():
    """On CUDA, every batch after the first runs under cupyx.allow_synchronize(False)."""
    cupyx = pytest.importorskip("cupyx")
    allow_synchronize = getattr(cupyx, "allow_synchronize", None)
    if allow_synchronize is None:
        pytest.skip("this CuPy has no cupyx.allow_synchronize")
    X = np.random.default_rng(0).standard_normal((640, 20)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 4, 640)
    gg.manual_seed(0)
    model = train.build_model(20, [32], 4, device="cuda")
    opt = gg.optim.Adam(model.parameters())
    loader = gg.data.DataLoader(X, y, 64, shuffle=True, seed=0, device="cuda")

    class NoSyncAfterFirstBatch:
        device, num_samples, batch_sampler = loader.device, loader.num_samples, loader.batch_sampler

        def __len__(self):
            return len(loader)

        def __iter__(self):
            batches = iter(loader)      # the epoch's order moves to the GPU here, once
            yield next(batches)         # the first step compiles kernels and allocates
            with allow_synchronize(False):
                yield from batches

    loss, seconds, seen = train.train_one_epoch(model, opt, NoSyncAfterFirstBatch())
    assert seen == 640 and np.isfinite(loss)


# --------------------------------------------------------------------------- interrupt and resume

RUN = ("--epochs", 3, "--hidden", 64, "--seed", 3)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Reference runs of 3 epochs, per optimizer."""
    runs = {}
    for opt in ("adam", "sgd"):
        folder = tmp_path_factory.mktemp(f"full-{opt}")
        assert train.main([str(a) for a in (*RUN, "--optimizer", opt, "--device", "cpu", "--out", folder)]) == 0
        runs[opt] = (read_metrics(folder), load_checkpoint(folder / "checkpoint.npz"))
    return runs


def assert_same_run(folder, reference):
    ref_metrics, (ref_model, ref_optim, _) = reference
    metrics = read_metrics(folder)
    assert metrics["completed"] and metrics["resumed_at_epoch"] is not None
    assert epoch_figures(metrics) == epoch_figures(ref_metrics)   # bit-identical figures
    model_state, optim_state, meta = load_checkpoint(folder / "checkpoint.npz")
    for name, value in ref_model.items():
        np.testing.assert_array_equal(model_state[name], value)
    for index, state in ref_optim["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(optim_state["state"][index][key], value)


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_stop_after_an_epoch_then_resume_matches_uninterrupted(tmp_path, capsys, uninterrupted, opt):
    args = (*RUN, "--optimizer", opt, "--device", "cpu", "--out", tmp_path)
    code, out, _ = cli(capsys, *args, "--stop-after", 1)
    assert code == 0 and "continue with: gpugrad-train --out" in out
    partial = read_metrics(tmp_path)
    assert partial["completed"] is False and len(partial["epochs"]) == 1
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG

    code, out, err = cli(capsys, "--out", tmp_path, "--resume", "--device", "cpu")  # settings from the checkpoint
    assert code == 0, err
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == ["2/3", "3/3"]
    assert_same_run(tmp_path, uninterrupted[opt])


def test_interrupt_with_ctrl_c_then_resume(tmp_path, capsys, monkeypatch, uninterrupted):
    real = train.train_one_epoch
    calls = []

    def interrupted_in_second_epoch(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(train.loop, "train_one_epoch", interrupted_in_second_epoch)
    code, out, err = cli(capsys, *RUN, "--device", "cpu", "--out", tmp_path)
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert load_checkpoint(tmp_path / "checkpoint.npz")[2]["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "metrics.json"]  # no half-written files
    monkeypatch.undo()

    code, out, err = cli(capsys, "--out", tmp_path, "--resume", "--device", "cpu")
    assert code == 0, err
    assert_same_run(tmp_path, uninterrupted["adam"])
    # resuming a finished run trains nothing more
    code, out, _ = cli(capsys, "--out", tmp_path, "--resume")
    assert code == 0 and "nothing to do" in out


def test_resume_a_finished_run_with_more_epochs(tmp_path, capsys, uninterrupted):
    assert cli(capsys, "--epochs", 1, *RUN[2:], "--device", "cpu", "--out", tmp_path)[0] == 0
    assert read_metrics(tmp_path)["completed"] is True
    code, out, err = cli(capsys, "--out", tmp_path, "--resume", "--epochs", 3, "--device", "cpu")
    assert code == 0, err
    assert_same_run(tmp_path, uninterrupted["adam"])
    metrics = read_metrics(tmp_path)
    assert metrics["epochs_requested"] == 3 and metrics["settings"]["epochs"] == 3


def on_a_terminal(monkeypatch, yes=True):
    """gpugrad-train as on a terminal (a tqdm.auto progress bar each epoch), or piped."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: yes, raising=False)


def test_a_run_on_a_terminal_is_the_piped_run(tmp_path, capsys, monkeypatch, uninterrupted):
    """The progress bar wraps the loader without changing its order (tqdm.auto calls iter() on
    it twice): the same figures and weights as the piped run, bit for bit."""
    on_a_terminal(monkeypatch)
    code, out, err = cli(capsys, *RUN, "--device", "cpu", "--out", tmp_path)
    assert code == 0 and "batch/s" in out, err          # the bar was drawn
    ref_metrics, (ref_model, _, _) = uninterrupted["adam"]
    assert epoch_figures(read_metrics(tmp_path)) == epoch_figures(ref_metrics)
    model_state = load_checkpoint(tmp_path / "checkpoint.npz")[0]
    for name, value in ref_model.items():
        np.testing.assert_array_equal(model_state[name], value)


@pytest.mark.parametrize("first,then", [(True, True), (True, False), (False, True)],
                         ids=["terminal-terminal", "terminal-piped", "piped-terminal"])
def test_resumed_on_a_terminal_or_piped_is_the_uninterrupted_run(tmp_path, capsys, monkeypatch, uninterrupted,
                                                                  first, then):
    on_a_terminal(monkeypatch, first)
    assert cli(capsys, *RUN, "--device", "cpu", "--out", tmp_path, "--stop-after", 1)[0] == 0
    on_a_terminal(monkeypatch, then)
    code, out, err = cli(capsys, "--out", tmp_path, "--resume", "--device", "cpu")
    assert code == 0, err
    assert_same_run(tmp_path, uninterrupted["adam"])


def test_an_epoch_with_a_progress_bar_is_the_epoch_without(monkeypatch):
    """train_one_epoch under gpugrad-train's tqdm.auto bar takes the same batches, in the same
    order, as without it: the same losses and the same weights."""
    X = np.random.default_rng(0).standard_normal((300, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    runs = []
    for bar in (False, True):
        gg.manual_seed(0)
        model = train.build_model(6, [16], 3, dtype=np.float64)
        opt = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = gg.data.DataLoader(X.astype(np.float64), y, 32, shuffle=True, seed=1, device="cpu")
        losses = []
        for epoch in range(3):
            loader.set_epoch(epoch)
            progress = train.report.progress_bar(loader, "epoch") if bar else None
            losses.append(train.train_one_epoch(model, opt, loader, progress)[0])
            if progress is not None:
                progress.close()
        runs.append((losses, [p.numpy() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_the_loop_trains_on_any_dataloader():
    """train_one_epoch and evaluate take a loader over any dataset or batch sampler: a
    map-style dataset with a batch sampler of one's own trains as its TensorDataset does."""
    X = np.random.default_rng(0).standard_normal((90, 5))
    y = np.random.default_rng(1).integers(0, 3, 90)

    class Rows(gg.data.Dataset):
        def __getitem__(self, i):
            return X[i], int(y[i])

        def __len__(self):
            return len(X)

    steps = [list(range(k, min(k + 16, 90))) for k in range(0, 90, 16)][::-1]
    figures = []
    for dataset in (gg.data.TensorDataset(X, y), Rows()):
        gg.manual_seed(0)
        model = train.build_model(5, [8], 3, dtype=np.float64)
        opt = gg.optim.SGD(model.parameters(), lr=0.1)
        loader = gg.data.DataLoader(dataset, batch_sampler=steps, device="cpu")
        figures.append((train.train_one_epoch(model, opt, loader)[0::2], train.evaluate(model, loader)))
    assert figures[0] == figures[1] and figures[0][0][1] == 90


# --------------------------------------------------------------------------- IDX data through the CLI

IDX_NAMES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def idx_bytes(arr):
    code = {np.uint8: 0x08, np.int32: 0x0C}[arr.dtype.type]
    big = arr.astype(arr.dtype.newbyteorder(">"))
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + big.tobytes()


def make_idx_dataset(folder, n_train=60, n_test=30, side=6, gz=False):
    """A tiny MNIST-format dataset: class k lights up row k of a side x side image."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)

    def split(n):
        labels = rng.integers(0, 3, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, side, side)).astype(np.uint8)
        images[np.arange(n), labels, :] = 255
        return images, labels

    (tri, trl), (tei, tel) = split(n_train), split(n_test)
    for key, arr in (("train_images", tri), ("train_labels", trl), ("test_images", tei), ("test_labels", tel)):
        data = idx_bytes(arr)
        name = IDX_NAMES[key] + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(data) if gz else data)
    return folder


@pytest.mark.parametrize("dataset,gz", [("mnist", False), ("fashion-mnist", True)])
def test_trains_on_idx_files(tmp_path, capsys, dataset, gz):
    data = make_idx_dataset(tmp_path / "data", gz=gz)
    code, out, err = cli(capsys, "--dataset", dataset, "--data-dir", data, "--epochs", 3, "--hidden", 16,
                         "--batch-size", 10, "--lr", 0.01, "--out", tmp_path / "run")
    assert code == 0, err
    m = read_metrics(tmp_path / "run")
    assert m["dataset"] == dataset and m["train_samples"] == 60 and m["test_samples"] == 30
    assert m["model"] == "MLP 36-16-3 relu" and m["final_test_accuracy"] >= 0.9


def break_file(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) - 7])
    elif how == "wrong magic":
        path.write_bytes(b"\x12\x34" + data[2:])
    elif how == "missing":
        path.unlink()


@pytest.mark.parametrize("how,target,words", [
    ("missing", "test_labels", ["no t10k-labels-idx1-ubyte file"]),
    ("truncated", "train_images", ["truncated data", "train-images-idx3-ubyte"]),
    ("truncated", "test_labels", ["truncated", "t10k-labels-idx1-ubyte"]),
    ("wrong magic", "train_labels", ["wrong magic number", "train-labels-idx1-ubyte"]),
])
def test_bad_idx_file(tmp_path, capsys, how, target, words):
    data = make_idx_dataset(tmp_path / "data")
    break_file(data / IDX_NAMES[target], how)
    code, _, err = cli(capsys, "--dataset", "mnist", "--data-dir", data, "--out", tmp_path / "run")
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_image_and_label_counts_differ(tmp_path, capsys):
    data = make_idx_dataset(tmp_path / "data")
    (data / IDX_NAMES["train_labels"]).write_bytes(idx_bytes(np.zeros(59, np.uint8)))
    code, _, err = cli(capsys, "--dataset", "mnist", "--data-dir", data, "--out", tmp_path / "run")
    assert_one_line_error(code, err, "60 images", "59 labels", "must match")


def test_data_folder_problems(tmp_path, capsys):
    code, _, err = cli(capsys, "--dataset", "mnist", "--data-dir", tmp_path / "nowhere", "--out", tmp_path)
    assert_one_line_error(code, err, "does not exist")
    code, _, err = cli(capsys, "--dataset", "mnist", "--out", tmp_path)
    assert_one_line_error(code, err, "no data_dir was given")
    code, _, err = cli(capsys, "--data-dir", tmp_path, "--out", tmp_path)
    assert_one_line_error(code, err, "--data-dir is for")


# --------------------------------------------------------------------------- bad checkpoints through the CLI

def test_resume_from_another_architecture(tmp_path, capsys):
    assert cli(capsys, "--epochs", 1, "--hidden", 16, "--out", tmp_path)[0] == 0
    code, _, err = cli(capsys, "--hidden", 32, "--resume", "--out", tmp_path)
    assert_one_line_error(code, err, "--hidden 16", "32", "checkpoint.npz")
    code, _, err = cli(capsys, "--optimizer", "sgd", "--resume", "--out", tmp_path)
    assert_one_line_error(code, err, "--optimizer adam")


def test_resume_from_a_checkpoint_whose_arrays_do_not_fit(tmp_path, capsys):
    """A checkpoint written for one architecture whose metadata claims another: the arrays'
    names and shapes are checked against the model that is built."""
    assert cli(capsys, "--epochs", 1, "--hidden", 16, "--out", tmp_path)[0] == 0
    path = tmp_path / "checkpoint.npz"
    model_state, optim_state, meta = load_checkpoint(path)
    meta["settings"]["hidden"] = [32]
    meta.pop("architecture")
    model = train.build_model(64, [16], 10)
    model.load_state_dict(model_state)
    save_checkpoint(path, model, None, meta)
    code, _, err = cli(capsys, "--resume", "--epochs", 2, "--out", tmp_path)
    assert_one_line_error(code, err, "another architecture", "0.weight (64, 16)", "0.weight (64, 32)")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_resume_from_a_corrupted_checkpoint(tmp_path, capsys, damage):
    assert cli(capsys, "--epochs", 1, "--hidden", 16, "--out", tmp_path)[0] == 0
    path = tmp_path / "checkpoint.npz"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"not a checkpoint at all")
    else:
        for i in range(300, 340):
            data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    code, _, err = cli(capsys, "--resume", "--out", tmp_path)
    assert_one_line_error(code, err, "checkpoint", "corrupt")


def test_resume_without_a_checkpoint(tmp_path, capsys):
    code, _, err = cli(capsys, "--resume", "--out", tmp_path)
    assert_one_line_error(code, err, "no checkpoint")


# --------------------------------------------------------------------------- bad options

@pytest.mark.skipif(CUDA, reason="CUDA is available here")
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_device_cuda_without_cuda(tmp_path, capsys, spec):
    code, _, err = cli(capsys, "--device", spec, "--out", tmp_path)
    assert_one_line_error(code, err, f"--device {spec}", "CUDA is not available")


@pytest.mark.parametrize("argv,words", [
    (["--batch-size", "0"], ["--batch-size", "positive integer, got 0"]),
    (["--batch-size", "-3"], ["--batch-size"]),
    (["--batch-size", "many"], ["--batch-size", "'many'"]),
    (["--epochs", "0"], ["--epochs"]),
    (["--lr", "-1"], ["--lr"]),
    (["--lr", "nan"], ["--lr"]),
    (["--momentum", "1.5"], ["--momentum"]),
    (["--hidden", "64,x"], ["--hidden"]),
    (["--hidden", "0"], ["--hidden"]),
    (["--dataset", "cifar"], ["--dataset", "cifar"]),
    (["--activation", "swish"], ["--activation", "swish"]),
    (["--device", "tpu"], ["--device tpu", "unknown device"]),
    (["--seed", "-1"], ["--seed"]),
    (["--no-such-option"], ["--no-such-option"]),
])
def test_bad_options(tmp_path, capsys, argv, words):
    code, out, err = cli(capsys, *argv, "--out", tmp_path)
    assert_one_line_error(code, err, *words)
    assert out == "" and os.listdir(tmp_path) == []


def test_out_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    code, _, err = cli(capsys, "--epochs", 1, "--out", tmp_path / "taken")
    assert_one_line_error(code, err, "--out", "cannot create the folder")


# --------------------------------------------------------------------------- as a command

def run_module(*argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "gpugrad.train", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_python_m_help():
    res = run_module("--help")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: gpugrad-train")
    for option in ("--dataset", "--data-dir", "--hidden", "--activation", "--batch-size", "--epochs", "--lr",
                   "--optimizer", "--device", "--seed", "--out", "--resume"):
        assert option in res.stdout, option
    assert "--stop-after" not in res.stdout


def test_python_m_bad_batch_size_has_no_traceback(tmp_path):
    res = run_module("--batch-size", "0", "--out", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "gpugrad-train: error: argument --batch-size: must be a positive integer, got 0 (see gpugrad-train --help)"]


def test_console_script_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'gpugrad-train = "gpugrad.train:main"' in text
