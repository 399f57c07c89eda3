"""The array layer: which device an array lives on, and the array module that computes on it.

'cpu' means NumPy; 'cuda' / 'cuda:N' means CuPy on GPU N. This is the only module in gpugrad
that imports cupy, and it does so lazily: importing gpugrad on a machine without CuPy or without
a GPU works and prints nothing, and asking for 'cuda' there raises an error that says why.

The default device comes from ``GPUGRAD_DEVICE`` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``;
``auto`` means cuda when CuPy imports and sees a device, else cpu) unless set with
:func:`set_default_device`.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

__all__ = [
    "Device", "device", "device_of", "get_default_device", "set_default_device",
    "cuda_available", "cuda_unavailable_reason", "cuda_device_count", "array_module",
    "to_device", "to_numpy", "synchronize", "is_array", "manual_seed", "cpu_generator",
]

# --------------------------------------------------------------------------- CuPy, lazily

_cupy = None            # the cupy module once imported
_cupy_error = None      # why cupy is unusable (str), once we know
_cupy_tried = False


def _load_cupy():
    """Import cupy once; return it, or None (with the reason kept in _cupy_error)."""
    global _cupy, _cupy_error, _cupy_tried
    if _cupy_tried:
        return _cupy
    _cupy_tried = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import cupy  # noqa: PLC0415  (the one place gpugrad imports cupy)
    except Exception as exc:  # ImportError, or a broken CUDA install raising anything
        _cupy_error = (
            "CuPy is not installed (pip install 'gpugrad[cuda12]' or 'gpugrad[cuda13]')"
            if isinstance(exc, ImportError) else f"CuPy failed to import: {exc}"
        )
        return None
    _cupy = cupy
    return cupy


def cupy_module():
    """The cupy module, for code (kernels, tests) that needs CuPy-only APIs. Raises if absent."""
    cp = _load_cupy()
    if cp is None:
        raise RuntimeError(f"CUDA is not available: {_cupy_error}")
    return cp


def cuda_device_count() -> int:
    """Number of CUDA devices CuPy can see (0 without CuPy or a GPU)."""
    cp = _load_cupy()
    if cp is None:
        return 0
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def cuda_unavailable_reason() -> str | None:
    """None when CUDA is usable, else a sentence saying why not."""
    if _load_cupy() is None:
        return _cupy_error
    if cuda_device_count() == 0:
        return "CuPy is installed but sees no CUDA device (no GPU, or no driver)"
    return None


def cuda_available() -> bool:
    return cuda_unavailable_reason() is None


# --------------------------------------------------------------------------- devices

class Device:
    """A place arrays live: ``Device('cpu')`` (NumPy) or ``Device('cuda:N')`` (CuPy).

    Devices are interned, so ``a.device is b.device`` is the fast equality test; a Device
    also compares equal to its string spelling (``t.device == 'cpu'``).
    """

    __slots__ = ("type", "index", "_name", "_xp")
    _interned: dict = {}

    def __new__(cls, spec="cpu"):
        if isinstance(spec, Device):
            return spec
        if not isinstance(spec, str):
            raise TypeError(f"device must be a str like 'cpu' or 'cuda:0' or a Device, got {type(spec).__name__}")
        key = spec.strip().lower()
        hit = cls._interned.get(key)
        if hit is not None:
            return hit
        if key == "cpu":
            typ, index = "cpu", None
        elif key == "cuda" or key.startswith("cuda:"):
            typ = "cuda"
            if key == "cuda":
                index = 0
            else:
                try:
                    index = int(key[5:])
                except ValueError:
                    raise ValueError(f"bad device {spec!r}: expected 'cuda:N' with an integer N") from None
                if index < 0:
                    raise ValueError(f"bad device {spec!r}: the GPU index must be >= 0")
        else:
            raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        name = "cpu" if typ == "cpu" else f"cuda:{index}"
        canonical = cls._interned.get(name)
        if canonical is None:
            canonical = object.__new__(cls)
            canonical.type, canonical.index, canonical._name = typ, index, name
            canonical._xp = np if typ == "cpu" else None
            cls._interned[name] = canonical
        cls._interned[key] = canonical
        return canonical

    @property
    def xp(self):
        """The array module for this device: numpy, or cupy (checked to exist on first use)."""
        if self._xp is None:
            self._check_available()
            self._xp = _cupy
        return self._xp

    def _check_available(self):
        if self.type != "cuda":
            return
        why = cuda_unavailable_reason()
        if why is not None:
            raise RuntimeError(f"device {self._name!r} was asked for, but CUDA is not available: {why}")
        count = cuda_device_count()
        if self.index >= count:
            raise RuntimeError(f"device {self._name!r} was asked for, but only {count} CUDA device(s) are visible")

    def context(self):
        """A context manager making this the current CUDA device (a no-op on the CPU)."""
        if self.type == "cpu":
            return _NULL_CONTEXT
        self._check_available()
        return _cupy.cuda.Device(self.index)

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    def __str__(self):
        return self._name

    def __eq__(self, other):
        if isinstance(other, Device):
            return self is other
        if isinstance(other, str):
            try:
                return Device(other) is self
            except ValueError:
                return False
        return NotImplemented

    def __hash__(self):
        return hash(self._name)

    def __reduce__(self):
        return (Device, (self._name,))


class _NullContext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NULL_CONTEXT = _NullContext()
CPU = Device("cpu")


def device(spec) -> Device:
    """Parse a device spelling ('cpu', 'cuda', 'cuda:1', a Device or None for the default)."""
    if spec is None:
        return get_default_device()
    return Device(spec)


_default_device: Device | None = None


def get_default_device() -> Device:
    """The device new tensors go to when none is named (see module docstring)."""
    global _default_device
    if _default_device is None:
        _default_device = _device_from_env()
    return _default_device


def set_default_device(spec) -> None:
    """Set the default device ('cpu', 'cuda', 'cuda:N' or 'auto'); raises if it is unusable."""
    global _default_device
    if spec is None:
        _default_device = None
        return
    if isinstance(spec, str) and spec.strip().lower() == "auto":
        _default_device = CPU if not cuda_available() else Device("cuda:0")
        return
    dev = Device(spec)
    dev._check_available()
    _default_device = dev


def _device_from_env() -> Device:
    value = os.environ.get("GPUGRAD_DEVICE", "auto").strip().lower() or "auto"
    if value == "auto":
        return Device("cuda:0") if cuda_available() else CPU
    try:
        dev = Device(value)
    except ValueError:
        raise ValueError(f"GPUGRAD_DEVICE={value!r} is not one of cpu, cuda, cuda:N, auto") from None
    dev._check_available()
    return dev


# --------------------------------------------------------------------------- arrays

def is_array(obj) -> bool:
    """True for a NumPy or CuPy ndarray."""
    if isinstance(obj, np.ndarray):
        return True
    return _cupy is not None and isinstance(obj, _cupy.ndarray)


def _is_cupy_array(obj) -> bool:
    if _cupy is None:
        # The caller may have imported cupy itself; only then can obj be a cupy array.
        if type(obj).__module__.split(".")[0] != "cupy":
            return False
        _load_cupy()
    return _cupy is not None and isinstance(obj, _cupy.ndarray)


def device_of(array) -> Device:
    """The Device an array lives on."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return CPU
    if _is_cupy_array(array):
        return Device(f"cuda:{array.device.id}")
    raise TypeError(f"expected a NumPy or CuPy array, got {type(array).__name__}")


def array_module(array):
    """numpy for a NumPy array (or scalar), cupy for a CuPy array."""
    if isinstance(array, np.ndarray):
        return np
    if _is_cupy_array(array):
        return _cupy
    return np


def to_device(array, dev) -> "np.ndarray":
    """Return ``array`` on device ``dev`` (the same object when it is already there)."""
    dev = Device(dev)
    src = device_of(array)
    if src is dev:
        return array
    if dev.type == "cpu":
        return array.get()
    dev._check_available()
    with _cupy.cuda.Device(dev.index):
        return _cupy.asarray(array)


def to_numpy(array) -> np.ndarray:
    """A NumPy array with the values of ``array`` (copies from the GPU when needed)."""
    if isinstance(array, np.ndarray):
        return array
    if _is_cupy_array(array):
        return array.get()
    return np.asarray(array)


def synchronize(dev=None) -> None:
    """Wait for all work queued on a CUDA device (a no-op on the CPU)."""
    dev = device(dev)
    if dev.type == "cuda":
        with dev.context():
            _cupy.cuda.Device(dev.index).synchronize()


# --------------------------------------------------------------------------- out of memory

def is_out_of_memory(exc) -> bool:
    """True for CuPy's device (or pinned) out-of-memory errors."""
    if _cupy is None:
        return False
    return isinstance(exc, (_cupy.cuda.memory.OutOfMemoryError,)) or (
        type(exc).__name__ == "CUDARuntimeError" and "memory" in str(exc).lower())


def out_of_memory_error(exc, where: str, dev=None) -> MemoryError:
    """A MemoryError that says how much was asked for, what is free, and what to do."""
    import re

    asked = None
    match = re.search(r"allocating ([\d,]+) bytes", str(exc))
    if match:
        asked = int(match.group(1).replace(",", ""))
    free = total = None
    try:
        free, total = _cupy.cuda.runtime.memGetInfo()
    except Exception:
        pass
    pool_used = None
    try:
        pool_used = _cupy.get_default_memory_pool().used_bytes()
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


# --------------------------------------------------------------------------- random numbers

_cpu_generator = np.random.default_rng()


def cpu_generator() -> np.random.Generator:
    """The NumPy generator gpugrad draws from (parameter init, shuffling, CPU randn)."""
    return _cpu_generator


def manual_seed(seed: int) -> None:
    """Seed every generator gpugrad uses: NumPy's, and CuPy's when CuPy is loaded."""
    global _cpu_generator
    _cpu_generator = np.random.default_rng(seed)
    if _cupy is not None and cuda_device_count() > 0:
        _cupy.random.seed(seed)
