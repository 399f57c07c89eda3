"""What the CPU benchmarks ran on, printed above their tables: NumPy's BLAS (which kernels it
chose, and with how many threads) and whether gpugrad's Numba kernels were on.

OpenBLAS picks its kernels from the CPU it detects, unless ``OPENBLAS_CORETYPE`` names them: the
2-core development VM sets ``OPENBLAS_CORETYPE=Haswell`` in its environment, which holds NumPy to
AVX2 kernels on a CPU with AVX-512 (an AMD Zen 5, where OpenBLAS's own choice is its SkylakeX
kernels, about 1.8x quicker at these GEMMs) while PyTorch's oneDNN and MKL use AVX-512 anyway.
The line printed here says which kernels a run had, so ratios are read beside it.
"""
from __future__ import annotations


def blas_line():
    """e.g. ``NumPy BLAS: openblas 0.3.31, Haswell kernels, 1 thread`` (threadpoolctl's view)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "NumPy BLAS: unknown (pip install threadpoolctl to see it)"
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    blas.sort(key=lambda lib: "numpy" not in str(lib.get("filepath")))   # NumPy's own first
    for lib in blas:
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
    twins = "NumPy twins (no Numba or GPUGRAD_CPU_JIT=0)"
    return "gpugrad CPU kernels: " + ("Numba" if on else twins)
