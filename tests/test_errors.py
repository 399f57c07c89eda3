"""Bad input gets a clear error: Python's own exception type, with a message that names what was
wrong (the shapes, dtypes, devices, keys or labels involved)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F
from gpugrad.autograd import Op

REPO = Path(__file__).resolve().parents[1]


def randn(*shape, device="cpu", requires_grad=False):
    return gg.randn(*shape, device=device, requires_grad=requires_grad)


def names_all(*parts):
    """A regex matching a message that contains every part (in any order), each escaped."""
    return "".join(f"(?=[\\s\\S]*{re.escape(str(p))})" for p in parts)


def test_names_all_helper():
    assert re.search(names_all("(2, 3)", "(4, 5)"), "x (4, 5) y (2, 3)")
    assert not re.search(names_all("(2, 3)", "(4, 5)"), "x (4, 5) y (2, 4)")


# --------------------------------------------------------------------------- shapes

def test_matmul_shape_mismatch(device):
    a, b = randn(2, 3, device=device), randn(4, 5, device=device)
    with pytest.raises(ValueError, match=names_all("matmul", "(2, 3)", "(4, 5)")):
        a @ b
    with pytest.raises(ValueError, match=names_all("(2, 3)", "(4, 5)")):
        gg.matmul(a, b)


def test_matmul_vector_mismatch(device):
    a, v = randn(2, 3, device=device), randn(4, device=device)
    with pytest.raises(ValueError, match=names_all("(2, 3)", "(4,)")):
        a @ v


def test_linear_input_mismatch(device):
    x, w, b = randn(2, 3, device=device), randn(4, 5, device=device), randn(5, device=device)
    with pytest.raises(ValueError, match=names_all("(2, 3)", "(4, 5)")):
        F.linear(x, w, b)
    layer = nn.Linear(4, 5, device=device)
    with pytest.raises(ValueError, match=names_all("(2, 3)", "(4, 5)")):
        layer(x)


def test_linear_bias_mismatch(device):
    x, w, b = randn(2, 4, device=device), randn(4, 5, device=device), randn(3, device=device)
    with pytest.raises(ValueError, match=names_all("(3,)", "(4, 5)")):
        F.linear(x, w, b)


@pytest.mark.parametrize("name,op", [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
])
def test_broadcast_mismatch(device, name, op):
    a, b = randn(2, 3, device=device), randn(4, 5, device=device)
    with pytest.raises(ValueError, match=names_all(name, "(2, 3)", "(4, 5)")):
        op(a, b)
    c = randn(3, 2, device=device, requires_grad=True)
    with pytest.raises(ValueError, match=names_all(name, "(2, 3)", "(3, 2)")):
        op(a, c)


def test_reshape_to_incompatible_shape(device):
    a = randn(2, 3, device=device)
    with pytest.raises(ValueError, match=names_all("reshape", "(2, 3)", "(4, 2)")):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match=names_all("(2, 3)", "(5,)")):
        a.reshape((5,))


# --------------------------------------------------------------------------- backward

def test_second_backward_without_retain_graph(device):
    x = gg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_second_backward_with_retain_graph_accumulates(device):
    x = gg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0, 12.0])
    y.backward()  # the last one may free the graph
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0, 18.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_of_non_scalar_without_grad(device):
    x = randn(3, 4, device=device, requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=re.escape("(3, 4)")):
        y.backward()


def test_backward_with_grad_of_wrong_shape(device):
    x = randn(3, device=device, requires_grad=True)
    y = x * 2.0
    with pytest.raises(ValueError, match=names_all("(4,)", "(3,)")):
        y.backward(gg.ones(4, device=device))
    with pytest.raises(ValueError, match=names_all("(3, 1)", "(3,)")):
        y.backward(gg.ones(3, 1, device=device))
    assert x.grad is None
    y.backward(gg.ones(3, device=device))  # the graph is still intact after the refusals
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_backward_on_tensor_without_grad(device):
    x = randn(3, device=device)
    with pytest.raises(RuntimeError, match="requires? grad"):
        (x * 2.0).sum().backward()
    w = randn(3, device=device, requires_grad=True)
    with gg.no_grad():
        y = (w * 2.0).sum()
    with pytest.raises(RuntimeError, match="requires? grad"):
        y.backward()


# --------------------------------------------------------------------------- class labels

LOSSES = [("cross_entropy", F.cross_entropy), ("hinge_loss", F.hinge_loss)]


@pytest.mark.parametrize("name,loss", LOSSES)
def test_label_out_of_range(device, name, loss):
    scores = randn(2, 3, device=device, requires_grad=True)
    with pytest.raises(ValueError, match=names_all(name, "label 3", "3 classes")):
        loss(scores, gg.tensor([0, 3], device=device))
    with pytest.raises(ValueError, match=names_all(name, "label -1", "3 classes")):
        loss(scores, gg.tensor([-1, 2], device=device))
    with pytest.raises(ValueError, match=names_all("label 7", "3 classes")):
        loss(scores, [7, 0])  # a plain list of labels too


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_cross_entropy_label_out_of_range_other_reductions(device, reduction):
    scores = randn(2, 3, device=device, requires_grad=True)
    with pytest.raises(ValueError, match=names_all("label 3", "3 classes")):
        F.cross_entropy(scores, gg.tensor([0, 3], device=device), reduction=reduction)


@pytest.mark.parametrize("name,loss", LOSSES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_labels(device, name, loss, dtype):
    scores = randn(2, 3, device=device)
    labels = gg.tensor(np.array([0.0, 1.0], dtype=dtype), device=device)
    with pytest.raises(TypeError, match=names_all(name, dtype)):
        loss(scores, labels)


@pytest.mark.parametrize("name,loss", LOSSES)
def test_labels_of_wrong_length(device, name, loss):
    scores = randn(2, 3, device=device)
    with pytest.raises(ValueError, match=names_all(name, "(3,)", "(2, 3)")):
        loss(scores, gg.tensor([0, 1, 2], device=device))
    with pytest.raises(ValueError, match=names_all(name, "(1,)", "(2, 3)")):
        loss(scores, gg.tensor([0], device=device))


# --------------------------------------------------------------------------- data and dtypes

def test_non_numeric_data():
    with pytest.raises(TypeError, match="numeric"):
        gg.tensor(["a", "b"])
    with pytest.raises(TypeError, match=names_all("numeric", "object")):
        gg.tensor([object()])
    with pytest.raises(TypeError, match="numeric"):
        gg.tensor(np.array(["x", "y"]))


def test_ragged_lists():
    with pytest.raises(ValueError, match="rectangular"):
        gg.tensor([[1.0, 2.0], [3.0]])


def test_requires_grad_on_integer_tensor(device):
    with pytest.raises(TypeError, match="int64"):
        gg.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(TypeError, match="int32"):
        gg.tensor(np.arange(3, dtype=np.int32), device=device, requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        gg.zeros(3, dtype=gg.int64, device=device, requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        gg.tensor([1, 2], device=device).requires_grad_()
    with pytest.raises(TypeError, match="bool"):
        gg.tensor([True, False], device=device, requires_grad=True)


# --------------------------------------------------------------------------- devices

@pytest.mark.gpu
@pytest.mark.skipif(not gg.cuda_available(), reason="no CUDA")
def test_mixing_devices_in_one_op():
    a = gg.randn(3, device="cpu")
    b = gg.randn(3, device="cuda")
    for op in (lambda: a + b, lambda: b * a, lambda: a - b):
        with pytest.raises(RuntimeError, match=names_all("cpu", "cuda:0")):
            op()
    m, n = gg.randn(2, 3, device="cpu"), gg.randn(3, 2, device="cuda")
    with pytest.raises(RuntimeError, match=names_all("cpu", "cuda:0")):
        m @ n
    layer = nn.Linear(3, 2, device="cuda")
    with pytest.raises(RuntimeError, match=names_all("cpu", "cuda:0")):
        layer(m)
    with pytest.raises(RuntimeError, match=names_all("cpu", "cuda:0")):
        gg.randn(3, device="cuda", requires_grad=True).sum().backward(gg.ones((), device="cpu"))


@pytest.mark.skipif(gg.cuda_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda():
    for make in (lambda: gg.tensor([1.0], device="cuda"),
                 lambda: gg.zeros(2, device="cuda"),
                 lambda: gg.tensor([1.0]).to("cuda"),
                 lambda: nn.Linear(2, 2).to("cuda")):
        with pytest.raises(RuntimeError, match="CUDA is not available") as info:
            make()
        msg = str(info.value)
        assert "cuda" in msg.split("CUDA is not available")[0]  # names the device asked for
        why = msg.split("CUDA is not available", 1)[1].strip(" :")
        assert len(why) > 10  # and says why
        assert gg.backend.cuda_unavailable_reason() in msg


def test_bad_device_string(device):
    with pytest.raises(ValueError, match="tpu"):
        gg.tensor([1.0], device="tpu")
    with pytest.raises(ValueError, match="tpu"):
        gg.zeros(2, device="tpu")
    with pytest.raises(ValueError, match="tpu"):
        gg.tensor([1.0], device=device).to("tpu")
    with pytest.raises(ValueError, match="cuda:x"):
        gg.zeros(2, device="cuda:x")


# --------------------------------------------------------------------------- subprocesses

def _env(path_first=None, **changes):
    """os.environ without GPUGRAD_DEVICE, with this checkout (and ``path_first`` before it)
    at the front of PYTHONPATH, then ``changes``."""
    env = dict(os.environ)
    env.pop("GPUGRAD_DEVICE", None)
    paths = ([str(path_first)] if path_first else []) + [str(REPO)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(changes)
    return env


def _run(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, cwd=str(REPO))


def test_bad_gpugrad_device_env():
    res = _run("import gpugrad as gg; gg.zeros(2)", _env(GPUGRAD_DEVICE="bogus"))
    assert res.returncode != 0
    assert "GPUGRAD_DEVICE" in res.stderr
    assert "bogus" in res.stderr
    assert "ValueError" in res.stderr


@pytest.fixture
def no_cupy(tmp_path):
    """A directory that, put first on sys.path, makes `import cupy` fail as if not installed."""
    pkg = tmp_path / "cupy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('No module named cupy (blocked by the test)')\n")
    return tmp_path


def test_import_without_cupy_prints_nothing(no_cupy):
    res = _run("import gpugrad", _env(path_first=no_cupy))
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert res.stderr == ""


def test_without_cupy_auto_device_is_cpu_quietly(no_cupy):
    code = ("import gpugrad as gg\n"
            "assert not gg.cuda_available()\n"
            "t = gg.zeros(2)\n"
            "assert str(t.device) == 'cpu', t.device\n"
            "assert float((gg.ones(3) * 2.0).sum().item()) == 6.0\n")
    res = _run(code, _env(path_first=no_cupy, GPUGRAD_DEVICE="auto"))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "" and res.stderr == ""


def test_without_cupy_asking_for_cuda_says_why(no_cupy):
    code = ("import gpugrad as gg\n"
            "try:\n"
            "    gg.zeros(2, device='cuda')\n"
            "except RuntimeError as e:\n"
            "    print(e)\n")
    res = _run(code, _env(path_first=no_cupy))
    assert res.returncode == 0, res.stderr
    assert "CUDA is not available" in res.stdout
    assert "CuPy is not installed" in res.stdout

    res = _run("import gpugrad as gg; gg.zeros(2)", _env(path_first=no_cupy, GPUGRAD_DEVICE="cuda"))
    assert res.returncode != 0
    assert "CUDA is not available" in res.stderr and "CuPy" in res.stderr


# --------------------------------------------------------------------------- state dicts

def _model(device):
    gg.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3, device=device), nn.ReLU(), nn.Linear(3, 1, device=device))


def _snapshot(model):
    return {k: p.numpy().copy() for k, p in model.named_parameters()}


def _assert_unchanged(model, before):
    after = _snapshot(model)
    assert after.keys() == before.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_load_state_dict_wrong_shape_changes_nothing(device):
    model = _model(device)
    assert [k for k, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    before = _snapshot(model)
    sd = {k: np.full(v.shape, 7.0, dtype=np.float32) for k, v in before.items()}
    sd["2.weight"] = np.zeros((1, 3), dtype=np.float32)  # transposed: (3, 1) in the model
    with pytest.raises(ValueError, match=names_all("2.weight", "(1, 3)", "(3, 1)")):
        model.load_state_dict(sd)
    _assert_unchanged(model, before)  # 0.weight and 0.bias, checked before the bad key, too

    sd["2.weight"] = np.zeros((3, 1), dtype=np.float32)
    sd["2.bias"] = np.zeros((2,), dtype=np.float32)
    with pytest.raises(ValueError, match=names_all("2.bias", "(2,)", "(1,)")):
        model.load_state_dict(sd)
    _assert_unchanged(model, before)

    sd["2.bias"] = np.zeros((1,), dtype=np.float32)
    model.load_state_dict(sd)  # now it loads
    np.testing.assert_array_equal(model[0].weight.numpy(), np.full((2, 3), 7.0))


def test_load_state_dict_missing_and_unexpected_keys(device):
    model = _model(device)
    before = _snapshot(model)
    sd = {k: np.zeros(v.shape, dtype=np.float32) for k, v in before.items()}
    del sd["0.bias"]
    with pytest.raises(RuntimeError, match=names_all("missing keys ['0.bias']", "unexpected keys []")):
        model.load_state_dict(sd)
    _assert_unchanged(model, before)

    sd = {k: np.zeros(v.shape, dtype=np.float32) for k, v in before.items()}
    sd["3.weight"] = np.zeros((1, 1), dtype=np.float32)
    with pytest.raises(RuntimeError, match=names_all("missing keys []", "unexpected keys ['3.weight']")):
        model.load_state_dict(sd)
    _assert_unchanged(model, before)


# --------------------------------------------------------------------------- optimizers

@pytest.mark.parametrize("make", [lambda ps: gg.optim.SGD(ps, lr=0.1), lambda ps: gg.optim.Adam(ps)],
                         ids=["SGD", "Adam"])
def test_optimizer_with_no_parameters(make):
    with pytest.raises(ValueError, match="empty"):
        make([])
    with pytest.raises(ValueError, match="empty"):
        make(iter(()))
    with pytest.raises(ValueError, match="empty"):
        make(nn.Sequential(nn.ReLU()).parameters())


# --------------------------------------------------------------------------- gradcheck

def test_gradcheck_needs_float64(device):
    x = gg.randn(3, device=device, requires_grad=True)  # float32
    with pytest.raises(TypeError, match=names_all("float32", "float64")):
        gg.gradcheck(lambda t: t * t, [x])


class _SquareWrongAt12(Op):
    """y = x²; backward is right everywhere except at element (1, 2), where it adds 1."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        gx = 2 * self.x * gy
        gx[1, 2] += 1.0
        return gx


class _Square(Op):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return 2 * self.x * gy


def test_gradcheck_catches_a_wrong_backward(device):
    x = gg.randn(2, 3, dtype=gg.float64, device=device, requires_grad=True)
    y = gg.randn(4, dtype=gg.float64, device=device, requires_grad=True)
    assert gg.gradcheck(lambda t: _Square()(t), [x]) is True
    with pytest.raises(gg.GradcheckError, match=names_all("input 0", "(1, 2)")):
        gg.gradcheck(lambda t: _SquareWrongAt12()(t), [x])
    # the wrong input is the second one: the message says so
    with pytest.raises(gg.GradcheckError, match=names_all("input 1", "(1, 2)")):
        gg.gradcheck(lambda u, t: _Square()(u).sum() + _SquareWrongAt12()(t).sum(), [y, x])
    assert x.grad is None  # gradcheck leaves the caller's tensors alone
