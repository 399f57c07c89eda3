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
