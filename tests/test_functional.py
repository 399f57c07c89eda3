"""gg.autograd.functional: jacobian, hessian, vjp, jvp, vhp, hvp, checked against closed forms on
both backends and against torch.autograd.functional where PyTorch is installed."""
import numpy as np
import pytest

import gpugrad as gg
from gpugrad.autograd import functional as AF


def f64(values, device="cpu", requires_grad=False):
    return gg.tensor(values, dtype="float64", device=device, requires_grad=requires_grad)


A = np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]])


def cubic(x):           # f(x) = Σ x³ + x0 x1: ∇ = 3x² + (x1, x0, 0), H = 6 diag(x) + offdiag
    return (x ** 3).sum() + x[0] * x[1]


def test_jacobian_of_a_linear_map_is_its_matrix(device):
    a = f64(A, device)
    x = f64([1.0, -1.0, 2.0], device)
    jac = AF.jacobian(lambda v: a @ v, x)
    assert jac.shape == (2, 3) and not jac.requires_grad
    np.testing.assert_allclose(jac.numpy(), A)


def test_jacobian_shapes_for_tuples(device):
    x, y = f64([1.0, 2.0], device), f64([[3.0, 4.0, 5.0]], device)
    jac = AF.jacobian(lambda u, v: (u * 2.0, (u.sum() * v)), (x, y))
    (j00, j01), (j10, j11) = jac
    assert j00.shape == (2, 2) and j01.shape == (2, 1, 3)
    assert j10.shape == (1, 3, 2) and j11.shape == (1, 3, 1, 3)
    np.testing.assert_allclose(j00.numpy(), 2 * np.eye(2))
    np.testing.assert_allclose(j01.numpy(), 0)
    np.testing.assert_allclose(j10.numpy()[0], [[3.0, 3.0], [4.0, 4.0], [5.0, 5.0]])
    np.testing.assert_allclose(j11.numpy()[0, :, 0, :], 3.0 * np.eye(3))


def test_hessian_of_a_cubic(device):
    x = f64([1.0, -2.0, 0.5], device)
    hess = AF.hessian(cubic, x)
    want = np.diag(6 * x.numpy())
    want[0, 1] = want[1, 0] = 1.0
    np.testing.assert_allclose(hess.numpy(), want)


def test_vector_products(device):
    x = f64([1.0, -2.0, 0.5], device)
    v = f64([0.3, 1.0, -2.0], device)
    hess = np.diag(6 * x.numpy())
    hess[0, 1] = hess[1, 0] = 1.0
    out, hv = AF.hvp(cubic, x, v)
    np.testing.assert_allclose(hv.numpy(), hess @ v.numpy())
    out2, vh = AF.vhp(cubic, x, v)
    np.testing.assert_allclose(vh.numpy(), v.numpy() @ hess)
    assert out.item() == pytest.approx(cubic(x).item()) == out2.item()
    a = f64(A, device)
    w = f64([1.0, -1.0], device)
    y, vj = AF.vjp(lambda u: (a @ u).tanh(), x, w)
    dt = 1 - np.tanh(A @ x.numpy()) ** 2
    np.testing.assert_allclose(vj.numpy(), (w.numpy() * dt) @ A)
    y, jv = AF.jvp(lambda u: (a @ u).tanh(), x, v)
    np.testing.assert_allclose(jv.numpy(), dt * (A @ v.numpy()))
    np.testing.assert_allclose(y.numpy(), np.tanh(A @ x.numpy()))


def test_create_graph_results_are_differentiable(device):
    """The Jacobian of a create_graph Jacobian of the gradient is the third derivative."""
    x = f64([0.5, -1.0], device, requires_grad=True)
    hess = AF.hessian(lambda u: u.exp().sum(), x, create_graph=True)
    assert hess.requires_grad
    third, = gg.autograd.grad(hess.sum(), x)
    np.testing.assert_allclose(third.numpy(), np.exp(x.numpy()))   # d/dx of diag(e^x)
    jac = AF.jacobian(lambda u: AF.jacobian(lambda w: w.exp() * 2.0, u, create_graph=True), x)
    np.testing.assert_allclose(jac.numpy()[[0, 1], [0, 1], [0, 1]], 2 * np.exp(x.numpy()))


def test_independent_outputs(device):
    x, y = f64([1.0], device), f64([2.0], device)
    hess = AF.hessian(lambda u, v: (u * 3.0).sum() + (v * v).sum(), (x, y))
    np.testing.assert_allclose(hess[0][0].numpy(), [[0.0]])
    np.testing.assert_allclose(hess[1][1].numpy(), [[2.0]])
    with pytest.raises(RuntimeError, match="independent of input 1.*strict=True"):
        AF.vjp(lambda u, v: u * 2.0, (x, y), f64([1.0], device), strict=True)


def test_errors(device):
    x = f64([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="hessian: the function must return a single-element Tensor, got shape \\(2,\\)"):
        AF.hessian(lambda u: u * 2.0, x)
    with pytest.raises(RuntimeError, match="vjp: v may be omitted only when every output has one element"):
        AF.vjp(lambda u: u * 2.0, x)
    with pytest.raises(ValueError, match=r"jvp: v has shapes \[\(3,\)\], the inputs have \[\(2,\)\]"):
        AF.jvp(lambda u: u * 2.0, x, f64([1.0, 2.0, 3.0], device))
    with pytest.raises(TypeError, match="jacobian: inputs must be a Tensor or a tuple of Tensors, got list"):
        AF.jacobian(lambda u: u, [1.0])


def test_functional_equals_pytorch():
    torch = pytest.importorskip("torch")
    TF = torch.autograd.functional
    rng = np.random.default_rng(7)
    xa, wa, va = rng.standard_normal(3), rng.standard_normal((3, 3)), rng.standard_normal(3)

    def ours(x):
        return ((gg.tensor(wa) @ x).sigmoid() * x).sum()

    def theirs(x):
        return (torch.sigmoid(torch.tensor(wa) @ x) * x).sum()

    x, xt, v, vt = f64(xa), torch.tensor(xa), f64(va), torch.tensor(va)
    pairs = [
        (AF.hessian(ours, x), TF.hessian(theirs, xt)),
        (AF.hvp(ours, x, v)[1], TF.hvp(theirs, xt, vt)[1]),
        (AF.vhp(ours, x, v)[1], TF.vhp(theirs, xt, vt)[1]),
        (AF.jacobian(lambda u: (gg.tensor(wa) @ u).tanh(), x),
         TF.jacobian(lambda u: torch.tanh(torch.tensor(wa) @ u), xt)),
        (AF.jvp(lambda u: (gg.tensor(wa) @ u).tanh(), x, v)[1],
         TF.jvp(lambda u: torch.tanh(torch.tensor(wa) @ u), xt, vt)[1]),
        (AF.vjp(lambda u: (gg.tensor(wa) @ u).tanh(), x, v)[1],
         TF.vjp(lambda u: torch.tanh(torch.tensor(wa) @ u), xt, vt)[1]),
    ]
    for mine, want in pairs:
        np.testing.assert_allclose(mine.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
