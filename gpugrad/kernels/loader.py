"""Loading, compiling, caching and launching the CUDA kernels of ``kernels/*.cu``.

The sources are read from ``gpugrad/kernel_sources`` (installed wheel) or ``kernels/`` (source
checkout); see :data:`KERNEL_DIR`. Each kernel object is created once, on first use, and cached
here; CuPy compiles it on its first launch per device and caches the binary. Everything is
compiled with ``--fmad=false`` so the GPU rounds like the NumPy twins (no fused multiply-adds),
which keeps kernel and twin within a few ulp of each other.

Two kinds of kernel, both over the same ``__host__ __device__`` arithmetic of ``kernels/*.cuh``:

* ``RawKernel``\\ s (``<family>_f32`` / ``<family>_f64`` in a ``.cu`` file) for C-contiguous
  float32/float64 arrays with 16-byte aligned data: 16-byte loads and stores through
  ``gg::map_packs`` of ``common.cuh``, which is what reaches copy bandwidth on an H100;
* ``ElementwiseKernel``\\ s (specs registered by each family module with
  :func:`define_elementwise`) for everything else: strided views, float16, misaligned views,
  launched with 256 threads per block (CuPy's default of 128 reaches only ~56% of copy
  bandwidth).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .. import backend

__all__ = ["KERNEL_DIR", "NVRTC_OPTIONS", "BLOCK_SIZE", "PACK_BYTES", "ELEMENTWISE_SPECS",
           "ELEMENTWISE_PRELUDE", "RAW_FILES", "RAW_SCALAR", "kernel_source", "clear_caches", "define_raw",
           "define_elementwise", "raw_module", "raw_kernel", "elementwise_kernel", "launch_elementwise",
           "launch_flat", "raw_suffix", "check_floating", "map_cuda"]


def _find_kernel_dir() -> Path:
    installed = Path(__file__).resolve().parent.parent / "kernel_sources"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent.parent / "kernels"


#: Directory holding the CUDA sources (``*.cu`` kernels, ``*.cuh`` shared arithmetic).
KERNEL_DIR: Path = _find_kernel_dir()

#: NVRTC options of every kernel: no FMA contraction, so the GPU rounds like the twins.
NVRTC_OPTIONS = ("--fmad=false",)

#: Threads per block of every launch (the RawKernels are built with __launch_bounds__(256)).
BLOCK_SIZE = 256
MAX_GRID = 1 << 16       # grid-stride loops make any grid correct; this bounds it for huge n
PACK_BYTES = 16

RAW_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
RAW_SCALAR = {"f32": np.float32, "f64": np.float64}

#: RawKernel family -> the .cu file that defines ``<family>_f32`` and ``<family>_f64``.
RAW_FILES: dict[str, str] = {}
#: ElementwiseKernel name -> (in_params, out_params, operation, header). Each computes in
#: A = gg::acc<T>::type (float for float16/float32, double for float64) and rounds once.
ELEMENTWISE_SPECS: dict[str, tuple] = {}
ELEMENTWISE_PRELUDE = "typedef gg::acc<T>::type A; "

_INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"[ \t]*$', re.MULTILINE)
_cache = {"source": {}, "module": {}, "raw": {}, "elementwise": {}, "block_size_ok": True}


def define_raw(filename: str, *families: str) -> None:
    """Register the RawKernel families that ``filename`` defines."""
    for family in families:
        RAW_FILES[family] = filename


def define_elementwise(name: str, in_params: str, out_params: str, operation: str,
                       header: str) -> None:
    """Register an ElementwiseKernel; ``operation`` may use the type ``A`` (the accumulator)."""
    ELEMENTWISE_SPECS[name] = (in_params, out_params, operation, header)


def kernel_source(filename: str) -> str:
    """The text of ``KERNEL_DIR/filename`` with its local ``#include "x.cuh"`` lines inlined.

    This is what NVRTC compiles: inlining (rather than ``-I``) keeps CuPy's on-disk kernel
    cache honest, since CuPy keys it on the source text and would not notice an edited header.
    Each header is inlined once; ``#line`` directives keep compiler messages pointing at the
    original files and lines.
    """
    text = _cache["source"].get(filename)
    if text is None:
        text = _cache["source"][filename] = _expand(filename, set())
    return text


def _expand(filename: str, seen: set) -> str:
    seen.add(filename)
    text = (KERNEL_DIR / filename).read_text()
    out, pos = [], 0
    for match in _INCLUDE_RE.finditer(text):
        out.append(text[pos:match.start()])
        header = match.group(1)
        if header in seen:
            out.append(f"// ({header} is already inlined above)")
        else:
            resume_line = text.count("\n", 0, match.end()) + 2
            out.append(f'#line 1 "{header}"\n{_expand(header, seen)}\n'
                       f'#line {resume_line} "{filename}"')
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def clear_caches() -> None:
    """Forget every kernel object (the next use creates it again); for tests and for picking up
    edited sources in a running session."""
    for key in ("source", "module", "raw", "elementwise"):
        _cache[key].clear()


def raw_module(filename: str):
    """The cached ``cupy.RawModule`` of ``KERNEL_DIR/filename`` (created, not yet compiled:
    CuPy compiles it on its first ``get_function`` per device)."""
    module = _cache["module"].get(filename)
    if module is None:
        module = _cache["module"][filename] = backend.cupy_module().RawModule(
            code=kernel_source(filename), options=NVRTC_OPTIONS)
    return module


def raw_kernel(name: str):
    """The cached ``cupy.RawKernel`` ``name`` (e.g. ``'sigmoid_fwd_f32'``), created on first use."""
    kernel = _cache["raw"].get(name)
    if kernel is None:
        family, _, suffix = name.rpartition("_")
        filename = RAW_FILES.get(family)
        if filename is None or suffix not in RAW_SCALAR:
            raise KeyError(f"no RawKernel named {name!r}")
        kernel = _cache["raw"][name] = raw_module(filename).get_function(name)
    return kernel


def elementwise_kernel(name: str):
    """The cached ``cupy.ElementwiseKernel`` ``name`` (a key of ELEMENTWISE_SPECS)."""
    kernel = _cache["elementwise"].get(name)
    if kernel is None:
        cp = backend.cupy_module()
        in_params, out_params, operation, header = ELEMENTWISE_SPECS[name]
        # The #line after the preamble makes errors in the operation name this kernel.
        kernel = _cache["elementwise"][name] = cp.ElementwiseKernel(
            in_params, out_params, ELEMENTWISE_PRELUDE + operation, name=f"gpugrad_{name}",
            preamble=f'{kernel_source(header)}\n#line 1 "gpugrad_{name}"\n',
            options=NVRTC_OPTIONS)
    return kernel


def launch_elementwise(name, *args):
    """Run ElementwiseKernel ``name`` with 256-thread blocks (or CuPy's default, on a CuPy
    too old for ``block_size``)."""
    kernel = elementwise_kernel(name)
    if _cache["block_size_ok"]:
        try:
            return kernel(*args, block_size=BLOCK_SIZE)
        except TypeError as exc:
            if "block_size" not in str(exc):
                raise
            _cache["block_size_ok"] = False
    return kernel(*args)


def launch_flat(name, n, itemsize, args):
    """Run a grid-stride RawKernel over n elements handled 16 bytes per thread."""
    per_pack = PACK_BYTES // itemsize
    units = max(n // per_pack, n % per_pack)
    grid = min((units + BLOCK_SIZE - 1) // BLOCK_SIZE, MAX_GRID)
    raw_kernel(name)((grid,), (BLOCK_SIZE,), args)


def raw_suffix(first, *others):
    """'f32' / 'f64' when the vectorised RawKernel applies to these arrays, else None: one
    float32/float64 dtype and one shape for all, C-contiguous, 16-byte aligned data."""
    suffix = RAW_SUFFIX.get(first.dtype)
    if suffix is None or not first.flags.c_contiguous or first.data.ptr % PACK_BYTES:
        return None
    for a in others:
        if (a.dtype != first.dtype or a.shape != first.shape or not a.flags.c_contiguous
                or a.data.ptr % PACK_BYTES):
            return None
    return suffix


def check_floating(name, *arrays):
    for a in arrays:
        if a.dtype.kind != "f":
            raise TypeError(f"{name} needs floating-point arrays, got dtype {a.dtype}")


def map_cuda(name, *inputs):
    """out = op(*inputs) elementwise on CuPy arrays (RawKernel ``name_S`` or the
    ElementwiseKernel ``name``)."""
    suffix = raw_suffix(*inputs)
    if suffix is None:
        check_floating(name, *inputs)
        return launch_elementwise(name, *inputs)
    out = backend.cupy_module().empty_like(inputs[0])
    n = out.size
    if n:
        launch_flat(f"{name}_{suffix}", n, out.itemsize, (*inputs, out, np.int64(n)))
    return out
