"""The Numba-compiled CPU kernels (gpugrad/kernels/cpu_jit.py, the `cpu` extra) against their
NumPy twins, on fresh random data; and the switches that choose between them."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from gpugrad.kernels import cpu_jit
from gpugrad.kernels import layer_norm as ln
from gpugrad.kernels import normalization as bn

pytest.importorskip("numba", reason="the `cpu` extra (Numba) is not installed")

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (64, 300)])
def test_layer_norm_kernels_equal_their_numpy_twins(dtype, affine, shape):
    rng = np.random.default_rng([shape[0], shape[1], affine])
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w, b = ((rng.standard_normal(shape[1]).astype(dtype) for _ in range(2)) if affine
            else (None, None))
    y, mean, rstd = cpu_jit.layer_norm_fwd(x, w, b, 1e-5)
    for got, want in zip((y, mean, rstd), ln._fwd_np(x, w, b, 1e-5)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOL[dtype])
    gy = rng.standard_normal(shape).astype(dtype)
    got = cpu_jit.layer_norm_bwd(x, gy, w, mean, rstd, True)
    want = ln._bwd_np(x, gy, w, mean, rstd, True)
    for g, t in zip(got, want):
        assert (g is None) == (t is None)
        if g is not None:
            np.testing.assert_allclose(g, t, **TOL[dtype])


def test_layer_norm_backward_takes_a_broadcast_gradient_and_can_skip_the_parameters():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((6, 9)), rng.standard_normal(9)
    _, mean, rstd = ln._fwd_np(x, w, None, 1e-5)
    gy = np.broadcast_to(np.float64(1.5), x.shape)          # the gradient of 1.5 * y.sum()
    gx, gw, gb = cpu_jit.layer_norm_bwd(x, gy, w, mean, rstd, False)
    assert gw is None and gb is None
    np.testing.assert_allclose(gx, ln._bwd_np(x, gy, w, mean, rstd, False)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 16), (7, 3, 17), (4, 5, 25), (16, 8, 49)])
def test_batch_norm_kernels_equal_their_numpy_twins(monkeypatch, dtype, shape):
    rng = np.random.default_rng(list(shape))
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    a, b, c, scale, shift = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(5))
    monkeypatch.setenv("GPUGRAD_CPU_JIT", "0")
    twin_stats = bn.batch_norm_stats(x)
    twin_y = bn.batch_norm_apply(x, twin_stats[0], scale, shift)
    twin_gx = bn.batch_norm_grad(x, gy, a, b, c)
    monkeypatch.delenv("GPUGRAD_CPU_JIT")
    mean, var, centered = bn.batch_norm_stats(x)
    assert centered is None                       # the compiled path makes no centred copy
    assert bn.batch_norm_stats(x[:, :, :bn.JIT_MIN_ROW - 1].copy())[2] is not None   # short rows: the twin
    tol = TOL[dtype]
    np.testing.assert_allclose(mean, twin_stats[0], **tol)
    np.testing.assert_allclose(var, twin_stats[1], **tol)
    for got, want in ((bn.batch_norm_apply(x, mean, scale, shift), twin_y),
                      (bn.batch_norm_grad(x, gy, a, b, c), twin_gx)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **tol)


def test_a_nan_goes_through_the_compiled_kernel_as_a_nan():
    """The kernels keep IEEE NaN semantics (no fast-math 'no NaNs'), so anomaly mode sees it."""
    x = np.ones((2, 4))
    x[1, 2] = np.nan
    y, _, _ = cpu_jit.layer_norm_fwd(x, None, None, 1e-5)
    assert np.isnan(y[1]).all() and np.isfinite(y[0]).all()
    gx, _, _ = cpu_jit.layer_norm_bwd(x, np.ones_like(x), None, *ln._fwd_np(x, None, None, 1e-5)[1:], False)
    assert np.isnan(gx[1]).all() and np.isfinite(gx[0]).all()


def test_the_dispatch_takes_the_compiled_kernel_only_for_float32_and_float64(monkeypatch):
    x32 = np.ones((2, 3), np.float32)
    assert cpu_jit.enabled(x32) and cpu_jit.enabled(x32.astype(np.float64))
    assert not cpu_jit.enabled(x32.astype(np.float16))
    assert not cpu_jit.enabled(x32, x32.astype(np.float64))     # mixed dtypes: the twin promotes
    monkeypatch.setenv("GPUGRAD_CPU_JIT", "0")
    assert not cpu_jit.enabled(x32)


def test_importing_gpugrad_does_not_import_numba():
    code = "import sys, gpugrad, gpugrad.nn; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "GPUGRAD_DEVICE": "cpu"}, check=True)
    assert out.stdout.strip() == "False"
