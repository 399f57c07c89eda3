"""gg.autograd.Function: PyTorch's custom-op API (forward/backward with ctx, apply), on the same
saved-state contract as the built-in ops, on both backends."""
import weakref

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.autograd import Function, grad


def f64(values, device="cpu", requires_grad=True):
    return gg.tensor(values, dtype="float64", device=device, requires_grad=requires_grad)


class Cube(Function):
    """y = x³, with a backward written in gpugrad ops (so it is differentiable itself)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * 3.0 * x * x


class ScaledMul(Function):
    """z = a * b * scale (scale a Python number): dA = dz b scale, dB = dz a scale."""

    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        ctx.needs = ctx.needs_input_grad
        return a * b * scale

    @staticmethod
    def backward(ctx, gz):
        a, b = ctx.saved_tensors
        return (gz * b * ctx.scale if ctx.needs_input_grad[0] else None,
                gz * a * ctx.scale if ctx.needs_input_grad[1] else None, None)


class SortValues(Function):
    """(sorted values, their indices): the indices are marked non-differentiable."""

    @staticmethod
    def forward(ctx, x):
        order = x.array.argsort()
        ctx.order = order
        values = x[order]
        indices = gg.tensor(order, device=x.device).astype("float64")
        ctx.mark_non_differentiable(indices)
        return values, indices

    @staticmethod
    def backward(ctx, g_values, g_indices):
        ctx.seen_g_indices = g_indices.numpy().copy()
        xp = g_values.device.xp
        gx = xp.zeros_like(g_values.array)
        gx[ctx.order] = g_values.array
        return gg.Tensor(gx)


def test_a_custom_function_computes_and_differentiates(device):
    x = f64([1.0, -2.0, 0.5], device)
    y = Cube.apply(x)
    np.testing.assert_allclose(y.numpy(), x.numpy() ** 3)
    assert type(y.grad_fn).__name__ == "Cube"          # its node is named after it
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)


def test_gradcheck_and_gradgradcheck_pass_for_a_custom_function(device, rng):
    x = f64(rng.standard_normal((2, 3)), device)
    a, b = f64(rng.standard_normal(4), device), f64(rng.standard_normal(4), device)
    assert gg.gradcheck(Cube.apply, [x])
    assert gg.gradgradcheck(Cube.apply, [x])
    assert gg.gradgradcheck(lambda a, b: ScaledMul.apply(a, b, 2.5), [a, b])


def test_second_derivative_through_saved_tensors(device):
    x = f64([1.0, -2.0], device)
    g, = grad(Cube.apply(x).sum(), x, create_graph=True)
    h, = grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())


def test_needs_input_grad_and_non_tensor_arguments(device):
    a, b = f64([2.0], device), f64([3.0], device, requires_grad=False)
    z = ScaledMul.apply(a, b, 0.5)
    assert z.grad_fn is not None
    z.sum().backward()
    assert a.grad.item() == 1.5 and b.grad is None
    ctx_needs = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, u, v):
            ctx_needs.append(ctx.needs_input_grad)
            return u + v

        @staticmethod
        def backward(ctx, g):
            return g, g

    Probe.apply(a, b)
    assert ctx_needs == [(True, False)]


def test_mark_non_differentiable(device):
    x = f64([3.0, 1.0, 2.0], device)
    values, indices = SortValues.apply(x)
    assert values.requires_grad and not indices.requires_grad and indices.grad_fn is None
    np.testing.assert_allclose(values.numpy(), [1.0, 2.0, 3.0])
    ctx = values.grad_fn.ctx
    del indices                                 # a freed output still gets its zeros
    (values * gg.tensor([1.0, 10.0, 100.0], dtype="float64", device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [100.0, 1.0, 10.0])
    assert ctx.seen_g_indices.tolist() == [0.0, 0.0, 0.0]   # zeros for the marked output


def test_forward_runs_without_recording():
    seen = []

    class Peek(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2.0
            seen.append((gg.is_grad_enabled(), y.grad_fn))
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    Peek.apply(f64([1.0]))
    assert seen == [(False, None)]


def test_same_saved_state_contract_as_the_built_in_ops(device):
    """ctx.save_for_backward is the node's save_for_backward: the same saved tuple, the same
    version check, the same freeing."""
    x = f64([1.0, 2.0], device)
    y = Cube.apply(x)
    node = y.grad_fn
    assert node.saved[0] is x.array and node.saved_versions[0][1] is x
    x.data[0] = 5.0
    with pytest.raises(RuntimeError, match=r"backward through Cube: an input of shape \(2,\).*modified in place"):
        y.sum().backward()

    x = f64(np.ones(1000), device)
    y = Cube.apply(x)
    held = weakref.ref(y.grad_fn.saved[0])
    ctx = y.grad_fn.ctx
    del x
    y.sum().backward()
    assert held() is None                       # released by the backward pass
    with pytest.raises(RuntimeError, match="freed by a backward pass.*retain_graph=True"):
        ctx.saved_tensors
    with pytest.raises(RuntimeError, match="backward through Cube a second time"):
        y.sum().backward()


def test_errors_say_what_is_wrong(device):
    x = f64([1.0, 2.0], device)

    class WrongCount(Function):
        @staticmethod
        def forward(ctx, u, v):
            return u + v

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match=r"WrongCount.backward returned 1 gradients; expected 2"):
        WrongCount.apply(x, x * 1.0).sum().backward()

    class WrongShape(Function):
        @staticmethod
        def forward(ctx, u):
            return u.sum()

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(ValueError, match=r"WrongShape.backward returned a gradient of shape \(\) for argument 0, of shape \(2,\)"):
        WrongShape.apply(x).backward()

    class NotATensor(Function):
        @staticmethod
        def forward(ctx, u):
            return u.numpy()

    with pytest.raises(TypeError, match="NotATensor.forward must return a Tensor or a tuple of Tensors, got ndarray"):
        NotATensor.apply(x)

    with pytest.raises(TypeError, match="save Tensors"):
        class SavesANumber(Function):
            @staticmethod
            def forward(ctx, u):
                ctx.save_for_backward(3.0)
                return u

        SavesANumber.apply(x)


def test_the_old_op_style_is_refused_with_the_way_out():
    with pytest.raises(TypeError, match=r"Legacy.forward is not a @staticmethod.*gpugrad.autograd.Op"):
        class Legacy(Function):
            def forward(self, x):
                return x

    with pytest.raises(TypeError, match=r"Cube\(\) is not how a Function is used.*Cube.apply"):
        Cube()


def test_custom_function_equals_pytorch():
    torch = pytest.importorskip("torch")

    class TorchCube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, gy):
            x, = ctx.saved_tensors
            return gy * 3.0 * x * x

    a = np.array([0.5, -1.5, 2.0])
    x, xt = f64(a), torch.tensor(a, requires_grad=True)
    g, = grad((Cube.apply(x) * x).sum(), x, create_graph=True)
    gt, = torch.autograd.grad((TorchCube.apply(xt) * xt).sum(), xt, create_graph=True)
    h, = grad((g * g).sum(), x)
    ht, = torch.autograd.grad((gt * gt).sum(), xt)
    np.testing.assert_allclose(g.numpy(), gt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=1e-12)
