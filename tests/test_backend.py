"""The array layer: devices, the default device, transfers."""
import os
import subprocess
import sys

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import backend

from conftest import CUDA


def test_device_spellings_are_interned_and_compare_with_strings():
    assert backend.Device("cpu") is backend.Device("CPU")
    assert backend.Device("cuda") is backend.Device("cuda:0")
    assert backend.Device("cuda:1") == "cuda:1" and backend.Device("cuda:1").index == 1
    assert backend.Device("cpu") != "cuda"
    assert str(backend.Device("cuda")) == "cuda:0"
    for bad in ("tpu", "cuda:x", "cuda:-1"):
        with pytest.raises(ValueError, match="device"):
            backend.Device(bad)


def test_array_module_and_device_of_numpy():
    a = np.zeros(3)
    assert backend.array_module(a) is np
    assert backend.device_of(a) == "cpu"
    assert backend.to_device(a, "cpu") is a


def _run(code, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "GPUGRAD_DEVICE"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


def test_default_device_comes_from_the_environment():
    out = _run("import gpugrad as gg; print(gg.get_default_device(), gg.zeros(1).device)", GPUGRAD_DEVICE="cpu")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["cpu", "cpu"]
    auto = _run("import gpugrad as gg; print(gg.get_default_device())", GPUGRAD_DEVICE="auto")
    assert auto.stdout.strip() == ("cuda:0" if CUDA else "cpu")


@pytest.mark.skipif(CUDA, reason="checks the message given where CUDA is absent")
def test_asking_for_cuda_without_it_says_why():
    with pytest.raises(RuntimeError, match="CUDA is not available: CuPy is not installed|sees no CUDA device"):
        gg.zeros(2, device="cuda")
    out = _run("import gpugrad as gg; gg.zeros(1)", GPUGRAD_DEVICE="cuda")
    assert out.returncode != 0 and "CUDA is not available" in out.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_transfers_between_cpu_and_gpu():
    x = gg.tensor([[1.0, 2.0]], device="cpu", requires_grad=True)   # not the default device
    y = x.to("cuda")
    assert y.device == "cuda:0" and type(y.data).__module__.startswith("cupy")
    (y * 2).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 2.0]])
    with pytest.raises(RuntimeError, match="cpu.*cuda:0|cuda:0.*cpu"):
        x + y
