"""What the CPU benchmarks ran on, printed above their tables: NumPy's BLAS (which kernels it
chose, and with how many threads) and whether gpugrad's Numba kernels were on.

OpenBLAS picks its kernels from the CPU it detects, and the OpenBLAS bundled with NumPy 2.4
(0.3.31) does not know AMD's Zen 5: it falls back to its AVX2 (Haswell) kernels, about half the
speed of its AVX-512 ones on that CPU (OpenMathLib/OpenBLAS#6029, fixed upstream by #6033).
``OPENBLAS_CORETYPE=Cooperlake`` (set before Python starts) selects the AVX-512 kernels there.
"""
from __future__ import annotations


def blas_line():
    """e.g. ``NumPy BLAS: openblas 0.3.31, Haswell kernels, 1 thread`` (threadpoolctl's view)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "NumPy BLAS: unknown (pip install threadpoolctl to see it)"
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            arch = lib.get("architecture")
            threads = lib.get("num_threads")
            return (f"NumPy BLAS: {lib.get('internal_api')} {lib.get('version')}"
                    + (f", {arch} kernels" if arch else "")
                    + f", {threads} thread{'s' if threads != 1 else ''}")
    return "NumPy BLAS: none found"


def cpu_jit_line():
    """Whether gpugrad's Numba-compiled CPU kernels (the `cpu` extra) are on."""
    import numpy as np

    from gpugrad.kernels import cpu_jit

    on = cpu_jit.enabled(np.zeros(1, np.float32))
    return "gpugrad CPU kernels: " + ("Numba" if on else "NumPy twins (no Numba, or GPUGRAD_CPU_JIT=0)")
