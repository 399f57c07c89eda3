"""Issue 12 through ``gpugrad-train``: every bad option, data file and checkpoint ends with one
``gpugrad-train: error:`` line and status 2; a loss that is no longer finite stops the run with
status 1 before its checkpoint is written; a failed write and Ctrl-C say truthfully what is kept."""
import errno
import json
import os

import numpy as np
import pytest

import gpugrad.checkpoint as checkpoint_module
from gpugrad import data, train
from gpugrad.checkpoint import META_KEY, load_checkpoint, read_arrays
from test_train import IDX_NAMES, assert_one_line_error, cli, idx_bytes, make_idx_dataset

SMALL = ("--epochs", 1, "--hidden", 16, "--device", "cpu")


def one_error_line(code, err, status, *words):
    """Like assert_one_line_error, for any exit status."""
    assert code == status, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("gpugrad-train: error: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# --------------------------------------------------------------------------- options

@pytest.mark.parametrize("value", [",", " ", "", "32,,16", "16,", ",16", "abc", "16,x", "0", "-4", "1.5"])
def test_bad_hidden_is_refused_not_read_as_a_linear_model(tmp_path, capsys, value):
    code, out, err = cli(capsys, "--hidden", value, "--out", tmp_path)
    assert_one_line_error(code, err, "--hidden")
    assert out == "" and os.listdir(tmp_path) == []


def test_hidden_spellings_that_are_valid():
    parse = train.build_parser().parse_args
    assert parse(["--hidden", "none"]).hidden == []
    assert parse(["--hidden", " NONE "]).hidden == []
    assert parse(["--hidden", "16, 8"]).hidden == [16, 8]
    assert parse(["--hidden", "32"]).hidden == [32]


def test_a_model_too_large_for_memory_is_a_usage_error(tmp_path, capsys):
    code, _, err = cli(capsys, "--hidden", 10**9, "--epochs", 1, "--device", "cpu", "--out", tmp_path)
    line = assert_one_line_error(code, err, "--hidden 1000000000", "parameters", "GiB")
    assert "more than this machine's" in line


def test_an_allocation_that_fails_is_a_usage_error(tmp_path, capsys, monkeypatch):
    """Where the size check cannot see the failure coming (a GPU, NumPy's own limits), the
    allocation's MemoryError or ValueError is reported as one line, status 2."""
    for exc in (MemoryError("Unable to allocate 4.00 TiB for an array"), ValueError("array is too big")):
        def build(*a, exc=exc, **k):
            raise exc
        monkeypatch.setattr(train.loop, "build_model", build)
        code, _, err = cli(capsys, *SMALL, "--out", tmp_path)
        assert_one_line_error(code, err, "--hidden 16", "cannot be allocated on cpu", str(exc))


@pytest.mark.parametrize("argv, whose", [
    (["--momentum", "0.5"], "(the default)"),
    (["--momentum", "0.5", "--optimizer", "adam"], "--optimizer adam:"),
])
def test_momentum_with_adam_is_refused_naming_both_flags(tmp_path, capsys, argv, whose):
    code, _, err = cli(capsys, *argv, "--out", tmp_path)
    assert_one_line_error(code, err, "--momentum is for --optimizer sgd", "--optimizer adam", whose)
    assert os.listdir(tmp_path) == []


def test_momentum_with_a_resumed_adam_run_is_refused(tmp_path, capsys):
    assert cli(capsys, *SMALL, "--out", tmp_path)[0] == 0
    code, _, err = cli(capsys, "--resume", "--epochs", 2, "--momentum", "0.5", "--out", tmp_path)
    assert_one_line_error(code, err, "--momentum is for --optimizer sgd", "adam (the checkpoint's)")
    code, _, err = cli(capsys, *SMALL, "--optimizer", "sgd", "--momentum", "0.5", "--out", tmp_path / "sgd")
    assert code == 0, err


@pytest.mark.parametrize("argv, words", [
    (["--seed", str(2**64)], ["--seed", "[0, 2**64)"]),
    (["--seed", "1.5"], ["--seed", "'1.5'"]),
    (["--lr", "inf"], ["--lr", "finite"]),
    (["--lr", "0"], ["--lr", "> 0"]),
    (["--epochs", "-1"], ["--epochs", "positive integer"]),
    (["--batch-size", "2.5"], ["--batch-size", "'2.5'"]),
    (["--momentum", "-0.1"], ["--momentum", "[0, 1)"]),
    (["--momentum", "nan"], ["--momentum"]),
    (["--stop-after", "0"], ["--stop-after", "positive integer"]),
])
def test_every_numeric_flag_has_a_range(tmp_path, capsys, argv, words):
    code, _, err = cli(capsys, *argv, "--out", tmp_path)
    assert_one_line_error(code, err, *words)


def test_the_largest_seed_is_accepted():
    assert train.build_parser().parse_args(["--seed", str(2**64 - 1)]).seed == 2**64 - 1


# --------------------------------------------------------------------------- data files

def test_training_labels_outside_the_classes_make_no_model(tmp_path, capsys):
    folder = make_idx_dataset(tmp_path / "data")
    path = folder / IDX_NAMES["train_labels"]
    path.write_bytes(idx_bytes(np.full(60, 200, np.uint8)))
    code, _, err = cli(capsys, "--dataset", "mnist", "--data-dir", folder, "--out", tmp_path / "run")
    assert_one_line_error(code, err, str(path), "label 200", "at index 0", "60 such labels", "0 to 9")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*label 200"):
        data.load_idx_dataset(folder, "mnist")


def test_negative_labels_and_a_test_label_past_the_classes(tmp_path, capsys):
    folder = make_idx_dataset(tmp_path / "data")
    labels = np.zeros(30, np.int32)
    labels[7] = -1
    (folder / IDX_NAMES["test_labels"]).write_bytes(idx_bytes(labels))
    code, _, err = cli(capsys, "--dataset", "mnist", "--data-dir", folder, "--out", tmp_path / "run")
    assert_one_line_error(code, err, "t10k-labels-idx1-ubyte", "label -1", "at index 7", "0 to 9")
    labels[7] = 10
    (folder / IDX_NAMES["test_labels"]).write_bytes(idx_bytes(labels))
    code, _, err = cli(capsys, "--dataset", "mnist", "--data-dir", folder, "--out", tmp_path / "run")
    assert_one_line_error(code, err, "t10k-labels-idx1-ubyte", "label 10")


def test_a_test_label_no_training_label_has(tmp_path, capsys):
    folder = make_idx_dataset(tmp_path / "data")   # labels 0, 1, 2
    labels = np.zeros(30, np.uint8)
    labels[3] = 7
    (folder / IDX_NAMES["test_labels"]).write_bytes(idx_bytes(labels))
    code, _, err = cli(capsys, "--dataset", "mnist", "--data-dir", folder, "--out", tmp_path / "run")
    assert_one_line_error(code, err, "test labels hold 7", "training labels are 0, 1, 2")


@pytest.mark.parametrize("target", ["train", "test"])
def test_an_idx_file_of_zero_images(tmp_path, capsys, target):
    folder = make_idx_dataset(tmp_path / "data")
    (folder / IDX_NAMES[f"{target}_images"]).write_bytes(idx_bytes(np.zeros((0, 6, 6), np.uint8)))
    (folder / IDX_NAMES[f"{target}_labels"]).write_bytes(idx_bytes(np.zeros(0, np.uint8)))
    code, _, err = cli(capsys, "--dataset", "mnist", "--data-dir", folder, "--out", tmp_path / "run")
    assert_one_line_error(code, err, IDX_NAMES[f"{target}_images"], "holds no images", "(0, 6, 6)")
    with pytest.raises(ValueError, match="holds no images"):
        data.load_idx_dataset(folder, "mnist")


@pytest.mark.parametrize("how, words", [
    ("type code", ["unknown data type code 0x07"]),
    ("float images", ["should hold unsigned-byte images", "float32"]),
    ("zero pixels", ["holds no images", "(60, 0, 6)"]),
    ("header only", ["truncated data"]),
    ("empty file", ["truncated header"]),
])
def test_malformed_image_files(tmp_path, capsys, how, words):
    folder = make_idx_dataset(tmp_path / "data")
    path = folder / IDX_NAMES["train_images"]
    raw = path.read_bytes()
    if how == "type code":
        raw = raw[:2] + b"\x07" + raw[3:]
    elif how == "float images":
        raw = bytes([0, 0, 0x0D, 3]) + np.array([60, 6, 6], ">u4").tobytes() + np.zeros((60, 6, 6), ">f4").tobytes()
    elif how == "zero pixels":
        raw = bytes([0, 0, 0x08, 3]) + np.array([60, 0, 6], ">u4").tobytes()
    elif how == "header only":
        raw = raw[:16]
    else:
        raw = b""
    path.write_bytes(raw)
    code, _, err = cli(capsys, "--dataset", "mnist", "--data-dir", folder, "--out", tmp_path / "run")
    assert_one_line_error(code, err, str(path), *words)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        data.load_idx_dataset(folder, "mnist")


# --------------------------------------------------------------------------- hand-edited checkpoints

def edit_checkpoint(path, edit_header=None, edit_arrays=None):
    """Rewrite a checkpoint's JSON header and/or arrays as a hand with an editor would."""
    arrays = read_arrays(str(path))
    header = json.loads(arrays.pop(META_KEY).tobytes().decode())
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    arrays[META_KEY] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture
def finished(tmp_path, capsys):
    """A folder with the checkpoint of a finished 1-epoch run (Adam)."""
    assert cli(capsys, *SMALL, "--out", tmp_path)[0] == 0
    return tmp_path


def _set(*keys, value):
    def edit(tree):
        for key in keys[:-1]:
            tree = tree[key]
        if value is KeyError:
            del tree[keys[-1]]
        else:
            tree[keys[-1]] = value
    return edit


@pytest.mark.parametrize("edit, words", [
    (_set("meta", "epoch", value=-5), ["bad epoch", "-5"]),
    (_set("meta", "epoch", value="1"), ["bad epoch", "'1'"]),
    (_set("meta", "epoch", value=KeyError), ["not written by gpugrad-train"]),
    (_set("meta", "settings", "hidden", value="abc"), ["hidden is 'abc'", "list of positive layer sizes"]),
    (_set("meta", "settings", "hidden", value=[16, 0]), ["hidden is [16, 0]"]),
    (_set("meta", "settings", "lr", value=-1), ["lr is -1", "> 0"]),
    (_set("meta", "settings", "batch_size", value=2.5), ["batch_size is 2.5", "positive integer"]),
    (_set("meta", "settings", "epochs", value=True), ["epochs is True"]),
    (_set("meta", "settings", "momentum", value=3), ["momentum is 3"]),
    (_set("meta", "settings", "optimizer", value="rmsprop"), ["optimizer is 'rmsprop'", "sgd, adam"]),
    (_set("meta", "settings", "activation", value="swish"), ["activation is 'swish'"]),
    (_set("meta", "settings", "dataset", value=7), ["dataset is 7"]),
    (_set("meta", "settings", "seed", value=-1), ["seed is -1"]),
    (_set("meta", "settings", "hidden", value=KeyError), ["settings have no hidden"]),
    (_set("meta", "history", value="x"), ["bad history"]),
    (_set("meta", "history", value=[]), ["bad history", "list of 1"]),
    (_set("meta", "history", 0, "train_loss", value="low"), ["bad history"]),
    (_set("meta", "wall_time_s", value=-3), ["bad wall_time_s", "-3"]),
    (_set("optimizer", "state", "0", "step", value=-3), ["step must be an integer >= 0, got -3", "parameter 0"]),
    (_set("optimizer", "state", "1", "step", value=2.5), ["step must be an integer >= 0, got 2.5"]),
    (_set("optimizer", "param_groups", 0, "lr", value="fast"), ["invalid lr 'fast'"]),
    (_set("optimizer", "param_groups", 0, "betas", value=[0.9, 1.5]), ["invalid betas (0.9, 1.5)"]),
    (_set("optimizer", "param_groups", 0, "eps", value=0), ["invalid eps 0"]),
    (_set("optimizer", "param_groups", 0, "differentiable", value=True), ["differentiable=True is not supported"]),
    (_set("optimizer", "param_groups", 0, "capturable", value="yes"), ["capturable must be True or False"]),
    (_set("optimizer", "param_groups", 0, "params", 0, value=float("inf")), ["malformed optimizer state"]),
    (_set("parameters", 0, 1, 0, value=float("inf")), ["malformed metadata", "'parameters' list"]),
])
def test_hand_edited_metadata_is_refused_naming_the_field(finished, capsys, edit, words):
    path = finished / "checkpoint.npz"
    edit_checkpoint(path, edit_header=edit)
    before = path.read_bytes()
    code, _, err = cli(capsys, "--resume", "--epochs", 2, "--out", finished)
    assert_one_line_error(code, err, "checkpoint.npz", *words)
    assert path.read_bytes() == before


def _array(key, make):
    def edit(arrays):
        arrays[key] = make(arrays[key])
    return edit


def _drop(key):
    return lambda arrays: arrays.pop(key)


def _nan_at(index):
    def make(a):
        a = a.copy()
        a[index] = np.nan
        return a
    return make


@pytest.mark.parametrize("edit, words", [
    (_array("model:0.weight", _nan_at((3, 2))), ["1 non-finite values", "parameter '0.weight'", "(3, 2)",
                                                 "cannot be resumed"]),
    (_array("model:2.bias", lambda a: np.full_like(a, np.inf)), ["10 non-finite values", "parameter '2.bias'"]),
    (_array("optim:1:exp_avg_sq", _nan_at(0)), ["non-finite", "optimizer state 'exp_avg_sq' of parameter 1"]),
    (_array("model:0.weight", lambda a: a.astype(np.float64)), ["'0.weight' has dtype float64",
                                                                "metadata says float32"]),
    (_array("model:0.weight", lambda a: a[:3]), ["'0.weight' has shape (3, 16)", "metadata says (64, 16)"]),
    (_array("optim:0:exp_avg", lambda a: a.astype(np.int32)), ["'exp_avg' of parameter 0 of dtype int32"]),
    (_array("optim:0:exp_avg", lambda a: a[:, :3]), ["exp_avg has shape (64, 3), but (64, 16) is expected"]),
    (_drop("optim:2:exp_avg"), ["state of parameter 2 has no 'exp_avg'"]),
    (_drop("model:2.bias"), ["parameter '2.bias' is listed but missing"]),
])
def test_bad_arrays_in_a_checkpoint_are_refused_naming_them(finished, capsys, edit, words):
    path = finished / "checkpoint.npz"
    edit_checkpoint(path, edit_arrays=edit)
    code, _, err = cli(capsys, "--resume", "--epochs", 2, "--out", finished)
    assert_one_line_error(code, err, "checkpoint.npz", *words)
    with pytest.raises(ValueError):
        model_state, optim_state, _ = load_checkpoint(path)
        model = train.build_model(64, [16], 10)
        opt = train.build_optimizer("adam", model.parameters(), 1e-3, 0.9)
        checkpoint_module.restore(model, opt, model_state, optim_state)


# --------------------------------------------------------------------------- non-finite loss

@pytest.mark.filterwarnings("error")   # the run reports the NaN itself: no NumPy warnings before it
def test_a_diverging_run_stops_naming_epoch_and_step_and_writes_no_checkpoint(tmp_path, capsys):
    code, _, err = cli(capsys, *SMALL, "--optimizer", "sgd", "--lr", "1e30", "--out", tmp_path)
    line = one_error_line(code, err, 1, "epoch 1:", "the training loss became", "at step 2 of 23",
                          "no checkpoint was written")
    assert "nan" in line or "inf" in line
    assert os.listdir(tmp_path) == []


def _poison_weights_in_epoch(monkeypatch, n, before_step=True):
    """Make the weights NaN at the start of epoch ``n`` (a run that diverges there)."""
    real = train.loop.train_one_epoch
    calls = []

    def epoch(model, opt, loader, progress=None, **options):
        calls.append(1)
        if len(calls) == n:
            for p in model.parameters():
                p.data[...] = np.nan
            if not before_step:   # diverged at the very last update: the epoch's loss was finite
                return 1.0, 0.1, loader.num_samples
        return real(model, opt, loader, progress, **options)
    monkeypatch.setattr(train.loop, "train_one_epoch", epoch)


def test_a_run_that_diverges_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    _poison_weights_in_epoch(monkeypatch, 2)
    code, _, err = cli(capsys, "--epochs", 3, "--hidden", 16, "--device", "cpu", "--out", tmp_path)
    one_error_line(code, err, 1, "epoch 2:", "training loss became nan at step 1 of 23",
                   f"the checkpoint of epoch 1 in {tmp_path} is kept")
    model_state, _, meta = load_checkpoint(tmp_path / "checkpoint.npz")   # loads: every value is finite
    assert meta["epoch"] == 1 and all(np.isfinite(v).all() for v in model_state.values())
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs_completed"] == 1


def test_weights_made_non_finite_by_the_last_step_are_caught_by_the_test_loss(tmp_path, capsys, monkeypatch):
    _poison_weights_in_epoch(monkeypatch, 1, before_step=False)
    code, _, err = cli(capsys, *SMALL, "--out", tmp_path)
    one_error_line(code, err, 1, "epoch 1:", "test loss is nan", "no checkpoint was written")
    assert not (tmp_path / "checkpoint.npz").exists()


def test_train_one_epoch_names_the_first_non_finite_step():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    X[25] = np.nan                        # sample 25 is in batch 3 (of 10, no shuffling)
    y = rng.integers(0, 2, 40)
    model = train.build_model(3, [4], 2)
    opt = train.build_optimizer("sgd", model.parameters(), 0.1, 0.0)
    loader = data.DataLoader(X, y, 10)
    with pytest.raises(train.loop.NonFiniteLoss, match="the training loss became nan at step 3 of 4") as info:
        train.train_one_epoch(model, opt, loader)
    assert info.value.step == 3


# --------------------------------------------------------------------------- failed writes and Ctrl-C

@pytest.mark.parametrize("failure", ["full disk", "read-only folder"])
def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, capsys, monkeypatch, failure):
    real_savez, real_mkstemp = np.savez, checkpoint_module.tempfile.mkstemp
    epochs = []

    def savez(f, **arrays):   # the second checkpoint runs out of space half-way
        epochs.append(1)
        if len(epochs) == 2:
            f.write(b"x" * 1000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_savez(f, **arrays)

    def mkstemp(*a, **k):
        if kw := k.get("prefix", "").startswith(".checkpoint.npz"):
            epochs.append(kw)
            if len(epochs) == 2:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_mkstemp(*a, **k)

    if failure == "full disk":
        monkeypatch.setattr(checkpoint_module.np, "savez", savez)
    else:
        monkeypatch.setattr(checkpoint_module.tempfile, "mkstemp", mkstemp)
    first = {}
    real_write = train.report.write_metrics

    def remember(path, doc):   # the checkpoint as it was after epoch 1
        first.setdefault("bytes", (tmp_path / "checkpoint.npz").read_bytes())
        return real_write(path, doc)
    monkeypatch.setattr(train.report, "write_metrics", remember)
    code, _, err = cli(capsys, "--epochs", 3, "--hidden", 16, "--device", "cpu", "--out", tmp_path)
    reason = "No space left on device" if failure == "full disk" else "Permission denied"
    assert_one_line_error(code, err, "cannot write", "checkpoint.npz", reason, "the checkpoint of epoch 1")
    assert (tmp_path / "checkpoint.npz").read_bytes() == first["bytes"]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "metrics.json"]   # no temporary file left
    assert load_checkpoint(tmp_path / "checkpoint.npz")[2]["epoch"] == 1


def _interrupt_in_epoch(monkeypatch, n):
    real = train.loop.train_one_epoch
    calls = []

    def epoch(*a, **k):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(train.loop, "train_one_epoch", epoch)


def test_ctrl_c_before_the_first_checkpoint_says_none_was_written(tmp_path, capsys, monkeypatch):
    _interrupt_in_epoch(monkeypatch, 1)
    code, _, err = cli(capsys, *SMALL, "--out", tmp_path)
    assert code == 130
    assert "interrupted; no epoch of this run finished, so no checkpoint was written" in err
    assert "is kept" not in err and "Traceback" not in err
    assert not (tmp_path / "checkpoint.npz").exists()


def test_ctrl_c_after_a_checkpoint_names_the_epoch_kept(tmp_path, capsys, monkeypatch):
    assert cli(capsys, *SMALL, "--out", tmp_path)[0] == 0
    _interrupt_in_epoch(monkeypatch, 1)   # the first epoch of the resumed run: epoch 2
    code, _, err = cli(capsys, "--resume", "--epochs", 3, "--out", tmp_path)
    assert code == 130 and f"interrupted; the checkpoint of epoch 1 in {tmp_path} is kept" in err
    monkeypatch.undo()
    _interrupt_in_epoch(monkeypatch, 2)
    code, _, err = cli(capsys, "--resume", "--epochs", 3, "--out", tmp_path)
    assert code == 130 and "the checkpoint of epoch 2 " in err


def test_ctrl_c_while_setting_up(tmp_path, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(train.cli, "load_data", interrupted)
    code, _, err = cli(capsys, *SMALL, "--out", tmp_path)
    assert code == 130 and "interrupted; no epoch of this run finished" in err


def test_a_diverging_data_parallel_run_ends_every_rank_with_one_line(tmp_path):
    """Under mpiexec the loss is checked after it is summed over the ranks, so every rank stops
    at the same point: one line from rank 0, status 1, no rank left waiting."""
    pytest.importorskip("mpi4py", reason="needs mpi4py: pip install 'gpugrad[mpi]'")
    from test_distributed_mpi import MPIEXEC, train_in
    if not os.path.exists(MPIEXEC):
        pytest.skip("needs mpiexec: pip install 'gpugrad[mpi]' (MPICH wheel)")
    code, out, err, _ = train_in(tmp_path, 2, *SMALL, "--optimizer", "sgd", "--lr", "1e30", "--out", "run")
    one_error_line(code, err, 1, "epoch 1:", "the training loss became", "no checkpoint was written")
    assert not (tmp_path / "run" / "checkpoint.npz").exists()
