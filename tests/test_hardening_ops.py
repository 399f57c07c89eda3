"""Issue 12 at the op boundary: type promotion, pow at a zero base, and the other cases that
gave a silently wrong result or an obscure error. Each test here failed before its fix."""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F

# ----------------------------------------------------------------------------- type promotion

# (left dtype, left is 0-d, right dtype or Python number, right is 0-d) -> result, by PyTorch's rule
PROMOTIONS = [
    ("int64", False, "float32", False, "float32"),
    ("float32", False, "int64", False, "float32"),
    ("int32", False, "float64", True, "float64"),     # a 0-d operand of a higher category counts
    ("float16", False, "float64", True, "float16"),   # ... one of the same category does not
    ("int32", False, "int64", True, "int32"),
    ("bool", False, "uint8", False, "uint8"),
    ("uint8", False, "int8", False, "int16"),
    ("float16", False, "float32", False, "float32"),
    ("int32", True, "float16", True, "float16"),
    ("int64", False, 2.5, None, "float32"),           # a Python float: the default float dtype
    ("float16", False, 2.0, None, "float16"),
    ("bool", False, 2, None, "int64"),
    ("int32", False, 7, None, "int32"),
]


def _operand(dtype, zero_d):
    if not isinstance(dtype, str):
        return dtype
    return gg.tensor(np.ones(() if zero_d else (3,), dtype=dtype))


@pytest.mark.parametrize("da, za, db, zb, expected", PROMOTIONS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "rmul"])
def test_binary_ops_promote_as_pytorch_does(op, da, za, db, zb, expected):
    if op == "sub" and "bool" in (da, db):
        pytest.skip("PyTorch refuses subtraction of bool tensors")
    a, b = _operand(da, za), _operand(db, zb)
    out = {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
           "rmul": lambda: b * a}[op]()
    assert str(out.dtype) == expected


@pytest.mark.parametrize("da, db, expected", [("int64", "float32", "float32"),
                                               ("float16", "float32", "float32"),
                                               ("int32", "int64", "int64")])
def test_maximum_and_minimum_promote_too(da, db, expected):
    a, b = gg.tensor(np.ones(3, da)), gg.tensor(np.zeros(3, db))
    assert str(gg.maximum(a, b).dtype) == expected == str(gg.minimum(b, a).dtype)


@pytest.mark.parametrize("da, za, db, zb, expected", PROMOTIONS)
def test_promotion_table_is_pytorchs(da, za, db, zb, expected):
    torch = pytest.importorskip("torch")
    a = torch.ones(() if za else (3,), dtype=getattr(torch, da))
    b = db if not isinstance(db, str) else torch.ones(() if zb else (3,), dtype=getattr(torch, db))
    assert str((a * b).dtype) == f"torch.{expected}"


def test_integer_division_and_float_maths_give_float32():
    i = gg.tensor([1, 2, 3])
    assert (i / 2).dtype == np.float32 and (i / i).dtype == np.float32
    assert (2 / i).dtype == np.float32
    for f in (gg.exp, gg.log, gg.sqrt):
        assert f(i).dtype == np.float32
    np.testing.assert_allclose((i / 2).numpy(), [0.5, 1.0, 1.5])


def test_matmul_promotes_an_integer_operand_to_the_float_one():
    a = gg.tensor(np.arange(6).reshape(2, 3))
    w = gg.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    y = a @ w
    assert y.dtype == np.float32
    y.sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad.numpy(), np.arange(6).reshape(2, 3).sum(0)[:, None] * np.ones((1, 2)))


def test_gradient_of_a_promoted_input_keeps_its_own_dtype():
    h = gg.tensor(np.ones(3, np.float16), requires_grad=True)
    f = gg.tensor(np.full(3, 2.0, np.float32), requires_grad=True)
    y = h * f
    assert y.dtype == np.float32
    y.sum().backward()
    assert h.grad.dtype == np.float16 and f.grad.dtype == np.float32
    np.testing.assert_allclose(h.grad.numpy(), 2.0)


def test_negative_integer_power_of_an_integer_tensor_names_pow():
    with pytest.raises(ValueError, match="pow: Integers to negative integer powers"):
        gg.tensor([1, 2]) ** -1


# ----------------------------------------------------------------------------- pow at a zero base

@pytest.mark.parametrize("device", ["cpu"])
def test_pow_gradient_at_a_zero_base_is_pytorchs(device):
    a_np = np.array([0.0, 0.0, 1.0, 2.0, 0.0])
    b_np = np.array([0.0, 2.0, 2.0, 1.5, 1.0])
    a = gg.tensor(a_np, dtype="float64", requires_grad=True)
    b = gg.tensor(b_np, dtype="float64", requires_grad=True)
    (a ** b).sum().backward()
    # d/da = b a^(b-1): 0 where b = 0; d/db = a^b log a: 0 where a = 0 and b >= 0
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 0.0, 2.0, 1.5 * 2 ** 0.5, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.0, 0.0, 2 ** 1.5 * np.log(2), 0.0])
    assert np.isfinite(a.grad.numpy()).all() and np.isfinite(b.grad.numpy()).all()


def test_pow_with_a_zero_number_base_or_exponent_has_finite_gradients():
    b = gg.tensor([0.0, 1.0, 2.0], dtype="float64", requires_grad=True)
    (0.0 ** b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 0.0, 0.0])
    a = gg.tensor([0.0, 3.0], dtype="float64", requires_grad=True)
    (a ** 0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])


def test_pow_at_zero_matches_torch_including_second_derivatives():
    torch = pytest.importorskip("torch")
    a_np = np.array([0.0, 0.0, 1.0, 2.0, 0.5])
    b_np = np.array([0.0, 2.0, 2.0, 1.5, 3.0])
    a = gg.tensor(a_np, dtype="float64", requires_grad=True)
    b = gg.tensor(b_np, dtype="float64", requires_grad=True)
    ga, gb = gg.autograd.grad((a ** b).sum(), [a, b], create_graph=True)
    ta = torch.tensor(a_np, requires_grad=True)
    tb = torch.tensor(b_np, requires_grad=True)
    tga, tgb = torch.autograd.grad((ta ** tb).sum(), [ta, tb], create_graph=True)
    np.testing.assert_allclose(ga.numpy(), tga.detach().numpy())
    np.testing.assert_allclose(gb.numpy(), tgb.detach().numpy())
    gga, = gg.autograd.grad(ga.sum(), [a])
    tgga, = torch.autograd.grad(tga.sum(), [ta])
    torch_finite = np.isfinite(tgga.numpy())   # PyTorch's second derivative is NaN at a = b = 0
    np.testing.assert_allclose(gga.numpy()[torch_finite], tgga.numpy()[torch_finite])
    assert np.isfinite(gga.numpy()).all()
