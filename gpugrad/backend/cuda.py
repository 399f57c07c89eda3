"""CuPy, loaded lazily: whether CUDA is usable, and what went wrong when it is not.

This module (with the rest of :mod:`gpugrad.backend`) is the only code in gpugrad that imports
cupy. Importing gpugrad on a machine without CuPy or without a GPU works and prints nothing;
asking for CUDA there raises an error that says why.

CUDA is usable when CuPy imports, sees a device, and can load the three CUDA libraries gpugrad
calls: NVRTC (compiles the kernels on first use), cuBLAS (matrix products) and cuRAND (random
tensors). ``cupy-cuda12x`` alone brings none of the three; its ``ctk`` extra, which gpugrad's
``cuda12`` / ``cuda13`` extras ask for, installs them as wheels. Both answers (the device count
and the reason) are worked out once per process.
"""
from __future__ import annotations

import re
import traceback
import warnings

__all__ = ["load_cupy", "cupy_module", "cuda_device_count", "cuda_unavailable_reason",
           "cuda_available", "is_out_of_memory", "out_of_memory_error"]

_state = {"tried": False, "module": None, "error": None, "count": None, "count_error": None,
          "reason": None, "checked": False}

#: The CUDA libraries gpugrad needs besides the runtime: (attribute of cupy.cuda, what for).
_LIBRARIES = (("nvrtc", "NVRTC, the runtime compiler that builds gpugrad's kernels"),
              ("cublas", "cuBLAS, for matrix products"),
              ("curand", "cuRAND, for random tensors"))


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
    """Number of CUDA devices CuPy can see (0 without CuPy or a GPU); asked once per process."""
    if _state["count"] is None:
        _state["count"] = _count_devices()
    return _state["count"]


def _count_devices() -> int:
    cp = load_cupy()
    if cp is None:
        return 0
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception as exc:  # no driver, a driver too old for this CUDA, ...
        _state["count_error"] = f"{exc}".strip() or type(exc).__name__
        return 0


def cuda_unavailable_reason() -> str | None:
    """None when CUDA is usable, else a sentence saying why not (and what to install)."""
    if not _state["checked"]:
        _state["reason"] = _find_reason()
        _state["checked"] = True
    return _state["reason"]


def _find_reason() -> str | None:
    cp = load_cupy()
    if cp is None:
        return _state["error"]
    if cuda_device_count() == 0:
        why = _state["count_error"]
        return ("CuPy is installed but sees no CUDA device (no GPU, or no driver"
                + (f": {why})" if why else ")"))
    missing = []
    for attr, what in _LIBRARIES:
        try:
            lib = getattr(cp.cuda, attr)      # cupy.cuda imports cuBLAS / cuRAND on first access
            if attr == "nvrtc":
                lib.getVersion()              # NVRTC is opened on its first call
        except Exception as exc:
            missing.append(f"{what} ({str(exc).strip() or type(exc).__name__})")
    if not missing:
        return None
    extra = _cuda_extra(cp)
    return ("CuPy sees a GPU but cannot load " + "; ".join(missing)
            + f". pip install 'gpugrad[{extra}]' brings these libraries as wheels "
            f"(cupy-{extra}x[ctk]), or install the CUDA toolkit of that version")


def _cuda_extra(cp) -> str:
    """'cuda12' or 'cuda13': the gpugrad extra for the CUDA major version this CuPy is built for."""
    try:
        return f"cuda{int(cp.cuda.runtime.runtimeGetVersion()) // 1000}"
    except Exception:
        return "cuda12"


def cuda_available() -> bool:
    return cuda_unavailable_reason() is None


# --------------------------------------------------------------------------- out of memory

# Status codes of an allocation failure: the CUDA runtime's cudaErrorMemoryAllocation, cuBLAS's
# CUBLAS_STATUS_ALLOC_FAILED and cuRAND's CURAND_STATUS_ALLOCATION_FAILED. Any other status (an
# illegal address, a launch failure, ...) is a bug or a broken context, never "out of memory".
_ALLOCATION_FAILED = {"CUDARuntimeError": 2, "CUBLASError": 3, "CURANDError": 102}


def is_out_of_memory(exc) -> bool:
    """True for CuPy's device (or pinned) out-of-memory errors and for a CUDA library's
    allocation failure; False for every other error, however its message reads."""
    cp = _state["module"]
    if cp is None:
        return False
    oom_type = getattr(getattr(getattr(cp, "cuda", None), "memory", None), "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    status = _ALLOCATION_FAILED.get(type(exc).__name__)
    return status is not None and getattr(exc, "status", None) == status


def out_of_memory_error(exc, where: str, dev=None) -> MemoryError:
    """A MemoryError that says how much was asked for, what is free, and what to do.

    Also gives back what the failed operation left behind: its temporaries (still referenced
    by the traceback's finished frames) are let go, and CuPy's pool returns every cached block
    to the device, so a smaller retry (or another library) has the memory. The pool's cached
    bytes are counted first, since the device's free figure leaves them out.
    """
    cp = _state["module"]
    asked = None
    match = re.search(r"allocating ([\d,]+) bytes", str(exc))
    if match:
        asked = int(match.group(1).replace(",", ""))
    if exc.__traceback__ is not None:
        traceback.clear_frames(exc.__traceback__)   # the frames still running are skipped
    held = cached = free = total = None
    try:
        with cp.cuda.Device(getattr(dev, "index", None) or 0):  # the figures are per device
            pool = cp.get_default_memory_pool()
            used, total_held = pool.used_bytes(), pool.total_bytes()
            pool.free_all_blocks()
            held, cached = used, total_held - used
            free, total = cp.cuda.runtime.memGetInfo()
    except Exception:   # a broken context: say what is known
        pass

    parts = [f"CUDA out of memory on {dev or 'the GPU'} in {where}"]
    if asked is not None:
        parts.append(f"tried to allocate {_bytes(asked)}")
    if held is not None:
        parts.append(f"{_bytes(held)} held by live arrays")
        parts.append(f"{_bytes(cached)} cached by CuPy's memory pool (now released to the device)")
    if free is not None:
        parts.append(f"{_bytes(free)} free of {_bytes(total)} on the device")
    return MemoryError("; ".join(parts) + ". Try a smaller batch size (or a smaller model); "
                       "the model and optimizer state are unchanged.")


def _bytes(n) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
