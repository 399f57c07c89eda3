"""Shared fixtures: every backend-parametrised test runs on the CPU, and on CUDA where present
(those cases carry the ``gpu`` mark, so ``pytest -m gpu`` runs exactly the GPU half)."""
import importlib.util

import numpy as np
import pytest

import gpugrad as gg

CUDA = gg.cuda_available()
requires_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device through CuPy")
# True when "CuPy" is tests/fake_cupy, the CPU stand-in (tests/test_kernels_dispatch.py runs the
# gpu tests under it): what only a real GPU library can do is skipped there.
ON_STANDIN = importlib.util.find_spec("cupy._standin") is not None if CUDA else False
requires_real_cuda = pytest.mark.skipif(
    ON_STANDIN, reason="needs real CUDA libraries (the CPU stand-in for CuPy has none)")

DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, requires_cuda])]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def to_np(t):
    """Values of a Tensor (or array) as a NumPy array."""
    return t.numpy() if isinstance(t, gg.Tensor) else gg.backend.to_numpy(t)
