"""Optimizers: parameter groups (each with its own lr and weight decay), add_param_group, AdamW,
RMSprop and Adagrad with every option, state dicts; against torch.optim where installed (the
update arithmetic itself is checked against the kernels and a float64 reference in
tests/test_kernels_host.py, and on the GPU in tests/test_kernels_gpu.py)."""
import math

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.optim as optim

from conftest import to_np

# name, kwargs, and the per-group overrides of the second parameter group
CASES = [
    ("SGD", dict(lr=0.1), dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2), dict(lr=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.2, maximize=True), dict(momentum=0.0)),
    ("Adam", dict(lr=1e-2), dict(lr=3e-2, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, amsgrad=True, maximize=True, betas=(0.8, 0.99)), dict(eps=1e-3)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True), dict(weight_decay=0.0)),
    ("AdamW", dict(lr=1e-2), dict(lr=5e-2, weight_decay=0.5)),
    ("AdamW", dict(lr=1e-2, amsgrad=True, weight_decay=0.05), dict(amsgrad=False)),
    ("RMSprop", dict(lr=1e-2), dict(lr=1e-3, weight_decay=0.1)),
    ("RMSprop", dict(lr=1e-2, centered=True, momentum=0.9), dict(alpha=0.9, centered=False)),
    ("RMSprop", dict(lr=1e-2, momentum=0.5, weight_decay=1e-2, maximize=True), dict(momentum=0.0)),
    ("Adagrad", dict(lr=0.1), dict(lr=0.5, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.5), dict(eps=1e-3)),
    ("Adagrad", dict(lr=0.1, maximize=True, weight_decay=1e-2), dict(lr_decay=0.2)),
]
IDS = [f"{name}-{'-'.join(kw)}" for name, kw, _ in CASES]
SHAPES = [(3, 4), (4,), (2, 2, 3)]


def grads(step, shapes):
    return [np.sin(np.arange(np.prod(s)).reshape(s) * 0.7 + step * 1.3 + i) for i, s in enumerate(shapes)]


def run_gpugrad(name, kw, group_kw, device, steps=5, dtype=np.float64):
    rng = np.random.default_rng(0)
    params = [gg.tensor(rng.standard_normal(s), dtype=dtype, device=device, requires_grad=True)
              for s in SHAPES]
    opt = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:], **group_kw}], **kw)
    for step in range(steps):
        for p, g in zip(params, grads(step, SHAPES)):
            p.grad = gg.tensor(g, dtype=dtype, device=device)
        opt.step()
    return params, opt


@pytest.mark.parametrize("name,kw,group_kw", CASES, ids=IDS)
def test_optimizers_match_torch_optim(name, kw, group_kw):
    torch = pytest.importorskip("torch")
    params, opt = run_gpugrad(name, kw, group_kw, "cpu")
    rng = np.random.default_rng(0)
    tparams = [torch.tensor(rng.standard_normal(s), requires_grad=True) for s in SHAPES]
    topt = getattr(torch.optim, name)([{"params": tparams[:2]}, {"params": tparams[2:], **group_kw}], **kw)
    for step in range(5):
        for p, g in zip(tparams, grads(step, SHAPES)):
            p.grad = torch.tensor(g)
        topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-14)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert [sorted(g) for g in ours["param_groups"]] == [sorted(g) for g in theirs["param_groups"]]
    for g, tg in zip(ours["param_groups"], theirs["param_groups"]):
        assert g == {k: (tuple(v) if k == "betas" else v) for k, v in tg.items()}
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for i, state in ours["state"].items():
        assert sorted(state) == sorted(theirs["state"][i])
        for key, value in state.items():
            np.testing.assert_allclose(np.asarray(value, dtype=np.float64), theirs["state"][i][key].numpy(),
                                       rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("name,kw,group_kw", CASES, ids=IDS)
def test_optimizers_on_each_backend_agree_with_the_cpu(name, kw, group_kw, device):
    got, _ = run_gpugrad(name, kw, group_kw, device)
    want, _ = run_gpugrad(name, kw, group_kw, "cpu")
    for p, q in zip(got, want):
        assert p.device == device
        np.testing.assert_allclose(to_np(p), q.numpy(), rtol=1e-12, atol=1e-14)
        assert not np.allclose(q.numpy(), np.random.default_rng(0).standard_normal(q.shape))


CAPTURABLE = [("Adam", dict(lr=1e-2)),
              ("Adam", dict(lr=1e-2, amsgrad=True, maximize=True, weight_decay=0.1)),
              ("AdamW", dict(lr=1e-2, weight_decay=0.05))]


@pytest.mark.parametrize("name,kw", CAPTURABLE, ids=[f"{n}-{'-'.join(kw)}" for n, kw in CAPTURABLE])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_capturable_adam_keeps_its_step_on_the_device_and_steps_as_adam(name, kw, device, dtype):
    """capturable=True: the same steps as Adam's (PyTorch's values: the oracle test above), the
    step count a 0-d array of the parameter's dtype on its device, and the state dict moving
    either way between a capturable optimizer and a plain one."""
    got, opt = run_gpugrad(name, {**kw, "capturable": True}, {}, device, dtype=dtype)
    want, plain = run_gpugrad(name, kw, {}, "cpu", dtype=dtype)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for p, q in zip(got, want):
        np.testing.assert_allclose(to_np(p), q.numpy(), **tol)
        step = opt.state[p]["step"]
        assert step.shape == () and step.dtype == dtype and gg.backend.device_of(step) == p.device
        assert float(to_np(gg.tensor(step))) == 5.0
    saved = opt.state_dict()
    assert float(np.asarray(to_np(gg.tensor(saved["state"][0]["step"])))) == 5.0
    def groups(params):
        return [{"params": params[:2]}, {"params": params[2:]}]

    resumed_plain = getattr(optim, name)(groups(want), **kw)   # the capturable run's state, made plain
    resumed_plain.load_state_dict(saved)
    for group in resumed_plain.param_groups:
        group["capturable"] = False
    for p, q, g in zip(got, want, grads(5, SHAPES)):
        p.grad = gg.tensor(g, dtype=dtype, device=device)
        q.grad = gg.tensor(g, dtype=dtype)
    opt.step()
    resumed_plain.step()
    assert resumed_plain.state[want[0]]["step"] == 6 and float(to_np(gg.tensor(opt.state[got[0]]["step"]))) == 6.0
    for p, q in zip(got, want):
        np.testing.assert_allclose(to_np(p), q.numpy(), **tol)
    capturable = getattr(optim, name)(groups(got), **kw, capturable=True)   # and back: a plain one's
    capturable.load_state_dict(plain.state_dict())
    for group in capturable.param_groups:
        group["capturable"] = True
    assert capturable.state[got[0]]["step"] == 5      # an int until the next step moves it
    capturable.step()
    assert float(to_np(gg.tensor(capturable.state[got[0]]["step"]))) == 6.0


def test_capturable_must_be_a_bool_and_only_where_the_rule_allows():
    p = gg.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="capturable must be True or False, got 'yes'"):
        optim.Adam([p], capturable="yes")
    with pytest.raises(NotImplementedError, match="SGD: capturable=True is not supported"):
        optim.SGD([{"params": [p], "capturable": True}])


def test_first_steps_follow_each_groups_own_lr_and_weight_decay(device):
    """One step from known values, in closed form, for a group with the defaults and one with
    its own lr and weight decay (the weight decay only where it changes the result)."""
    p0, g = np.array([1.0, -2.0, 0.5]), np.array([0.5, 1.0, -4.0])

    def first_step(name, group_kw, **kw):
        a = gg.tensor(p0, device=device, requires_grad=True)
        b = gg.tensor(p0, device=device, requires_grad=True)
        opt = getattr(optim, name)([{"params": [a]}, {"params": [b], **group_kw}], **kw)
        a.grad, b.grad = gg.tensor(g, device=device), gg.tensor(g, device=device)
        opt.step()
        return to_np(a), to_np(b)

    a, b = first_step("SGD", dict(lr=0.5, weight_decay=0.1), lr=0.1)
    np.testing.assert_allclose(a, p0 - 0.1 * g)
    np.testing.assert_allclose(b, p0 - 0.5 * (g + 0.1 * p0))
    a, b = first_step("AdamW", dict(lr=0.1, weight_decay=0.5), lr=1e-2)      # m̂ = g, v̂ = g²
    np.testing.assert_allclose(a, p0 * (1 - 1e-2 * 1e-2) - 1e-2 * g / (np.abs(g) + 1e-8))
    np.testing.assert_allclose(b, p0 * (1 - 0.1 * 0.5) - 0.1 * g / (np.abs(g) + 1e-8))
    a, b = first_step("Adam", dict(weight_decay=0.1), lr=1e-2)
    d = g + 0.1 * p0
    np.testing.assert_allclose(b, p0 - 1e-2 * d / (np.abs(d) + 1e-8))
    a, b = first_step("RMSprop", dict(lr=0.1, alpha=0.9), lr=1e-2)
    np.testing.assert_allclose(a, p0 - 1e-2 * g / (np.sqrt(0.01 * g * g) + 1e-8))
    np.testing.assert_allclose(b, p0 - 0.1 * g / (np.sqrt(0.1 * g * g) + 1e-8))
    a, b = first_step("Adagrad", dict(lr=1.0, weight_decay=0.1), lr=0.1, initial_accumulator_value=1.0)
    np.testing.assert_allclose(a, p0 - 0.1 * g / (np.sqrt(1 + g * g) + 1e-10))
    d = g + 0.1 * p0
    np.testing.assert_allclose(b, p0 - 1.0 * d / (np.sqrt(1 + d * d) + 1e-10))


def test_defaults_and_state_names_are_pytorchs():
    p = gg.zeros(3, requires_grad=True)
    assert optim.SGD([p]).defaults["lr"] == 1e-3
    adamw = optim.AdamW([p])
    assert adamw.defaults["weight_decay"] == 1e-2 and adamw.defaults["decoupled_weight_decay"]
    rms = optim.RMSprop([p])
    assert (rms.defaults["lr"], rms.defaults["alpha"], rms.defaults["eps"]) == (1e-2, 0.99, 1e-8)
    ada = optim.Adagrad([p])
    assert (ada.defaults["lr"], ada.defaults["eps"]) == (1e-2, 1e-10)
    assert sorted(ada.state_dict()["state"][0]) == ["step", "sum"]       # made eagerly, as PyTorch
    p.grad = gg.ones(3)
    for opt, keys in [(optim.Adam([p], amsgrad=True), ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]),
                      (optim.RMSprop([p], momentum=0.9, centered=True),
                       ["grad_avg", "momentum_buffer", "square_avg", "step"]),
                      (optim.SGD([p], momentum=0.9), ["momentum_buffer"])]:
        opt.step()
        assert sorted(opt.state_dict()["state"][0]) == keys


# ----------------------------------------------------------------------------- parameter groups

def test_add_param_group_fills_in_the_defaults_and_trains_the_new_group():
    a, b = gg.ones(2, requires_grad=True), gg.ones(3, requires_grad=True)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.5})          # one tensor, as PyTorch allows
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["params"][0] is b
    a.grad, b.grad = gg.ones(2), gg.ones(3)
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.9)
    np.testing.assert_allclose(b.numpy(), 0.5)
    assert sorted(opt.state_dict()["state"]) == [0, 1]


def test_add_param_group_refuses_what_pytorch_refuses():
    a, b = gg.ones(2, requires_grad=True), gg.ones(3, requires_grad=True)
    opt = optim.Adam([a])
    with pytest.raises(ValueError, match="appears twice"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="appears twice"):
        opt.add_param_group({"params": [b, b]})
    with pytest.raises(TypeError, match="not a set"):
        opt.add_param_group({"params": {b}})
    with pytest.raises(TypeError, match="must be a dict"):
        opt.add_param_group([b])
    with pytest.raises(ValueError, match="'params'"):
        opt.add_param_group({"lr": 0.1})
    with pytest.raises(TypeError, match="ndarray"):
        opt.add_param_group({"params": [np.ones(2)]})
    with pytest.raises(ValueError, match="non-leaf"):
        opt.add_param_group({"params": [b * 2]})
    with pytest.raises(ValueError, match=r"Adam: invalid lr -1 in parameter group 1"):
        opt.add_param_group({"params": [b], "lr": -1})
    with pytest.raises(ValueError, match=r"Adam: invalid betas \(0.9, 1.0\) in parameter group 1"):
        opt.add_param_group({"params": [b], "betas": (0.9, 1.0)})
    assert len(opt.param_groups) == 1          # nothing half-added
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({a, b}, lr=0.1)


def test_a_required_hyper_parameter_must_be_set_by_every_group():
    class Plain(optim.Optimizer):
        def __init__(self, params, lr=optim.required):
            super().__init__(params, dict(lr=lr))

        def _update(self, p, g, group, state):
            p -= group["lr"] * g

    a, b = gg.ones(2, requires_grad=True), gg.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="does not set 'lr'"):
        Plain([a])
    opt = Plain([{"params": [a], "lr": 0.5}, {"params": [b], "lr": 0.25}])
    a.grad, b.grad = gg.ones(2), gg.ones(2)
    assert opt.step(closure=lambda: 7.0) == 7.0
    np.testing.assert_allclose(a.numpy(), 0.5)
    np.testing.assert_allclose(b.numpy(), 0.75)


def test_named_parameters_and_frozen_parameters():
    model = gg.nn.Sequential(gg.nn.Linear(3, 2), gg.nn.ReLU(), gg.nn.Linear(2, 1))
    opt = optim.AdamW(model.named_parameters())
    assert opt.param_groups[0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"][0] == "0.weight"
    model[0].weight.requires_grad_(False)      # frozen: no gradient, never updated (as PyTorch)
    before = model[0].weight.numpy().copy()
    opt2 = optim.SGD(model.parameters(), lr=0.1)
    model(gg.ones(4, 3)).sum().backward()
    opt2.step()
    np.testing.assert_array_equal(model[0].weight.numpy(), before)
    with pytest.raises(ValueError, match="every parameter of a group has a name"):
        optim.SGD([("w", gg.ones(2, requires_grad=True)), gg.ones(2, requires_grad=True)])


def test_unsupported_switches_are_refused_not_ignored():
    p = gg.ones(2, requires_grad=True)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.Adam([p], differentiable=True)
    with pytest.raises(NotImplementedError, match="capturable=True is not supported"):
        optim.Adagrad([{"params": [p], "capturable": True}])
    optim.RMSprop([p], capturable=True)        # accepted: no scalar of its rule changes per step
    with pytest.raises(RuntimeError, match="fused and foreach"):
        optim.AdamW([p], fused=True, foreach=True)
    optim.AdamW([p], fused=True)                # accepted: every update is fused here anyway
    optim.SGD([p], foreach=False)


@pytest.mark.parametrize("name,kw,group_kw", CASES, ids=IDS)
def test_state_dict_resumes_exactly_with_groups(name, kw, group_kw):
    """Three steps, a state dict, a fresh optimizer loading it, two more steps: the same as
    five uninterrupted steps, bit for bit."""
    want, _ = run_gpugrad(name, kw, group_kw, "cpu", steps=5)
    params, opt = run_gpugrad(name, kw, group_kw, "cpu", steps=3)
    saved = opt.state_dict()
    fresh = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:]}], lr=123.0)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[1]["lr"] == opt.param_groups[1]["lr"]
    for step in range(3, 5):
        for p, g in zip(params, grads(step, SHAPES)):
            p.grad = gg.tensor(g)
        fresh.step()
    for p, q in zip(params, want):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_optimizer_state_stays_in_float32_for_float32_parameters(device):
    params, opt = run_gpugrad("Adam", dict(lr=1e-2, amsgrad=True), {}, device, steps=2,
                              dtype=np.float32)
    for state in opt.state.values():
        assert all(v.dtype == np.float32 for v in state.values() if hasattr(v, "dtype"))
    assert all(p.dtype == np.float32 and math.isfinite(float(p.sum().item())) for p in params)
