"""Issue 12 at the library's outer boundary: optimizers' hyper-parameters and state dicts,
layer constructor arguments, and gradcheck's function. Each bad input raises Python's own
exception type with a message naming the class (or function), the argument and the value."""
import copy
import os

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn, optim

OPTIMIZERS = {
    "SGD": (optim.SGD, dict(lr=0.1, momentum=0.9)),
    "Adam": (optim.Adam, dict(lr=0.1)),
    "AdamW": (optim.AdamW, dict(lr=0.1)),
    "Adagrad": (optim.Adagrad, dict(lr=0.1)),
    "RMSprop": (optim.RMSprop, dict(lr=0.1, momentum=0.5, centered=True)),
}


def _params(n=2):
    return [nn.Parameter(np.arange(3 * (i + 1), dtype=np.float32).reshape(i + 1, 3)) for i in range(n)]


def _stepped(name, n=2):
    """An optimizer of ``name`` after one step, and its state dict."""
    cls, kw = OPTIMIZERS[name]
    params = _params(n)
    opt = cls(params, **kw)
    for p in params:
        p.grad = gg.tensor(np.ones(p.shape, np.float32))
    opt.step()
    return opt, opt.state_dict()


# ----------------------------------------------------------------- hyper-parameters

BAD_HYPER = [
    # (optimizer, keyword arguments, exception, words the message must hold)
    (optim.SGD, dict(lr="a"), TypeError, ["SGD", "lr", "'a'", "str"]),
    (optim.SGD, dict(lr=None), TypeError, ["SGD", "lr", "None"]),
    (optim.SGD, dict(lr=True), TypeError, ["SGD", "lr", "bool"]),
    (optim.SGD, dict(lr=-0.1), ValueError, ["SGD", "lr", "-0.1", ">= 0"]),
    (optim.SGD, dict(lr=float("nan")), ValueError, ["SGD", "lr", "nan"]),
    (optim.SGD, dict(lr=float("inf")), ValueError, ["SGD", "lr", "inf"]),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), ValueError, ["SGD", "momentum", "-0.5"]),
    (optim.SGD, dict(lr=0.1, weight_decay=-1), ValueError, ["SGD", "weight_decay", "-1"]),
    (optim.SGD, dict(lr=0.1, dampening="x"), TypeError, ["SGD", "dampening", "'x'"]),
    (optim.Adam, dict(lr=-1), ValueError, ["Adam", "lr", "-1"]),
    (optim.Adam, dict(betas=(1.0, 0.999)), ValueError, ["Adam", "betas", "(1.0, 0.999)", "[0, 1)"]),
    (optim.Adam, dict(betas=(0.9, -0.1)), ValueError, ["Adam", "betas", "(0.9, -0.1)"]),
    (optim.Adam, dict(betas=0.9), TypeError, ["Adam", "betas 0.9", "pair"]),
    (optim.Adam, dict(betas=(0.9, 0.9, 0.9)), TypeError, ["Adam", "betas", "pair"]),
    (optim.Adam, dict(betas="ab"), TypeError, ["Adam", "betas", "'ab'"]),
    (optim.Adam, dict(betas=("a", 0.9)), TypeError, ["Adam", "betas", "('a', 0.9)", "(str)"]),
    (optim.Adam, dict(eps=0), ValueError, ["Adam", "eps", "> 0"]),
    (optim.Adam, dict(eps=-1e-8), ValueError, ["Adam", "eps", "-1e-08"]),
    (optim.AdamW, dict(weight_decay=-0.01), ValueError, ["AdamW", "weight_decay", "-0.01"]),
    (optim.Adagrad, dict(eps=0.0), ValueError, ["Adagrad", "eps", "0.0"]),
    (optim.Adagrad, dict(lr_decay=-1), ValueError, ["Adagrad", "lr_decay", "-1"]),
    (optim.Adagrad, dict(initial_accumulator_value=-1), ValueError, ["Adagrad", "initial_accumulator_value"]),
    (optim.RMSprop, dict(alpha=1.5), ValueError, ["RMSprop", "alpha", "1.5", "[0, 1]"]),
    (optim.RMSprop, dict(eps=0), ValueError, ["RMSprop", "eps"]),
    (optim.RMSprop, dict(momentum=-1), ValueError, ["RMSprop", "momentum", "-1"]),
]


@pytest.mark.parametrize("cls, kwargs, exc, words", BAD_HYPER,
                         ids=[f"{c.__name__}-{sorted(k.items())}" for c, k, _, _ in BAD_HYPER])
def test_bad_hyper_parameters_are_refused_naming_optimizer_and_value(cls, kwargs, exc, words):
    with pytest.raises(exc) as info:
        cls(_params(), **kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    assert type(info.value) is exc


def test_a_bad_hyper_parameter_of_a_later_group_names_that_group():
    a, b = _params()
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="SGD: invalid lr -2 in parameter group 1: expected a finite number >= 0"):
        opt.add_param_group({"params": [b], "lr": -2})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_bad_params_are_refused_naming_the_optimizer(name):
    cls, kw = OPTIMIZERS[name]
    with pytest.raises(ValueError, match=f"{cls.__name__} got an empty parameter list"):
        cls([], **kw)
    with pytest.raises(ValueError, match="empty parameter list"):
        cls(iter(()), **kw)
    with pytest.raises(TypeError, match=rf"{cls.__name__} updates tensors, but params\[1\] of parameter group 0 is a ndarray"):
        cls([_params(1)[0], np.zeros(3)], **kw)
    for bad in (3, None):
        with pytest.raises(TypeError, match=f"{cls.__name__}: params must be an iterable of tensors"):
            cls(bad, **kw)


def test_good_hyper_parameters_still_pass():
    # boundaries that are valid, and NumPy scalars (what a schedule may compute)
    optim.SGD(_params(), lr=0, momentum=0, weight_decay=0)
    optim.Adam(_params(), lr=np.float32(1e-3), betas=[0, np.float64(0.5)], eps=np.float32(1e-8))
    optim.RMSprop(_params(), alpha=1.0)
    opt = optim.Adam(_params(), betas=[0.8, 0.9])
    assert opt.param_groups[0]["betas"] == (0.8, 0.9)


# ----------------------------------------------------------------- load_state_dict

@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_load_state_dict_round_trip_still_works(name):
    opt, sd = _stepped(name)
    fresh = type(opt)(_params(), **OPTIMIZERS[name][1])
    fresh.load_state_dict(copy.deepcopy(sd))
    new = fresh.state_dict()
    assert new["param_groups"] == sd["param_groups"]
    for i, entry in sd["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(new["state"][i][key], value)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_load_state_dict_refuses_a_bad_layout_naming_what_is_wrong(name):
    opt, sd = _stepped(name)
    cls = type(opt).__name__
    cases = [
        ({"foo": 1}, ValueError, "no 'state' or 'param_groups'.*'foo'"),
        ({"param_groups": sd["param_groups"]}, ValueError, "no 'state'"),
        ([1, 2], TypeError, "expected a dict with 'state' and 'param_groups'.*got list"),
        ({"state": {}, "param_groups": "x"}, TypeError, "'param_groups' must be a list of dicts"),
        ({"state": [], "param_groups": sd["param_groups"]}, TypeError, "'state' must be a dict"),
        ({"state": {"x": {}}, "param_groups": sd["param_groups"]}, ValueError, "state key 'x' is not a parameter index"),
        ({"state": {7: {}}, "param_groups": sd["param_groups"]}, ValueError, r"state for parameter 7, but there are 2"),
    ]
    one = _stepped(name, n=1)[1]
    cases.append((one, ValueError, r"parameter groups of \[1\] parameters, this one of \[2\]"))
    before = copy.deepcopy(opt.state_dict())
    for bad, exc, pattern in cases:
        with pytest.raises(exc, match=f"{cls}.load_state_dict: .*{pattern}"):
            opt.load_state_dict(bad)
    after = opt.state_dict()   # nothing changed
    assert after["param_groups"] == before["param_groups"]


BUFFER = {"SGD": "momentum_buffer", "Adam": "exp_avg", "AdamW": "exp_avg_sq", "Adagrad": "sum",
          "RMSprop": "square_avg"}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_load_state_dict_refuses_bad_buffers_naming_parameter_and_buffer(name):
    opt, sd = _stepped(name)
    key = BUFFER[name]
    for value, exc, pattern in [
        (np.zeros((5, 3), np.float32), ValueError, r"has shape \(5, 3\), but \(1, 3\) is expected"),
        (np.zeros((1, 3), np.int64), TypeError, "has dtype int64; a floating-point array is expected"),
        ([[0.0, 0.0, 0.0]], TypeError, r"must be an array of shape \(1, 3\), got list"),
    ]:
        bad = copy.deepcopy(sd)
        bad["state"][0][key] = value
        if name == "SGD" and exc is TypeError and isinstance(value, list):
            continue   # SGD's buffer is optional (made at the next step): a non-array is kept as given
        with pytest.raises(exc, match=f"{type(opt).__name__}.load_state_dict: state of parameter 0: {key} {pattern}"):
            opt.load_state_dict(bad)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adagrad", "RMSprop"])
def test_load_state_dict_refuses_missing_buffers_and_bad_step_counts(name):
    opt, sd = _stepped(name)
    cls = type(opt).__name__
    bad = copy.deepcopy(sd)
    del bad["state"][1][BUFFER[name]]
    with pytest.raises(ValueError, match=f"{cls}.load_state_dict: state of parameter 1 has no '{BUFFER[name]}'"):
        opt.load_state_dict(bad)
    for step in (-3, 2.5, "7", float("nan"), None):
        bad = copy.deepcopy(sd)
        bad["state"][0]["step"] = step
        with pytest.raises(ValueError, match=f"state of parameter 0: step must be an integer >= 0, got {step!r}"):
            opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["state"][0]["step"] = np.array(4.0)   # PyTorch keeps step as a float tensor
    opt.load_state_dict(bad)
    assert opt.state_dict()["state"][0]["step"] == 4


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_load_state_dict_checks_the_saved_hyper_parameters(name):
    opt, sd = _stepped(name)
    bad = copy.deepcopy(sd)
    bad["param_groups"][0]["lr"] = "x"
    with pytest.raises(TypeError, match=f"{type(opt).__name__}: invalid lr 'x' \\(str\\) in parameter group 0: expected a real number"):
        opt.load_state_dict(bad)
    bad["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="invalid lr -1.0 in parameter group 0: expected a finite number >= 0"):
        opt.load_state_dict(bad)
    assert opt.param_groups[0]["lr"] == 0.1


# ----------------------------------------------------------------- layer constructors

@pytest.mark.parametrize("args, exc, pattern", [
    ((2.5, 3), TypeError, r"Linear: in_features must be an integer, got 2.5 \(float\)"),
    ((2, 3.0), TypeError, r"Linear: out_features must be an integer, got 3.0 \(float\)"),
    (("3", 3), TypeError, r"Linear: in_features must be an integer, got '3' \(str\)"),
    ((True, 3), TypeError, r"Linear: in_features must be an integer, got True \(bool\)"),
    ((None, 3), TypeError, r"Linear: in_features must be an integer, got None"),
    ((0, 3), ValueError, "Linear: in_features must be >= 1, got 0"),
    ((-2, 3), ValueError, "Linear: in_features must be >= 1, got -2"),
    ((2, -1), ValueError, "Linear: out_features must be >= 1, got -1"),
])
def test_linear_refuses_bad_sizes_naming_the_argument(args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        nn.Linear(*args)


def test_linear_accepts_numpy_integers_and_refuses_integer_dtypes():
    layer = nn.Linear(np.int64(2), np.int32(3))
    assert (layer.in_features, layer.out_features) == (2, 3)
    assert type(layer.in_features) is int and layer.weight.shape == (2, 3)
    with pytest.raises(TypeError, match="Linear: dtype must be a floating-point dtype.*int64"):
        nn.Linear(2, 3, dtype=np.int64)


def test_torch_also_refuses_a_float_size():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        torch.nn.Linear(2.5, 3)
    with pytest.raises(TypeError):
        nn.Linear(2.5, 3)


# ----------------------------------------------------------------- gradcheck's function

@pytest.mark.parametrize("check", [gg.gradcheck, gg.gradgradcheck], ids=["gradcheck", "gradgradcheck"])
@pytest.mark.parametrize("fn, which, kind", [
    (lambda x: 1.0, "its output", "float"),
    (lambda x: float((x * x).sum().item()), "its output", "float"),
    (lambda x: np.ones(3), "its output", "ndarray"),
    (lambda x: None, "its output", "NoneType"),
    (lambda x: (x * 2, 1.0), "output 1 of 2", "float"),
])
def test_gradcheck_says_what_fn_must_return(check, fn, which, kind):
    x = gg.tensor(np.arange(3.0), requires_grad=True)
    with pytest.raises(TypeError, match=f"{check.__name__}: fn must return a Tensor or a tuple of Tensors.*{which} is {kind}"):
        check(fn, (x,))


def test_gradcheck_refuses_a_non_callable_and_accepts_a_list_of_outputs():
    x = gg.tensor(np.arange(3.0), requires_grad=True)
    with pytest.raises(TypeError, match="gradcheck: fn must be a function of the inputs, got int"):
        gg.gradcheck(3, (x,))
    assert gg.gradcheck(lambda x: [x * 2, (x * x).sum()], (x,))


# ----------------------------------------------------------------- schedulers' load_state_dict

def _scheduler(kind):
    from gpugrad.optim import lr_scheduler as L
    opt = optim.SGD(_params(), lr=0.1)
    if kind == "StepLR":
        return L.StepLR(opt, 2)
    if kind == "ReduceLROnPlateau":
        return L.ReduceLROnPlateau(opt)
    return L.SequentialLR(opt, [L.LinearLR(opt, 0.5, total_iters=2), L.StepLR(opt, 2)], milestones=[2])


@pytest.mark.parametrize("kind", ["StepLR", "ReduceLROnPlateau", "SequentialLR"])
def test_scheduler_load_state_dict_refuses_what_it_does_not_hold(kind):
    s = _scheduler(kind)
    good = copy.deepcopy(s.state_dict())
    with pytest.raises(TypeError, match=f"{kind}.load_state_dict: expected a dict.*got list"):
        s.load_state_dict([1])
    with pytest.raises(ValueError, match=rf"{kind}.load_state_dict: .*'foo'"):
        s.load_state_dict({**good, "foo": 1})
    with pytest.raises(ValueError, match=rf"{kind}.load_state_dict: .*'optimizer'"):
        s.load_state_dict({**good, "optimizer": None})
    s.load_state_dict(good)   # its own state still loads


def test_scheduler_load_state_dict_checks_epoch_and_base_lrs():
    s = _scheduler("StepLR")
    good = s.state_dict()
    for epoch in (-5, "3", 2.5, True):
        with pytest.raises(ValueError, match=f"StepLR.load_state_dict: last_epoch must be an integer >= -1, got {epoch!r}"):
            s.load_state_dict({**good, "last_epoch": epoch})
    for base in ([0.1, 0.2, 0.3], "0.1", ["x"]):
        with pytest.raises(ValueError, match="StepLR.load_state_dict: base_lrs must be a list of 1 numbers"):
            s.load_state_dict({**good, "base_lrs": base})
    assert s.last_epoch == 0 and s.base_lrs == [0.1]
    seq = _scheduler("SequentialLR")
    with pytest.raises(ValueError, match="SequentialLR.load_state_dict: '_schedulers' must be a list of the 2"):
        seq.load_state_dict({**seq.state_dict(), "_schedulers": []})


# ----------------------------------------------------------------- writing checkpoints

def test_a_full_disk_while_saving_keeps_the_previous_checkpoint_and_names_the_file(tmp_path, monkeypatch):
    import errno

    from gpugrad import checkpoint
    model = nn.Linear(2, 3)
    opt = optim.Adam(model.parameters())
    path = tmp_path / "ck.npz"
    checkpoint.save_checkpoint(path, model, opt, {"epoch": 1})
    before = path.read_bytes()

    def full(f, **arrays):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(checkpoint.np, "savez", full)
    with pytest.raises(OSError, match=r"No space left on device: '.*ck.npz'") as info:
        checkpoint.save_checkpoint(path, model, opt, {"epoch": 2})
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ck.npz"]
