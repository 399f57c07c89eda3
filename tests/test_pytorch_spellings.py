"""PyTorch's spellings of the shape methods: transpose(dim0, dim1), permute, size(), numel(),
dim(), clamp, flatten(start_dim, end_dim), unflatten; on each backend. The gradients of these
ops are checked in tests/test_ops_gradcheck.py; the values against PyTorch at the end."""
import numpy as np
import pytest

import gpugrad as gg

from conftest import to_np


def arange(*shape, device="cpu"):
    return gg.tensor(np.arange(np.prod(shape), dtype=np.float64).reshape(shape), device=device)


def test_transpose_of_two_dims_swaps_them_on_a_2d_tensor(device):
    # Before: NumPy's meaning, the identity permutation (0, 1): the tensor came back unchanged.
    t = arange(2, 3, device=device)
    y = t.transpose(0, 1)
    assert y.shape == (3, 2)
    np.testing.assert_array_equal(to_np(y), to_np(t).T)
    np.testing.assert_array_equal(to_np(t.transpose(1, 0)), to_np(t).T)
    np.testing.assert_array_equal(to_np(t.transpose(dim0=0, dim1=-1)), to_np(t).T)


def test_transpose_swaps_exactly_two_axes_of_a_higher_rank_tensor(device):
    t = arange(2, 3, 4, device=device)
    np.testing.assert_array_equal(to_np(t.transpose(0, 2)), np.swapaxes(to_np(t), 0, 2))
    np.testing.assert_array_equal(to_np(t.transpose(-1, 1)), np.swapaxes(to_np(t), 2, 1))
    assert t.transpose(1, 1).shape == (2, 3, 4)
    assert arange(5, device=device).transpose(0, -1).shape == (5,)


def test_no_argument_transpose_and_T_reverse_every_axis(device):
    t = arange(2, 3, 4, device=device)
    for y in (t.transpose(), t.T):
        assert y.shape == (4, 3, 2)
        np.testing.assert_array_equal(to_np(y), to_np(t).transpose())


@pytest.mark.parametrize("call", [lambda t: t.transpose(2, 0, 1), lambda t: t.transpose((1, 0, 2)),
                                  lambda t: t.transpose([0, 1]), lambda t: t.transpose(0),
                                  lambda t: t.transpose(0, dim1=1, axes=2)])
def test_numpy_style_transpose_raises_and_points_to_permute(call):
    with pytest.raises(TypeError, match="transpose"):
        call(arange(2, 3, 4))


def test_transpose_and_permute_refuse_dims_out_of_range():
    t = arange(2, 3)
    with pytest.raises(IndexError, match=r"transpose: dimension 2 is out of range .*\[-2, 1\]"):
        t.transpose(0, 2)
    with pytest.raises(ValueError, match="not a permutation"):
        t.permute(0, 0)
    with pytest.raises(ValueError, match="not a permutation"):
        arange(2, 3, 4).permute(1, 0)
    with pytest.raises(IndexError, match="permute: dimension 3"):
        arange(2, 3, 4).permute(0, 1, 3)


def test_permute(device):
    t = arange(2, 3, 4, device=device)
    for dims in [(2, 0, 1), (0, 1, 2), (-1, -3, -2)]:
        np.testing.assert_array_equal(to_np(t.permute(*dims)), np.transpose(to_np(t), dims))
        np.testing.assert_array_equal(to_np(t.permute(dims)), np.transpose(to_np(t), dims))


def test_size_follows_pytorch_numel_and_dim(device):
    t = arange(2, 3, 4, device=device)
    assert t.size() == (2, 3, 4) and isinstance(t.size(), tuple)
    assert (t.size(0), t.size(1), t.size(-1)) == (2, 3, 4)
    assert t.numel() == 24 and t.dim() == 3 == t.ndim
    s = gg.tensor(1.5, device=device)
    assert s.size() == () and s.numel() == 1 and s.dim() == 0
    with pytest.raises(IndexError, match="0-d tensor"):
        s.size(0)
    with pytest.raises(IndexError, match=r"size: dimension 3 is out of range"):
        t.size(3)


def test_clamp_with_numbers_and_tensors(device):
    t = gg.tensor([-2.0, -0.5, 0.0, 0.75, 3.0], device=device)
    np.testing.assert_array_equal(to_np(t.clamp(-1, 1)), [-1, -0.5, 0, 0.75, 1])
    np.testing.assert_array_equal(to_np(t.clamp(min=0)), [0, 0, 0, 0.75, 3])
    np.testing.assert_array_equal(to_np(t.clamp(max=0)), [-2, -0.5, 0, 0, 0])
    np.testing.assert_array_equal(to_np(gg.functions.clamp(t, -1, 1)), to_np(t.clip(-1, 1)))
    lo = gg.tensor([0.0, 0.0, -1.0, 1.0, 0.0], device=device)
    np.testing.assert_array_equal(to_np(t.clamp(min=lo, max=2.0)), [0, 0, 0, 1, 2])
    with pytest.raises(ValueError, match="clamp"):
        t.clamp()


def test_flatten_with_start_and_end_dim(device):
    t = arange(2, 3, 4, 5, device=device)
    assert t.flatten().shape == (120,)
    assert t.flatten(1).shape == (2, 60)
    assert t.flatten(1, 2).shape == (2, 12, 5)
    assert t.flatten(0, -2).shape == (24, 5)
    assert t.flatten(-1).shape == (2, 3, 4, 5)
    np.testing.assert_array_equal(to_np(t.flatten(1, 2)), to_np(t).reshape(2, 12, 5))
    assert gg.tensor(3.0, device=device).flatten().shape == (1,)


def test_flatten_refuses_dims_out_of_range():
    # Before: flatten(5) on a 2-D tensor wrapped around silently (5 % 2 == 1).
    t = arange(2, 3)
    with pytest.raises(IndexError, match=r"flatten: dimension 5 is out of range for a tensor of 2"):
        t.flatten(5)
    with pytest.raises(IndexError, match="flatten"):
        t.flatten(0, -3)
    with pytest.raises(ValueError, match="start_dim 1 comes after end_dim 0"):
        t.flatten(1, 0)


def test_unflatten(device):
    t = arange(2, 12, device=device)
    assert t.unflatten(1, (3, 4)).shape == (2, 3, 4)
    assert t.unflatten(-1, (2, -1, 3)).shape == (2, 2, 2, 3)
    assert t.unflatten(0, [1, 2]).shape == (1, 2, 12)
    np.testing.assert_array_equal(to_np(t.unflatten(1, (3, 4))), to_np(t).reshape(2, 3, 4))
    for bad in [(5, 3), (-1, -1), (0, -1), ()]:
        with pytest.raises(ValueError, match="unflatten"):
            t.unflatten(1, bad)
    with pytest.raises(IndexError, match="unflatten"):
        t.unflatten(2, (3, 4))
    empty = gg.zeros(0, 0, device=device)      # -1 comes from the dimension, as in PyTorch
    assert empty.unflatten(0, (-1,)).shape == (0, 0)
    assert empty.unflatten(0, (2, -1)).shape == (2, 0, 0)
    assert gg.zeros(6, 0, device=device).unflatten(0, (2, -1)).shape == (2, 3, 0)
    with pytest.raises(ValueError, match="unflatten"):
        empty.unflatten(0, (0, -1))             # ambiguous
    with pytest.raises(TypeError, match="unflatten: sizes must be ints"):
        t.unflatten(1, (3, "4"))


def test_spellings_match_pytorch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    t, ref = gg.tensor(a), torch.tensor(a)
    cases = [
        (lambda x: x.transpose(0, 1), None), (lambda x: x.transpose(-1, 0), None),
        (lambda x: x.permute(3, 1, 0, 2), None), (lambda x: x.flatten(), None),
        (lambda x: x.flatten(1), None), (lambda x: x.flatten(1, 2), None),
        (lambda x: x.flatten(-3, -2), None), (lambda x: x.unflatten(3, (5, 1)), None),
        (lambda x: x.unflatten(1, (-1, 1, 3)), None), (lambda x: x.clamp(-0.3, 0.4), None),
        (lambda x: x.clamp(min=0.1), None), (lambda x: x.clamp(max=-0.1), None),
    ]
    for fn, _ in cases:
        np.testing.assert_array_equal(fn(t).numpy(), fn(ref).numpy())
    assert t.size() == tuple(ref.size()) and t.size(2) == ref.size(2) and t.size(-1) == ref.size(-1)
    assert t.numel() == ref.numel() and t.dim() == ref.dim()
    m = np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_array_equal(gg.tensor(m).transpose(0, 1).numpy(),
                                  torch.tensor(m).transpose(0, 1).numpy())
    assert gg.tensor(2.0).flatten().shape == tuple(torch.tensor(2.0).flatten().shape)


def test_max_and_min_with_dim_return_values_and_indices_as_pytorch(device):
    """``x.max(dim=d)`` is PyTorch's: a (values, indices) pair (so ``values, idx = x.max(dim=1)``
    unpacks as in PyTorch, not a row each), the gradient going to the index returned, the first
    of a tie; ``max(axis)`` and ``amax`` share a tie's gradient, as ``torch.amax``."""
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    x = gg.tensor(a, device=device, requires_grad=True)
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(to_np(values), [3.0, 2.0])
    np.testing.assert_array_equal(to_np(indices), [1, 0])
    (values * gg.tensor([1.0, 2.0], device=device)).sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), [[0, 1, 0], [2, 0, 0]])   # torch's, ties included
    low = x.min(dim=0, keepdim=True)
    assert low.values.shape == low.indices.shape == (1, 3)
    np.testing.assert_array_equal(to_np(low.indices), [[0, 1, 1]])
    x.grad = None
    x.amax(dim=1).sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), [[0, 0.5, 0.5], [0.5, 0.5, 0]])
    np.testing.assert_array_equal(to_np(x.max(1)), [3.0, 2.0])          # NumPy's axis: values only
    scalar = gg.tensor(3.0, device=device).max(dim=0)
    assert to_np(scalar.values) == 3.0 and to_np(scalar.indices) == 0
    with pytest.raises(TypeError, match="max: dim must be an int"):
        x.max(dim=(0, 1))
    with pytest.raises(ValueError, match="min: dimension 1 of a tensor of shape \\(2, 0\\) is empty"):
        gg.zeros(2, 0, device=device).min(dim=1)
    with pytest.raises(IndexError, match="max"):
        x.max(dim=2)


def test_max_with_dim_equals_pytorch_on_random_ties():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for shape, dim in [((4, 5), 1), ((3, 4, 2), 0), ((3, 4, 2), -1), ((6,), 0)]:
        a = np.round(rng.standard_normal(shape))                         # many ties
        w = rng.standard_normal(np.delete(np.array(shape), dim % len(shape)))
        for name in ("max", "min"):
            x, t = gg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            ours, theirs = getattr(x, name)(dim=dim), getattr(t, name)(dim=dim)
            np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
            (ours.values * gg.tensor(w)).sum().backward()
            (theirs.values * torch.tensor(w)).sum().backward()
            np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


METHOD_SPELLINGS = [
    ("add", lambda x, y: x.add(y, alpha=2)), ("sub", lambda x, y: x.sub(y, alpha=0.5)),
    ("subtract", lambda x, y: x.subtract(y)), ("mul", lambda x, y: x.mul(y)),
    ("multiply", lambda x, y: x.multiply(2.0)), ("div", lambda x, y: x.div(y)),
    ("true_divide", lambda x, y: x.true_divide(y)), ("pow", lambda x, y: x.abs().pow(y)),
    ("neg", lambda x, y: x.neg() + y), ("negative", lambda x, y: x.negative()),
    ("matmul", lambda x, y: x.matmul(y.t())), ("maximum", lambda x, y: x.maximum(y)),
    ("minimum", lambda x, y: x.minimum(y)), ("t", lambda x, y: x.t() * 3),
    ("masked_fill", lambda x, y: x.masked_fill(y > 0, -1.5)),
    ("square", lambda x, y: x.square()), ("reciprocal", lambda x, y: y.reciprocal()),
    ("rsqrt", lambda x, y: y.abs().rsqrt()), ("contiguous", lambda x, y: x.t().contiguous() * 2),
    ("type_as", lambda x, y: x.type_as(y) * y),
]


@pytest.mark.parametrize("name,fn", METHOD_SPELLINGS, ids=[n for n, _ in METHOD_SPELLINGS])
def test_pytorch_method_spellings_equal_pytorch(name, fn, device):
    """x.add(y, alpha=), x.mul(y), x.t(), x.masked_fill(...), ...: PyTorch's method names of
    the operators and of a few ops, with PyTorch's values and gradients (the float64 values
    below are torch's, computed with the same calls)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) + 3.0
    x, y = gg.tensor(a, device=device, requires_grad=True), gg.tensor(b, device=device, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, tout = fn(x, y), fn(tx, ty)
    np.testing.assert_allclose(to_np(out), tout.detach().numpy(), rtol=1e-12)
    w = rng.standard_normal(tuple(tout.shape))
    (out * gg.tensor(w, device=device)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for mine, theirs in ((x, tx), (y, ty)):
        if theirs.grad is None:
            assert mine.grad is None or not to_np(mine.grad).any()
        else:
            np.testing.assert_allclose(to_np(mine.grad), theirs.grad.numpy(), rtol=1e-12)


def test_pytorch_spellings_of_comparisons_casts_and_new_tensors(device):
    x = gg.tensor([[1.0, 5.0], [3.0, 2.0]], device=device)
    y = gg.tensor([[2.0, 5.0], [2.0, 2.0]], device=device)
    for name, want in [("eq", [[0, 1], [0, 1]]), ("ne", [[1, 0], [1, 0]]), ("lt", [[1, 0], [0, 0]]),
                       ("le", [[1, 1], [0, 1]]), ("gt", [[0, 0], [1, 0]]), ("ge", [[0, 1], [1, 1]])]:
        got = getattr(x, name)(y)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(to_np(got), np.array(want, bool))
    assert (x.int().dtype, x.half().dtype, x.bool().dtype) == (np.int32, np.float16, np.bool_)
    assert (x.nelement(), x.ndimension(), x.element_size()) == (4, 2, 4)
    assert x.is_cuda == (x.device.type == "cuda") and x.contiguous() is x
    assert x.to(gg.float64).dtype == np.float64 and x.to("float16").dtype == np.float16
    ints = gg.tensor([1, 2], device=device)
    assert x.to(ints).dtype == np.int64 and x.to(ints).device == ints.device
    with pytest.raises(ValueError, match="t: expects a tensor of at most 2 dimensions"):
        gg.zeros(2, 3, 4, device=device).t()
    assert gg.zeros(3, device=device).t().shape == (3,)
    z = x.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == np.float32 and z.device == x.device
    assert x.new_ones((4,), dtype=gg.int64).dtype == np.int64
    np.testing.assert_array_equal(to_np(x.new_full((2,), 7.0)), [7.0, 7.0])
    filled = ints.masked_fill(ints > 1, 9.7)        # in the tensor's own dtype, as PyTorch
    assert filled.dtype == np.int64
    np.testing.assert_array_equal(to_np(filled), [1, 9])
