"""The tensor ops of issue 15 (where, gather, pad, cumsum, var/std, logsumexp, norm, cat,
squeeze/unsqueeze, expand, repeat, flip, split/chunk, einsum) and the smooth activations:
first derivatives on each backend, values equal to PyTorch's (float64), closed forms that
stand without PyTorch, and errors that name the op and the shapes."""
import math

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from op_cases import BY_NAME, draw_inputs
from conftest import assert_raises_naming, to_np

NEW_CASES = ["gelu", "gelu_tanh", "silu", "elu", "softplus", "leaky_relu", "where", "gather",
             "take_along_axis_broadcast", "pad_constant", "pad_reflect", "pad_replicate",
             "pad_circular", "flip", "split", "chunk_all", "repeat", "repeat_interleave", "expand",
             "einsum_matmul", "einsum_diagonal_batch", "einsum_broadcast_labels",
             "einsum_ellipsis_implicit", "var",
             "std_correction0_all", "var_keepdim", "logsumexp", "logsumexp_all", "norm2", "norm3",
             "norm1_keepdim", "norm_inf", "cumsum"]


@pytest.mark.parametrize("name", NEW_CASES)
def test_gradcheck(name, device, rng):
    case = BY_NAME[name]
    assert gg.gradcheck(case.fn, draw_inputs(case, rng, device))


@pytest.mark.parametrize("name", NEW_CASES)
def test_values_and_gradients_equal_pytorchs(name, rng):
    torch = pytest.importorskip("torch")
    case = BY_NAME[name]
    xs = draw_inputs(case, rng)
    ts = [torch.tensor(x.numpy(), requires_grad=True) for x in xs]
    out, tout = case.fn(*xs), case.torch_fn(*ts)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-13)
    v = rng.standard_normal(out.shape)
    (out * gg.tensor(v)).sum().backward()
    (tout * torch.tensor(v)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_einsum_promotes_before_it_contracts(device):
    """float64 with float32: the float32 operand is promoted first (PyTorch's rule), so no pair
    is contracted in float32 (NumPy's optimised einsum summed it there: 5e-9 off)."""
    a = np.array([[0.82177012]])
    b = np.random.default_rng(1).standard_normal((2, 1)).astype(np.float32)
    out = gg.einsum("ij,jk->ik", gg.tensor(a, device=device), gg.tensor(b, device=device))
    assert out.dtype == np.float64
    np.testing.assert_allclose(to_np(out), np.einsum("ij,jk->ik", a, b.astype(np.float64)), rtol=1e-15)


# --------------------------------------------------------------------------- closed forms

def test_reductions_against_numpy(device, rng):
    a = rng.standard_normal((3, 4, 5))
    x = gg.tensor(a, device=device)
    np.testing.assert_allclose(x.var(dim=1).numpy(), a.var(1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(gg.std(x, (0, 2), unbiased=False).numpy(), a.std((0, 2)), rtol=1e-12)
    np.testing.assert_allclose(x.var(ddof=3).numpy(), a.var(ddof=3), rtol=1e-12)
    np.testing.assert_allclose(x.logsumexp(-1, keepdim=True).numpy(),
                               np.log(np.exp(a).sum(-1, keepdims=True)), rtol=1e-12)
    big = gg.tensor([[1000.0, 1000.0], [-np.inf, -np.inf]], device=device)
    np.testing.assert_allclose(big.logsumexp(1).numpy(), [1000 + math.log(2), -np.inf])
    np.testing.assert_allclose(x.norm().numpy(), np.linalg.norm(a.ravel()), rtol=1e-12)
    np.testing.assert_allclose(gg.norm(x, 0.5, axis=2).numpy(),
                               (np.abs(a) ** 0.5).sum(2) ** 2, rtol=1e-12)
    np.testing.assert_allclose(gg.norm(x, -np.inf, 0).numpy(), np.abs(a).min(0), rtol=1e-12)
    np.testing.assert_array_equal(gg.norm(gg.tensor([0.0, 2.0, -1.0], device=device), 0).numpy(), 2)
    np.testing.assert_allclose(x.cumsum(1).numpy(), a.cumsum(1), rtol=1e-12)
    np.testing.assert_array_equal(gg.cumsum(gg.tensor([[1, 2], [3, 4]], device=device)).numpy(),
                                  [1, 3, 6, 10])


def test_dim_is_an_alias_of_axis(rng):
    a = rng.standard_normal((3, 4))
    x = gg.tensor(a)
    for f in (gg.softmax, F.log_softmax, gg.logsumexp, gg.cumsum, gg.var, gg.argmax):
        np.testing.assert_array_equal(f(x, dim=0).numpy(), f(x, axis=0).numpy())
    np.testing.assert_array_equal(x.softmax(dim=0).numpy(), x.softmax(0).numpy())
    assert x.max(dim=1, keepdim=True).values.shape == (3, 1) and gg.cat([x, x], dim=1).shape == (3, 8)
    with pytest.raises(TypeError, match="softmax: give axis or dim"):
        gg.softmax(x, 0, dim=1)


def test_norm_gradient_at_zero_is_zero(device):
    x = gg.zeros(3, dtype="float64", device=device, requires_grad=True)
    x.norm().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_selection_and_arrangement_against_numpy(device, rng):
    a = rng.standard_normal((3, 4))
    x = gg.tensor(a, device=device)
    cond = gg.tensor(a > 0, device=device)
    np.testing.assert_array_equal(gg.where(cond, x, 0.0).numpy(), np.where(a > 0, a, 0))
    np.testing.assert_array_equal(x.where(cond, -1.0).numpy(), np.where(a > 0, a, -1))
    rows, cols = gg.where(cond)
    np.testing.assert_array_equal(rows.numpy(), np.nonzero(a > 0)[0])
    idx = np.array([[3, 0], [1, 1], [0, 2]])
    np.testing.assert_array_equal(gg.gather(x, 1, gg.tensor(idx, device=device)).numpy(),
                                  np.take_along_axis(a, idx, 1))
    np.testing.assert_array_equal(
        gg.take_along_axis(x, gg.tensor([[-1, 0, 2]], device=device), axis=1).numpy(),
        np.take_along_axis(a, np.array([[-1, 0, 2]] * 3), 1))
    for mode, np_mode in (("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")):
        np.testing.assert_array_equal(F.pad(x, (2, 1, 1, 2), mode=mode).numpy(),
                                      np.pad(a, ((1, 2), (2, 1)), mode=np_mode))
    np.testing.assert_array_equal(F.pad(x, (1, -2), value=7.0).numpy(),
                                  np.pad(a[:, :2], ((0, 0), (1, 0)), constant_values=7))
    np.testing.assert_array_equal(x.flip(0).numpy(), a[::-1])
    np.testing.assert_array_equal(x.repeat(2, 3).numpy(), np.tile(a, (2, 3)))
    np.testing.assert_array_equal(gg.tile(x, (2,)).numpy(), np.tile(a, 2))
    np.testing.assert_array_equal(x.repeat_interleave(gg.tensor([1, 0, 2]), dim=0).numpy(),
                                  np.repeat(a, [1, 0, 2], axis=0))
    pieces = x.split(3, dim=1)
    assert [p.shape for p in pieces] == [(3, 3), (3, 1)]
    assert [p.shape for p in x.chunk(3, 1)] == [(3, 2), (3, 2)]
    assert [p.shape for p in gg.unbind(x, 1)] == [(3,)] * 4
    np.testing.assert_array_equal(gg.cat(list(pieces), dim=1).numpy(), a)
    assert x.unsqueeze(-1).shape == (3, 4, 1) and x.unsqueeze(0).squeeze().shape == (3, 4)
    assert gg.squeeze(x.reshape(1, 3, 1, 4), dim=(0, 1)).shape == (3, 1, 4)
    assert x[:1].expand(5, -1).shape == (5, 4) and x.broadcast_to((2, 3, 4)).shape == (2, 3, 4)
    b = rng.standard_normal((4, 2))
    np.testing.assert_allclose(gg.einsum("ij,jk", x, gg.tensor(b, device=device)).numpy(), a @ b,
                               rtol=1e-12)
    np.testing.assert_allclose(gg.einsum("ii", gg.tensor(a[:3, :3], device=device)).numpy(),
                               np.trace(a[:3, :3]), rtol=1e-12)


def test_gather_gradient_adds_over_repeated_indices(device):
    x = gg.zeros(2, 3, dtype="float64", device=device, requires_grad=True)
    x.gather(1, gg.tensor([[2, 2, 2, 0]], device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 3], [0, 0, 0]])


def test_activations_against_closed_forms(device, rng):
    a = rng.standard_normal(50) * 3
    x = gg.tensor(a, device=device)
    erfc = np.vectorize(math.erfc)
    np.testing.assert_allclose(F.gelu(x).numpy(), a * 0.5 * erfc(-a / math.sqrt(2)), rtol=1e-12)
    np.testing.assert_allclose(F.silu(x).numpy(), a / (1 + np.exp(-a)), rtol=1e-12)
    np.testing.assert_allclose(F.elu(x, 2.0).numpy(), np.where(a > 0, a, 2 * np.expm1(a)), rtol=1e-12)
    np.testing.assert_allclose(F.softplus(x).numpy(), np.logaddexp(0, a), rtol=1e-12)
    np.testing.assert_allclose(F.leaky_relu(x, 0.2).numpy(), np.where(a > 0, a, 0.2 * a))


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,exc,words", [
    (lambda x: gg.where(x, x, x), TypeError, ["where", "boolean", "float64"]),
    (lambda x: x.gather(1, gg.tensor([[5]])), IndexError, ["gather", "5", "size 4"]),
    (lambda x: x.gather(1, gg.tensor([[0]] * 4)), ValueError, ["gather", "(4, 1)", "(3, 4)"]),
    (lambda x: x.gather(0, x), TypeError, ["gather", "integers", "float64"]),
    (lambda x: F.pad(x, (4, 0), mode="reflect"), ValueError, ["pad", "reflect", "(3, 4)"]),
    (lambda x: F.pad(x, (1,)), ValueError, ["pad", "even", "(3, 4)"]),
    (lambda x: F.pad(x, (1, 1), mode="mirror"), ValueError, ["pad", "mirror"]),
    (lambda x: x.var(dim=2), IndexError, ["var", "axis 2", "(3, 4)"]),
    (lambda x: x.sum(axis=0, dim=0), TypeError, ["sum", "dim"]),
    (lambda x: gg.var(gg.tensor([1, 2])), TypeError, ["var", "int"]),
    (lambda x: x.norm(p="nuc"), ValueError, ["norm", "nuc"]),
    (lambda x: x.split([1, 2], dim=1), ValueError, ["split", "[1, 2]", "(3, 4)"]),
    (lambda x: x.chunk(0), ValueError, ["chunk", "0"]),
    (lambda x: x.repeat(2), ValueError, ["repeat", "(3, 4)"]),
    (lambda x: x.expand(3, 5), ValueError, ["(3, 4)", "(3, 5)"]),
    (lambda x: x.unsqueeze(3), IndexError, ["unsqueeze", "3"]),
    (lambda x: x.flip((0, 0)), ValueError, ["flip", "twice"]),
    (lambda x: gg.einsum("ij,jk->ik", x, x), ValueError, ["einsum", "(3, 4)"]),
    (lambda x: gg.einsum("ijk", x), ValueError, ["einsum", "ijk", "(3, 4)"]),
    (lambda x: F.gelu(x, approximate="fast"), ValueError, ["gelu", "fast"]),
])
def test_bad_input_names_the_op_and_shapes(call, exc, words):
    assert_raises_naming(exc, words, call, gg.tensor(np.arange(12.0).reshape(3, 4)))
