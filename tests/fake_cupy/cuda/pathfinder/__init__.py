"""``cuda.pathfinder`` of the stand-in: ``load_nvidia_dynamic_lib('cublas')`` builds
fake_cublas.c (beside this file) for the host once and returns where it is, as the real
pathfinder returns the path of libcublas. Its gemms call back into :func:`_gemm` here, which
checks what a GPU would (the handle is bound to the stream it runs on; inside a capture, the
capture's), computes the product and, during a capture, records it for the graph's replays."""
from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
import types
from pathlib import Path

import numpy as np

_built = {}
_GEMM = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                         ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
#: What the stand-in's cuBLAS saw: one (dtype, m, n, k, stream, during a capture) per gemm;
#: a failed check's message, if any.
CALLS = []
ERRORS = []


def _gemm(dbl, handle, stream, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
    try:
        from cupy import _capture
        T = ctypes.c_double if dbl else ctypes.c_float
        a_val = ctypes.cast(alpha, ctypes.POINTER(T)).contents.value   # read at the call,
        b_val = ctypes.cast(beta, ctypes.POINTER(T)).contents.value    # as cuBLAS reads them
        if _capture.capturing() and stream != _capture.CURRENT[0].ptr:
            raise AssertionError("a gemm during a capture on a handle bound to another stream")
        fn = _built["lib"].fake_cublasDgemm_v2 if dbl else _built["lib"].fake_cublasSgemm_v2
        args = (ta, tb, m, n, k, T(a_val), ctypes.c_void_p(A), lda, ctypes.c_void_p(B), ldb,
                T(b_val), ctypes.c_void_p(C), ldc)
        fn(*args)
        CALLS.append((np.float64 if dbl else np.float32, m, n, k, stream, _capture.capturing()))
        _capture.launched(lambda: fn(*args))
        return 0
    except Exception as exc:   # (a callback must not raise into C)
        ERRORS.append(f"{type(exc).__name__}: {exc}")
        return 14                                        # CUBLAS_STATUS_INTERNAL_ERROR


_callback = _GEMM(_gemm)


def load_nvidia_dynamic_lib(name):
    if name != "cublas":
        raise RuntimeError(f"stand-in: no {name}")
    if "lib" not in _built:
        cc = shutil.which("gcc") or shutil.which("cc")
        out = Path(tempfile.mkdtemp()) / "libcublas_standin.so"
        subprocess.check_call([cc, "-O2", "-shared", "-fPIC", str(Path(__file__).with_name("fake_cublas.c")),
                               "-o", str(out)])
        lib = ctypes.CDLL(str(out))
        lib.fake_cublas_set_callback(_callback)
        for fn, T in (("fake_cublasSgemm_v2", ctypes.c_float), ("fake_cublasDgemm_v2", ctypes.c_double)):
            getattr(lib, fn).argtypes = [ctypes.c_int] * 5 + [T, ctypes.c_void_p, ctypes.c_int,
                                                               ctypes.c_void_p, ctypes.c_int, T,
                                                               ctypes.c_void_p, ctypes.c_int]
            getattr(lib, fn).restype = None
        _built["lib"], _built["path"] = lib, str(out)
    return types.SimpleNamespace(abs_path=_built["path"], was_already_loaded_from_elsewhere=False)
