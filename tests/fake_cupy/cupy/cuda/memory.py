"""cupy.cuda.memory of the stand-in."""
from __future__ import annotations

from .._state import MemoryPool  # noqa: F401


class OutOfMemoryError(MemoryError):
    """As CuPy's, message included."""

    def __init__(self, size, total, limit=0):
        self._size, self._total, self._limit = size, total, limit
        super().__init__(f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes).")
