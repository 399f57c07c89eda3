"""CuPy, loaded lazily: whether CUDA is usable, and what went wrong when it is not.

This module (with the rest of :mod:`gpugrad.backend`) is the only code in gpugrad that imports
cupy. Importing gpugrad on a machine without CuPy or without a GPU works and prints nothing;
asking for CUDA there raises an error that says why.
"""
from __future__ import annotations

import re
import warnings

__all__ = ["load_cupy", "cupy_module", "cuda_device_count", "cuda_unavailable_reason",
           "cuda_available", "is_out_of_memory", "out_of_memory_error"]

_state = {"tried": False, "module": None, "error": None}


def load_cupy():
    """Import cupy once; return it, or None (the reason is kept for the error messages)."""
    if _state["tried"]:
        return _state["module"]
    _state["tried"] = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import cupy  # noqa: PLC0415  (the one place gpugrad imports cupy)
    except Exception as exc:  # ImportError, or a broken CUDA install raising anything
        _state["error"] = (
            "CuPy is not installed (pip install 'gpugrad[cuda12]' or 'gpugrad[cuda13]')"
            if isinstance(exc, ImportError) else f"CuPy failed to import: {exc}")
        return None
    _state["module"] = cupy
    return cupy


def loaded_cupy():
    """The cupy module if it has been imported already, else None (never imports it)."""
    return _state["module"]


def cupy_module():
    """The cupy module, for code (kernels, tests) that needs CuPy-only APIs. Raises if absent."""
    cp = load_cupy()
    if cp is None:
        raise RuntimeError(f"CUDA is not available: {_state['error']}")
    return cp


def cuda_device_count() -> int:
    """Number of CUDA devices CuPy can see (0 without CuPy or a GPU)."""
    cp = load_cupy()
    if cp is None:
        return 0
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def cuda_unavailable_reason() -> str | None:
    """None when CUDA is usable, else a sentence saying why not."""
    if load_cupy() is None:
        return _state["error"]
    if cuda_device_count() == 0:
        return "CuPy is installed but sees no CUDA device (no GPU, or no driver)"
    return None


def cuda_available() -> bool:
    return cuda_unavailable_reason() is None


# --------------------------------------------------------------------------- out of memory

def is_out_of_memory(exc) -> bool:
    """True for CuPy's device (or pinned) out-of-memory errors."""
    cp = _state["module"]
    if cp is None:
        return False
    return isinstance(exc, (cp.cuda.memory.OutOfMemoryError,)) or (
        type(exc).__name__ == "CUDARuntimeError" and "memory" in str(exc).lower())


def out_of_memory_error(exc, where: str, dev=None) -> MemoryError:
    """A MemoryError that says how much was asked for, what is free, and what to do."""
    cp = _state["module"]
    asked = None
    match = re.search(r"allocating ([\d,]+) bytes", str(exc))
    if match:
        asked = int(match.group(1).replace(",", ""))
    free = total = None
    try:
        free, total = cp.cuda.runtime.memGetInfo()
    except Exception:
        pass
    pool_used = None
    try:
        pool_used = cp.get_default_memory_pool().used_bytes()
    except Exception:
        pass

    def gib(n):
        return f"{n / 2**30:.2f} GiB"

    parts = [f"CUDA out of memory on {dev or 'the GPU'} in {where}"]
    if asked is not None:
        parts.append(f"tried to allocate {gib(asked)}")
    if free is not None:
        parts.append(f"{gib(free)} free of {gib(total)}")
    if pool_used is not None:
        parts.append(f"{gib(pool_used)} held by gpugrad's arrays")
    return MemoryError("; ".join(parts) + ". Try a smaller batch size (or a smaller model); "
                       "the model and optimizer state are unchanged.")
