"""cupyx of the CuPy stand-in: ``allow_synchronize`` and the error it raises."""
import contextlib

import cupy


class DeviceSynchronized(RuntimeError):
    """A device -> host read inside ``allow_synchronize(False)``."""


@contextlib.contextmanager
def allow_synchronize(allow):
    old = cupy._SYNC_ALLOWED[0]
    cupy._SYNC_ALLOWED[0] = allow
    try:
        yield
    finally:
        cupy._SYNC_ALLOWED[0] = old
