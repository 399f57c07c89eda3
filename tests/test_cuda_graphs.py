"""Whole-step CUDA graphs (gg.cuda): capture once, replay many times, with results equal to the
eager step's, and a clear error for what a graph cannot hold.

The `standin` tests run under the CuPy stand-in (tests/test_kernels_dispatch.py runs them),
whose capture records each launch, leaves the captured work undone as a GPU does, replays it on
the same memory, and refuses what CUDA and CuPy refuse during a capture; the `gpu` ones run on
a device. The first test needs neither.
"""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad import backend
from gpugrad.train import build_model, train_step

cupy = pytest.importorskip("cupy") if backend.cuda_available() else None
STAND_IN = getattr(cupy, "IS_STAND_IN", False)


def test_a_graph_needs_a_cuda_device():
    with pytest.raises(ValueError, match=r"CUDAGraph: a CUDA graph needs a CUDA device, got cpu"):
        gg.cuda.CUDAGraph(device="cpu")
    with pytest.raises(ValueError, match="CUDA device"):
        gg.cuda.graphed(lambda x: x, (np.zeros(3),), device="cpu")


def cuda_only(test):
    """A `gpu` test: on a device, or on the stand-in; skipped elsewhere."""
    return pytest.mark.gpu(pytest.mark.skipif(
        not backend.cuda_available(), reason=f"needs CUDA: {backend.cuda_unavailable_reason()}")(test))


def _model_and_sgd(momentum=0.9):
    gg.manual_seed(0)
    model = build_model(20, [32, 16], 5, "relu", device="cuda")
    return model, gg.optim.SGD(model.parameters(), lr=0.05, momentum=momentum, weight_decay=1e-4)


def _batches(n, batch=64, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 20)).astype(np.float32), rng.integers(0, 5, batch))
            for _ in range(n)]


@cuda_only
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_graphed_training_equals_eager_over_100_steps(momentum):
    """100 steps of SGD: eager, and one warm-up step then 99 replays of the captured step.
    Losses and weights agree to float32 rounding."""
    batches = _batches(100)
    model, opt = _model_and_sgd(momentum)
    eager = [float(train_step(model, opt, gg.tensor(x, device="cuda"),
                              gg.tensor(y, device="cuda")).numpy()) for x, y in batches]
    model2, opt2 = _model_and_sgd(momentum)
    step = gg.cuda.graphed(lambda x, y: train_step(model2, opt2, x, y), batches[0], warmup=1)
    graphed = [eager[0]] + [float(step(x, y).numpy()) for x, y in batches[1:]]
    np.testing.assert_allclose(graphed, eager, rtol=1e-5)
    for a, b in zip(model.parameters(), model2.parameters()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6)


@cuda_only
def test_capture_by_hand_as_in_pytorch():
    """CUDAGraph + capture() + copy_ into static inputs + replay(): the capture itself runs
    nothing (the weights stay as they were), each replay is one step."""
    batches = _batches(4)
    model, opt = _model_and_sgd()
    ref_model, ref_opt = _model_and_sgd()
    static_x = gg.tensor(batches[0][0], device="cuda")
    static_y = gg.tensor(batches[0][1], device="cuda")
    train_step(model, opt, static_x, static_y)                       # warm up
    train_step(ref_model, ref_opt, static_x, static_y)
    before = [p.numpy().copy() for p in model.parameters()]
    g = gg.cuda.CUDAGraph()
    with gg.cuda.graph(g):
        static_loss = train_step(model, opt, static_x, static_y)
    assert g.captured
    for p, w in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), w)                   # nothing ran
    for x, y in batches[1:]:
        static_x.copy_(gg.tensor(x, device="cuda"))
        static_y.copy_(gg.tensor(y, device="cuda"))
        g.replay()
        ref = train_step(ref_model, ref_opt, gg.tensor(x, device="cuda"), gg.tensor(y, device="cuda"))
        np.testing.assert_allclose(static_loss.numpy(), ref.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="already captured"):
        with g.capture():
            pass


@cuda_only
def test_a_replayed_step_is_one_launch():
    """On the stand-in: a replay is one graph launch; nothing of the step is launched from
    Python (the copies into the static inputs aside)."""
    if not STAND_IN:
        pytest.skip("counts launches on the stand-in")
    from cupy import _standin
    batches = _batches(3)
    model, opt = _model_and_sgd()
    step = gg.cuda.graphed(lambda x, y: train_step(model, opt, x, y), batches[0], warmup=2)
    for x, y in batches[1:]:
        _standin.reset_stats()
        step(x, y)
        assert _standin.STATS["graph_launches"] == 1
        assert _standin.STATS["raw_launches"] == [] and _standin.STATS["ew_launches"] == []
        assert sorted(set(_standin.STATS["lib_launches"])) == ["host->device copy", "setitem"]


@cuda_only
def test_matmuls_inside_a_capture_use_gpugrad_s_cublas_handle():
    if not STAND_IN:
        pytest.skip("reads the stand-in's cuBLAS log")
    import cuda.pathfinder as stand_in_cublas
    model, opt = _model_and_sgd()
    stand_in_cublas.CALLS.clear()
    gg.cuda.graphed(lambda x, y: train_step(model, opt, x, y), _batches(1)[0], warmup=1)
    calls = stand_in_cublas.CALLS
    assert len(calls) == 11 and all(during for *_, during in calls), calls  # 3 + 5 + 3 bias sums
    assert not stand_in_cublas.ERRORS


@cuda_only
def test_input_of_another_shape_is_refused():
    model, opt = _model_and_sgd()
    step = gg.cuda.graphed(lambda x, y: train_step(model, opt, x, y), _batches(1)[0], warmup=1)
    x, y = _batches(1, batch=32)[0]
    with pytest.raises(ValueError, match=r"input 0 has shape \(32, 20\) and dtype float32, but "
                                         r"the graph was captured for shape \(64, 20\)"):
        step(x, y)
    with pytest.raises(TypeError, match="captured with 2 inputs, called with 1"):
        step(x)


@cuda_only
def test_a_host_read_in_the_step_names_the_line():
    model, opt = _model_and_sgd()

    def step(x, y):
        loss = train_step(model, opt, x, y)
        return loss.item()                       # a host read: not in a graph

    with pytest.raises(gg.cuda.GraphCaptureError,
                       match=r"capture failed outside any op, called from .*test_cuda_graphs.py:\d+ in step"):
        gg.cuda.graphed(step, _batches(1)[0], warmup=1)


@cuda_only
@pytest.mark.parametrize("name,kw", [("Adam", dict(lr=1e-3)),
                                     ("AdamW", dict(lr=1e-3, amsgrad=True, weight_decay=0.05))])
def test_graphed_capturable_adam_equals_eager_adam_over_100_steps(name, kw):
    """Adam with capturable=True: its step count lives on the device and the captured kernel
    computes the bias corrections from it, so 99 replays are the eager steps 2..100 of a plain
    Adam (a graph of a plain Adam is refused: it would repeat step 2's corrections)."""
    batches = _batches(100)
    gg.manual_seed(0)
    model = build_model(20, [32, 16], 5, "relu", device="cuda")
    opt = getattr(gg.optim, name)(model.parameters(), **kw)
    eager = [float(train_step(model, opt, gg.tensor(x, device="cuda"),
                              gg.tensor(y, device="cuda")).numpy()) for x, y in batches]
    gg.manual_seed(0)
    model2 = build_model(20, [32, 16], 5, "relu", device="cuda")
    opt2 = getattr(gg.optim, name)(model2.parameters(), **kw, capturable=True)
    step = gg.cuda.graphed(lambda x, y: train_step(model2, opt2, x, y), batches[0], warmup=1)
    graphed = [eager[0]] + [float(step(x, y).numpy()) for x, y in batches[1:]]
    np.testing.assert_allclose(graphed, eager, rtol=1e-5)
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-4, atol=1e-6)
        assert float(np.asarray(cupy.asnumpy(opt2.state[q]["step"]))) == 100.0   # counted at each replay


@cuda_only
def test_an_op_that_cannot_be_captured_is_named():
    """Boolean-mask indexing sizes its result from the device's values: a capture cannot."""
    x0 = np.arange(6, dtype=np.float32) - 2
    with pytest.raises(gg.cuda.GraphCaptureError, match=r"capture failed in \w+"):
        gg.cuda.graphed(lambda x: x[x > 0].sum(), (x0,), warmup=1)


@cuda_only
def test_what_replays_would_repeat_wrongly_is_refused():
    batches = _batches(1)
    gg.manual_seed(0)
    model = build_model(20, [16], 5, "relu", device="cuda")
    adam = gg.optim.Adam(model.parameters(), lr=1e-3)
    with pytest.raises(gg.cuda.GraphCaptureError, match=r"in Adam.*without capturable=True.*bias corrections"):
        gg.cuda.graphed(lambda x, y: train_step(model, adam, x, y), batches[0], warmup=1)
    drop = gg.nn.Sequential(gg.nn.Linear(20, 5), gg.nn.Dropout(0.5)).to("cuda")
    sgd = gg.optim.SGD(drop.parameters(), lr=0.1)
    with pytest.raises(gg.cuda.GraphCaptureError, match="dropout inside a CUDA graph capture"):
        gg.cuda.graphed(lambda x, y: train_step(drop, sgd, x, y), batches[0], warmup=1)
    fresh = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    static = [gg.tensor(a, device="cuda") for a in batches[0]]
    with pytest.raises(gg.cuda.GraphCaptureError, match="before its first step"):
        with gg.cuda.CUDAGraph().capture():
            train_step(model, fresh, *static)
    with pytest.raises(ValueError, match="warmup must be at least 1"):
        gg.cuda.graphed(lambda x, y: train_step(model, fresh, x, y), batches[0], warmup=0)




@cuda_only
def test_training_epochs_with_cuda_graph_equal_eager_ones():
    """train_one_epoch(cuda_graph=True): the first batch warms up and captures, full batches
    replay, the short last batch runs eagerly; the epoch's loss and the weights are the eager
    epoch's."""
    from gpugrad.data import DataLoader
    from gpugrad.train import loop
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((300, 20)).astype(np.float32), rng.integers(0, 5, 300)
    results = []
    for graph in (False, True):
        model, opt = _model_and_sgd()
        loader = DataLoader(X, y, 64, shuffle=True, seed=0, device="cuda")
        epochs = []
        for epoch in range(2):
            loader.set_epoch(epoch)
            epochs.append(loop.train_one_epoch(model, opt, loader, cuda_graph=graph)[0])
        results.append((epochs, [p.numpy() for p in model.parameters()]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


@cuda_only
def test_train_cli_cuda_graph_with_the_default_adam_equals_the_eager_run(tmp_path):
    """gpugrad-train --cuda-graph with its default optimizer (Adam, made capturable): the same
    losses and accuracies as the run without it."""
    import json
    from gpugrad.train.cli import main
    runs = []
    for graph, out in ((False, tmp_path / "eager"), (True, tmp_path / "graph")):
        args = ["--dataset", "digits", "--epochs", "2", "--device", "cuda", "--out", str(out)]
        assert main(args + (["--cuda-graph"] if graph else [])) == 0
        runs.append(json.loads((out / "metrics.json").read_text()))
    for a, b in zip(runs[0]["epochs"], runs[1]["epochs"]):
        np.testing.assert_allclose(b["train_loss"], a["train_loss"], rtol=1e-4)
        assert abs(b["test_accuracy"] - a["test_accuracy"]) <= 2 / 360   # a label or two may flip


@pytest.mark.parametrize("options,problem", [
    (["--device", "cpu", "--optimizer", "sgd"], "needs a CUDA device, and this run is on cpu"),
])
def test_train_cli_says_when_cuda_graph_cannot_apply(tmp_path, capsys, options, problem):
    from gpugrad.train.cli import main
    assert main(["--dataset", "digits", "--epochs", "1", "--cuda-graph", "--out", str(tmp_path),
                 *options]) == 2
    assert f"--cuda-graph {problem}" in capsys.readouterr().err


@cuda_only
@pytest.mark.parametrize("options,problem", [
    (["--optimizer", "sgd", "--model", "cnn"], "works with --model mlp"),
])
def test_train_cli_refuses_steps_a_graph_would_replay_wrongly(tmp_path, capsys, options, problem):
    from gpugrad.train.cli import main
    assert main(["--dataset", "digits", "--epochs", "1", "--cuda-graph", "--device", "cuda",
                 "--out", str(tmp_path), *options]) == 2
    assert f"--cuda-graph {problem}" in capsys.readouterr().err
