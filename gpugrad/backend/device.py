"""Devices: where arrays live, and the default device.

'cpu' means NumPy; 'cuda' / 'cuda:N' means CuPy on GPU N. The default device comes from
``GPUGRAD_DEVICE`` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``; ``auto`` means cuda when CuPy
imports and sees a device, else cpu) unless set with :func:`set_default_device`.
:func:`resolve_device` is the one place a device spelling (or None, or 'auto') becomes a Device.
"""
from __future__ import annotations

import os

import numpy as np

from .cuda import cuda_available, cuda_device_count, cuda_unavailable_reason, load_cupy

__all__ = ["Device", "CPU", "resolve_device", "get_default_device", "set_default_device",
           "synchronize"]


class Device:
    """A place arrays live: ``Device('cpu')`` (NumPy) or ``Device('cuda:N')`` (CuPy).

    Devices are interned, so ``a.device is b.device`` is the fast equality test; a Device
    also compares equal to its string spelling (``t.device == 'cpu'``).
    """

    __slots__ = ("type", "index", "_name", "_xp", "_current")
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
        typ, index = _parse(spec, key)
        name = "cpu" if typ == "cpu" else f"cuda:{index}"
        canonical = cls._interned.get(name)
        if canonical is None:
            canonical = object.__new__(cls)
            canonical.type, canonical.index, canonical._name = typ, index, name
            canonical._xp = np if typ == "cpu" else None
            canonical._current = None   # cupy.cuda.runtime.getDevice, once CUDA is checked
            cls._interned[name] = canonical
        cls._interned[key] = canonical
        return canonical

    @property
    def xp(self):
        """The array module for this device: numpy, or cupy (checked to exist on first use)."""
        if self._xp is None:
            self.ensure_available()
            cp = load_cupy()
            self._current, self._xp = cp.cuda.runtime.getDevice, cp
        return self._xp

    def ensure_available(self):
        """Raise RuntimeError, saying why, when this device cannot be used here; return self."""
        if self.type != "cuda":
            return self
        why = cuda_unavailable_reason()
        if why is not None:
            raise RuntimeError(f"device {self._name!r} was asked for, but CUDA is not available: {why}")
        count = cuda_device_count()
        if self.index >= count:
            raise RuntimeError(f"device {self._name!r} was asked for, but only {count} CUDA device(s) are visible")
        return self

    def context(self):
        """A context manager making this the current CUDA device: a no-op on the CPU and when
        this device is current already (the common single-GPU case costs one query)."""
        if self.type == "cpu":
            return _NULL_CONTEXT
        if self._current is None:
            self.xp   # noqa: B018  (checks this device once)
        if self._current() == self.index:
            return _NULL_CONTEXT
        return self._xp.cuda.Device(self.index)

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


def _parse(spec, key):
    if key == "cpu":
        return "cpu", None
    if key == "cuda":
        return "cuda", 0
    if key.startswith("cuda:"):
        try:
            index = int(key[5:])
        except ValueError:
            raise ValueError(f"bad device {spec!r}: expected 'cuda:N' with an integer N") from None
        if index < 0:
            raise ValueError(f"bad device {spec!r}: the GPU index must be >= 0")
        return "cuda", index
    raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")


class _NullContext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NULL_CONTEXT = _NullContext()
CPU = Device("cpu")
_default = {"device": None}


def resolve_device(spec=None, check=False) -> Device:
    """A Device from a spelling: 'cpu', 'cuda', 'cuda:N', a Device, 'auto' (CUDA when usable,
    else the CPU) or None (the default device). With ``check``, also make sure it is usable."""
    if spec is None:
        return get_default_device()
    if isinstance(spec, str) and spec.strip().lower() == "auto":
        return Device("cuda:0") if cuda_available() else CPU
    dev = Device(spec)
    return dev.ensure_available() if check else dev


def get_default_device() -> Device:
    """The device new tensors go to when none is named (see the module docstring)."""
    if _default["device"] is None:
        value = os.environ.get("GPUGRAD_DEVICE", "auto").strip().lower() or "auto"
        try:
            _default["device"] = resolve_device(value, check=True)
        except ValueError:
            raise ValueError(f"GPUGRAD_DEVICE={value!r} is not one of cpu, cuda, cuda:N, auto") from None
    return _default["device"]


def set_default_device(spec) -> None:
    """Set the default device ('cpu', 'cuda', 'cuda:N' or 'auto'; None goes back to
    GPUGRAD_DEVICE); raises if it is unusable."""
    _default["device"] = None if spec is None else resolve_device(spec, check=True)


def synchronize(dev=None) -> None:
    """Wait for all work queued on a CUDA device (a no-op on the CPU)."""
    dev = resolve_device(dev)
    if dev.type == "cuda":
        with dev.context():
            load_cupy().cuda.Device(dev.index).synchronize()
