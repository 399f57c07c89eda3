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


def _skip_reason(report):
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = str(report.longrepr[2])
    else:
        reason = str(report.longrepr)
    reason = reason.removeprefix("Skipped: ").strip()
    if reason.startswith("could not import '"):    # pytest.importorskip
        reason = f"{reason.split(chr(39))[1]} is not installed"
    return reason


def pytest_terminal_summary(terminalreporter):
    """One line, just before pytest's own totals, that says why tests were skipped, e.g.
    ``584 GPU tests skipped: no CUDA device (CuPy is not installed); 12 skipped: torch is not installed``."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    gpu, other = 0, {}
    for report in skipped:
        if "gpu" in getattr(report, "keywords", ()):   # a module skipped at collection has none
            gpu += 1
        else:
            reason = _skip_reason(report)
            other[reason] = other.get(reason, 0) + 1
    parts = []
    if gpu:
        why = gg.backend.cuda_unavailable_reason()
        parts.append(f"{gpu} GPU tests skipped: " + (f"no CUDA device ({why})" if why else
                                                       "deselected or skipped by their own condition"))
    parts += [f"{n} skipped: {reason}" for reason, n in sorted(other.items(), key=lambda kv: -kv[1])]
    terminalreporter.write_line("; ".join(parts))


def assert_raises_naming(exc, words, call, *args):
    """``call(*args)`` raises ``exc`` with a message that contains every one of ``words``."""
    with pytest.raises(exc) as info:
        call(*args)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
