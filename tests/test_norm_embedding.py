"""LayerNorm, Embedding and the smooth activation layers: values and gradients equal to
PyTorch's (float64), gradcheck on each backend, the fused kernels against their NumPy twins on
fresh data (gpu), the deterministic scatter-add, and errors."""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F
from gpugrad import kernels as K
from conftest import assert_raises_naming


@pytest.mark.parametrize("affine,shape", [(True, (3, 4)), (False, (4,)), (True, 4)])
def test_layer_norm_module_equals_pytorchs(affine, shape, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 4)) * 3 + 1
    ours = nn.LayerNorm(shape, eps=1e-4, elementwise_affine=affine, dtype=np.float64)
    theirs = torch.nn.LayerNorm(shape, eps=1e-4, elementwise_affine=affine, dtype=torch.float64)
    assert repr(ours) == repr(theirs)
    if affine:
        w, b = rng.standard_normal(ours.weight.shape), rng.standard_normal(ours.weight.shape)
        ours.load_state_dict({"weight": w, "bias": b})
        theirs.load_state_dict({"weight": torch.tensor(w), "bias": torch.tensor(b)})
    gx, tx = gg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(gx), theirs(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    v = rng.standard_normal(y.shape)
    (y * gg.tensor(v)).sum().backward()
    (ty * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_layer_norm_closed_form_and_gradcheck(device, rng):
    x = gg.tensor(rng.standard_normal((5, 6)) * 2, device=device, requires_grad=True)
    w = gg.tensor(rng.standard_normal(6), device=device, requires_grad=True)
    b = gg.tensor(rng.standard_normal(6), device=device, requires_grad=True)
    a = x.numpy()
    xhat = (a - a.mean(1, keepdims=True)) / np.sqrt(a.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(F.layer_norm(x, (6,), w, b).numpy(), xhat * w.numpy() + b.numpy(),
                               rtol=1e-10, atol=1e-12)
    assert gg.gradcheck(lambda x, w, b: F.layer_norm(x, 6, w, b), [x, w, b])
    m = nn.LayerNorm(6, device=device)
    assert m.weight.dtype == np.float32 and m.weight.numpy().tolist() == [1.0] * 6
    assert m(x.astype("float32")).dtype == np.float32


def test_embedding_module_equals_pytorchs(rng):
    torch = pytest.importorskip("torch")
    idx = np.array([[0, 2, 2, 5], [5, 1, 2, 0]])
    table = rng.standard_normal((6, 3))
    for kw in (dict(), dict(padding_idx=2), dict(padding_idx=-1, scale_grad_by_freq=True)):
        ours = nn.Embedding.from_pretrained(gg.tensor(table), freeze=False, **kw)
        theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=False, **kw)
        assert repr(ours) == repr(theirs)
        y, ty = ours(gg.tensor(idx)), theirs(torch.tensor(idx))
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        v = rng.standard_normal(y.shape)
        (y * gg.tensor(v)).sum().backward()
        (ty * torch.tensor(v)).sum().backward()
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)


def test_embedding_gradient_adds_repeats_and_skips_padding(device):
    emb = nn.Embedding(4, 2, padding_idx=1, device=device, dtype=np.float64)
    assert not emb.weight.numpy()[1].any()
    idx = gg.tensor([[3, 1, 3], [3, 0, 1]], device=device)
    assert emb(idx).shape == (2, 3, 2)
    emb(idx).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy(), [[1, 1], [0, 0], [0, 0], [3, 3]])
    assert gg.gradcheck(lambda w: F.embedding(idx, w), [gg.randn(4, 2, dtype="float64", device=device, requires_grad=True)])
    frozen = nn.Embedding.from_pretrained(gg.randn(3, 2, device=device))
    assert not frozen.weight.requires_grad


def test_scatter_add_is_deterministic_and_exact_on_each_backend(device, rng):
    """Many repeats of few rows, across the kernel's chunks: the sum of the sources, the same
    bits on every run."""
    index = rng.integers(0, 5, 3000)
    src = rng.standard_normal((3000, 7)).astype(np.float32)
    dev_index, dev_src = gg.tensor(index, device=device).array, gg.tensor(src, device=device).array
    first = gg.backend.to_numpy(K.index_add_rows(dev_index, dev_src, 6))
    again = gg.backend.to_numpy(K.index_add_rows(dev_index, dev_src, 6))
    np.testing.assert_array_equal(first, again)
    want = np.zeros((6, 7))
    np.add.at(want, index, src.astype(np.float64))
    np.testing.assert_allclose(first, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_layer_norm_matches_its_twin(device, dtype, rng):
    """On a GPU, the fused kernels against the NumPy twin on fresh data (on the CPU, the twin
    is the path: this checks its shapes)."""
    x = (rng.standard_normal((33, 70)) * 2 + 3).astype(dtype)
    gy, w, b = (rng.standard_normal(s).astype(dtype) for s in ((33, 70), 70, 70))
    on = (lambda a: gg.tensor(a, device=device).array)
    y, mean, rstd = K.layer_norm_fwd(on(x), on(w), on(b), 1e-5)
    gx, gw, gb = K.layer_norm_bwd(on(x), on(gy), on(w), mean, rstd)
    ty, tmean, trstd = K.layer_norm_fwd(x, w, b, 1e-5)
    tgx, tgw, tgb = K.layer_norm_bwd(x, gy, w, tmean, trstd)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)
    for got, want in ((y, ty), (mean, tmean), (rstd, trstd), (gx, tgx), (gw, tgw), (gb, tgb)):
        np.testing.assert_allclose(gg.backend.to_numpy(got), want, **tol)


@pytest.mark.parametrize("name", sorted(K.POINTWISE_CODES))
def test_fused_pointwise_matches_its_twin(device, name, rng):
    x = rng.standard_normal((300,)) * 4
    gy = rng.standard_normal(300)
    a, b = {"elu": (0.7, 0.0), "softplus": (2.0, 3.0), "leaky_relu": (0.1, 0.0)}.get(name, (0.0, 0.0))
    on = (lambda v: gg.tensor(v, device=device).array)
    np.testing.assert_allclose(gg.backend.to_numpy(K.pointwise_fwd(name, on(x), a, b)),
                               K.pointwise_fwd(name, x, a, b), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gg.backend.to_numpy(K.pointwise_bwd(name, on(x), on(gy), a, b)),
                               K.pointwise_bwd(name, x, gy, a, b), rtol=1e-12, atol=1e-14)


def test_new_activations_are_registered_layers_and_train_options():
    from gpugrad.train import loop
    model = loop.build_model(4, [5], 3, "gelu", dtype=np.float64)
    assert isinstance(model[1], nn.GELU)
    x = gg.randn(2, 4, dtype="float64")
    np.testing.assert_allclose(F.linear(x, model[0].weight, model[0].bias, activation="silu").numpy(),
                               F.silu(model[0](x)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("call,exc,words", [
    (lambda x: F.layer_norm(x, (4, 3)), ValueError, ["layer_norm", "(4, 3)", "(3, 4)"]),
    (lambda x: F.layer_norm(x, 4, weight=gg.ones(3)), ValueError, ["layer_norm", "weight", "(4,)"]),
    (lambda x: F.layer_norm(gg.tensor([[1, 2]]), 2), TypeError, ["layer_norm", "int"]),
    (lambda x: F.embedding(gg.tensor([0, 7]), x), IndexError, ["embedding", "7", "size 3"]),
    (lambda x: F.embedding(gg.tensor([0.5]), x), TypeError, ["embedding", "float"]),
    (lambda x: F.embedding(gg.tensor([0]), x[0]), ValueError, ["embedding", "2-D", "(4,)"]),
    (lambda x: nn.Embedding(3, 2, padding_idx=3), ValueError, ["Embedding", "padding_idx 3"]),
    (lambda x: nn.Embedding(3, 2, max_norm=1.0), NotImplementedError, ["max_norm"]),
])
def test_bad_input_names_the_op_and_shapes(call, exc, words):
    assert_raises_naming(exc, words, call, gg.tensor(np.arange(12.0).reshape(3, 4)))
