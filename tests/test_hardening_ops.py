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


# ----------------------------------------------------------------------------- the cases

@pytest.mark.parametrize("target", [np.zeros(3), [0.0, 0.0, 0.0], np.zeros((3, 3))])
def test_mse_loss_refuses_a_target_of_another_shape_whatever_its_type(target):
    x = gg.randn(3, 1)
    with pytest.raises(ValueError, match=r"mse_loss: input of shape \(3, 1\) and target of shape"):
        F.mse_loss(x, target)


def test_mse_loss_takes_a_list_or_ndarray_target_of_the_same_shape():
    x = gg.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
    loss = F.mse_loss(x, [[0.0], [0.0], [1.0]])
    np.testing.assert_allclose(loss.item(), (1 + 4 + 4) / 3, rtol=1e-6)
    assert F.mse_loss(x, np.zeros((3, 1))).dtype == np.float32


def test_sigmoid_and_tanh_of_integer_tensors_promote_as_exp_does():
    i = gg.tensor([-1, 0, 2])
    np.testing.assert_allclose(F.sigmoid(i).numpy(), 1 / (1 + np.exp(-np.array([-1.0, 0, 2]))), rtol=1e-6)
    assert F.sigmoid(i).dtype == np.float32 and F.tanh(i).dtype == np.float32
    assert gg.softmax(gg.tensor([[1, 2]]), axis=1).dtype == np.float32


@pytest.mark.parametrize("name, kwargs, expected", [
    ("leaky_relu", {"negative_slope": 0.5}, [-25.0, 0.0, 2.0]),   # was [0, 0, 2]: the slope cast to int
    ("elu", {}, [-1.0, 0.0, 2.0]),
    ("gelu", {}, [-0.0, 0.0, 1.9544997]),                         # was -25 at -50 (int arithmetic)
    ("gelu", {"approximate": "tanh"}, [-0.0, 0.0, 1.9545977]),
    ("silu", {}, [-9.643749e-21, 0.0, 1.761594]),
    ("softplus", {}, [1.9287499e-22, 0.6931472, 2.126928]),
])
def test_pointwise_activations_of_integer_tensors_promote_as_exp_does(name, kwargs, expected):
    # PyTorch's values at float32 (torch.nn.functional.<name>(torch.tensor([-50., 0, 2]), ...))
    y = getattr(F, name)(gg.tensor([-50, 0, 2]), **kwargs)
    assert y.dtype == np.float32   # was float64 (NumPy's int64 -> float64), or int64
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-30)


def test_mean_of_integer_and_bool_tensors_is_float32():
    assert gg.tensor([[1, 2], [4, 7]]).mean(axis=1).dtype == np.float32   # was float64
    np.testing.assert_allclose(gg.tensor([True, False, True, True]).mean().item(), 0.75)


@pytest.mark.parametrize("loss", [F.cross_entropy, F.hinge_loss])
def test_integer_logits_are_refused_naming_the_dtype(loss):
    with pytest.raises(TypeError, match=f"{loss.__name__}: scores must be floating point, got dtype int64"):
        loss(gg.tensor([[1, 2], [3, 4]]), gg.tensor([0, 1]))


@pytest.mark.parametrize("fn", [gg.softmax, gg.log_softmax])
def test_softmax_of_an_empty_tensor_is_empty(fn):
    x = gg.zeros(3, 0, requires_grad=True)
    y = fn(x, 1)
    assert y.shape == (3, 0)
    y.sum().backward()
    assert x.grad.shape == (3, 0)


@pytest.mark.parametrize("fn", [gg.softmax, gg.log_softmax])
def test_softmax_axis_errors_name_the_op(fn):
    with pytest.raises(IndexError, match=f"{fn.__name__}: axis 2 is out of range for a tensor of shape"):
        fn(gg.zeros(2, 3), 2)
    with pytest.raises(TypeError, match=f"{fn.__name__}: the axis must be an int"):
        fn(gg.zeros(2, 3), 1.0)


@pytest.mark.parametrize("join", [gg.concatenate, gg.stack])
def test_concatenate_and_stack_blame_the_axis_not_the_shapes(join):
    xs = [gg.zeros(2, 3), gg.zeros(2, 3)]
    with pytest.raises(IndexError, match=f"{join.__name__}: dimension 5 is out of range"):
        join(xs, axis=5)
    with pytest.raises(TypeError, match=f"{join.__name__}: a dimension must be an int"):
        join(xs, axis=1.0)
    with pytest.raises(TypeError, match=f"{join.__name__}: item 1 is a ndarray"):
        join([gg.zeros(2), np.zeros(2)])


def test_concatenate_promotes_like_torch_cat():
    torch = pytest.importorskip("torch")
    out = gg.concatenate([gg.tensor([1, 2]), gg.tensor([0.5], dtype="float32")])
    ref = torch.cat([torch.tensor([1, 2]), torch.tensor([0.5])])
    assert str(ref.dtype) == f"torch.{out.dtype}"
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_max_and_min_over_a_non_empty_axis_of_an_empty_tensor_are_empty():
    x = gg.randn(0, 3)
    assert x.max(axis=1).shape == (0,) and x.min(axis=1, keepdims=True).shape == (0, 1)
    with pytest.raises(ValueError, match=r"max: a reduction over an empty axis of a tensor of shape \(0, 3\)"):
        x.max(axis=0)
    with pytest.raises(ValueError, match="argmax: an empty axis has no maximum"):
        x.argmax(axis=0)
    assert x.argmax(axis=1).shape == (0,)


@pytest.mark.parametrize("axis", [1.0, "1", True, (0, 1.0)])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_an_axis_that_is_not_an_int_is_a_type_error_naming_the_op(op, axis):
    with pytest.raises(TypeError, match=f"{op}: an axis must be an int"):
        getattr(gg.randn(2, 3), op)(axis=axis)


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "argmax", "argmin"])
def test_an_axis_out_of_range_is_an_index_error_naming_the_op(op):
    with pytest.raises(IndexError, match=rf"{op}: axis 2 is out of range for a tensor of shape \(2, 3\)"):
        getattr(gg.randn(2, 3), op)(axis=2)


def test_a_0d_tensor_reduces_over_axis_0_and_minus_1_as_in_pytorch():
    x = gg.tensor(3.0)
    for op in ("sum", "mean", "max", "min"):
        assert getattr(x, op)(axis=0).item() == 3.0 == getattr(x, op)(axis=-1).item()
    assert x.argmax(axis=0).item() == 0


def test_binary_cross_entropy_of_an_empty_input_sums_to_zero():
    x = gg.zeros(0, requires_grad=True)
    assert F.binary_cross_entropy(x, gg.zeros(0), reduction="sum").item() == 0.0
    with pytest.raises(ValueError, match="binary_cross_entropy: the mean over an empty input"):
        F.binary_cross_entropy(x, gg.zeros(0))
