"""Shared fixtures: every backend-parametrised test runs on the CPU, and on CUDA where present
(those cases carry the ``gpu`` mark, so ``pytest -m gpu`` runs exactly the GPU half)."""
import numpy as np
import pytest

import gpugrad as gg

CUDA = gg.cuda_available()
requires_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device through CuPy")

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
