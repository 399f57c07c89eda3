"""Matrix products through a cuBLAS handle of gpugrad's own, which a CUDA graph can capture.

CuPy's matmul binds its cuBLAS handle to the current stream on every call and refuses to while
that stream is being captured (``cupy_backends.cuda.libs.cublas.setStream``), though cuBLAS
itself supports capture. So inside a capture gpugrad calls cuBLAS's C API itself, through
``ctypes``, in the library CuPy loaded (found by ``cuda.pathfinder``, as CuPy finds it): one
handle per capture stream, bound to it before the capture begins, with a workspace of its own
(as PyTorch sets one, so that the captured kernels never allocate). The binding is these five
functions; nothing else is needed for a row-major ``C = A @ B``.

Row-major ``C (m x n) = A (m x k) @ B (k x n)`` is the column-major ``C^T = B^T A^T``: cuBLAS
gets B where it expects its first operand and A where it expects the second, each as stored
(``N``) when its rows are contiguous, transposed (``T``) when its columns are, so transposed
views cost no copy. :func:`gemm_plan` works this out from shapes and strides alone.
"""
from __future__ import annotations

import ctypes
from typing import NamedTuple

import numpy as np

__all__ = ["GemmPlan", "gemm_plan", "CublasHandle", "WORKSPACE_BYTES"]

#: The workspace each handle gets: 32 MiB, cuBLAS's recommendation for Hopper (and PyTorch's).
WORKSPACE_BYTES = 32 << 20
OP_N, OP_T = 0, 1


class GemmPlan(NamedTuple):
    """cuBLAS gemm's arguments for row-major ``out = a @ b``: ``gemm(trans_first,
    trans_second, M, N, K, alpha, first, ld_first, second, ld_second, beta, out, ld_out)`` with
    ``first`` = b and ``second`` = a. ``copy_a`` / ``copy_b``: the operand has neither its rows
    nor its columns contiguous, and must be copied to a C-contiguous array first (then planned
    again)."""
    trans_first: int
    trans_second: int
    M: int
    N: int
    K: int
    ld_first: int
    ld_second: int
    ld_out: int
    copy_a: bool
    copy_b: bool


def _operand(shape, strides, itemsize):
    """(op, ld) under which cuBLAS reads this row-major 2-D operand's transpose, or None."""
    rows, cols = shape
    s0, s1 = (s // itemsize for s in strides)
    if cols == 1 or s1 == 1:                  # rows contiguous: stored as its transpose
        if rows == 1 or s0 >= max(cols, 1):
            return OP_N, max(cols, s0 if rows > 1 else cols, 1)
    if rows == 1 or s0 == 1:                  # columns contiguous: stored as itself
        if cols == 1 or s1 >= max(rows, 1):
            return OP_T, max(rows, s1 if cols > 1 else rows, 1)
    return None


def gemm_plan(a_shape, a_strides, b_shape, b_strides, itemsize) -> GemmPlan:
    """The cuBLAS call for row-major ``a @ b`` (2-D; strides in bytes, as NumPy and CuPy give
    them) into a C-contiguous output."""
    (m, k), (k2, n) = a_shape, b_shape
    if k != k2:
        raise ValueError(f"gemm: shapes {tuple(a_shape)} and {tuple(b_shape)} do not multiply")
    a_op, b_op = _operand(a_shape, a_strides, itemsize), _operand(b_shape, b_strides, itemsize)
    if a_op is None or b_op is None:
        return GemmPlan(OP_N, OP_N, n, m, k, max(n, 1), max(k, 1), max(n, 1),
                        a_op is None, b_op is None)
    return GemmPlan(b_op[0], a_op[0], n, m, k, b_op[1], a_op[1], max(n, 1), False, False)


# ----------------------------------------------------------------------------- the handle

_FUNCTIONS = {
    "cublasCreate_v2": [ctypes.POINTER(ctypes.c_void_p)],
    "cublasDestroy_v2": [ctypes.c_void_p],
    "cublasSetStream_v2": [ctypes.c_void_p, ctypes.c_void_p],
    "cublasSetWorkspace_v2": [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t],
    "cublasSgemm_v2": [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                       ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_int],
}
_FUNCTIONS["cublasDgemm_v2"] = _FUNCTIONS["cublasSgemm_v2"]
_library = {}


def _cublas():
    """The cuBLAS library CuPy uses, with the signatures gpugrad calls (loaded once)."""
    if "lib" not in _library:
        try:
            from cuda.pathfinder import load_nvidia_dynamic_lib   # CuPy 14's own dependency
        except ImportError:
            raise RuntimeError("matrix products inside a CUDA graph capture call cuBLAS through "
                               "gpugrad's own handle, found with cuda.pathfinder, which CuPy 14 "
                               "installs (pip install 'gpugrad[cuda12]')") from None
        lib = ctypes.CDLL(load_nvidia_dynamic_lib("cublas").abs_path)
        for name, argtypes in _FUNCTIONS.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = argtypes, ctypes.c_int
        _library["lib"] = lib
    return _library["lib"]


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"cuBLAS {what} failed with status {status}")


class CublasHandle:
    """A cuBLAS handle bound to one stream, with a workspace (a device array of
    :data:`WORKSPACE_BYTES`, made by ``alloc_bytes``) that lives as long as the handle."""

    def __init__(self, stream_ptr: int, alloc_bytes):
        lib = _cublas()
        self._lib = lib
        handle = ctypes.c_void_p()
        _check(lib.cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        self.ptr = handle.value
        self.workspace = alloc_bytes(WORKSPACE_BYTES)
        _check(lib.cublasSetStream_v2(self.ptr, stream_ptr), "cublasSetStream")
        _check(lib.cublasSetWorkspace_v2(self.ptr, self.workspace.data.ptr, WORKSPACE_BYTES),
               "cublasSetWorkspace")

    def gemm(self, a, b, out):
        """``out[...] = a @ b`` for 2-D float32 / float64 device arrays, ``out`` C-contiguous
        (a and b as :func:`gemm_plan` takes them: no operand that needs a copy)."""
        plan = gemm_plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
        assert not (plan.copy_a or plan.copy_b), "copy the operand first"
        dtype = np.dtype(a.dtype)
        fn = {np.dtype(np.float32): self._lib.cublasSgemm_v2,
              np.dtype(np.float64): self._lib.cublasDgemm_v2}[dtype]
        alpha, beta = np.ones(1, dtype), np.zeros(1, dtype)   # read when the call is made
        _check(fn(self.ptr, plan.trans_first, plan.trans_second, plan.M, plan.N, plan.K,
                  alpha.ctypes.data, b.data.ptr, plan.ld_first, a.data.ptr, plan.ld_second,
                  beta.ctypes.data, out.data.ptr, plan.ld_out), "gemm")
        return out

    def close(self):
        if self.ptr is not None:
            self._lib.cublasDestroy_v2(self.ptr)
            self.ptr = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
