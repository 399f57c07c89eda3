"""nn.utils.clip_grad_norm_ / clip_grad_value_ (and get_total_norm, clip_grads_with_norm_):
values in closed form on each backend, no host read on the GPU, and PyTorch's results."""
import math

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.nn.utils import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm

from conftest import requires_cuda, to_np

SHAPES = [(3, 4), (5,), (2, 3, 2), (0,)]
NORMS = [2.0, 1.0, 3.0, 0.5, math.inf]


def params_with_grads(device, dtype=np.float64, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for shape in SHAPES:
        p = gg.tensor(rng.standard_normal(shape), dtype=dtype, device=device, requires_grad=True)
        p.grad = gg.tensor(rng.standard_normal(shape) * scale, dtype=dtype, device=device)
        params.append(p)
    params.append(gg.zeros(2, device=device, dtype=dtype, requires_grad=True))   # no grad: skipped
    return params


def flat_grads(params):
    return np.concatenate([to_np(p.grad).astype(np.float64).ravel() for p in params if p.grad is not None])


@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_clip_grad_norm_in_closed_form(device, norm_type, dtype):
    params = params_with_grads(device, dtype, scale=4.0)
    g = flat_grads(params)
    want = np.linalg.norm(g, ord=norm_type)
    versions = [p.grad._version for p in params[:-1]]
    total = clip_grad_norm_(params, max_norm=1.5, norm_type=norm_type)
    assert isinstance(total, gg.Tensor) and total.shape == () and total.device == device
    assert total.dtype == (np.float64 if dtype == np.float64 else np.float32)
    tol = {np.float64: 1e-12, np.float32: 1e-6, np.float16: 1e-3}[dtype]
    assert total.item() == pytest.approx(want, rel=tol)
    np.testing.assert_allclose(flat_grads(params), g * (1.5 / (want + 1e-6)), rtol=tol * 2, atol=1e-7)
    assert all(p.grad._version > v for p, v in zip(params, versions))     # modified in place
    assert params[-1].grad is None


def test_small_gradients_are_left_as_they_are(device):
    params = params_with_grads(device, scale=1e-3)
    g = flat_grads(params)
    total = clip_grad_norm_(params, 10.0)
    assert total.item() == pytest.approx(np.linalg.norm(g))
    np.testing.assert_array_equal(flat_grads(params), g)          # factor clamped to exactly 1


@pytest.mark.gpu
@requires_cuda
def test_clip_grad_norm_reads_nothing_back_on_the_gpu():
    cupyx = pytest.importorskip("cupyx")
    params = params_with_grads("cuda", np.float32, scale=5.0)
    clip_grad_norm_(params, 1.0)                                  # compile the kernels first
    with cupyx.allow_synchronize(False):
        total = clip_grad_norm_(params, 1.0, norm_type=3.0)
        clip_grad_value_(params, 0.01)
        clip_grads_with_norm_(params, 1.0, get_total_norm([p.grad for p in params if p.grad is not None]))
    assert math.isfinite(total.item())                            # reading it is the caller's sync


def test_nonfinite_gradients(device):
    params = params_with_grads(device)
    params[0].grad.data[0, 0] = math.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert not math.isnan(to_np(params[1].grad)[0])               # refused before scaling
    total = clip_grad_norm_(params, 1.0)                          # default: scaled by NaN, as PyTorch
    assert math.isnan(total.item()) and np.isnan(flat_grads(params)).all()
    params = params_with_grads(device)
    params[1].grad.data[2] = math.inf
    assert clip_grad_norm_(params, 1.0, norm_type="inf").item() == math.inf


def test_clip_grad_value_(device):
    params = params_with_grads(device, scale=3.0)
    g = flat_grads(params)
    assert clip_grad_value_(params, 0.5) is None
    np.testing.assert_array_equal(flat_grads(params), np.clip(g, -0.5, 0.5))


def test_get_total_norm_and_clip_grads_with_norm(device):
    params = params_with_grads(device, scale=2.0)
    g = flat_grads(params)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type=1.0)
    assert total.item() == pytest.approx(np.abs(g).sum())
    clip_grads_with_norm_(params, 2.0, total)
    np.testing.assert_allclose(flat_grads(params), g * 2.0 / (np.abs(g).sum() + 1e-6))
    clip_grads_with_norm_(params, 2.0, 1.0)                        # a number: factor min(2/1, 1) = 1
    np.testing.assert_allclose(flat_grads(params), g * 2.0 / (np.abs(g).sum() + 1e-6))


def test_edge_cases_and_errors():
    assert clip_grad_norm_([gg.zeros(2, requires_grad=True)], 1.0).item() == 0.0   # no gradients
    assert get_total_norm([]).item() == 0.0
    p = gg.ones(2, requires_grad=True)
    p.grad = gg.tensor([3.0, 4.0])
    assert clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)  # one tensor, as PyTorch allows
    for bad in (0.0, -1.0, -math.inf):
        with pytest.raises(ValueError, match="norm_type must be positive or inf"):
            clip_grad_norm_(p, 1.0, norm_type=bad)
    with pytest.raises(TypeError, match="takes tensors"):
        clip_grad_norm_([np.ones(2)], 1.0)


@pytest.mark.parametrize("norm_type", NORMS)
def test_matches_pytorch(norm_type):
    torch = pytest.importorskip("torch")
    # (PyTorch refuses the inf norm of an empty gradient; gpugrad takes it as 0, the identity of
    # max |x|: the empty one is left out here)
    params = [p for p in params_with_grads("cpu", scale=3.0) if p.numel()]
    tparams = []
    for p in params:
        t = torch.tensor(p.numpy(), requires_grad=True)
        if p.grad is not None:
            t.grad = torch.tensor(p.grad.numpy())
        tparams.append(t)
    total = clip_grad_norm_(params, 0.7, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 0.7, norm_type=norm_type)
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
    for p, t in zip(params, tparams):
        if p.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-15)
    clip_grad_value_(params, 0.05)
    torch.nn.utils.clip_grad_value_(tparams, 0.05)
    np.testing.assert_array_equal(flat_grads(params), np.concatenate(
        [t.grad.numpy().ravel() for t in tparams if t.grad is not None]))
    grads = [p.grad for p in params if p.grad is not None]
    tgrads = [t.grad for t in tparams if t.grad is not None]
    assert get_total_norm(grads, norm_type).item() == pytest.approx(
        torch.nn.utils.get_total_norm(tgrads, norm_type).item(), rel=1e-12)
