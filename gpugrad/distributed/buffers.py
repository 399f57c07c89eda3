"""The buffers collectives work on: contiguous, and on the host where the transport needs it."""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["staged"]


def staged(array, host: bool):
    """``(buffer, copy_back)``: a contiguous array a collective can work on in place (on the
    host when ``host``), and a function that writes the result back into ``array`` (None when
    the buffer is ``array`` itself)."""
    on_host = isinstance(array, np.ndarray)
    if array.flags.c_contiguous and (on_host or not host):
        return array, None
    if host and not on_host:
        buf = np.ascontiguousarray(backend.to_numpy(array))
        dev = backend.device_of(array)

        def copy_back():
            array[...] = backend.to_device(buf, dev)
    else:
        buf = backend.array_module(array).ascontiguousarray(array)

        def copy_back():
            array[...] = buf
    return buf, copy_back
