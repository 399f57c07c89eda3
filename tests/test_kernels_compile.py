"""Every kernel gpugrad defines compiles with NVRTC exactly as CuPy compiles it at run time, for
sm_80 (A100) and sm_90 (H100), with no GPU: a kernel that nvcc accepts but NVRTC (with CuPy's
generated ElementwiseKernel code) rejects would otherwise be found only on a device.

* each RawModule, as ``gpugrad.kernels.loader.raw_module`` creates it (its code and options);
* each ElementwiseKernel, as ``loader.elementwise_kernel`` creates it, in the source CuPy
  generates for float16, float32 and float64 arrays (1-D, contiguous: the layout only changes
  CuPy's own indexing code);

both through CuPy's own NVRTC path (``cupy.cuda.compiler.compile_using_nvrtc``) with the options
CuPy adds at run time (its headers, C++17, ``-ftz=true``, ``--device-as-default-execution-space``).
Only the device query that picks the architecture is replaced. Needs CuPy and NVRTC, not a
GPU (``pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12 nvidia-cuda-runtime-cu12``); skipped
without them, unless GPUGRAD_REQUIRE_NVRTC=1 (CI sets it), which makes that a failure. The
nvcc check of the same sources stays in tests/test_kernels_host.py.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from gpugrad import backend
from gpugrad.kernels import loader

pytestmark = pytest.mark.compile

ARCHS = ("80", "90")
DTYPES = ("float16", "float32", "float64")
RAW_JOBS = [(filename, arch) for filename in sorted(set(loader.RAW_FILES.values())) for arch in ARCHS]
EW_JOBS = [(name, dtype, arch) for name in sorted(loader.ELEMENTWISE_SPECS) for dtype in DTYPES
           for arch in ARCHS]


def _cupy_with_nvrtc():
    """CuPy's compiler modules, or the reason they cannot be used here."""
    cp = backend.load_cupy()
    if cp is None or getattr(cp, "IS_STAND_IN", False):
        return None, "CuPy is not installed (pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12)"
    try:
        cp.cuda.nvrtc.getVersion()
        from cupy._core import _carray, _kernel, _scalar, core
        from cupy.cuda import compiler
    except Exception as exc:
        return None, f"CuPy cannot load NVRTC: {exc}".strip()
    return (cp, compiler, core, _kernel, _scalar, _carray), None


@pytest.fixture(scope="module")
def nvrtc():
    mods, why = _cupy_with_nvrtc()
    if mods is None:
        if os.environ.get("GPUGRAD_REQUIRE_NVRTC") == "1":
            pytest.fail(f"GPUGRAD_REQUIRE_NVRTC=1 but {why}")
        pytest.skip(why)
    compiler = mods[1]
    with pytest.MonkeyPatch.context() as mp:
        # The one device query on CuPy's path: which -arch to compile for. Given here, as cubin.
        mp.setattr(compiler, "_get_arch_for_options_for_nvrtc",
                   lambda arch=None: (f"-arch=sm_{arch}", "cubin"))
        yield NVRTC(*mods)


class NVRTC:
    """Compiles sources the way CuPy's compile_with_cache does, without a device."""

    def __init__(self, cp, compiler, core, kernel, scalar, carray):
        self.cp, self.compiler, self.core = cp, compiler, core
        self.kernel, self.scalar, self.carray = kernel, scalar, carray
        self.cupy_headers = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)

    def compile(self, source, options, arch, cupy_headers=False):
        """The cubin of ``source``; CompileException if NVRTC rejects it."""
        options = self.core.assemble_cupy_compiler_options(tuple(options)) + ("-ftz=true",)
        if cupy_headers:
            source = self.cupy_headers + source
        cubin, _ = self.compiler.compile_using_nvrtc(source, options, arch=arch)
        return cubin

    def elementwise_source(self, kernel, dtype):
        """The source CuPy generates for ElementwiseKernel ``kernel`` on 1-D contiguous arrays
        of ``dtype`` (scalar parameters keep their declared types)."""
        dtype = np.dtype(dtype)
        ins = tuple(dtype if p.dtype is None else None for p in kernel.in_params)
        outs = tuple(dtype for _ in kernel.out_params)
        in_types, out_types, type_map = kernel._decide_params_type(ins, outs)
        infos = []
        for p, t in zip(kernel.in_params + kernel.out_params, in_types + out_types):
            if p.dtype is None:     # an array argument (kind 1: ndarray)
                infos.append(self.kernel._ArgInfo(1, self.cp.ndarray, t, 1, True, True))
            else:                   # a scalar argument (kind 3: CScalar)
                infos.append(self.kernel._ArgInfo(3, self.scalar.CScalar, t, 0, True, True))
        infos.append(self.kernel._ArgInfo(2, self.carray.Indexer, None, 1, True, True))
        return self.kernel._get_elementwise_kernel_code(
            tuple(infos), type_map, kernel.params, kernel.operation, kernel.name,
            kernel.preamble, **kernel.kwargs)


@pytest.fixture(scope="module")
def compiled(nvrtc):
    """Every job compiled once, two at a time (NVRTC runs without the GIL): job -> cubin or
    the exception NVRTC raised."""
    def raw(job):
        filename, arch = job
        module = loader.raw_module(filename)
        return nvrtc.compile(module.code, module.options, arch)

    def elementwise(job):
        name, dtype, arch = job
        kernel = loader.elementwise_kernel(name)
        return nvrtc.compile(nvrtc.elementwise_source(kernel, dtype), kernel.kwargs["options"],
                             arch, cupy_headers=True)

    def attempt(fn, job):
        try:
            return fn(job)
        except Exception as exc:
            return exc

    loader.clear_caches()
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = dict(zip(RAW_JOBS, pool.map(lambda j: attempt(raw, j), RAW_JOBS)))
        results.update(zip(EW_JOBS, pool.map(lambda j: attempt(elementwise, j), EW_JOBS)))
    loader.clear_caches()
    return results


def _cubin(compiled, job):
    result = compiled[job]
    if isinstance(result, Exception):
        pytest.fail(f"NVRTC rejected {job}: {result}")
    assert isinstance(result, bytes) and result.startswith(b"\x7fELF")
    return result


@pytest.mark.parametrize("filename,arch", RAW_JOBS)
def test_raw_module_compiles_with_nvrtc(compiled, filename, arch):
    cubin = _cubin(compiled, (filename, arch))
    families = [f for f, fname in loader.RAW_FILES.items() if fname == filename]
    for family in families:
        for suffix in loader.RAW_SCALAR:
            assert f"{family}_{suffix}".encode() + b"\x00" in cubin, \
                f"{family}_{suffix} is registered for {filename} but not in its cubin"


@pytest.mark.parametrize("name,dtype,arch", EW_JOBS)
def test_elementwise_kernel_compiles_with_nvrtc(compiled, name, dtype, arch):
    cubin = _cubin(compiled, (name, dtype, arch))
    assert f"gpugrad_{name}".encode() + b"\x00" in cubin


def test_the_kernels_are_compiled_with_gpugrad_s_options(nvrtc):
    loader.clear_caches()
    try:
        assert loader.raw_module("activations.cu").options == loader.NVRTC_OPTIONS
        kernel = loader.elementwise_kernel("sigmoid_fwd")
        assert kernel.kwargs["options"] == loader.NVRTC_OPTIONS
        assert "--fmad=false" in loader.NVRTC_OPTIONS
    finally:
        loader.clear_caches()


def test_a_kernel_nvrtc_rejects_fails_here(nvrtc):
    """The check can fail: NVRTC's error reaches the test, for both kinds of kernel."""
    broken = nvrtc.cp.ElementwiseKernel("T x", "T y", "y = gg::no_such_function(x)",
                                        name="gpugrad_broken",
                                        preamble=loader.kernel_source("activations.cuh"),
                                        options=loader.NVRTC_OPTIONS)
    with pytest.raises(nvrtc.compiler.CompileException, match="no_such_function"):
        nvrtc.compile(nvrtc.elementwise_source(broken, "float32"), loader.NVRTC_OPTIONS, "90",
                      cupy_headers=True)
    source = loader.kernel_source("optim.cu") + '\nextern "C" __global__ void f() { undeclared; }\n'
    with pytest.raises(nvrtc.compiler.CompileException, match="undeclared"):
        nvrtc.compile(source, loader.NVRTC_OPTIONS, "80")
