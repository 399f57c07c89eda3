"""In-place ops (gpugrad/functions/inplace.py, assign.py): values, the version rule, views sharing
their base's counter, PyTorch's refusals, the recorded (rebased) way, on both backends.

The recorded way's gradients and second derivatives are also checked through tests/op_cases.py
(setitem, fill_, copy_, zero_, the arithmetic chain) by tests/test_higher_order.py."""
import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn

from conftest import to_np


def f64(values, device="cpu", requires_grad=False):
    return gg.tensor(values, dtype="float64", device=device, requires_grad=requires_grad)


A = np.array([[0.5, -1.5, 2.0], [3.0, -0.25, 1.0]])
B = np.array([[2.0, 0.5, -4.0], [1.5, 2.0, -0.5]])

# name, call on (tensor, other tensor), the NumPy result on (a, b)
BINARY_AND_UNARY = [
    ("add_", lambda t, u: t.add_(u), lambda a, b: a + b),
    ("add_alpha", lambda t, u: t.add_(u, alpha=-2.0), lambda a, b: a - 2 * b),
    ("sub_", lambda t, u: t.sub_(u), lambda a, b: a - b),
    ("mul_", lambda t, u: t.mul_(u), lambda a, b: a * b),
    ("div_", lambda t, u: t.div_(u), lambda a, b: a / b),
    ("pow_", lambda t, u: t.abs_().pow_(2.5), lambda a, b: np.abs(a) ** 2.5),
    ("iadd", lambda t, u: t.__iadd__(u), lambda a, b: a + b),
    ("isub_number", lambda t, u: t.__isub__(0.5), lambda a, b: a - 0.5),
    ("imul_broadcast", lambda t, u: t.__imul__(u[0]), lambda a, b: a * b[0]),
    ("itruediv", lambda t, u: t.__itruediv__(u), lambda a, b: a / b),
    ("ipow", lambda t, u: t.__ipow__(2), lambda a, b: a ** 2),
    ("neg_", lambda t, u: t.neg_(), lambda a, b: -a),
    ("abs_", lambda t, u: t.abs_(), np.abs),
    ("exp_", lambda t, u: t.exp_(), lambda a, b: np.exp(a)),
    ("log_", lambda t, u: t.abs_().log_(), lambda a, b: np.log(np.abs(a))),
    ("sqrt_", lambda t, u: t.abs_().sqrt_(), lambda a, b: np.sqrt(np.abs(a))),
    ("relu_", lambda t, u: t.relu_(), lambda a, b: np.maximum(a, 0)),
    ("sigmoid_", lambda t, u: t.sigmoid_(), lambda a, b: 1 / (1 + np.exp(-a))),
    ("tanh_", lambda t, u: t.tanh_(), lambda a, b: np.tanh(a)),
    ("clamp_", lambda t, u: t.clamp_(-1.0, 1.0), lambda a, b: np.clip(a, -1, 1)),
    ("clip_", lambda t, u: t.clip_(min=0.0), lambda a, b: np.maximum(a, 0)),
    ("clamp_min_", lambda t, u: t.clamp_min_(0.7), lambda a, b: np.maximum(a, 0.7)),
    ("clamp_max_", lambda t, u: t.clamp_max_(0.7), lambda a, b: np.minimum(a, 0.7)),
    ("clamp_tensor", lambda t, u: t.clamp_(max=u), lambda a, b: np.minimum(a, b)),
    ("fill_", lambda t, u: t.fill_(3.5), lambda a, b: np.full_like(a, 3.5)),
    ("zero_", lambda t, u: t.zero_(), lambda a, b: np.zeros_like(a)),
    ("copy_", lambda t, u: t.copy_(u), lambda a, b: b),
    ("copy_broadcast", lambda t, u: t.copy_(u[1]), lambda a, b: np.broadcast_to(b[1], a.shape)),
    ("masked_fill_", lambda t, u: t.masked_fill_(u > 0.6, -7.0), lambda a, b: np.where(b > 0.6, -7.0, a)),
    ("addcmul_", lambda t, u: t.addcmul_(u, u, value=0.5), lambda a, b: a + 0.5 * b * b),
    ("addcdiv_", lambda t, u: t.addcdiv_(u, u + 10.0, value=2), lambda a, b: a + 2 * b / (b + 10)),
]


@pytest.mark.parametrize("name,call,expect", BINARY_AND_UNARY, ids=[c[0] for c in BINARY_AND_UNARY])
def test_each_in_place_op_writes_its_result_into_the_same_array_and_bumps_the_version(name, call, expect, device):
    t, u = f64(A, device), f64(B, device)
    array, version = t.array, t._version
    out = call(t, u)
    assert out is t and t.array is array
    assert t._version > version and t.modified_by() is not None
    np.testing.assert_allclose(to_np(t), expect(A, B), rtol=1e-12)


@pytest.mark.parametrize("index,value", [
    ((0, 1), 9.0), ((slice(None), 2), [7.0, 8.0]), ((1,), [1.0, 2.0, 3.0]),
    (([0, 1], [2, 0]), -1.0), ((np.array([True, False]),), 4.0), ((Ellipsis, 0), 0.0)])
def test_setitem_writes_like_numpy(index, value, device):
    t = f64(A, device)
    expect = A.copy()
    expect[index] = value
    index = tuple(gg.tensor(p, device=device) if isinstance(p, np.ndarray) else p for p in index)
    array = t.array
    t[index] = value
    assert t.array is array and t._version == 1
    np.testing.assert_array_equal(to_np(t), expect)


def test_setitem_with_a_tensor_value_and_tensor_index(device):
    t = f64(A, device)
    t[gg.tensor([1, 0], device=device)] = f64(B, device)
    np.testing.assert_array_equal(to_np(t), B[[1, 0]])


def test_uniform_and_normal_fill_in_place_from_the_seeded_generator(device):
    gg.manual_seed(3)
    t = gg.zeros(2000, device=device)
    array = t.array
    t.uniform_(-2.0, 2.0)
    values = to_np(t).copy()
    assert t.array is array and values.min() >= -2.0 and values.max() <= 2.0 and values.std() > 1.0
    t.normal_(1.0, 0.5)
    assert abs(to_np(t).mean() - 1.0) < 0.05 and abs(to_np(t).std() - 0.5) < 0.05
    gg.manual_seed(3)
    again = gg.zeros(2000, device=device).uniform_(-2.0, 2.0)
    np.testing.assert_array_equal(to_np(again), values)


# --------------------------------------------------------------------------- the manual update

def test_manual_sgd_update_under_no_grad_changes_the_parameters_in_place(device):
    """Issue 16's silent difference 2: without __isub__, `p -= lr * p.grad` rebound the loop
    variable and the model stayed as it was."""
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
    x = gg.randn(5, 3, device=device)
    loss = (model(x) ** 2).mean()
    loss.backward()
    params = list(model.parameters())
    arrays = [p.array for p in params]
    expect = [to_np(p) - 0.1 * to_np(p.grad) for p in params]
    with gg.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    for p, array, e in zip(model.parameters(), arrays, expect):
        assert p.array is array                     # no copy: the same memory
        assert p.requires_grad and p.grad_fn is None
        np.testing.assert_allclose(to_np(p), e, rtol=1e-6)
    assert (model(x) ** 2).mean().item() < loss.item()


def test_zero_grad_by_hand_and_in_place_init_under_no_grad(device):
    w = f64(A, device, requires_grad=True)
    (w * w).sum().backward()
    w.grad.zero_()
    np.testing.assert_array_equal(to_np(w.grad), np.zeros_like(A))
    with gg.no_grad():
        w.fill_(1.0)
        w[0, 0] = 5.0
    assert w.grad_fn is None and w.requires_grad
    np.testing.assert_array_equal(to_np(w), [[5, 1, 1], [1, 1, 1]])


# --------------------------------------------------------------------------- the version rule

def test_a_leaf_that_requires_grad_is_refused_outside_no_grad(device):
    w = f64(A, device, requires_grad=True)
    for call in (lambda: w.add_(1.0), lambda: w.__isub__(1.0), lambda: w.zero_(),
                 lambda: w.__setitem__(0, 1.0), lambda: w.copy_(f64(B, device))):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*no_grad"):
            call()
    np.testing.assert_array_equal(to_np(w), A)
    with pytest.raises(RuntimeError, match="view of a leaf tensor that requires grad"):
        w[0].mul_(2.0)


@pytest.mark.parametrize("op,name", [(lambda t: t.mul_(2.0), "mul_"), (lambda t: t.zero_(), "zero_"),
                                     (lambda t: t.__setitem__(0, 1.0), "setitem"),
                                     (lambda t: t.__iadd__(1.0), "add_")])
def test_backward_through_a_saved_tensor_modified_since_names_the_op(op, name, device):
    x = f64(A, device, requires_grad=True)
    h = x * 1.0
    y = (h * h).sum()                   # Mul saved h
    hd = h.detach()                     # shares h's counter
    op(hd)
    with pytest.raises(RuntimeError, match=rf"backward through Mul: an input.*last by {name}"):
        y.backward()


@pytest.mark.parametrize("make_view", [
    lambda t: t.reshape(3, 2), lambda t: t.T, lambda t: t.transpose(0, 1), lambda t: t[1],
    lambda t: t[:, 1:], lambda t: t.detach(), lambda t: t.flatten(), lambda t: t.reshape(6)[2:]],
    ids=["reshape", "T", "transpose", "index", "slice", "detach", "flatten", "view_of_view"])
def test_views_share_the_base_version_counter_and_memory(make_view, device):
    base = f64(A, device)
    view = make_view(base)
    view.add_(10.0)                     # the write reaches the base's memory...
    assert base._version == view._version == 1
    assert np.isclose(to_np(base) - A, 10.0).sum() == view.numel()
    base.zero_()                        # ...and the base's write reaches the view's counter
    assert view._version == 2
    np.testing.assert_array_equal(to_np(view), 0.0)


def test_an_advanced_index_is_a_copy_with_a_counter_of_its_own(device):
    base = f64(A, device)
    picked = base[[0, 1], [1, 2]]
    picked.fill_(0.0)
    assert base._version == 0
    np.testing.assert_array_equal(to_np(base), A)


def test_a_write_through_a_view_invalidates_a_graph_that_saved_the_base(device):
    x = f64(A, device, requires_grad=True)
    y = x.exp()                         # Exp saves y
    loss = y.sum()
    with gg.no_grad():
        y[0].fill_(0.0)
    with pytest.raises(RuntimeError, match="backward through Exp: output 0.*last by fill_"):
        loss.backward()


def test_bad_in_place_results_are_refused_naming_the_op(device):
    ints = gg.tensor([1, 2, 3], device=device)
    with pytest.raises(TypeError, match="add_.*int64"):
        ints += 0.5
    t = f64([1.0, 2.0], device)
    with pytest.raises(ValueError, match="mul_.*shape"):
        t.mul_(f64(A, device))
    with pytest.raises(ValueError, match="copy_.*shape \\(3,\\).*\\(2,\\)"):
        t.copy_(f64([1.0, 2.0, 3.0], device))
    with pytest.raises(IndexError, match="setitem.*shape \\(2,\\)"):
        t[5] = 1.0
    with pytest.raises(TypeError, match="masked_fill_: the mask must be a boolean"):
        t.masked_fill_(t, 0.0)
    with pytest.raises(ValueError, match="clamp_: give at least one"):
        t.clamp_()
    with pytest.raises(TypeError, match="add_: expected a Tensor.*got str"):
        t.add_("1")
    np.testing.assert_array_equal(to_np(t), [1.0, 2.0])


# --------------------------------------------------------------------------- recorded

def test_an_in_place_op_on_a_non_leaf_is_differentiable(device):
    x = f64(A, device, requires_grad=True)
    y = x * 2.0
    y.mul_(x)                           # y = 2 x², its history rebased onto the Mul
    y += 1.0
    assert y.grad_fn is not None and not y.is_leaf
    y.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), 4.0 * A)


def test_setitem_on_a_non_leaf_routes_gradients_to_the_value_and_the_rest(device):
    x = f64(A, device, requires_grad=True)
    v = f64([10.0, 20.0], device, requires_grad=True)
    y = x * 3.0
    y[:, 1] = v * v
    (y * f64(B, device)).sum().backward()
    expect_x = 3.0 * B
    expect_x[:, 1] = 0.0
    np.testing.assert_allclose(to_np(x.grad), expect_x)
    np.testing.assert_allclose(to_np(v.grad), 2 * np.array([10.0, 20.0]) * B[:, 1])


def test_a_view_made_before_an_in_place_op_on_its_base_differentiates_through_it(device):
    x = f64(A, device, requires_grad=True)
    y = x * 1.0
    row = y[1]                          # made before the in-place op
    y.mul_(x)                           # y = x², so row = x[1]²
    row.sum().backward()
    expect = np.zeros_like(A)
    expect[1] = 2 * A[1]
    np.testing.assert_allclose(to_np(x.grad), expect)


def test_an_in_place_op_recorded_on_a_view_is_refused_with_the_out_of_place_spelling(device):
    x = f64(A, device, requires_grad=True)
    y = x * 1.0
    with pytest.raises(RuntimeError, match=r"in-place op on a view.*y\[0\] = y\[0\] \* 2"):
        y[0].mul_(2.0)
    v = f64([1.0, 2.0, 3.0], device, requires_grad=True)
    z = f64(A, device)
    with pytest.raises(RuntimeError, match="in-place op on a view"):
        z.T[0] = v[:2]


def test_a_view_made_under_no_grad_then_modified_with_grad_on_is_refused(device):
    x = f64(A, device, requires_grad=True)
    y = x * 1.0
    with gg.no_grad():
        row = y[0]
    with pytest.raises(RuntimeError, match="made under no_grad"):
        row.add_(1.0)


def test_recorded_in_place_ops_equal_pytorch(device):
    torch = pytest.importorskip("torch")

    def chain(x, v, lib):
        y = x * 1.5
        row = y[0]
        y.add_(v, alpha=0.5)
        y.clamp_(-2.0, 3.0)
        y[1, ::2] = v[:2] * 3.0
        y.tanh_()
        return (row * 2.0).sum() + (y * y).sum()

    vb = B[0]
    x, v = f64(A, device, True), f64(vb, device, True)
    chain(x, v, gg).backward()
    tx = torch.tensor(A, requires_grad=True)
    tv = torch.tensor(vb, requires_grad=True)
    chain(tx, tv, torch).backward()
    np.testing.assert_allclose(to_np(x.grad), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_np(v.grad), tv.grad.numpy(), rtol=1e-12)


def test_views_of_a_rebased_tensor_made_before_follow_it_and_dead_views_are_dropped():
    x = f64(A, requires_grad=True)
    y = x * 1.0
    for _ in range(200):                 # temporaries: the counter must not keep them all
        y[0].sum()
    col = y.T[1]                         # a view of a view
    y.mul_(x)                            # col is given its new history at once
    assert len(y.views_of_memory()) == 1
    col.sum().backward()
    expect = np.zeros_like(A)
    expect[:, 1] = 2 * A[:, 1]
    np.testing.assert_allclose(to_np(x.grad), expect)


def test_recorded_masked_fill_clamp_and_addcmul_equal_pytorch(device):
    torch = pytest.importorskip("torch")

    def chain(x, v):
        y = x * 2.0
        y.masked_fill_(x > 0.6, v)
        y.clamp_min_(-1.0)
        y.addcmul_(x, x, value=0.5)
        return (y * y).sum()

    x, v = f64(A, device, True), gg.tensor(1.5, dtype="float64", device=device, requires_grad=True)
    chain(x, v).backward()
    tx = torch.tensor(A, requires_grad=True)
    tv = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    chain(tx, tv).backward()
    np.testing.assert_allclose(to_np(x.grad), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_np(v.grad), tv.grad.numpy(), rtol=1e-12)
