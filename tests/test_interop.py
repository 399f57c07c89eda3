"""Zero-copy exchange through DLPack (gg.from_dlpack, Tensor.__dlpack__) with NumPy, PyTorch,
JAX and CuPy, and gg.from_numpy: the memory is shared, so a change on one side shows on the
other."""
import numpy as np
import pytest

import gpugrad as gg

from conftest import requires_cuda


def test_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = gg.from_numpy(a)
    assert t.device == "cpu" and t.dtype == np.float32 and t.shape == (2, 3)
    assert np.shares_memory(t.array, a) and not t.requires_grad
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    t.data[1, 2] = -1.0
    assert a[1, 2] == -1.0
    labels = gg.from_numpy(np.array([0, 2, 1]))
    assert labels.dtype == np.int64 and labels.value_bounds is None   # shared: bounds can go stale
    with pytest.raises(TypeError, match="from_numpy takes a NumPy array, got list"):
        gg.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="numeric"):
        gg.from_numpy(np.array(["a", "b"]))
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.warns(UserWarning, match="read-only"):
        assert np.shares_memory(gg.from_numpy(frozen).array, frozen)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_dlpack_round_trip_with_numpy_shares_memory(dtype):
    a = (np.arange(12) % 3).astype(dtype).reshape(3, 4)
    t = gg.from_dlpack(a)
    assert t.dtype == dtype and t.shape == (3, 4) and t.device == "cpu"
    assert np.shares_memory(t.array, a)
    back = np.from_dlpack(t)
    assert np.shares_memory(back, a)
    assert t.__dlpack_device__() == (1, 0)
    view = gg.from_dlpack(a[:, ::2])                                  # a strided view, still shared
    assert np.shares_memory(view.array, a) and view.shape == (3, 2)


def test_dlpack_refuses_what_it_cannot_share():
    w = gg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"requires grad.*detach\(\)"):
        np.from_dlpack(w)
    assert np.shares_memory(np.from_dlpack(w.detach()), w.array)
    with pytest.raises(TypeError, match="__dlpack__"):
        gg.from_dlpack([1, 2, 3])

    class Elsewhere:
        def __dlpack__(self, **kwargs):
            raise AssertionError("not asked")

        def __dlpack_device__(self):
            return (4, 0)                                            # OpenCL

    with pytest.raises(BufferError, match="device type 4"):
        gg.from_dlpack(Elsewhere())


def test_zero_copy_with_pytorch_both_ways():
    torch = pytest.importorskip("torch")
    src = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    t = gg.from_dlpack(src)
    src[1, 1] = 99.0                                                  # torch writes, gpugrad sees
    assert t[1, 1].item() == 99.0 and t.dtype == np.float32
    g = gg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=gg.float64)
    out = torch.from_dlpack(g)
    out.mul_(2)                                                       # torch writes, gpugrad sees
    np.testing.assert_array_equal(g.numpy(), [[2.0, 4.0], [6.0, 8.0]])
    assert out.dtype == torch.float64
    for dtype in (torch.float16, torch.int64, torch.bool):
        x = torch.zeros(4, dtype=dtype)
        assert gg.from_dlpack(x).dtype == gg.from_dlpack(np.zeros(4, x.numpy().dtype)).dtype


def test_zero_copy_with_jax():
    jax = pytest.importorskip("jax")
    x = jax.numpy.arange(4.0)
    t = gg.from_dlpack(x)
    np.testing.assert_array_equal(t.numpy(), [0.0, 1.0, 2.0, 3.0])
    back = jax.dlpack.from_dlpack(gg.tensor([1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(back), [1.0, 2.0])


@pytest.mark.gpu
@requires_cuda
def test_dlpack_round_trip_with_cupy_shares_memory():
    cp = gg.backend.cupy_module()
    a = cp.arange(6, dtype=cp.float32)
    t = gg.from_dlpack(a)
    assert t.device == "cuda:0" and t.dtype == np.float32
    assert t.array.data.ptr == a.data.ptr                            # the same device memory
    a[2] = 7.0
    assert t[2].item() == 7.0
    b = cp.from_dlpack(t)
    assert b.data.ptr == a.data.ptr
    t.data[0] = -3.0
    assert float(a[0]) == -3.0
    assert t.__dlpack_device__() == (2, 0)


@pytest.mark.gpu
@requires_cuda
def test_dlpack_from_cupy_keeps_the_arrays_gpu():
    cp = gg.backend.cupy_module()
    if gg.backend.cuda_device_count() < 2:
        pytest.skip("needs two GPUs")
    with cp.cuda.Device(1):
        a = cp.ones(3, dtype=cp.float64)
    t = gg.from_dlpack(a)
    assert t.device == "cuda:1" and t.array.data.ptr == a.data.ptr
    np.testing.assert_array_equal((t * 2).numpy(), [2.0, 2.0, 2.0])
