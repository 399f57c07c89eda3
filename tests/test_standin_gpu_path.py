"""gpugrad's GPU path end to end on the CPU stand-in for CuPy (tests/fake_cupy).

tests/test_kernels_dispatch.py runs this file in a subprocess with the stand-in first on the
path; a plain run skips it. The stand-in notices what a first run on a real GPU would: a host
synchronisation, a float64 temporary, data on the wrong GPU, a generator that refuses a dtype,
an error mistaken for out-of-memory, a repeated device query. (The arithmetic itself is NumPy
here; `pytest -m gpu` on a device checks the GPU's.)
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad import backend
from gpugrad.data import DataLoader
from gpugrad.train import build_model, train_step

cupy = pytest.importorskip("cupy")
pytestmark = [pytest.mark.standin,
              pytest.mark.skipif(not getattr(cupy, "IS_STAND_IN", False),
                                 reason="runs under the CuPy stand-in (tests/test_kernels_dispatch.py)")]
if getattr(cupy, "IS_STAND_IN", False):
    import cupyx
    from cupy import _standin
    from cupy.cuda.memory import OutOfMemoryError
    from cupy.cuda.runtime import CUDARuntimeError

ROOT = Path(__file__).resolve().parent.parent


def _model(device="cuda", activation="relu", sizes=(20, 32, 16, 5)):
    gg.manual_seed(0)
    return build_model(sizes[0], list(sizes[1:-1]), sizes[-1], activation, device=device)


def _optimizer(model, name):
    return (gg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
            if name == "sgd" else gg.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4))


def _batch(n=64, features=20, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, classes, n)


def _float64_lines():
    return sorted({where for _, _, where in _standin.allocations_of("float64")})


# ------------------------------------------------------------------ float64 temporaries (item 5)

@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_float32_training_step_creates_no_float64_array(optimizer, activation):
    model = _model(activation=activation)
    opt = _optimizer(model, optimizer)
    xb, yb = _batch()
    x, y = gg.tensor(xb, device="cuda"), gg.tensor(yb, device="cuda")
    _standin.reset_stats()
    for _ in range(2):
        loss = train_step(model, opt, x, y)
    assert loss.dtype == np.float32
    assert _standin.STATS["allocations"], "the stand-in saw no allocation at all"
    assert _float64_lines() == []


BACKWARDS = {
    "maximum": lambda a, b: gg.maximum(a, b),
    "minimum": lambda a, b: gg.minimum(a, b),
    "maximum with a number": lambda a, b: gg.maximum(a, 0.0),
    "max over an axis": lambda a, b: a.max(axis=1),
    "min of all": lambda a, b: a.min(),
    "pow, number base": lambda a, b: 2.0 ** a,
    "pow, tensor base": lambda a, b: a.abs() ** b,
    "pow, number exponent": lambda a, b: a ** 3,
    "div": lambda a, b: a / (b.abs() + 1),
    "mean": lambda a, b: a.mean(axis=0),
    "exp log sqrt": lambda a, b: (a.exp() + 1).log().sqrt(),
    "clip": lambda a, b: a.clip(-0.5, 0.5),
    "softmax": lambda a, b: a.softmax(axis=1),
    "log_softmax": lambda a, b: a.log_softmax(axis=1),
    "mse_loss": lambda a, b: F.mse_loss(a, b),
    "hinge_loss": lambda a, b: F.hinge_loss(a, gg.tensor([0, 1, 2, 0], device="cuda")),
    "cross_entropy sum": lambda a, b: F.cross_entropy(a, gg.tensor([0, 1, 2, 0], device="cuda"),
                                                      reduction="sum"),
    "getitem": lambda a, b: a[gg.tensor([0, 2, 2], device="cuda")],
    "concatenate": lambda a, b: gg.concatenate([a, b], axis=1),
}


@pytest.mark.parametrize("name", list(BACKWARDS))
def test_float32_backward_of_each_op_creates_no_float64_array(name):
    rng = np.random.default_rng(1)
    a, b = (gg.tensor(rng.standard_normal((4, 3)).astype(np.float32), device="cuda",
                      requires_grad=True) for _ in range(2))
    a.array[0, 0] = b.array[0, 0]                  # a tie, for maximum / minimum
    out = BACKWARDS[name](a, b)
    _standin.reset_stats()
    out.sum().backward()
    assert a.grad.dtype == np.float32
    assert _float64_lines() == []


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_a_recurrent_layer_runs_on_the_gpu_path_without_host_reads_or_float64(kind):
    """The whole-sequence ops (matmuls into preallocated steps, the fused cells) on the GPU path
    give the CPU's outputs and gradients, with no host read and no float64 temporary."""
    rng = np.random.default_rng(2)
    gg.manual_seed(0)
    cpu = getattr(gg.nn, kind)(5, 4, num_layers=2, bidirectional=True, device="cpu")
    gpu = getattr(gg.nn, kind)(5, 4, num_layers=2, bidirectional=True, device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    xb = rng.standard_normal((6, 3, 5)).astype(np.float32)
    results = []
    for layer, device in ((cpu, "cpu"), (gpu, "cuda")):
        x = gg.tensor(xb, device=device, requires_grad=True)
        _standin.reset_stats()
        with cupyx.allow_synchronize(False):
            out, state = layer(x)
            final = state[0] if kind == "LSTM" else state
            (out.sum() + (final * final).sum()).backward()
        if device == "cuda":
            assert _standin.STATS["syncs"] == [] and _float64_lines() == []
        results.append([out.numpy(), x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ host syncs (items 4, 9)

def _labels(yb, how):
    """Labels on the GPU, made the ways a training script makes them."""
    if how == "tensor":
        return gg.tensor(yb, device="cuda")
    if how == "to":
        return gg.tensor(yb).to("cuda")
    if how == "astype":
        return gg.tensor(yb.astype(np.int32)).to("cuda").astype(np.int64)
    if how == "getitem":
        return gg.tensor(np.concatenate([yb, yb])).to("cuda")[: len(yb)]
    if how == "long":
        return gg.tensor(yb.astype(np.int32), device="cuda").long()
    raise ValueError(how)


@pytest.mark.parametrize("how", ["tensor", "to", "astype", "getitem", "long"])
def test_training_step_never_synchronises_with_the_host(how):
    model = _model()
    opt = _optimizer(model, "adam")
    xb, yb = _batch()
    x, y = gg.tensor(xb, device="cuda"), _labels(yb, how)
    train_step(model, opt, x, y)
    _standin.reset_stats()
    with cupyx.allow_synchronize(False):
        for _ in range(2):
            loss = train_step(model, opt, x, y)
    assert _standin.STATS["syncs"] == []
    assert np.isfinite(loss.item())


class _Rows(gg.data.Dataset):
    """A map-style dataset read sample by sample (the DataLoader's generic path)."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __getitem__(self, i):
        return self.X[i], int(self.y[i])

    def __len__(self):
        return len(self.X)


def _loader_of(kind, xb, yb, **options):
    if kind == "arrays":
        return DataLoader(xb, yb, **options)
    if kind == "subset":
        return DataLoader(gg.data.Subset(gg.data.TensorDataset(xb, yb), np.arange(len(yb))[::-1]), **options)
    return DataLoader(_Rows(xb, yb), **options)


@pytest.mark.parametrize("kind", ["arrays", "subset", "map_style"])
def test_a_dataloader_epoch_never_synchronises_until_the_loss_is_read(kind):
    from gpugrad.train import evaluate, train_one_epoch
    model = _model()
    opt = _optimizer(model, "sgd")
    xb, yb = _batch(200)
    loader = _loader_of(kind, xb, yb, batch_size=32, shuffle=True, seed=0, device="cuda")
    assert isinstance(loader.preload, bool) and loader.preload is (kind != "map_style")
    _standin.reset_stats()
    mean_loss, _, seen = train_one_epoch(model, opt, loader)
    # one synchronize to time the epoch, one read of the summed loss
    assert _standin.STATS["syncs"] == ["Device.synchronize", "ndarray.get"]
    assert seen == 200 and np.isfinite(mean_loss)
    _standin.reset_stats()
    loss, accuracy = evaluate(model, loader)
    assert _standin.STATS["syncs"] == ["ndarray.get", "ndarray.get"]   # the two results
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    assert _float64_lines() == []


@pytest.mark.parametrize("kind", ["arrays", "subset", "map_style"])
def test_dataloader_batches_live_on_the_loaders_gpu(kind):
    xb, yb = _batch(50)
    loader = _loader_of(kind, xb, yb, batch_size=16, shuffle=True, seed=0, device="cuda:1")
    seen = []
    for x, y in loader:
        assert x.device == y.device == backend.resolve_device("cuda:1")
        assert x.array.device.id == y.array.device.id == 1
        assert y.value_bounds is not None                   # the loss checks labels without a read
        seen.append(y.numpy())
    order = loader.indices(0) if kind != "subset" else np.arange(50)[::-1][loader.indices(0)]
    np.testing.assert_array_equal(np.concatenate(seen), yb[order])


def test_labels_with_unknown_or_loose_bounds_are_read_and_checked():
    logits = gg.randn(4, 3, device="cuda")
    computed = gg.tensor(cupy.asarray([0, 1, 2, 3]))          # made on the device: no bounds
    with pytest.raises(ValueError, match="class label 3 is out of range for 3 classes"):
        F.cross_entropy(logits, computed)
    assert "ndarray.item" in _standin.STATS["syncs"] or "int(ndarray)" in _standin.STATS["syncs"]
    loose = gg.tensor([0, 1, 2, 0, 9]).to("cuda")[:4]          # bounds (0, 9), values in [0, 2]
    assert loose.value_bounds == (0, 9)
    assert np.isfinite(F.cross_entropy(logits, loose).item())


@pytest.mark.parametrize("read", [bool, int, float, lambda a: a.item(), lambda a: a.tolist(),
                                  repr, lambda a: a.get()])
def test_the_stand_in_sees_every_host_read(read):
    a = cupy.ones((), dtype=np.float32)
    with cupyx.allow_synchronize(False), pytest.raises(cupyx.DeviceSynchronized):
        read(a)
    v = cupy.arange(3)
    with cupyx.allow_synchronize(False):                      # shape reads are not syncs
        assert len(v) == 3 and [x.shape for x in v] == [(), (), ()]


# ------------------------------------------------------------------ errors (items 3, 9)

class _Raises(gg.autograd.Op):
    def __init__(self, exc):
        self.exc = exc

    def forward(self, x):
        raise self.exc


def test_an_illegal_address_is_not_called_out_of_memory():
    x = gg.randn(3, device="cuda")
    illegal = CUDARuntimeError(700)
    assert "memory" in str(illegal)              # "an illegal memory access was encountered"
    assert not backend.is_out_of_memory(illegal)
    assert backend.is_out_of_memory(CUDARuntimeError(2))
    assert backend.is_out_of_memory(OutOfMemoryError(1 << 30, 0))
    with pytest.raises(CUDARuntimeError, match="cudaErrorIllegalAddress"):
        _Raises(CUDARuntimeError(700))(x)


def test_an_error_inside_an_op_keeps_its_type_and_message():
    a, b = gg.randn(2, 3, device="cuda"), gg.randn(4, 5, device="cuda")
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"):
        a @ b
    with pytest.raises(KeyError):
        _Raises(KeyError("x"))(a)


@pytest.fixture
def device_memory():
    """Sets the stand-in GPUs' memory for one test (back to the default afterwards)."""
    yield _standin.set_device_memory
    _standin.set_device_memory(_standin.DEVICE_MEMORY)


def test_out_of_memory_leaves_model_and_optimizer_unchanged(device_memory):
    model = _model(sizes=(64, 1024, 10))
    opt = _optimizer(model, "adam")
    xb, yb = _batch(128, features=64, classes=10)
    x, y = gg.tensor(xb, device="cuda"), gg.tensor(yb, device="cuda")
    train_step(model, opt, x, y)
    before = [p.numpy().copy() for p in model.parameters()]
    state_before = [{k: v.get() if hasattr(v, "get") else v for k, v in s.items()}
                    for s in opt.state_dict()["state"].values()]
    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    device_memory(pool.used_bytes() + 48 * 2**20)           # 48 MiB to spare
    huge = gg.zeros(16384, 64, device="cuda")                # its hidden layer needs 64 MiB
    with pytest.raises(MemoryError, match=r"^CUDA out of memory on cuda:0 in Linear forward; "
                                          r"tried to allocate 64\.0 MiB; .* Try a smaller batch"):
        train_step(model, opt, huge, gg.zeros(16384, dtype=np.int64, device="cuda"))
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)
    for s, b in zip(opt.state_dict()["state"].values(), state_before):
        for k, v in s.items():
            np.testing.assert_array_equal(v.get() if hasattr(v, "get") else v, b[k])
    assert np.isfinite(train_step(model, opt, x, y).item())   # and training goes on


def test_out_of_memory_reports_the_pool_s_cached_bytes_and_frees_them(device_memory):
    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    device_memory(pool.used_bytes() + 160 * 2**20)
    logits = gg.randn(16384, 1024, device="cuda")            # 64 MiB
    # log_softmax makes x - max (64 MiB), then exp of it (64 MiB more: 32 MiB short); the first
    # temporary goes back to the pool's cache as the error unwinds
    with pytest.raises(MemoryError) as info:
        F.log_softmax(logits, axis=1)
    message = str(info.value)
    assert re.fullmatch(r"CUDA out of memory on cuda:0 in LogSoftmax forward; tried to allocate "
                        r"64\.0 MiB; [\d.]+ MiB held by live arrays; 64\.0 MiB cached by CuPy's "
                        r"memory pool \(now released to the device\); ([\d.]+) MiB free of [\d.]+ "
                        r"MiB on the device\. Try a smaller batch size \(or a smaller model\); the "
                        r"model and optimizer state are unchanged\.", message), message
    assert pool.free_bytes() == 0                            # the cache went back to the device
    free = float(re.search(r"([\d.]+) MiB free", message).group(1))
    assert free >= 64.0                                      # and counts as free there
    del info
    assert F.log_softmax(logits[:8192], axis=1).shape == (8192, 1024)   # a smaller retry fits


# ------------------------------------------------------------------ dtypes and devices (6, 7, 8)

@pytest.mark.parametrize("factory", [gg.randn, gg.rand])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_random_factories_make_every_float_dtype_on_the_gpu(factory, dtype):
    t = factory(1000, dtype=dtype, device="cuda")
    assert t.dtype == dtype and t.device == "cuda:0"
    values = t.numpy().astype(np.float64)
    assert np.isfinite(values).all() and values.std() > 0.1


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_rand_in_float16_stays_below_one(device):
    gg.manual_seed(0)
    values = gg.rand(200_000, dtype=np.float16, device=device).numpy()
    assert values.min() >= 0 and values.max() < 1       # float32 draws near 1 round up to 1


def test_a_tensor_on_cuda_1_has_its_data_on_gpu_1():
    x0 = gg.randn(8, 4, device="cuda:0")
    x1 = x0.to("cuda:1")
    assert x1.device == "cuda:1" and x1.array.device.id == 1
    assert x1.to("cuda:0").array.device.id == 0
    assert gg.tensor(np.ones(3), device="cuda:1").array.device.id == 1
    assert gg.zeros(3, device="cuda:1").array.device.id == 1
    np.testing.assert_array_equal(x1.numpy(), x0.numpy())


@pytest.mark.parametrize("model_device,current", [("cuda:1", 0), ("cuda:0", 1)])
def test_training_runs_on_the_model_s_gpu_whichever_gpu_is_current(model_device, current):
    model = _model(device=model_device)
    opt = _optimizer(model, "sgd")
    xb, yb = _batch()
    x, y = gg.tensor(xb, device=model_device), gg.tensor(yb, device=model_device)
    with cupy.cuda.Device(current):
        loss = train_step(model, opt, x, y)
        assert loss.array.device.id == int(model_device[-1])
        assert all(p.grad.array.device.id == int(model_device[-1]) for p in model.parameters())


def test_the_device_count_is_asked_once():
    gg.zeros(1, device="cuda")
    _standin.reset_stats()
    for _ in range(20):
        gg.zeros(2, device="cuda")
        gg.randn(2, device="cuda:1")
        gg.tensor([1.0, 2.0], device="cuda").to("cuda:1").to("cpu")
    assert gg.cuda_available() and gg.backend.cuda_device_count() == 2
    assert _standin.STATS["device_count_calls"] == 0


def test_the_stand_in_loads_the_host_harness_from_this_checkout():
    gg.randn(8, device="cuda").relu()          # a RawKernel: the harness gets compiled
    harness = sys.modules["test_kernels_host"]
    assert Path(harness.__file__).resolve().parent == ROOT / "tests"


# ------------------------------------------------------------------ missing CUDA libraries (1)

@pytest.mark.parametrize("missing,named", [("nvrtc", ["NVRTC"]), ("cublas,curand", ["cuBLAS", "cuRAND"])])
def test_cuda_is_unavailable_when_a_cuda_library_cannot_load(missing, named):
    code = ("import gpugrad as gg\n"
            "print(gg.cuda_available())\n"
            "print(gg.backend.cuda_unavailable_reason())\n"
            "try:\n    gg.zeros(2, device='cuda')\nexcept RuntimeError as exc:\n    print(exc)\n")
    env = {**os.environ, "FAKE_CUPY_MISSING": missing}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    available, reason, error = out.stdout.strip().split("\n")
    assert available == "False"
    for lib in named:
        assert lib in reason
    assert "pip install 'gpugrad[cuda12]'" in reason and "ctk" in reason
    assert error.startswith("device 'cuda:0' was asked for, but CUDA is not available") and reason in error


# ------------------------------------------------------------------ multi-tensor optimizer updates

@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_optimizer_step_is_one_launch_per_48_parameters(optimizer):
    """Optimizer.step updates every parameter of a device in multi-tensor launches: one for
    the MLP's 6 parameters, two for 50 (48 + 2); and the result is the per-parameter one."""
    for widths, launches in (((20, 32, 16, 5), 1), ((8,) * 26, 2)):
        models = [_model(sizes=widths), _model(device="cpu", sizes=widths)]
        opts = [_optimizer(m, optimizer) for m in models]
        xb, yb = _batch(features=widths[0], classes=widths[-1])
        for step in range(3):
            for m, opt, device in zip(models, opts, ("cuda", "cpu")):
                _standin.reset_stats()
                train_step(m, opt, gg.tensor(xb, device=device), gg.tensor(yb, device=device))
                if device == "cuda":
                    names = [n for n in _standin.STATS["raw_launches"] if "_step" in n]
                    assert names == [f"{optimizer}_step_multi_f32"] * launches, names
        assert len(list(models[0].parameters())) == 2 * (len(widths) - 1)
        for a, b in zip(models[0].parameters(), models[1].parameters()):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_launch_count_benchmark_reports_the_step():
    """bench.launches counts a step's launches on the stand-in: the multi-tensor SGD step of
    the 784-1024-1024-10 MLP has one optimizer launch and no host sync."""
    from bench import launches
    row = launches.count("sgd", 16, multi_tensor=True)
    assert row["of which optimizer"] == 1 and row["host syncs"] == 0
    assert row["of which matmul"] == 11      # 3 forward, 5 backward, 3 bias sums (ones @ g)
    assert row["total"] == row["gpugrad kernels"] + row["CuPy routines"]
    per_parameter = launches.count("sgd", 16, multi_tensor=False)
    assert per_parameter["of which optimizer"] == 6
    assert per_parameter["total"] == row["total"] + 5
    capturable = launches.count("adam (capturable)", 16, multi_tensor=True)
    assert capturable["of which optimizer"] == 2          # one count, one update: 6 parameters
    assert capturable["total"] == row["total"] + 1 and capturable["host syncs"] == 0
    graphed = launches.count_graphed(16, "adam (capturable)")
    assert graphed["graph launches"] == 1 and graphed["kernels from Python"] == 0
