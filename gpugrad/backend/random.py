"""The random generators gpugrad draws from, seeded together by :func:`manual_seed`."""
from __future__ import annotations

import numpy as np

from .cuda import cuda_device_count, loaded_cupy

__all__ = ["cpu_generator", "manual_seed", "get_rng_state", "set_rng_state"]

_generator = {"cpu": np.random.default_rng()}


def cpu_generator() -> np.random.Generator:
    """The NumPy generator gpugrad draws from (parameter init, shuffling, CPU randn)."""
    return _generator["cpu"]


def manual_seed(seed: int) -> None:
    """Seed every generator gpugrad uses: NumPy's, and CuPy's when CuPy is loaded."""
    _generator["cpu"] = np.random.default_rng(seed)
    cp = loaded_cupy()
    if cp is not None and cuda_device_count() > 0:
        cp.random.seed(seed)


def get_rng_state() -> dict:
    """The state of gpugrad's generator (what dropout masks and shuffles are drawn from), as
    plain JSON-able values: PyTorch's ``torch.get_rng_state`` for a checkpoint."""
    return dict(_generator["cpu"].bit_generator.state)


def set_rng_state(state: dict) -> None:
    """Put back a state from :func:`get_rng_state`: the same draws follow."""
    generator = np.random.default_rng()
    if not isinstance(state, dict):
        raise TypeError(f"set_rng_state: expected a dict from get_rng_state(), got {type(state).__name__}")
    if state.get("bit_generator") != type(generator.bit_generator).__name__:
        raise ValueError(f"set_rng_state: a state of {state.get('bit_generator')!r}, not of "
                         f"{type(generator.bit_generator).__name__}")
    try:
        generator.bit_generator.state = state
    except (KeyError, TypeError, ValueError, OverflowError) as exc:   # a damaged or edited state
        raise ValueError(f"set_rng_state: not a state from get_rng_state() ({type(exc).__name__}: "
                         f"{exc})") from None
    _generator["cpu"] = generator
