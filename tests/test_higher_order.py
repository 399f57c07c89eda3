"""Higher-order gradients: gradgradcheck on every op (both backends), a test that fails for an op
without a case, the recorded backward equal to the fast one, and second derivatives equal to
PyTorch's (float64, 1e-9) for every op, a small MLP's Hessian and a gradient penalty."""
import inspect
import pkgutil

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.functions
import gpugrad.nn as nn
import gpugrad.nn.functional as F
from gpugrad.autograd import Op, grad
from op_cases import BY_NAME, CASES, draw_inputs, op_types

ORACLE = 1e-9


def _case_ids():
    return [c.name for c in CASES]


@pytest.mark.parametrize("name", _case_ids())
def test_gradgradcheck_every_op(name, device, rng):
    case = BY_NAME[name]
    if case.cpu_only and device != "cpu":
        pytest.skip("needs a float wider than float64 (NumPy's longdouble)")
    assert gg.gradgradcheck(case.fn, draw_inputs(case, rng, device))


def _ops_of_gpugrad_functions():
    ops = set()
    for info in pkgutil.iter_modules(gpugrad.functions.__path__):
        module = __import__(f"gpugrad.functions.{info.name}", fromlist=["_"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Op) and cls.__module__ == module.__name__ \
                    and not cls.__name__.startswith("_"):
                ops.add(cls)
    return ops


def test_every_op_has_a_gradgradcheck_case(rng):
    """Every Op subclass of gpugrad.functions must be a node of some case's graph, so its
    backward's recorded form is checked. Adding an op? Add a Case to tests/op_cases.py."""
    covered = set()
    for case in CASES:
        with gg.enable_grad():
            covered |= op_types(case.fn(*draw_inputs(case, rng)))
    missing = sorted(cls.__qualname__ for cls in _ops_of_gpugrad_functions() - covered)
    assert not missing, f"ops without a gradgradcheck case in tests/op_cases.py: {missing}"
    names = {cls.__name__ for cls in _ops_of_gpugrad_functions()}
    assert {"Mul", "Linear", "SoftmaxCrossEntropy", "ReLUBackward"} <= names   # the scan works


def test_the_worked_example_of_how_to_write_an_op_works(device, rng):
    """The op that gpugrad.functions' docstring writes, run as written."""
    doc = gpugrad.functions.__doc__
    code = doc[doc.index("    class Softplus(Op):"):doc.index("1. ``forward``")]
    scope = {"Op": Op, "backend": gg.backend, "Sigmoid": gpugrad.functions.activation.Sigmoid}
    exec(compile(inspect.cleandoc("\n" + code), "how-to-write-an-op", "exec"), scope)
    x = gg.tensor(rng.standard_normal((3, 4)), dtype="float64", device=device, requires_grad=True)
    y = scope["softplus"](x)
    np.testing.assert_allclose(y.numpy(), np.logaddexp(0, x.numpy()), rtol=1e-12)
    assert gg.gradcheck(scope["softplus"], [x]) and gg.gradgradcheck(scope["softplus"], [x])


@pytest.mark.parametrize("name", _case_ids())
def test_recorded_backward_equals_the_fast_one(name, device, rng):
    """The same backward formulas, run on arrays and recorded on Tensors, agree."""
    case = BY_NAME[name]
    if case.cpu_only and device != "cpu":
        pytest.skip("needs NumPy's longdouble")
    xs = draw_inputs(case, rng, device)
    out = case.fn(*xs)
    v = gg.tensor(rng.standard_normal(out.shape), dtype=out.dtype, device=device)
    fast = grad(out, xs, v, retain_graph=True, allow_unused=True)
    recorded = grad(out, xs, v, create_graph=True, allow_unused=True)
    for f, r in zip(fast, recorded):
        assert (f is None) == (r is None)
        if f is not None:
            assert not f.requires_grad and f.grad_fn is None
            np.testing.assert_allclose(r.numpy(), f.numpy(), rtol=1e-12, atol=1e-14)


def test_astype_second_derivatives_by_value(device):
    """A float64 -> float32 cast and back: d²/dx² of sum(cast(x)³) is 6x, exact here."""
    x = gg.tensor([0.5, -2.0, 3.0], dtype="float64", device=device, requires_grad=True)
    y = (x.astype("float32") ** 3).sum()
    g, = grad(y, x, create_graph=True)
    assert g.dtype == np.float64 and g.grad_fn is not None
    np.testing.assert_array_equal(g.numpy(), 3 * x.numpy() ** 2)
    h, = grad(g.sum(), x)
    np.testing.assert_array_equal(h.numpy(), 6 * x.numpy())


# --------------------------------------------------------------------------- PyTorch oracle

def _derivatives(lib, case, arrays, v, w):
    """First and second derivatives of <v, f(x)>: (d/dx, d/d(x, v) of <w, d/dx>), None -> 0."""
    if lib == "torch":
        import torch
        xs = [torch.tensor(a, requires_grad=True) for a in arrays]
        vt = torch.tensor(v, requires_grad=True)
        out = case.torch_fn(*xs)
        grad_fn = torch.autograd.grad
    else:
        xs = [gg.tensor(a, requires_grad=True) for a in arrays]
        vt = gg.tensor(v, requires_grad=True)
        out = case.fn(*xs)
        grad_fn = grad
    first = grad_fn(out, xs, vt, create_graph=True, allow_unused=True)
    live = [(g, gw) for g, gw in zip(first, w) if g is not None and g.requires_grad]
    wrt = list(xs) + [vt]
    second = (grad_fn([g for g, _ in live], wrt, [lib_tensor(lib, gw) for _, gw in live],
                      allow_unused=True) if live else [None] * len(wrt))

    def values(gs, like):
        return [np.zeros(np.shape(t.detach().numpy() if lib == "torch" else t.numpy()))
                if g is None else (g.detach().numpy() if lib == "torch" else g.numpy())
                for g, t in zip(gs, like)]

    return values(first, xs), values(second, wrt)


def lib_tensor(lib, a):
    if lib == "torch":
        import torch
        return torch.tensor(a)
    return gg.tensor(a)


@pytest.mark.parametrize("name", [c.name for c in CASES if c.torch_fn is not None])
def test_second_derivatives_equal_pytorch(name, rng):
    pytest.importorskip("torch")
    case = BY_NAME[name]
    arrays = [t.numpy() for t in draw_inputs(case, rng)]
    with gg.no_grad():
        out_shape = case.fn(*[gg.tensor(a) for a in arrays]).shape
    v = rng.standard_normal(out_shape)
    w = [rng.standard_normal(a.shape) for a in arrays]
    ours = _derivatives("gg", case, arrays, v, w)
    theirs = _derivatives("torch", case, arrays, v, w)
    for mine, want in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        np.testing.assert_allclose(mine, want, rtol=ORACLE, atol=ORACLE)


# --------------------------------------------------------------------------- models

def _mlp(activation, rng):
    gg.manual_seed(0)
    act = nn.activation_module(activation)
    model = nn.Sequential(nn.Linear(4, 6, dtype=np.float64), act(), nn.Linear(6, 3, dtype=np.float64))
    return model, rng.standard_normal((5, 4))


def _torch_mlp(model, activation):
    import torch
    w1, b1, w2, b2 = (torch.tensor(p.numpy()) for p in model.parameters())
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[activation]

    def loss(w1, b1, w2, b2, x, y):
        return torch.nn.functional.cross_entropy(act(x @ w1 + b1) @ w2 + b2, y)

    return loss, (w1, b1, w2, b2)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_mlp_loss_hessian_equals_pytorch(activation, rng):
    torch = pytest.importorskip("torch")
    model, x = _mlp(activation, rng)
    y = rng.integers(0, 3, size=len(x))
    params = tuple(model.parameters())

    def loss(w1, b1, w2, b2):
        h = F.linear(gg.tensor(x), w1, b1, activation=activation)
        return F.cross_entropy(F.linear(h, w2, b2), gg.tensor(y))

    hess = gg.autograd.functional.hessian(loss, params)
    tloss, tparams = _torch_mlp(model, activation)
    want = torch.autograd.functional.hessian(
        lambda *p: tloss(*p, torch.tensor(x), torch.tensor(y)), tparams)
    for i in range(4):
        for j in range(4):
            np.testing.assert_allclose(hess[i][j].numpy(), want[i][j].numpy(),
                                       rtol=ORACLE, atol=ORACLE)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_gradient_penalty_equals_pytorch(activation, rng):
    """WGAN-GP style: L = mean(D(x)) + (||∂D/∂x||² - 1)² per sample, then ∂L/∂params,
    through the fused Linear+activation of a Sequential."""
    torch = pytest.importorskip("torch")
    model, x = _mlp(activation, rng)
    xg = gg.tensor(x, requires_grad=True)
    out = model(xg)
    dx, = grad(out.sum(), xg, create_graph=True)
    penalty = (((dx * dx).sum(axis=1) - 1.0) ** 2).mean()
    (out.mean() + penalty).backward()

    tloss, tparams = _torch_mlp(model, activation)
    tparams = [p.requires_grad_() for p in tparams]
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[activation]
    xt = torch.tensor(x, requires_grad=True)
    tout = act(xt @ tparams[0] + tparams[1]) @ tparams[2] + tparams[3]
    tdx, = torch.autograd.grad(tout.sum(), xt, create_graph=True)
    tpen = (((tdx * tdx).sum(1) - 1.0) ** 2).mean()
    (tout.mean() + tpen).backward()
    for p, tp in zip(model.parameters(), tparams):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=ORACLE, atol=ORACLE)
    np.testing.assert_allclose(penalty.item(), tpen.item(), rtol=ORACLE)
