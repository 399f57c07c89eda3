"""gg.autograd.grad and Tensor.backward(create_graph=, inputs=) with PyTorch's semantics, on both
backends; the torch oracle checks the same calls where PyTorch is installed."""
import numpy as np
import pytest

import gpugrad as gg
from gpugrad.autograd import Op, grad


def f64(values, device="cpu", requires_grad=True):
    return gg.tensor(values, dtype="float64", device=device, requires_grad=requires_grad)


class Spy(Op):
    """Identity that counts its backward calls."""

    calls = 0

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        type(self).calls += 1
        return gy


# --------------------------------------------------------------------------- grad()

def test_grad_returns_gradients_and_leaves_grad_alone(device):
    x, y = f64([1.0, 2.0], device), f64([3.0, -1.0], device)
    out = (x * x * y).sum()
    gx, gy = grad(out, (x, y))
    np.testing.assert_allclose(gx.numpy(), 2 * x.numpy() * y.numpy())
    np.testing.assert_allclose(gy.numpy(), x.numpy() ** 2)
    assert x.grad is None and y.grad is None
    assert gx.dtype == np.float64 and gx.device == device and not gx.requires_grad


def test_grad_with_respect_to_an_intermediate_runs_its_hooks_first(device):
    """As in PyTorch: grad(z, h) is dz/dh after h's hooks; grad(z, x) sees them too."""
    x = f64([1.0, 2.0], device)
    x.register_hook(lambda g: g * 10.0)
    h = x * 2.0
    h.register_hook(lambda g: g * 100.0)
    z = (h * h).sum()
    gh, = grad(z, h, retain_graph=True)
    np.testing.assert_allclose(gh.numpy(), [400.0, 800.0])      # torch: tensor([400., 800.])
    gx, = grad(z, x)
    np.testing.assert_allclose(gx.numpy(), [8000.0, 16000.0])   # torch: tensor([ 8000., 16000.])


def test_grad_of_an_output_with_respect_to_itself(device):
    x = f64([1.0, 2.0], device)
    h = x * 2.0
    g, = grad(h, h, gg.tensor([3.0, 4.0], dtype="float64", device=device))
    np.testing.assert_allclose(g.numpy(), [3.0, 4.0])


def test_grad_runs_only_the_nodes_that_lead_to_the_inputs(device):
    a, b = f64([1.0, 2.0], device), f64([3.0, 4.0], device)
    Spy.calls = 0
    s = Spy()(a)
    out = (s + b * 2.0).sum()
    gb, = grad(out, b)                          # frees the nodes it ran (as PyTorch does)
    np.testing.assert_allclose(gb.numpy(), [2.0, 2.0])
    assert Spy.calls == 0                       # the branch to a never ran...
    ga, = grad(s.sum(), a)                      # ...nor was freed
    assert Spy.calls == 1 and ga.numpy().tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="backward through Sum a second time"):
        out.backward()


def test_grad_unused_inputs(device):
    x, unused = f64([1.0], device), f64([2.0], device)
    out = (x * 3.0).sum()
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(1,\)\) appears not to have been used.*allow_unused=True"):
        grad(out, [x, unused], retain_graph=True)
    gx, gu = grad(out, [x, unused], allow_unused=True)
    assert gu is None and gx.item() == 3.0


def test_grad_errors_name_what_is_wrong(device):
    x = f64([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match=r"grad\(\): input 0 \(shape \(1,\)\) does not require grad"):
        grad((x * 2.0).sum(), f64([1.0], device, requires_grad=False))
    with pytest.raises(RuntimeError, match=r"output 0 \(shape \(2,\)\) does not require grad"):
        grad(f64([1.0, 2.0], device, requires_grad=False) + 1.0, x)
    with pytest.raises(RuntimeError, match=r"grad\(\) without a gradient needs a scalar.*\(2,\)"):
        grad(x * 2.0, x)
    with pytest.raises(ValueError, match=r"the gradient has shape \(3,\) but the output has shape \(2,\)"):
        grad(x * 2.0, x, gg.zeros(3, dtype="float64", device=device))
    with pytest.raises(ValueError, match="2 outputs but 1 gradients"):
        grad([x * 2.0, x * 3.0], x, [None])
    with pytest.raises(TypeError, match=r"inputs\[1\] is a list"):
        grad((x * 2.0).sum(), [x, [1.0]])


def test_grad_frees_the_graph_unless_told_or_creating_one(device):
    x = f64([2.0], device)
    out = (x * x).sum()
    grad(out, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        grad(out, x)
    out = (x * x).sum()
    g, = grad(out, x, create_graph=True)        # retain_graph defaults to create_graph
    assert g.grad_fn is not None and g.requires_grad
    assert grad(out, x)[0].item() == 4.0


def test_grad_with_several_outputs_and_weights(device):
    x = f64([1.0, 2.0], device)
    y1, y2 = x * 3.0, (x * x).sum()
    g, = grad([y1, y2], x, [gg.tensor([1.0, 10.0], dtype="float64", device=device), None])
    np.testing.assert_allclose(g.numpy(), [3.0 + 2.0, 30.0 + 4.0])


def test_grad_in_each_inputs_dtype(device):
    a = gg.tensor([1.0, 2.0], dtype="float32", device=device, requires_grad=True)
    b = f64([3.0, 4.0], device)
    ga, gb = grad((a * b).sum(), (a, b))
    assert ga.dtype == np.float32 and gb.dtype == np.float64


def test_results_of_one_call_do_not_share_memory(device):
    x, y = f64([1.0, 2.0], device), f64([3.0, 4.0], device)
    gx, gy = grad((x + y).sum(), (x, y))       # the add gate hands both one array
    with gg.no_grad():
        gx.data[0] = 7.0
    assert gy.numpy()[0] == 1.0


# --------------------------------------------------------------------------- higher order

def test_hessian_vector_product_by_hand(device):
    """f = Σ x² y: H = [[2y, 2x], [2x, 0]] (per element); H v by grad of <∇f, v>."""
    x, y = f64([1.0, -2.0], device), f64([3.0, 0.5], device)
    f = (x * x * y).sum()
    gx, gy = grad(f, (x, y), create_graph=True)
    vx, vy = np.array([1.0, 2.0]), np.array([-1.0, 4.0])
    dot = (gx * gg.tensor(vx, device=device)).sum() + (gy * gg.tensor(vy, device=device)).sum()
    hx, hy = grad(dot, (x, y))
    xn, yn = x.numpy(), y.numpy()
    np.testing.assert_allclose(hx.numpy(), 2 * yn * vx + 2 * xn * vy)
    np.testing.assert_allclose(hy.numpy(), 2 * xn * vx)


def test_third_derivative_through_the_fused_sigmoid(device):
    """σ''' = σ(1-σ)(1 - 6σ + 6σ²), through Sigmoid -> SigmoidBackward -> its own backward."""
    x = f64([0.3, -1.1], device)
    g1, = grad(x.sigmoid().sum(), x, create_graph=True)
    g2, = grad(g1.sum(), x, create_graph=True)
    g3, = grad(g2.sum(), x)
    s = 1 / (1 + np.exp(-x.numpy()))
    np.testing.assert_allclose(g1.numpy(), s * (1 - s), rtol=1e-12)
    np.testing.assert_allclose(g2.numpy(), s * (1 - s) * (1 - 2 * s), rtol=1e-12)
    np.testing.assert_allclose(g3.numpy(), s * (1 - s) * (1 - 6 * s + 6 * s * s), rtol=1e-12)


def test_backward_create_graph_then_backward_of_the_gradient(device):
    """PyTorch's idiom: y.backward(create_graph=True); x.grad is differentiable."""
    x = f64([2.0, -1.0], device)
    (x ** 3).sum().backward(create_graph=True)
    g = x.grad
    assert g.grad_fn is not None
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())


def test_create_graph_leaf_gradients_are_separate_tensors(device):
    a, b = f64([2.0], device), f64([3.0], device)
    (a + b).sum().backward(create_graph=True)
    assert a.grad is not b.grad and a.grad.array is not b.grad.array
    assert not a.grad.requires_grad            # a constant gradient, as in PyTorch
    c = f64([2.0], device)
    (c * c).sum().backward(create_graph=True)
    (c * c).sum().backward(create_graph=True)  # accumulates, differentiably
    assert c.grad.item() == 8.0 and c.grad.grad_fn is not None


def test_backward_inputs_accumulates_only_into_them(device):
    x, y = f64([1.0, 2.0], device), f64([3.0, 4.0], device)
    h = x * y
    (h * 2.0).sum().backward(inputs=[x, h])
    np.testing.assert_allclose(x.grad.numpy(), 2 * y.numpy())
    np.testing.assert_allclose(h.grad.numpy(), [2.0, 2.0])
    assert y.grad is None


def test_hooks_see_tensors_in_a_recorded_pass(device):
    x = f64([1.0, 3.0], device)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.requires_grad) or g * g)
    (x * x).sum().backward(create_graph=True)   # hook squares the gradient 2x
    assert seen == [True]
    np.testing.assert_allclose(x.grad.numpy(), (2 * x.numpy()) ** 2)
    handle.remove()                             # (it would square this pass's gradient too)
    h, = grad(x.grad.sum(), x)
    np.testing.assert_allclose(h.numpy(), 8 * x.numpy())    # d/dx (2x)² = 8x


def test_a_freed_graph_cannot_be_differentiated_twice(device):
    x = f64([1.5], device)
    y = x.exp()
    g, = grad(y.sum(), x, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="backward through Exp a second time"):
        grad(g.sum(), x)


# --------------------------------------------------------------------------- PyTorch oracle

def test_grad_semantics_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4))
    w = rng.standard_normal((4, 2))

    def run(lib):
        t = (lambda v: torch.tensor(v, requires_grad=True)) if lib == "torch" else \
            (lambda v: gg.tensor(v, requires_grad=True))
        g = torch.autograd.grad if lib == "torch" else grad
        x, m = t(a), t(w)
        h = (x @ m).tanh()
        out = (h * h).sum()
        gh, gm = g(out, (h, m), create_graph=True)
        second = g((gh * gh).sum() + gm.sum(), (x, m))
        num = (lambda u: u.detach().numpy()) if lib == "torch" else (lambda u: u.numpy())
        return [num(u) for u in (gh, gm) + tuple(second)]

    for mine, want in zip(run("gg"), run("torch")):
        np.testing.assert_allclose(mine, want, rtol=1e-12, atol=1e-12)


def test_an_empty_batch_gives_zero_gradients_in_both_kinds_of_pass(device):
    import gpugrad.nn.functional as F
    x = gg.zeros(0, 3, dtype="float64", device=device, requires_grad=True)
    w, b = f64(np.ones((3, 2)), device), f64([0.5, -0.5], device)
    for create_graph in (False, True):
        gx, gw, gb = grad(F.linear(x, w, b, activation="sigmoid").sum(), (x, w, b),
                          create_graph=create_graph)
        assert gx.shape == (0, 3) and not gw.numpy().any() and not gb.numpy().any()
