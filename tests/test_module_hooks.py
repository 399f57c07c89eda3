"""Module hooks (forward pre/post, full backward pre/post): the order of calls and the modified
gradients are PyTorch's on a small model (oracle), handles remove them, a hooked Linear+ReLU
pair is not fused, and the hooks work in a recorded (create_graph) pass."""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn


def shapes(gs):
    return [None if g is None else tuple(g.shape) for g in gs]


def register_all(model, events, modify):
    """Every kind of hook on every module; with ``modify`` some of them change values."""
    handles = []
    for name, mod in model.named_modules():
        name = name or "seq"
        handles.append(mod.register_forward_pre_hook(
            lambda m, args, name=name: events.append(("pre", name, shapes(args)))
            or ((args[0] * 2.0,) if modify and name == "2" else None)))
        handles.append(mod.register_forward_hook(
            lambda m, args, out, name=name: events.append(("fwd", name))
            or (out + 1.0 if modify and name == "1" else None)))
        handles.append(mod.register_full_backward_pre_hook(
            lambda m, go, name=name: events.append(("bpre", name, shapes(go)))
            or ((go[0] * 3.0,) if modify and name == "2" else None)))
        handles.append(mod.register_full_backward_hook(
            lambda m, gi, go, name=name: events.append(("bwd", name, shapes(gi), shapes(go)))
            or ((gi[0] * 0.5,) if modify and name in ("1", "seq") and gi[0] is not None
                else None)))
    return handles


def run_gpugrad(x_np, params, x_requires_grad, modify, device="cpu"):
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.ReLU(),
                          nn.Linear(4, 2, dtype=np.float64)).to(device)
    model.load_state_dict(dict(zip(["0.weight", "0.bias", "2.weight", "2.bias"], params)))
    events = []
    register_all(model, events, modify)
    x = gg.tensor(x_np, device=device, requires_grad=x_requires_grad)
    with pytest.warns(UserWarning, match="no input requires grad") if not x_requires_grad \
            else _nothing():
        y = model(x)
        (y * y).sum().backward()
    grads = [p.grad.numpy() for p in model.parameters()]
    return events, y.numpy(), grads, None if x.grad is None else x.grad.numpy()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_torch(x_np, params, x_requires_grad, modify):
    import torch
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).double()
    with torch.no_grad():   # ours hold W as (in, out); PyTorch's as (out, in)
        model[0].weight.copy_(torch.tensor(params[0].T))
        model[0].bias.copy_(torch.tensor(params[1]))
        model[2].weight.copy_(torch.tensor(params[2].T))
        model[2].bias.copy_(torch.tensor(params[3]))
    events = []
    register_all(model, events, modify)
    x = torch.tensor(x_np, requires_grad=x_requires_grad)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = model(x)
        (y * y).sum().backward()
    grads = [model[0].weight.grad.numpy().T, model[0].bias.grad.numpy(),
             model[2].weight.grad.numpy().T, model[2].bias.grad.numpy()]
    return events, y.detach().numpy(), grads, None if x.grad is None else x.grad.numpy()


def _setup(rng):
    x = rng.standard_normal((5, 3))
    params = [rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((4, 2)),
              rng.standard_normal(2)]
    return x, params


@pytest.mark.parametrize("x_requires_grad", [True, False])
@pytest.mark.parametrize("modify", [False, True], ids=["observe", "modify"])
def test_hook_order_and_modified_gradients_match_pytorch(x_requires_grad, modify, rng):
    pytest.importorskip("torch")
    x, params = _setup(rng)
    ours = run_gpugrad(x, params, x_requires_grad, modify)
    theirs = run_torch(x, params, x_requires_grad, modify)
    assert ours[0] == theirs[0]
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)
    for mine, want in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(mine, want, rtol=1e-12, atol=1e-14)
    if x_requires_grad:
        np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-12, atol=1e-14)


def test_hook_order_without_pytorch(device, rng):
    """PyTorch's order: forward pre/post hooks outside-in, then backward from the outputs back:
    each module's backward pre-hook, then (when its inputs' gradients are known) its hook."""
    x, params = _setup(rng)
    events = run_gpugrad(x, params, True, False, device)[0]
    assert [e[:2] for e in events] == [
        ("pre", "seq"), ("pre", "0"), ("fwd", "0"), ("pre", "1"), ("fwd", "1"), ("pre", "2"),
        ("fwd", "2"), ("fwd", "seq"),
        ("bpre", "seq"), ("bpre", "2"), ("bwd", "2"), ("bpre", "1"), ("bwd", "1"),
        ("bpre", "0"), ("bwd", "0"), ("bwd", "seq")]
    assert events[-1] == ("bwd", "seq", [(5, 3)], [(5, 2)])


def test_modified_gradients_flow_on(device, rng):
    """A backward hook halving grad_input halves every gradient behind the module."""
    x, params = _setup(rng)
    plain = run_gpugrad(x, params, True, False, device)
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.ReLU(),
                          nn.Linear(4, 2, dtype=np.float64)).to(device)
    model.load_state_dict(dict(zip(["0.weight", "0.bias", "2.weight", "2.bias"], params)))
    model[1].register_full_backward_hook(lambda m, gi, go: (gi[0] * 0.5,))
    xt = gg.tensor(x, device=device, requires_grad=True)
    (model(xt) ** 2).sum().backward()
    grads = [p.grad.numpy() for p in model.parameters()]
    np.testing.assert_allclose(grads[0], 0.5 * plain[2][0], rtol=1e-12)
    np.testing.assert_allclose(grads[2], plain[2][2], rtol=1e-12)     # in front of the hook
    np.testing.assert_allclose(xt.grad.numpy(), 0.5 * plain[3], rtol=1e-12)


def test_handles_remove_hooks_and_fusion_comes_back(device):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU()).to(device)
    x = gg.randn(2, 3, device=device)
    calls = []
    handle = model[1].register_forward_hook(lambda m, a, o: calls.append("relu"))
    out = model(x)
    assert calls == ["relu"] and type(out.grad_fn).__name__ == "ReLU"   # not fused: hooked
    handle.remove()
    handle.remove()
    assert not model[1].has_hooks()
    out = model(x)
    assert calls == ["relu"] and type(out.grad_fn).__name__ == "Linear"  # fused again


def test_backward_hooks_in_a_recorded_pass(device):
    layer = nn.Linear(2, 1, dtype=np.float64).to(device)
    seen = []
    layer.register_full_backward_hook(
        lambda m, gi, go: seen.append((gi[0].requires_grad, go[0].requires_grad)))
    x = gg.tensor([[1.0, 2.0]], dtype="float64", device=device, requires_grad=True)
    g, = gg.autograd.grad((layer(x) ** 2).sum(), x, create_graph=True)
    assert seen == [(True, True)]
    h, = gg.autograd.grad(g.sum(), x)
    w = layer.weight.numpy()[:, 0]
    np.testing.assert_allclose(h.numpy()[0], 2 * w * w.sum())


def test_hooks_returning_the_wrong_thing_are_refused():
    layer = nn.Linear(2, 2)
    layer.register_full_backward_hook(lambda m, gi, go: gi[0])
    x = gg.randn(1, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a full backward hook of Linear returned Tensor; return None or a tuple of 1 gradients"):
        layer(x).sum().backward()
    layer = nn.Linear(2, 2)
    layer.register_full_backward_pre_hook(lambda m, go: (gg.zeros(3),))
    with pytest.raises(ValueError, match=r"returned shape \(3,\) for gradient 0 of shape \(1, 2\)"):
        layer(x).sum().backward()
    with pytest.raises(TypeError, match="a module hook must be callable"):
        layer.register_forward_hook("not a function")
