"""CPU checks of the fused kernels: no GPU needed.

(a) every CUDA source in kernels/ compiles with nvcc (skipped without nvcc), both as files
    and as the include-expanded text NVRTC gets from gpugrad.kernels, and so does every
    ElementwiseKernel operation;
(b) the __host__ __device__ arithmetic of kernels/*.cuh, compiled for the host with a C++
    compiler, agrees with the NumPy twins (skipped without one);
(c) the NumPy twins agree with plain reference formulas and PyTorch's documented optimizer
    algorithms.
"""
from __future__ import annotations

import ctypes
import math
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from gpugrad import kernels as K

FLOATS = [np.float32, np.float64]
RTOL = {np.float32: 1e-6, np.float64: 1e-12}


def rtol(dtype):
    return RTOL[np.dtype(dtype).type]


def tiny(dtype):
    """Smallest normal number: sigmoid's far tail may differ below it (0 vs a subnormal)."""
    return np.finfo(dtype).tiny


# ============================================================================ (a) nvcc

NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
CUDA_SOURCES = sorted(p.name for p in K.KERNEL_DIR.iterdir() if p.suffix in (".cu", ".cuh"))


def test_kernel_dir_holds_the_sources():
    assert K.KERNEL_DIR.is_dir()
    for name in ("common.cuh", "activations.cuh", "softmax_xent.cuh", "optim.cuh", "reduction.cuh",
                 "activations.cu", "softmax_xent.cu", "optim.cu", "reduction.cu"):
        assert name in CUDA_SOURCES


def test_kernel_source_inlines_local_includes_once():
    for name in ("activations.cu", "softmax_xent.cu", "optim.cu", "reduction.cu"):
        text = K.kernel_source(name)
        assert not re.search(r'^\s*#\s*include\s+"', text, re.MULTILINE)
        assert text.count("#define GPUGRAD_COMMON_CUH") == 1
        assert K.kernel_source(name) is text       # read and expanded once


def _nvcc_arch():
    out = subprocess.run([NVCC, "--list-gpu-arch"], capture_output=True, text=True).stdout
    archs = re.findall(r"compute_(\d+)", out)
    return "sm_90" if "90" in archs or not archs else f"sm_{archs[0]}"


def _nvcc(args, cwd):
    proc = subprocess.run([NVCC, *args], cwd=cwd, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def _elementwise_test_source(ctype):
    """A .cu laid out the way CuPy builds an ElementwiseKernel (typedefs, preamble, then the
    operation on references to one element of each array), one kernel per spec."""
    scalar_ctypes = {"float64": "double", "float32": "float", "int32": "int", "int64": "long long"}
    parts = ["#include <cuda_fp16.h>\n" if ctype == "__half" else "", f"typedef {ctype} T;\n"]
    for header in sorted({spec[3] for spec in K.ELEMENTWISE_SPECS.values()}):
        parts.append(K.kernel_source(header) + "\n")
    for name, (ins, outs, operation, _) in K.ELEMENTWISE_SPECS.items():
        params, body = [], []
        decls = [(False, d) for d in ins.split(",")] + [(True, d) for d in outs.split(",")]
        for is_out, decl in decls:
            typ, var = decl.split()
            if typ == "T":
                params.append(f"{'' if is_out else 'const '}T* _raw_{var}")
                body.append(f"{'T&' if is_out else 'const T'} {var} = _raw_{var}[threadIdx.x];")
            else:
                params.append(f"{scalar_ctypes[typ]} {var}")
        parts.append(f'#line 1 "gpugrad_{name}"\n'
                     f'extern "C" __global__ void ew_{name}({", ".join(params)}) {{\n'
                     f'  {" ".join(body)}\n  {{ {K.ELEMENTWISE_PRELUDE}{operation}; }}\n}}\n')
    return "".join(parts)


@needs_nvcc
def test_every_cuda_source_compiles_with_nvcc(tmp_path):
    common = [f"-arch={_nvcc_arch()}", *K.NVRTC_OPTIONS, "--Werror", "all-warnings"]
    full = [*common, "-c"]      # the .cu files as objects: host and device sides
    device = [*common, "-ptx"]  # device code only, like NVRTC (and three times faster)
    jobs = []   # (what, argv)
    for name in CUDA_SOURCES:
        if name.endswith(".cu"):
            jobs.append((name, [*full, "-I", str(K.KERNEL_DIR), str(K.KERNEL_DIR / name),
                                "-o", f"{name}.o"]))
            expanded = tmp_path / f"expanded_{name}"        # what NVRTC gets, no -I
            expanded.write_text(K.kernel_source(name))
            jobs.append((f"{name} (as NVRTC gets it)",
                         [*device, expanded.name, "-o", f"{expanded.stem}.ptx"]))
        else:
            stub = tmp_path / f"include_{name}.cu"          # each header stands alone
            stub.write_text(f'#include "{name}"\n')
            jobs.append((name, [*device, "-I", str(K.KERNEL_DIR), stub.name,
                                "-o", f"{stub.stem}.ptx"]))
    for ctype in ("float", "double", "__half"):
        src = tmp_path / f"elementwise_{ctype.strip('_')}.cu"
        src.write_text(_elementwise_test_source(ctype))
        jobs.append((f"ElementwiseKernel operations, T={ctype}",
                     [*device, src.name, "-o", f"{src.stem}.ptx"]))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: (job[0], *_nvcc(job[1], tmp_path)), jobs))
    failures = [f"--- {what}\n{log}" for what, rc, log in results if rc != 0]
    assert not failures, "\n".join(failures)


@needs_nvcc
def test_vectorised_kernels_use_16_byte_loads(tmp_path):
    ptx = tmp_path / "activations.ptx"
    rc, log = _nvcc([f"-arch={_nvcc_arch()}", "-ptx", *K.NVRTC_OPTIONS, "-I", str(K.KERNEL_DIR),
                     str(K.KERNEL_DIR / "activations.cu"), "-o", str(ptx)], tmp_path)
    assert rc == 0, log
    text = ptx.read_text()
    assert "ld.global.v4.f32" in text and "st.global.v4.f32" in text
    assert "ld.global.v2.f64" in text and "st.global.v2.f64" in text
    # --fmad=false: no contraction of the gates' own a * b + c (the fma.rn inside expf's
    # implementation is explicit and stays), so the GPU rounds like the twins.
    body = text.split(".entry sigmoid_bwd_f32", 1)[1].split(".entry", 1)[0]
    assert "mul.rn.f32" in body or "mul.f32" in body
    assert "fma" not in body


# ============================================================================ (b) host build

HOST_HARNESS = r"""
// Host loops over the per-element arithmetic of kernels/*.cuh, for ctypes.
#include <fenv.h>
#include <stddef.h>
#include "activations.cuh"
#include "softmax_xent.cuh"
#include "optim.cuh"
#include "reduction.cuh"
#include "rnn.cuh"
#include "pointwise.cuh"
#include "scatter.cuh"
#include "layer_norm.cuh"
#include "conv.cuh"
#include "dropout.cuh"
#include "normalization.cuh"

#define GG_WINDOW_PARAMS long long H, long long W, long long kh, long long kw, long long sh,  \
    long long sw, long long pt, long long pl, long long dh, long long dw, long long oh, long long ow
#define GG_WINDOW_INIT {H, W, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow}

#define GG_HOST(T, S)                                                                        \
extern "C" int sigmoid_fwd_##S(const T* x, T* y, long long n) {                              \
    feclearexcept(FE_ALL_EXCEPT);                                                            \
    for (long long i = 0; i < n; ++i) y[i] = gg::sigmoid_fwd(x[i]);                          \
    return fetestexcept(FE_OVERFLOW) != 0;                                                   \
}                                                                                            \
extern "C" void sigmoid_bwd_##S(const T* y, const T* dy, T* dx, long long n) {               \
    for (long long i = 0; i < n; ++i) dx[i] = gg::sigmoid_bwd(y[i], dy[i]);                  \
}                                                                                            \
extern "C" void relu_fwd_##S(const T* x, T* y, long long n) {                                \
    for (long long i = 0; i < n; ++i) y[i] = gg::relu_fwd(x[i]);                             \
}                                                                                            \
extern "C" void relu_bwd_##S(const T* y, const T* dy, T* dx, long long n) {                  \
    for (long long i = 0; i < n; ++i) dx[i] = gg::relu_bwd(y[i], dy[i]);                     \
}                                                                                            \
extern "C" void bias_act_fwd_##S(const T* z, const T* b, T* y, long long rows,               \
                                 long long cols, int act) {                                  \
    for (long long r = 0; r < rows; ++r)                                                     \
        for (long long c = 0; c < cols; ++c)                                                 \
            y[r * cols + c] = gg::bias_act_fwd(act, z[r * cols + c], b[c]);                  \
}                                                                                            \
extern "C" void lstm_cell_fwd_##S(const T* G, const T* cp, T* h, T* c, long long B,          \
                                  long long H) {                                             \
    for (long long b = 0; b < B; ++b)                                                        \
        for (long long j = 0; j < H; ++j) {                                                  \
            const T* g = G + b * 4 * H + j;                                                  \
            gg::lstm_cell_fwd(g[0], g[H], g[2 * H], g[3 * H], cp[b * H + j], h[b * H + j],   \
                              c[b * H + j]);                                                 \
        }                                                                                    \
}                                                                                            \
extern "C" void lstm_cell_bwd_##S(const T* G, const T* cp, const T* dh, const T* dc, T* dG,  \
                                  T* dcp, long long B, long long H) {                        \
    for (long long b = 0; b < B; ++b)                                                        \
        for (long long j = 0; j < H; ++j) {                                                  \
            const T* g = G + b * 4 * H + j;                                                  \
            T* d = dG + b * 4 * H + j;                                                       \
            const long long k = b * H + j;                                                   \
            gg::lstm_cell_bwd(g[0], g[H], g[2 * H], g[3 * H], cp[k], dh[k], dc[k], d[0],     \
                              d[H], d[2 * H], d[3 * H], dcp[k]);                             \
        }                                                                                    \
}                                                                                            \
extern "C" void gru_cell_fwd_##S(const T* X, const T* P, const T* h, T* y, long long B,      \
                                 long long H) {                                              \
    for (long long b = 0; b < B; ++b)                                                        \
        for (long long j = 0; j < H; ++j) {                                                  \
            const T* x = X + b * 3 * H + j;                                                  \
            const T* p = P + b * 3 * H + j;                                                  \
            y[b * H + j] = gg::gru_cell_fwd(x[0], x[H], x[2 * H], p[0], p[H], p[2 * H],      \
                                            h[b * H + j]);                                   \
        }                                                                                    \
}                                                                                            \
extern "C" void gru_cell_bwd_##S(const T* X, const T* P, const T* h, const T* dy, T* dX,     \
                                 T* dP, T* dh, long long B, long long H) {                   \
    for (long long b = 0; b < B; ++b)                                                        \
        for (long long j = 0; j < H; ++j) {                                                  \
            const T* x = X + b * 3 * H + j;                                                  \
            const T* p = P + b * 3 * H + j;                                                  \
            T* dx = dX + b * 3 * H + j;                                                      \
            T* dp = dP + b * 3 * H + j;                                                      \
            const long long k = b * H + j;                                                   \
            gg::gru_cell_bwd(x[0], x[H], x[2 * H], p[0], p[H], p[2 * H], h[k], dy[k], dx[0], \
                             dx[H], dx[2 * H], dp[2 * H], dh[k]);                            \
            dp[0] = dx[0];                                                                   \
            dp[H] = dx[H];                                                                   \
        }                                                                                    \
}                                                                                            \
extern "C" void softmax_xent_fwd_##S(const T* x, const long long* labels, T* p,              \
                                     T* loss_rows, long long B, long long C) {               \
    for (long long r = 0; r < B; ++r)                                                        \
        loss_rows[r] = gg::softmax_xent_row(x + r * C, C, labels[r], p + r * C);             \
}                                                                                            \
extern "C" void softmax_xent_bwd_##S(const T* p, const long long* labels, const T* gloss,    \
                                     T* dx, long long B, long long C) {                      \
    const T scale = gloss[0] / (T)B;                                                         \
    for (long long i = 0; i < B * C; ++i)                                                    \
        dx[i] = gg::xent_grad(p[i], i % C == labels[i / C], scale);                          \
}                                                                                            \
extern "C" void sgd_step_##S(T* p, const T* g, T* buf, long long n, T lr, T momentum,        \
                             T one_minus_dampening, T weight_decay, int use_momentum,        \
                             int nesterov, int first_step, int maximize) {                   \
    for (long long i = 0; i < n; ++i) {                                                      \
        T b = use_momentum && !first_step ? buf[i] : T(0);                                   \
        gg::sgd_update(p[i], g[i], b, lr, momentum, one_minus_dampening, weight_decay,       \
                       use_momentum != 0, nesterov != 0, first_step != 0, maximize != 0);    \
        if (use_momentum) buf[i] = b;                                                        \
    }                                                                                        \
}                                                                                            \
extern "C" void adam_step_##S(T* p, const T* g, T* m, T* v, T* v_max, long long n,           \
                              T step_size, T beta1, T one_minus_beta1, T beta2,              \
                              T one_minus_beta2, T bias_correction2_sqrt, T eps,             \
                              T weight_decay, T param_scale, int amsgrad, int maximize) {    \
    for (long long i = 0; i < n; ++i) {                                                      \
        T vm = amsgrad ? v_max[i] : T(0);                                                    \
        gg::adam_update(p[i], g[i], m[i], v[i], vm, step_size, beta1, one_minus_beta1,       \
                        beta2, one_minus_beta2, bias_correction2_sqrt, eps, weight_decay,    \
                        param_scale, amsgrad != 0, maximize != 0);                           \
        if (amsgrad) v_max[i] = vm;                                                          \
    }                                                                                        \
}                                                                                            \
extern "C" void adam_step_dev_##S(T* p, const T* g, T* m, T* v, T* v_max, const T* step,    \
                                  long long n, double lr, double beta1_d, double beta2_d,    \
                                  T beta1, T one_minus_beta1, T beta2, T one_minus_beta2,    \
                                  T eps, T weight_decay, T param_scale, int amsgrad,         \
                                  int maximize) {                                            \
    T step_size, bias_correction2_sqrt;                                                      \
    gg::adam_bias_corrections<T>((double)*step, lr, beta1_d, beta2_d, step_size,             \
                                 bias_correction2_sqrt);                                     \
    adam_step_##S(p, g, m, v, v_max, n, step_size, beta1, one_minus_beta1, beta2,            \
                  one_minus_beta2, bias_correction2_sqrt, eps, weight_decay, param_scale,    \
                  amsgrad, maximize);                                                        \
}                                                                                            \
extern "C" void adam_count_##S(T* step) { *step += T(1); }                                   \
extern "C" void rmsprop_step_##S(T* p, const T* g, T* square_avg, T* grad_avg, T* buf,       \
                                 long long n, T lr, T alpha, T one_minus_alpha, T eps,       \
                                 T weight_decay, T momentum, int centered, int use_momentum, \
                                 int maximize) {                                             \
    for (long long i = 0; i < n; ++i) {                                                      \
        T ga = centered ? grad_avg[i] : T(0), b = use_momentum ? buf[i] : T(0);              \
        gg::rmsprop_update(p[i], g[i], square_avg[i], ga, b, lr, alpha, one_minus_alpha,     \
                           eps, weight_decay, momentum, centered != 0, use_momentum != 0,    \
                           maximize != 0);                                                   \
        if (centered) grad_avg[i] = ga;                                                      \
        if (use_momentum) buf[i] = b;                                                        \
    }                                                                                        \
}                                                                                            \
extern "C" void adagrad_step_##S(T* p, const T* g, T* state_sum, long long n, T clr, T eps,  \
                                 T weight_decay, int maximize) {                             \
    for (long long i = 0; i < n; ++i)                                                        \
        gg::adagrad_update(p[i], g[i], state_sum[i], clr, eps, weight_decay, maximize != 0); \
}                                                                                            \
extern "C" void pointwise_fwd_##S(const T* x, T* y, long long n, int code, T a, T b) {      \
    for (long long i = 0; i < n; ++i) y[i] = gg::pointwise_fwd(code, x[i], a, b);           \
}                                                                                            \
extern "C" void pointwise_bwd_##S(const T* x, const T* dy, T* dx, long long n, int code, T a, \
                                  T b) {                                                     \
    for (long long i = 0; i < n; ++i) dx[i] = gg::pointwise_bwd(code, x[i], dy[i], a, b);    \
}                                                                                            \
/* the kernels' (chunk, column) pairs, one after another, in the kernels' own order      */ \
extern "C" void scatter_chunks_##S(const long long* keys, const long long* order, const T* src, \
                                   T* out, T* head, T* tail, long long n, long long width,   \
                                   long long chunk, long long rows, long long skip, int mean) { \
    for (long long t = 0; t < (n + chunk - 1) / chunk * width; ++t)                          \
        gg::scatter_chunk<T>(t / width, t % width, keys, order, src, out, head, tail, n,     \
                             width, chunk, rows, skip, mean);                                \
}                                                                                            \
extern "C" void scatter_merge_##S(const long long* keys, T* out, const T* head, const T* tail, \
                                  long long n, long long width, long long chunk,             \
                                  long long rows, long long skip, int mean) {                \
    for (long long t = 0; t < (n + chunk - 1) / chunk * width; ++t)                          \
        gg::scatter_merge<T>(t / width, t % width, keys, out, head, tail, n, width, chunk,   \
                             rows, skip, mean);                                              \
}                                                                                            \
extern "C" void layer_norm_fwd_##S(const T* x, const T* w, const T* b, T* y, T* mean,        \
                                   T* rstd, long long rows, long long D, double eps,         \
                                   int has_w, int has_b) {                                   \
    for (long long r = 0; r < rows; ++r)                                                     \
        gg::layer_norm_row(x + r * D, has_w ? w : (const T*)0, has_b ? b : (const T*)0,      \
                           y + r * D, D, eps, mean + r, rstd + r);                           \
}                                                                                            \
extern "C" void layer_norm_dx_##S(const T* x, const T* dy, const T* w, const T* mean,        \
                                  const T* rstd, T* dx, long long rows, long long D,         \
                                  int has_w) {                                               \
    for (long long r = 0; r < rows; ++r)                                                     \
        gg::layer_norm_dx_row(x + r * D, dy + r * D, has_w ? w : (const T*)0, mean[r],       \
                              rstd[r], dx + r * D, D);                                       \
}                                                                                            \
extern "C" void layer_norm_dwb_partial_##S(const T* x, const T* dy, const T* mean,           \
                                           const T* rstd, double* part_w, double* part_b,    \
                                           long long rows, long long D, long long chunk) {   \
    for (long long t = 0; t < (rows + chunk - 1) / chunk * D; ++t)                           \
        gg::layer_norm_dwb_chunk<T>(t / D, t % D, x, dy, mean, rstd, part_w, part_b, rows, D, \
                                    chunk);                                                  \
}                                                                                            \
extern "C" void layer_norm_dwb_finish_##S(const double* part_w, const double* part_b, T* dw, \
                                          T* db, long long chunks, long long D) {            \
    for (long long j = 0; j < D; ++j)                                                        \
        gg::layer_norm_dwb_column<T>(j, part_w, part_b, dw, db, chunks, D);                  \
}                                                                                            \
/* the block b of the kernel's grid merges the 256-element runs b, b + blocks, ...      */ \
extern "C" void norm_partial_##S(const T* x, long long n, double p, int mode, double* partials, \
                                 long long blocks) {                                         \
    for (long long b = 0; b < blocks; ++b) partials[b] = 0.0;                                \
    for (long long i = 0; i < n; ++i) {                                                      \
        const long long b = (i / 256) % blocks;                                              \
        partials[b] = gg::norm_combine(partials[b], gg::norm_term((double)x[i], p, mode), mode); \
    }                                                                                        \
}                                                                                            \
extern "C" void norm_finish_##S(const double* partials, long long count, double p, int mode, \
                                double max_norm, T* total, T* coef) {                        \
    double acc = 0.0;                                                                        \
    for (long long i = 0; i < count; ++i) acc = gg::norm_combine(acc, partials[i], mode);    \
    const double norm = gg::norm_root(acc, p, mode);                                         \
    total[0] = (T)norm;                                                                      \
    coef[0] = (T)gg::clip_coef(norm, max_norm);                                              \
}                                                                                            \
/* the window kernels of conv.cu, with their signatures: one loop over their output */      \
extern "C" void im2col_##S(const T* x, T* cols, long long n, GG_WINDOW_PARAMS, T pad_value) { \
    const gg::Window g = GG_WINDOW_INIT;                                                     \
    for (long long e = 0; e < n; ++e) cols[e] = gg::im2col_value(g, x, e, pad_value);        \
}                                                                                            \
extern "C" void col2im_##S(const T* cols, T* x, long long n, GG_WINDOW_PARAMS) {             \
    const gg::Window g = GG_WINDOW_INIT;                                                     \
    for (long long e = 0; e < n; ++e) x[e] = gg::col2im_value(g, cols, e);                   \
}                                                                                            \
extern "C" void dropout_##S(const T* x, T* y, long long n, unsigned int a, unsigned int b,   \
                            unsigned int threshold, T scale) {                               \
    for (long long e = 0; e < n; ++e) y[e] = gg::dropout_value(x[e], e, a, b, threshold, scale); \
}                                                                                            \
/* batch norm's elementwise maps, on operands broadcast to one shape */                     \
extern "C" void batch_norm_apply_##S(const T* x, const T* mean, const T* scale,              \
                                     const T* shift, T* y, long long n) {                    \
    for (long long i = 0; i < n; ++i)                                                        \
        y[i] = gg::batch_norm_apply(x[i], mean[i], scale[i], shift[i]);                      \
}                                                                                            \
extern "C" void batch_norm_grad_##S(const T* x, const T* gy, const T* a, const T* b,         \
                                    const T* c, T* gx, long long n) {                        \
    for (long long i = 0; i < n; ++i)                                                        \
        gx[i] = gg::batch_norm_grad(x[i], gy[i], a[i], b[i], c[i]);                          \
}

GG_HOST(float, f32)
GG_HOST(double, f64)

/* The multi-tensor updates of optim.cu: the grid's blocks one after another, each running the
   one-parameter loop above on the chunk gg::locate_block gives it (as the kernels do).     */
#define GG_LIST_ARRAY(T, j) gg::list_array<T>(*list, j, t, start)
#define GG_FOR_BLOCKS(D)                                                                     \
    for (int block = 0; block < blocks; ++block)                                             \
        for (long long start, len, t = gg::locate_block<D>(*list, block, start, len), once = 1; \
             once; once = 0)
#define GG_HOST_MULTI(T, S)                                                                  \
extern "C" void sgd_step_multi_##S(const gg::TensorList<3>* list, int blocks, T lr,          \
                                   T momentum, T one_minus_dampening, T weight_decay,        \
                                   int use_momentum, int nesterov, int first_step,           \
                                   int maximize) {                                           \
    GG_FOR_BLOCKS(3)                                                                         \
        sgd_step_##S(GG_LIST_ARRAY(T, 0), GG_LIST_ARRAY(T, 1), GG_LIST_ARRAY(T, 2), len, lr, \
                     momentum, one_minus_dampening, weight_decay, use_momentum, nesterov,    \
                     first_step, maximize);                                                  \
}                                                                                            \
extern "C" void adam_step_multi_##S(const gg::TensorList<5>* list, int blocks, T step_size,  \
                                    T beta1, T one_minus_beta1, T beta2, T one_minus_beta2,  \
                                    T bias_correction2_sqrt, T eps, T weight_decay,          \
                                    T param_scale, int amsgrad, int maximize) {              \
    GG_FOR_BLOCKS(5)                                                                         \
        adam_step_##S(GG_LIST_ARRAY(T, 0), GG_LIST_ARRAY(T, 1), GG_LIST_ARRAY(T, 2),         \
                      GG_LIST_ARRAY(T, 3), GG_LIST_ARRAY(T, 4), len, step_size, beta1,       \
                      one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps,   \
                      weight_decay, param_scale, amsgrad, maximize);                         \
}                                                                                            \
extern "C" void adam_step_dev_multi_##S(const gg::TensorList<6>* list, int blocks, double lr, \
                                        double beta1_d, double beta2_d, T beta1,             \
                                        T one_minus_beta1, T beta2, T one_minus_beta2, T eps, \
                                        T weight_decay, T param_scale, int amsgrad,          \
                                        int maximize) {                                      \
    GG_FOR_BLOCKS(6)                                                                         \
        adam_step_dev_##S(GG_LIST_ARRAY(T, 0), GG_LIST_ARRAY(T, 1), GG_LIST_ARRAY(T, 2),     \
                          GG_LIST_ARRAY(T, 3), GG_LIST_ARRAY(T, 4),                          \
                          reinterpret_cast<const T*>(list->ptr[5][t]), len, lr, beta1_d,     \
                          beta2_d, beta1, one_minus_beta1, beta2, one_minus_beta2, eps,      \
                          weight_decay, param_scale, amsgrad, maximize);                     \
}                                                                                            \
extern "C" void adam_count_list_##S(const gg::TensorList<6>* list) {                         \
    for (int i = 0; i < list->count; ++i) *reinterpret_cast<T*>(list->ptr[5][i]) += T(1);   \
}                                                                                            \
extern "C" void rmsprop_step_multi_##S(const gg::TensorList<5>* list, int blocks, T lr,      \
                                       T alpha, T one_minus_alpha, T eps, T weight_decay,    \
                                       T momentum, int centered, int use_momentum,           \
                                       int maximize) {                                       \
    GG_FOR_BLOCKS(5)                                                                         \
        rmsprop_step_##S(GG_LIST_ARRAY(T, 0), GG_LIST_ARRAY(T, 1), GG_LIST_ARRAY(T, 2),      \
                         GG_LIST_ARRAY(T, 3), GG_LIST_ARRAY(T, 4), len, lr, alpha,           \
                         one_minus_alpha, eps, weight_decay, momentum, centered,             \
                         use_momentum, maximize);                                            \
}                                                                                            \
extern "C" void adagrad_step_multi_##S(const gg::TensorList<3>* list, int blocks, T clr,     \
                                       T eps, T weight_decay, int maximize) {                \
    GG_FOR_BLOCKS(3)                                                                         \
        adagrad_step_##S(GG_LIST_ARRAY(T, 0), GG_LIST_ARRAY(T, 1), GG_LIST_ARRAY(T, 2), len, \
                         clr, eps, weight_decay, maximize);                                  \
}

GG_HOST_MULTI(float, f32)
GG_HOST_MULTI(double, f64)

/* the layout the Python side packs TensorLists in, and the block search on its own */
extern "C" long long tensor_list_bytes(int depth) {
    return depth == 3 ? (long long)sizeof(gg::TensorList<3>) : (long long)sizeof(gg::TensorList<5>);
}
extern "C" long long tensor_list_layout(int what) {
    return what == 0 ? gg::LIST_MAX : what == 1 ? gg::LIST_CHUNK
         : (long long)offsetof(gg::TensorList<5>, first_block);
}
extern "C" int locate_block_5(const gg::TensorList<5>* list, int block, long long* start,
                              long long* len) {
    return gg::locate_block<5>(*list, block, *start, *len);
}
"""

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """The .cuh arithmetic compiled for the host, wrapped for NumPy arrays."""
    if CXX is None:
        pytest.skip("no host C++ compiler")
    tmp = tmp_path_factory.mktemp("host_harness")
    src, lib = tmp / "harness.cpp", tmp / "libharness.so"
    src.write_text(HOST_HARNESS)
    # -ffp-contract=off: no fused multiply-adds, like the GPU build (--fmad=false) and NumPy.
    proc = subprocess.run([CXX, "-O2", "-std=c++14", "-shared", "-fPIC", "-ffp-contract=off",
                           "-Wall", "-Wextra", "-Werror", "-I", str(K.KERNEL_DIR), str(src), "-o",
                           str(lib)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return HostKernels(ctypes.CDLL(str(lib)))


class HostKernels:
    """Calls into the harness with the twins' signatures (arrays in, new arrays out)."""

    def __init__(self, lib):
        self.lib = lib
        i64, i32 = ctypes.c_longlong, ctypes.c_int
        for dtype, suffix in ((np.float32, "f32"), (np.float64, "f64")):
            arr = np.ctypeslib.ndpointer(dtype=dtype, flags="C_CONTIGUOUS")
            lab = np.ctypeslib.ndpointer(dtype=np.int64, flags="C_CONTIGUOUS")
            sc = ctypes.c_float if dtype is np.float32 else ctypes.c_double
            f64 = ctypes.c_double
            dbl = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
            vp = ctypes.c_void_p
            sig = {
                "sigmoid_fwd": ([arr, arr, i64], ctypes.c_int),
                "sigmoid_bwd": ([arr, arr, arr, i64], None),
                "relu_fwd": ([arr, arr, i64], None),
                "relu_bwd": ([arr, arr, arr, i64], None),
                "bias_act_fwd": ([arr, arr, arr, i64, i64, i32], None),
                "lstm_cell_fwd": ([arr] * 4 + [i64, i64], None),
                "lstm_cell_bwd": ([arr] * 6 + [i64, i64], None),
                "gru_cell_fwd": ([arr] * 4 + [i64, i64], None),
                "gru_cell_bwd": ([arr] * 7 + [i64, i64], None),
                "softmax_xent_fwd": ([arr, lab, arr, arr, i64, i64], None),
                "softmax_xent_bwd": ([arr, lab, arr, arr, i64, i64], None),
                "sgd_step": ([arr, arr, arr, i64] + [sc] * 4 + [i32] * 4, None),
                "adam_step": ([arr] * 5 + [i64] + [sc] * 9 + [i32] * 2, None),
                "rmsprop_step": ([arr] * 5 + [i64] + [sc] * 6 + [i32] * 3, None),
                "adagrad_step": ([arr] * 3 + [i64] + [sc] * 3 + [i32], None),
                "norm_partial": ([arr, i64, f64, i32, dbl, i64], None),
                "norm_finish": ([dbl, i64, f64, i32, f64, arr, arr], None),
                "pointwise_fwd": ([arr, arr, i64, i32, sc, sc], None),
                "pointwise_bwd": ([arr, arr, arr, i64, i32, sc, sc], None),
                "scatter_chunks": ([lab, lab, arr, arr, arr, arr] + [i64] * 5 + [i32], None),
                "scatter_merge": ([lab, arr, arr, arr] + [i64] * 5 + [i32], None),
                "layer_norm_fwd": ([arr] * 6 + [i64, i64, f64, i32, i32], None),
                "layer_norm_dx": ([arr] * 6 + [i64, i64, i32], None),
                "layer_norm_dwb_partial": ([arr] * 4 + [dbl, dbl] + [i64] * 3, None),
                "layer_norm_dwb_finish": ([dbl, dbl, arr, arr, i64, i64], None),
                "im2col": ([arr, arr, i64] + [i64] * 12 + [sc], None),
                "col2im": ([arr, arr, i64] + [i64] * 12, None),
                "dropout": ([arr, arr, i64] + [ctypes.c_uint] * 3 + [sc], None),
                "batch_norm_apply": ([arr] * 5 + [i64], None),
                "batch_norm_grad": ([arr] * 6 + [i64], None),
                "sgd_step_multi": ([vp, i32] + [sc] * 4 + [i32] * 4, None),
                "adam_step_multi": ([vp, i32] + [sc] * 9 + [i32] * 2, None),
                "adam_step_dev": ([arr] * 6 + [i64] + [f64] * 3 + [sc] * 7 + [i32] * 2, None),
                "adam_count": ([arr], None),
                "adam_step_dev_multi": ([vp, i32] + [f64] * 3 + [sc] * 7 + [i32] * 2, None),
                "adam_count_list": ([vp], None),
                "rmsprop_step_multi": ([vp, i32] + [sc] * 6 + [i32] * 3, None),
                "adagrad_step_multi": ([vp, i32] + [sc] * 3 + [i32], None),
            }
            for name, (argtypes, restype) in sig.items():
                fn = getattr(lib, f"{name}_{suffix}")
                fn.argtypes, fn.restype = argtypes, restype

        lib.tensor_list_bytes.argtypes, lib.tensor_list_bytes.restype = [i32], i64
        lib.tensor_list_layout.argtypes, lib.tensor_list_layout.restype = [i32], i64
        lib.locate_block_5.argtypes = [ctypes.c_void_p, i32, ctypes.POINTER(i64), ctypes.POINTER(i64)]
        lib.locate_block_5.restype = i32

    def fn(self, name, dtype):
        return getattr(self.lib, f"{name}_{'f32' if np.dtype(dtype) == np.float32 else 'f64'}")

    def sigmoid_fwd(self, x):
        y = np.empty_like(x)
        overflowed = self.fn("sigmoid_fwd", x.dtype)(x, y, x.size)
        return y, bool(overflowed)

    def map2(self, name, a, b):
        out = np.empty_like(a)
        self.fn(name, a.dtype)(a, b, out, a.size)
        return out

    def relu_fwd(self, x):
        y = np.empty_like(x)
        self.fn("relu_fwd", x.dtype)(x, y, x.size)
        return y

    def bias_act_fwd(self, z, b, act):
        y = np.empty_like(z)
        self.fn("bias_act_fwd", z.dtype)(z, b, y, z.shape[0], z.shape[1], act)
        return y

    def lstm_cell_fwd(self, gates, c_prev):
        h, c = np.empty_like(c_prev), np.empty_like(c_prev)
        self.fn("lstm_cell_fwd", gates.dtype)(gates, c_prev, h, c, *c_prev.shape)
        return h, c

    def lstm_cell_bwd(self, gates, c_prev, dh, dc):
        dgates, dc_prev = np.empty_like(gates), np.empty_like(c_prev)
        self.fn("lstm_cell_bwd", gates.dtype)(gates, c_prev, dh, dc, dgates, dc_prev, *c_prev.shape)
        return dgates, dc_prev

    def gru_cell_fwd(self, xp, hp, h):
        y = np.empty_like(h)
        self.fn("gru_cell_fwd", xp.dtype)(xp, hp, h, y, *h.shape)
        return y

    def gru_cell_bwd(self, xp, hp, h, dy):
        dxp, dhp, dh = np.empty_like(xp), np.empty_like(hp), np.empty_like(h)
        self.fn("gru_cell_bwd", xp.dtype)(xp, hp, h, dy, dxp, dhp, dh, *h.shape)
        return dxp, dhp, dh

    def softmax_xent_fwd(self, x, labels):
        p, loss_rows = np.empty_like(x), np.empty(x.shape[0], x.dtype)
        self.fn("softmax_xent_fwd", x.dtype)(x, labels, p, loss_rows, *x.shape)
        return loss_rows, p

    def softmax_xent_bwd(self, p, labels, gloss):
        dx = np.empty_like(p)
        self.fn("softmax_xent_bwd", p.dtype)(p, labels, np.asarray([gloss], p.dtype), dx, *p.shape)
        return dx

    def sgd_step(self, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step,
                 maximize=False):
        use_momentum = momentum != 0
        self.fn("sgd_step", p.dtype)(p, g, buf if use_momentum else p, p.size, lr, momentum,
                                     1.0 - dampening, weight_decay, use_momentum, nesterov,
                                     first_step, maximize)

    def adam_step(self, p, g, m, v, lr, beta1, beta2, eps, weight_decay, step, v_max=None,
                  decoupled_weight_decay=False, maximize=False):
        l2, scale = (0.0, 1.0 - lr * weight_decay) if decoupled_weight_decay else (weight_decay, 1.0)
        self.fn("adam_step", p.dtype)(p, g, m, v, p if v_max is None else v_max, p.size,
                                      lr / (1.0 - beta1 ** step), beta1, 1.0 - beta1, beta2,
                                      1.0 - beta2, math.sqrt(1.0 - beta2 ** step), eps, l2,
                                      scale, v_max is not None, maximize)

    def rmsprop_step(self, p, g, square_avg, lr, alpha, eps, weight_decay, momentum=0.0,
                     grad_avg=None, momentum_buffer=None, maximize=False):
        self.fn("rmsprop_step", p.dtype)(
            p, g, square_avg, p if grad_avg is None else grad_avg,
            p if momentum_buffer is None else momentum_buffer, p.size, lr, alpha, 1.0 - alpha,
            eps, weight_decay, momentum, grad_avg is not None, momentum > 0, maximize)

    def total_norm(self, arrays, p, mode, max_norm, blocks=3):
        """The two norm passes of reduction.cu on the host: (norm, coef) as the kernels give them."""
        dtype = np.float64 if any(a.dtype == np.float64 for a in arrays) else np.float32
        partials = np.zeros(blocks * max(len(arrays), 1))
        for i, a in enumerate(arrays):
            self.fn("norm_partial", a.dtype)(a, a.size, p, mode, partials[i * blocks:(i + 1) * blocks], blocks)
        total, coef = np.empty(1, dtype), np.empty(1, dtype)
        self.fn("norm_finish", dtype)(partials, partials.size, p, mode, max_norm, total, coef)
        return total[0], coef[0]

    def im2col(self, x, g, pad_value=0.0):
        cols = np.empty((*x.shape[:2], g.kh, g.kw, g.oh, g.ow), x.dtype)
        self.fn("im2col", x.dtype)(np.ascontiguousarray(x), cols, cols.size, *g, pad_value)
        return cols

    def col2im(self, cols, g):
        x = np.empty((*cols.shape[:2], g.H, g.W), cols.dtype)
        self.fn("col2im", cols.dtype)(np.ascontiguousarray(cols), x, x.size, *g)
        return x

    def dropout(self, x, key, threshold, scale):
        y = np.empty_like(x)
        self.fn("dropout", x.dtype)(np.ascontiguousarray(x), y, x.size, key[0], key[1], threshold, scale)
        return y

    def elementwise(self, name, *operands):
        """An elementwise map of normalization.cuh over operands broadcast to one shape."""
        full = [np.ascontiguousarray(a) for a in np.broadcast_arrays(*operands)]
        out = np.empty_like(full[0])
        self.fn(name, out.dtype)(*full, out, out.size)
        return out

    def adagrad_step(self, p, g, state_sum, lr, lr_decay, eps, weight_decay, step,
                     maximize=False):
        self.fn("adagrad_step", p.dtype)(p, g, state_sum, p.size, lr / (1 + (step - 1) * lr_decay),
                                         eps, weight_decay, maximize)


def sigmoid_inputs(dtype, rng):
    edges = [0.0, -0.0, 1.0, -1.0, 15.0, -15.0, 17.0, -17.0, 20.0, -20.0, 40.0, -40.0, 79.0,
             -79.0, 80.0, -80.0, 81.0, -81.0, 88.0, -88.0, 89.0, -89.0, 100.0, -100.0, 700.0,
             -700.0, 701.0, -701.0, 709.0, -709.0, 710.0, -710.0, 745.0, -745.0, 1000.0,
             -1000.0, 1e30, -1e30, np.inf, -np.inf]
    finfo = np.finfo(dtype)
    edges += [finfo.tiny, -finfo.tiny, finfo.max, -finfo.max, finfo.eps, -finfo.eps]
    x = np.concatenate([np.array(edges, dtype), (rng.standard_normal(20000) * 12).astype(dtype),
                        rng.uniform(-120, 120, 5000).astype(dtype)])
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_host_sigmoid_fwd_matches_twin(host, dtype):
    x = sigmoid_inputs(dtype, np.random.default_rng(0))
    y, overflowed = host.sigmoid_fwd(x)
    assert not overflowed, "the .cuh sigmoid overflowed an intermediate"
    assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
    np.testing.assert_allclose(y, K.sigmoid_fwd(x), rtol=rtol(dtype), atol=tiny(dtype))
    assert np.isnan(host.sigmoid_fwd(np.array([np.nan], dtype))[0][0])
    big = np.array([-1000, 1000, -np.inf, np.inf], dtype)
    np.testing.assert_array_equal(host.sigmoid_fwd(big)[0], [0, 1, 0, 1])


@pytest.mark.parametrize("dtype", FLOATS)
def test_host_sigmoid_is_accurate_in_the_tails(host, dtype):
    """Relative accuracy against float64 / exact-tail references, where the twin's plain
    formula and the kernel's stable one both must hold up."""
    x = np.linspace(-80, 30, 20001).astype(dtype)
    x64 = x.astype(np.float64)
    ref = np.where(x64 >= 0, 1 / (1 + np.exp(-x64)), np.exp(x64) / (1 + np.exp(x64)))
    y = host.sigmoid_fwd(x)[0]
    np.testing.assert_allclose(y, ref.astype(dtype), rtol=4 * np.finfo(dtype).eps,
                               atol=tiny(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_host_sigmoid_bwd_matches_twin(host, dtype):
    rng = np.random.default_rng(1)
    y = np.concatenate([[0, 1, 0.5, 1e-30, 1 - 1e-7], rng.uniform(0, 1, 10000)]).astype(dtype)
    dy = rng.standard_normal(y.size).astype(dtype)
    np.testing.assert_allclose(host.map2("sigmoid_bwd", y, dy), K.sigmoid_bwd(y, dy),
                               rtol=rtol(dtype), atol=0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_host_relu_matches_twin_on_edges(host, dtype):
    rng = np.random.default_rng(2)
    finfo = np.finfo(dtype)
    edges = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, finfo.tiny, -finfo.tiny,
                      finfo.smallest_subnormal, -finfo.smallest_subnormal, finfo.max,
                      -finfo.max, 1.0, -1.0], dtype)
    x = np.concatenate([edges, rng.standard_normal(10000).astype(dtype)])
    y = host.relu_fwd(x)
    np.testing.assert_array_equal(y, K.relu_fwd(x))     # exact, NaN where NaN
    assert not np.signbit(y[1]), "relu(-0.0) is +0.0"
    # backward: y from the forward; dy includes values a product would turn into NaN
    dy = np.concatenate([np.array([np.nan, np.inf, -np.inf, -0.0] * 4, dtype)[:edges.size],
                         rng.standard_normal(10000).astype(dtype)])
    gx = host.map2("relu_bwd", y, dy)
    np.testing.assert_array_equal(gx, K.relu_bwd(y, dy))
    assert np.all(gx[y <= 0] == 0) and np.all(np.isfinite(gx[y <= 0]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("activation,code", [(None, 0), ("relu", 1), ("sigmoid", 2)])
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 256)])
def test_host_bias_act_matches_twin(host, dtype, activation, code, shape):
    rng = np.random.default_rng(3)
    z = (rng.standard_normal(shape) * 5).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    np.testing.assert_allclose(host.bias_act_fwd(z, b, code), K.bias_act_fwd(z, b, activation),
                               rtol=rtol(dtype), atol=tiny(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_host_lstm_cell_matches_twin(host, dtype, scale):
    """The fused LSTM step (rnn.cuh) against kernels.lstm_cell_fwd / _bwd, including gates far
    in the sigmoid's and tanh's tails (scale 30). There 1 - g² and i (1 - i) cancel, and the
    two sides' tanh / exp differ by an ulp, so the bound is absolute: 20 ulp of the largest
    value."""
    rng = np.random.default_rng(7)
    B, H = 5, 7
    gates = (rng.standard_normal((B, 4 * H)) * scale).astype(dtype)
    c_prev, dh, dc = (rng.standard_normal((B, H)).astype(dtype) for _ in range(3))
    pairs = [*zip(host.lstm_cell_fwd(gates, c_prev), K.lstm_cell_fwd(gates, c_prev)),
             *zip(host.lstm_cell_bwd(gates, c_prev, dh, dc), K.lstm_cell_bwd(gates, c_prev, dh, dc))]
    for mine, twin in pairs:
        atol = 20 * np.finfo(dtype).eps * max(1.0, float(np.abs(twin).max()))
        np.testing.assert_allclose(mine, twin, rtol=rtol(dtype), atol=atol)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_host_gru_cell_matches_twin(host, dtype, scale):
    """The fused GRU step (rnn.cuh) against kernels.gru_cell_fwd / _bwd (bound as for LSTM)."""
    rng = np.random.default_rng(8)
    B, H = 5, 7
    xp, hp = ((rng.standard_normal((B, 3 * H)) * scale).astype(dtype) for _ in range(2))
    h, dy = (rng.standard_normal((B, H)).astype(dtype) for _ in range(2))
    pairs = [(host.gru_cell_fwd(xp, hp, h), K.gru_cell_fwd(xp, hp, h)),
             *zip(host.gru_cell_bwd(xp, hp, h, dy), K.gru_cell_bwd(xp, hp, h, dy))]
    for mine, twin in pairs:
        atol = 20 * np.finfo(dtype).eps * max(1.0, float(np.abs(twin).max()))
        np.testing.assert_allclose(mine, twin, rtol=rtol(dtype), atol=atol)


def xent_inputs(dtype, B, C, scale, rng):
    logits = (rng.standard_normal((B, C)) * scale).astype(dtype)
    labels = rng.integers(0, C, B).astype(np.int64)
    return logits, labels


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("B,C,scale", [(1, 1, 1.0), (5, 3, 1.0), (64, 10, 2.0),
                                       (33, 100, 1.0), (8, 10, 1000.0)])
def test_host_softmax_xent_matches_twin(host, dtype, B, C, scale):
    logits, labels = xent_inputs(dtype, B, C, scale, np.random.default_rng(4))
    loss_rows, p = host.softmax_xent_fwd(logits, labels)
    loss, saved = K.softmax_xent_fwd(logits, labels)
    assert np.all(np.isfinite(loss_rows)) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p, saved, rtol=rtol(dtype), atol=1e-30)
    np.testing.assert_allclose(loss_rows.mean(dtype=np.float64), loss,
                               rtol=rtol(dtype), atol=rtol(dtype))
    g = 0.75
    np.testing.assert_allclose(host.softmax_xent_bwd(p, labels, g),
                               K.softmax_xent_bwd(saved, labels, np.asarray(g, dtype)),
                               rtol=rtol(dtype), atol=rtol(dtype) / B)


@pytest.mark.parametrize("dtype", FLOATS)
def test_host_softmax_xent_bad_label_gives_nan(host, dtype):
    logits = np.zeros((3, 4), dtype)
    loss_rows, _ = host.softmax_xent_fwd(logits, np.array([0, 4, -1], np.int64))
    assert np.isfinite(loss_rows[0]) and np.isnan(loss_rows[1]) and np.isnan(loss_rows[2])


SGD_CONFIGS = [
    dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False),
    dict(momentum=0.0, dampening=0.0, weight_decay=1e-2, nesterov=False),
    dict(momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False),
    dict(momentum=0.9, dampening=0.1, weight_decay=5e-4, nesterov=False),
    dict(momentum=0.9, dampening=0.0, weight_decay=1e-2, nesterov=True),
    dict(momentum=0.9, dampening=0.0, weight_decay=1e-2, nesterov=False, maximize=True),
]

#: (family, options) of every optimizer update the kernels fuse: each option of PyTorch's rule
#: on its own and combined. The GPU tests (tests/test_kernels_gpu.py) run the same cases.
OPTIM_CASES = [("sgd", c) for c in SGD_CONFIGS] + [
    ("adam", dict()), ("adam", dict(weight_decay=1e-2)),
    ("adam", dict(weight_decay=1e-2, decoupled_weight_decay=True)),        # AdamW
    ("adam", dict(amsgrad=True)),
    ("adam", dict(amsgrad=True, weight_decay=1e-2, decoupled_weight_decay=True, maximize=True)),
    ("rmsprop", dict()), ("rmsprop", dict(weight_decay=1e-2)), ("rmsprop", dict(centered=True)),
    ("rmsprop", dict(momentum=0.9)),
    ("rmsprop", dict(centered=True, momentum=0.9, weight_decay=1e-2, maximize=True)),
    ("adagrad", dict()), ("adagrad", dict(lr_decay=0.1, weight_decay=1e-2)),
    ("adagrad", dict(initial_accumulator_value=0.1, maximize=True)),
]


def optim_case_id(case):
    family, options = case
    return family + "".join(f"-{k}={v}" for k, v in options.items())


def optim_state(family, options, shape, dtype):
    """Fresh state arrays of an update rule, as its optimizer makes them (NumPy)."""
    zeros = lambda: np.zeros(shape, dtype)  # noqa: E731
    if family == "sgd":
        return {"buf": zeros()} if options["momentum"] else {}
    if family == "adam":
        return {"m": zeros(), "v": zeros(), **({"v_max": zeros()} if options.get("amsgrad") else {})}
    if family == "rmsprop":
        return {"square_avg": zeros(), **({"grad_avg": zeros()} if options.get("centered") else {}),
                **({"momentum_buffer": zeros()} if options.get("momentum") else {})}
    return {"state_sum": np.full(shape, options.get("initial_accumulator_value", 0.0), dtype)}


def optim_update(impl, family, options, p, g, state, step):
    """Update step number ``step`` (1-based) through ``impl``: gpugrad.kernels (the twins, or the
    CUDA kernels for device arrays) or the host build of the .cuh, which take the same calls."""
    opts = {k: v for k, v in options.items() if k not in ("amsgrad", "centered", "initial_accumulator_value")}
    if family == "sgd":
        impl.sgd_step(p, g, state.get("buf"), lr=0.1, first_step=step == 1, **opts)
    elif family == "adam":
        impl.adam_step(p, g, state["m"], state["v"], **{"weight_decay": 0.0, **opts}, lr=1e-2,
                       beta1=0.9, beta2=0.999, eps=1e-8, step=step, v_max=state.get("v_max"))
    elif family == "rmsprop":
        impl.rmsprop_step(p, g, state["square_avg"], lr=1e-2, alpha=0.99, eps=1e-8,
                          **{"weight_decay": 0.0, **opts}, grad_avg=state.get("grad_avg"),
                          momentum_buffer=state.get("momentum_buffer"))
    else:
        impl.adagrad_step(p, g, state["state_sum"], lr=1e-2, eps=1e-10,
                          **{"lr_decay": 0.0, "weight_decay": 0.0, **opts}, step=step)


def optim_arrays(dtype, n, rng, count):
    return [rng.standard_normal(n).astype(dtype) for _ in range(count)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", OPTIM_CASES, ids=optim_case_id)
def test_host_optimizer_updates_match_twins(host, dtype, case):
    family, options = case
    rng = np.random.default_rng(5)
    p = rng.standard_normal(1001).astype(dtype)
    state = optim_state(family, options, p.shape, dtype)
    p0, p2, state2 = p.copy(), p.copy(), {k: a.copy() for k, a in state.items()}
    for step in range(1, 4):
        g = rng.standard_normal(p.size).astype(dtype)
        g_before = g.copy()
        optim_update(host, family, options, p, g, state, step)
        optim_update(K, family, options, p2, g, state2, step)
        np.testing.assert_array_equal(g, g_before)             # g is left alone
        np.testing.assert_allclose(p, p2, rtol=rtol(dtype), atol=0)
        for name in state:
            np.testing.assert_allclose(state[name], state2[name], rtol=rtol(dtype), atol=0,
                                       err_msg=name)
    assert np.all(p != p0)                                     # every element moved


# ============================================================================ (c) twins

@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_twin_against_reference(dtype):
    x = sigmoid_inputs(dtype, np.random.default_rng(7))
    x = x[np.isfinite(x)]
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = np.where(x64 >= 0, 1 / (1 + np.exp(-x64)), np.exp(x64) / (1 + np.exp(x64)))
    ref = np.nan_to_num(ref, nan=0.0)        # exp(x)/(1+exp(x)) is inf/inf for huge x < 0
    y = K.sigmoid_fwd(x)
    assert y.dtype == dtype and np.all(np.isfinite(y))
    np.testing.assert_allclose(y, ref.astype(dtype), rtol=rtol(dtype), atol=tiny(dtype))
    # NumPy warns by default on overflow, invalid and divide: none of them escapes the twin
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        K.sigmoid_fwd(np.array([-1000.0, 1000.0], dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_activation_backward_twins_against_reference(dtype):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((33, 17)).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    y = K.sigmoid_fwd(x)
    np.testing.assert_allclose(K.sigmoid_bwd(y, gy), gy * y * (1 - y), rtol=rtol(dtype) * 4)
    r = K.relu_fwd(x)
    np.testing.assert_array_equal(r, np.where(x > 0, x, 0))
    np.testing.assert_array_equal(K.relu_bwd(r, gy), gy * (x > 0))
    # non-contiguous and broadcast operands take the general path
    np.testing.assert_array_equal(K.relu_bwd(r.T, gy.T), (gy * (x > 0)).T)
    np.testing.assert_array_equal(K.relu_bwd(r[:, :1], gy), np.where(x[:, :1] > 0, gy, 0))


@pytest.mark.parametrize("dtype", FLOATS)
def test_bias_act_twin(dtype):
    rng = np.random.default_rng(9)
    z = rng.standard_normal((16, 24)).astype(dtype)
    b = rng.standard_normal(24).astype(dtype)
    s = z + b[None, :]
    np.testing.assert_array_equal(K.bias_act_fwd(z, b, None), s)
    np.testing.assert_array_equal(K.bias_act_fwd(z, b, "relu"), np.maximum(s, 0))
    np.testing.assert_allclose(K.bias_act_fwd(z, b, "sigmoid"), 1 / (1 + np.exp(-s)),
                               rtol=rtol(dtype))
    zc = z.copy()
    out = K.bias_act_fwd(zc, b, "relu", out=zc)
    assert out is zc
    np.testing.assert_array_equal(zc, np.maximum(s, 0))
    with pytest.raises(ValueError, match="activation"):
        K.bias_act_fwd(z, b, "tanh")
    with pytest.raises(ValueError, match="bias"):
        K.bias_act_fwd(z, b[:5], "relu")


def log_softmax_reference(logits):
    x = logits.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
def test_softmax_xent_twin_against_reference(dtype, scale):
    rng = np.random.default_rng(10)
    logits, labels = xent_inputs(dtype, 50, 7, scale, rng)
    logits[0] = 0.0                                           # a uniform row
    logits[1, :] = -1000.0
    logits[1, labels[1]] = 1000.0                             # a very confident row
    loss, p = K.softmax_xent_fwd(logits, labels)
    assert isinstance(loss, np.ndarray) and loss.shape == () and loss.dtype == dtype
    assert p.shape == logits.shape and p.dtype == dtype
    logp = log_softmax_reference(logits)
    want = -logp[np.arange(50), labels].mean()
    np.testing.assert_allclose(loss, want, rtol=rtol(dtype) * 4, atol=rtol(dtype))
    np.testing.assert_allclose(p, np.exp(logp), rtol=rtol(dtype) * 4, atol=1e-30)
    gloss = np.asarray(2.5, dtype)
    onehot = np.eye(7)[labels]
    np.testing.assert_allclose(K.softmax_xent_bwd(p, labels, gloss),
                               (np.exp(logp) - onehot) * 2.5 / 50,
                               rtol=rtol(dtype) * 4, atol=rtol(dtype) / 50)
    # a Python float upstream gradient works too
    np.testing.assert_array_equal(K.softmax_xent_bwd(p, labels, 2.5),
                                  K.softmax_xent_bwd(p, labels, gloss))


def test_softmax_xent_gradient_matches_finite_differences():
    rng = np.random.default_rng(11)
    logits, labels = xent_inputs(np.float64, 6, 5, 2.0, rng)
    _, p = K.softmax_xent_fwd(logits, labels)
    grad = K.softmax_xent_bwd(p, labels, np.asarray(1.0))
    h = 1e-6
    numeric = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[idx] += h
        minus[idx] -= h
        loss_plus, loss_minus = K.softmax_xent_fwd(plus, labels)[0], K.softmax_xent_fwd(minus, labels)[0]
        numeric[idx] = (loss_plus - loss_minus) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_xent_twin_checks_its_inputs():
    logits = np.zeros((3, 4), np.float32)
    with pytest.raises(IndexError, match="out of range"):
        K.softmax_xent_fwd(logits, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match="out of range"):
        K.softmax_xent_fwd(logits, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        K.softmax_xent_fwd(logits, np.array([0, 1]))
    with pytest.raises(TypeError, match="integers"):
        K.softmax_xent_fwd(logits, np.array([0.0, 1.0, 2.0]))


def optim_reference(family, options, p, grads):
    """PyTorch's documented algorithms (torch.optim.SGD, Adam/AdamW, RMSprop, Adagrad), written
    out independently in float64 with optim_update's hyper-parameters; returns p."""
    o = {"weight_decay": 0.0, "momentum": 0.0, "dampening": 0.0, **options}
    p = p.astype(np.float64)
    s = {k: np.zeros_like(p) for k in ("m", "v", "v_max", "sq", "ga", "buf")}
    s["sum"] = np.full_like(p, o.get("initial_accumulator_value", 0.0))
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64) * (-1 if o.get("maximize") else 1)
        if family == "adam" and o.get("decoupled_weight_decay"):
            p = p * (1 - 1e-2 * o["weight_decay"])
        else:
            g = g + o["weight_decay"] * p
        if family == "sgd":
            if o["momentum"]:
                s["buf"] = g if t == 1 else o["momentum"] * s["buf"] + (1 - o["dampening"]) * g
                g = g + o["momentum"] * s["buf"] if o["nesterov"] else s["buf"]
            p = p - 0.1 * g
        elif family == "adam":
            s["m"] = 0.9 * s["m"] + 0.1 * g
            s["v"] = 0.999 * s["v"] + 0.001 * g * g
            s["v_max"] = np.maximum(s["v_max"], s["v"])
            v_hat = (s["v_max"] if o.get("amsgrad") else s["v"]) / (1 - 0.999 ** t)
            p = p - 1e-2 * (s["m"] / (1 - 0.9 ** t)) / (np.sqrt(v_hat) + 1e-8)
        elif family == "rmsprop":
            s["sq"] = 0.99 * s["sq"] + 0.01 * g * g
            s["ga"] = 0.99 * s["ga"] + 0.01 * g
            avg = np.sqrt(s["sq"] - s["ga"] ** 2 if o.get("centered") else s["sq"]) + 1e-8
            if o["momentum"] > 0:
                s["buf"] = o["momentum"] * s["buf"] + g / avg
                p = p - 1e-2 * s["buf"]
            else:
                p = p - 1e-2 * g / avg
        else:
            s["sum"] = s["sum"] + g * g
            p = p - 1e-2 / (1 + (t - 1) * o.get("lr_decay", 0.0)) * g / (np.sqrt(s["sum"]) + 1e-10)
    return p


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", OPTIM_CASES, ids=optim_case_id)
def test_optimizer_twins_against_reference(dtype, case):
    family, options = case
    rng = np.random.default_rng(12)
    p0 = rng.standard_normal(41).astype(dtype)
    grads = [rng.standard_normal(41).astype(dtype) for _ in range(4)]
    p = p0.copy()
    state = optim_state(family, options, p.shape, dtype)
    for step, g in enumerate(grads, start=1):
        g_before = g.copy()
        optim_update(K, family, options, p, g, state, step)
        np.testing.assert_array_equal(g, g_before)
    # a few roundings per step, amplified by 1/sqrt(v) where v is small: judged in float64
    np.testing.assert_allclose(p, optim_reference(family, options, p0, grads),
                               rtol=rtol(dtype) * 50, atol=rtol(dtype) * 50)


NORMS = [2.0, 1.0, 3.0, 0.5, float("inf")]


@pytest.mark.parametrize("p", NORMS)
def test_host_norms_match_twin(host, p):
    from gpugrad.kernels.reduction import norm_mode
    rng = np.random.default_rng(15)
    arrays = [rng.standard_normal(1001).astype(np.float32) * 3, rng.standard_normal((7, 9)),
              np.zeros(0, np.float32), (rng.standard_normal(600) * 1e3).astype(np.float32)]
    for max_norm in (1.0, 1e9):
        total, coef = host.total_norm([np.ascontiguousarray(a).ravel() for a in arrays], p,
                                      norm_mode(p), max_norm)
        want_total, want_coef = K.total_norm(arrays, p, max_norm)
        assert want_total.dtype == np.float64 and want_total.shape == ()
        np.testing.assert_allclose(total, want_total, rtol=1e-12)
        np.testing.assert_allclose(coef, want_coef, rtol=1e-12)
        flat = np.concatenate([a.ravel().astype(np.float64) for a in arrays])
        assert want_total == pytest.approx(np.linalg.norm(flat, ord=p), rel=1e-12)
        assert want_coef == pytest.approx(min(max_norm / (np.linalg.norm(flat, ord=p) + 1e-6), 1.0))
    nan = [np.array([1.0, np.nan, 2.0], np.float32)]
    assert np.isnan(host.total_norm(nan, p, norm_mode(p), 1.0)[0]) and np.isnan(K.total_norm(nan, p)[0])
    f32 = K.total_norm(arrays[:1], p)
    assert f32[0].dtype == np.float32 and f32[1] == 1.0


def test_optimizer_twins_validate_their_arguments():
    p = np.zeros(4)
    with pytest.raises(ValueError, match="step"):
        K.adam_step(p, p, p.copy(), p.copy(), 1e-2, 0.9, 0.999, 1e-8, 0.0, step=0)
    with pytest.raises(ValueError, match="step"):
        K.adagrad_step(p, p, p.copy(), 1e-2, 0.0, 1e-10, 0.0, step=0)
    with pytest.raises(ValueError, match=r"rmsprop_step: every array needs the parameter's shape \(4,\)"):
        K.rmsprop_step(p, p, np.zeros(5), 1e-2, 0.99, 1e-8, 0.0)
    with pytest.raises(ValueError, match="momentum needs a buffer"):
        K.rmsprop_step(p, p, p.copy(), 1e-2, 0.99, 1e-8, 0.0, momentum=0.9)


def test_sgd_twin_validates_shapes():
    p = np.zeros(4)
    with pytest.raises(ValueError, match="buffer"):
        K.sgd_step(p, np.zeros(4), None, 0.1, 0.9, 0.0, 0.0, False, True)
    with pytest.raises(ValueError):
        K.sgd_step(p, np.zeros(5), None, 0.1, 0.0, 0.0, 0.0, False, True)


@pytest.mark.parametrize("dtype", FLOATS)
def test_sum_rows_twin(dtype):
    g = np.random.default_rng(14).standard_normal((129, 33)).astype(dtype)
    np.testing.assert_array_equal(K.sum_rows(g), g.sum(axis=0))
    with pytest.raises(ValueError, match="2-D"):
        K.sum_rows(g[0])


@pytest.mark.parametrize("value", [np.float64(-3.0), np.array(2.0, np.float32), np.array(-0.5)])
def test_twins_return_arrays_for_0d_inputs(value):
    """Ufuncs turn 0-d arrays into scalars; the twins keep returning (0-d) arrays."""
    g = np.asarray(1.5, np.asarray(value).dtype)
    for out in (K.sigmoid_fwd(value), K.relu_fwd(value), K.sigmoid_bwd(np.asarray(value), g),
                K.relu_bwd(np.asarray(value), g)):
        assert isinstance(out, np.ndarray) and out.shape == ()
        assert out.dtype == np.asarray(value).dtype


# ---------------------------------------------------------------- pointwise, scatter, layer norm

POINTWISE_PARAMS = {"gelu": (0.0, 0.0), "gelu_tanh": (0.0, 0.0), "silu": (0.0, 0.0),
                    "elu": (0.7, 0.0), "softplus": (2.0, 3.0), "leaky_relu": (0.1, 0.0)}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(K.POINTWISE_CODES))
def test_host_pointwise_matches_twins(host, dtype, name):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(4000) * 4, [0.0, -0.0, 1.5, -1.5, 30.0, -30.0]])
    x = x.astype(dtype)
    dy = rng.standard_normal(x.size).astype(dtype)
    a, b = POINTWISE_PARAMS[name]
    code = K.POINTWISE_CODES[name]
    y, dx = np.empty_like(x), np.empty_like(x)
    host.fn("pointwise_fwd", dtype)(x, y, x.size, code, a, b)
    host.fn("pointwise_bwd", dtype)(x, dy, dx, x.size, code, a, b)
    # float32: where tanh saturates, an ulp of t times x du (~200 at |x| = 12) is ~1e-5
    tol = dict(rtol=1e-5 if dtype == np.float32 else 1e-12, atol=2e-5 if dtype == np.float32 else 1e-13)
    np.testing.assert_allclose(y, K.pointwise_fwd(name, x, a, b), **tol)
    np.testing.assert_allclose(dx, K.pointwise_bwd(name, x, dy, a, b), **tol)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n,rows,skip,mean", [(100, 7, -1, 0), (300, 5, 2, 0), (65, 40, -1, 1),
                                              (33, 1, -1, 0)])
def test_host_scatter_matches_twin(host, dtype, n, rows, skip, mean):
    """Long runs of one key across many chunks, short ones, a skipped row, the mean."""
    from gpugrad.kernels.scatter import SCATTER_CHUNK
    rng = np.random.default_rng(n)
    index = rng.integers(0, rows, n)
    index[: n // 3] = rows // 2                      # one key spans several chunks
    src = rng.standard_normal((n, 3)).astype(dtype)
    order = np.argsort(index, kind="stable").astype(np.int64)
    keys = np.ascontiguousarray(index[order]).astype(np.int64)
    chunks = -(-n // SCATTER_CHUNK)
    out = np.zeros((rows, 3), dtype)
    head, tail = np.zeros((chunks, 3), dtype), np.zeros((chunks, 3), dtype)
    args = (n, 3, SCATTER_CHUNK, rows, skip, mean)
    host.fn("scatter_chunks", dtype)(keys, order, src, out, head, tail, *args)
    host.fn("scatter_merge", dtype)(keys, out, head, tail, *args)
    want = K.index_add_rows(index, src, rows, skip=None if skip < 0 else skip, mean=bool(mean))
    np.testing.assert_allclose(out, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("affine", [True, False])
def test_host_layer_norm_matches_twins(host, dtype, affine):
    from gpugrad.kernels.layer_norm import LAYER_NORM_CHUNK
    rng = np.random.default_rng(5)
    rows, D = 70, 37
    x = (rng.standard_normal((rows, D)) * 3 + 1).astype(dtype)
    gy = rng.standard_normal((rows, D)).astype(dtype)
    w = rng.standard_normal(D).astype(dtype) if affine else None
    b = rng.standard_normal(D).astype(dtype) if affine else None
    y, mean, rstd = np.empty_like(x), np.empty(rows, dtype), np.empty(rows, dtype)
    host.fn("layer_norm_fwd", dtype)(x, x if w is None else w, x if b is None else b, y, mean,
                                     rstd, rows, D, 1e-5, affine, affine)
    tol = dict(rtol=2e-5 if dtype == np.float32 else 1e-11, atol=2e-5 if dtype == np.float32 else 1e-12)
    ty, tmean, trstd = K.layer_norm_fwd(x, w, b, 1e-5)
    for got, want in ((y, ty), (mean, tmean), (rstd, trstd)):
        np.testing.assert_allclose(got, want, **tol)
    dx = np.empty_like(x)
    host.fn("layer_norm_dx", dtype)(x, gy, x if w is None else w, mean, rstd, dx, rows, D, affine)
    chunks = -(-rows // LAYER_NORM_CHUNK)
    pw, pb = np.empty((chunks, D)), np.empty((chunks, D))
    host.fn("layer_norm_dwb_partial", dtype)(x, gy, mean, rstd, pw, pb, rows, D, LAYER_NORM_CHUNK)
    dw, db = np.empty(D, dtype), np.empty(D, dtype)
    host.fn("layer_norm_dwb_finish", dtype)(pw, pb, dw, db, chunks, D)
    tgx, tgw, tgb = K.layer_norm_bwd(x, gy, w, mean, rstd)
    np.testing.assert_allclose(dx, tgx, **tol)
    np.testing.assert_allclose(db, tgb, **tol)
    if affine:
        np.testing.assert_allclose(dw, tgw, **tol)


def test_layer_norm_twin_against_reference():
    rng = np.random.default_rng(6)
    x, gy = rng.standard_normal((4, 9)), rng.standard_normal((4, 9))
    w, b = rng.standard_normal(9), rng.standard_normal(9)
    y, mean, rstd = K.layer_norm_fwd(x, w, b, 1e-5)
    xhat = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, xhat * w + b, rtol=1e-12)
    gx, gw, gb = K.layer_norm_bwd(x, gy, w, mean, rstd)
    g = gy * w
    ref = (g - g.mean(1, keepdims=True) - xhat * (g * xhat).mean(1, keepdims=True)) * rstd[:, None]
    np.testing.assert_allclose(gx, ref, rtol=1e-10)
    np.testing.assert_allclose(gw, (gy * xhat).sum(0), rtol=1e-12)
    np.testing.assert_allclose(gb, gy.sum(0), rtol=1e-12)


def test_erfc_twin_against_math_erfc():
    from gpugrad.kernels.special import erfc
    x = np.concatenate([np.linspace(-7, 30, 5001), [0.0, 0.84375, 1.25, 28.0, -28.0, np.inf]])
    want = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(erfc(x), want, rtol=4e-16 * 4, atol=0)
# ============================================================================ windows, dropout, batch norm

WINDOWS = [   # (H, W, kh, kw, sh, sw, pt, pl, dh, dw) -> oh, ow by the convolution rule
    (5, 6, 3, 3, 1, 1, 1, 1, 1, 1), (7, 5, 3, 2, 2, 1, 0, 1, 1, 2), (6, 6, 2, 2, 2, 2, 0, 0, 1, 1),
    (4, 9, 1, 3, 1, 3, 0, 2, 1, 1), (5, 5, 3, 3, 2, 2, 1, 1, 2, 1), (3, 4, 3, 3, 1, 1, 2, 2, 1, 1),
]


def _window(H, W, kh, kw, sh, sw, pt, pl, dh, dw, extra=0):
    """A Window by the convolution rule; ``extra`` more output rows than fit (ceil-mode pooling's
    partial windows, reading padding after the input)."""
    oh = (H + 2 * pt - dh * (kh - 1) - 1) // sh + 1 + extra
    ow = (W + 2 * pl - dw * (kw - 1) - 1) // sw + 1
    return K.Window(H, W, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("geometry", WINDOWS, ids=str)
@pytest.mark.parametrize("extra", [0, 1])
def test_host_im2col_and_col2im_match_twins(host, dtype, geometry, extra):
    g = _window(*geometry, extra=extra)
    rng = np.random.default_rng(sum(geometry))
    x = rng.standard_normal((2, 3, g.H, g.W)).astype(dtype)
    for pad_value in (0.0, -np.inf):
        np.testing.assert_array_equal(host.im2col(x, g, pad_value), K.im2col(x, g, pad_value))
    cols = rng.standard_normal((2, 3, g.kh, g.kw, g.oh, g.ow)).astype(dtype)
    np.testing.assert_allclose(host.col2im(cols, g), K.col2im(cols, g), rtol=rtol(dtype), atol=0)


@pytest.mark.parametrize("geometry", WINDOWS, ids=str)
def test_im2col_twin_against_a_loop_and_col2im_is_its_adjoint(geometry):
    """cols[n, c, i, j, r, s] = x at row r·sh - pt + i·dh, column s·sw - pl + j·dw (0 outside);
    <im2col(x), u> = <x, col2im(u)>."""
    g = _window(*geometry, extra=1)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, g.H, g.W))
    cols = K.im2col(x, g)
    for i, j, r, s in np.ndindex(g.kh, g.kw, g.oh, g.ow):
        h, w = r * g.sh - g.pt + i * g.dh, s * g.sw - g.pl + j * g.dw
        want = x[0, :, h, w] if 0 <= h < g.H and 0 <= w < g.W else np.zeros(2)
        np.testing.assert_array_equal(cols[0, :, i, j, r, s], want)
    u = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.vdot(cols, u), np.vdot(x, K.col2im(u, g)), rtol=1e-12)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_host_dropout_matches_twin(host, dtype, p):
    from gpugrad.kernels import dropout as D
    rng = np.random.default_rng(3)
    x = rng.standard_normal(10007).astype(dtype)
    key = D.dropout_key(rng)
    y = host.dropout(x, key, D.dropout_threshold(p), 1.0 / (1.0 - p))
    np.testing.assert_array_equal(y, K.dropout_apply(x, key, p))
    np.testing.assert_array_equal(y != 0, D.dropout_keep(np.arange(x.size), *key, D.dropout_threshold(p)))


def test_dropout_twin_keeps_about_1_minus_p_and_scales():
    from gpugrad.kernels import dropout as D
    x = np.ones(200_000)
    for p in (0.1, 0.5, 0.8):
        y = K.dropout_apply(x, D.dropout_key(np.random.default_rng(int(p * 10))), p)
        kept = y != 0
        assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / x.size)
        np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-15)
    a, b = K.dropout_apply(x, (3, 5), 0.5), K.dropout_apply(x, (7, 5), 0.5)
    assert 0.4 < np.mean((a != 0) == (b != 0)) < 0.6        # keys draw independent masks
    nan = K.dropout_apply(np.full(1000, np.nan), (3, 5), 0.5)
    assert np.all((nan == 0) | np.isnan(nan)) and np.any(nan == 0)   # a select, not a product


@pytest.mark.parametrize("dtype", FLOATS)
def test_host_batch_norm_maps_match_twins(host, dtype):
    rng = np.random.default_rng(4)
    x, gy = (rng.standard_normal((3, 4, 5)).astype(dtype) for _ in range(2))
    mean, scale, shift, a, b, c = (rng.standard_normal(4).astype(dtype) for _ in range(6))
    per = [v.reshape(1, -1, 1) for v in (mean, scale, shift, a, b, c)]
    np.testing.assert_allclose(host.elementwise("batch_norm_apply", x, *per[:3]),
                               K.batch_norm_apply(x, mean, scale, shift), rtol=rtol(dtype), atol=0)
    np.testing.assert_allclose(host.elementwise("batch_norm_grad", x, gy, *per[3:]),
                               K.batch_norm_grad(x, gy, a, b, c), rtol=rtol(dtype), atol=0)
    np.testing.assert_allclose(K.batch_norm_apply(x, mean, scale, shift, x - per[0]),
                               K.batch_norm_apply(x, mean, scale, shift), rtol=rtol(dtype), atol=0)
    np.testing.assert_allclose(K.channel_sums(x), x.sum(axis=(0, 2)), rtol=rtol(dtype) * 10)
    np.testing.assert_allclose(K.channel_dots(x, gy), (x * gy).sum(axis=(0, 2)), rtol=rtol(dtype) * 10,
                               atol=rtol(dtype) * 10)


# ----------------------------------------------------------------------------- multi-tensor lists

@pytest.mark.parametrize("depth", [3, 5])
def test_tensor_list_layout_matches_the_struct(host, depth):
    """The record optim.py packs for a multi-tensor launch has gg::TensorList<D>'s layout
    (size, field offsets) and constants, byte for byte, as the host compiler lays it out."""
    dtype = K.optim.tensor_list_dtype(depth)
    assert host.lib.tensor_list_bytes(depth) == dtype.itemsize
    assert host.lib.tensor_list_layout(0) == K.optim.LIST_MAX
    assert host.lib.tensor_list_layout(1) == K.optim.LIST_CHUNK
    if depth == 5:
        assert host.lib.tensor_list_layout(2) == dtype.fields["first_block"][1]
    # under CUDA's 4 KB of kernel parameters, with room for the update's scalars
    assert dtype.itemsize + 16 * 8 <= 4096


def test_locate_block_covers_every_element_once(host):
    """gg::locate_block maps the launch's blocks onto the parameters' chunks: together they
    cover each parameter's elements exactly once, in chunks of LIST_CHUNK (the last shorter)."""
    rng = np.random.default_rng(11)
    chunk = K.optim.LIST_CHUNK
    for count in (1, 2, 7, K.optim.LIST_MAX):
        sizes = rng.choice([1, 5, chunk - 1, chunk, chunk + 3, 3 * chunk + 17], count)
        record = K.optim.tensor_list_record([[16 * i] * 5 for i in range(count)], sizes)
        blocks = int(record["first_block"][0, count])
        seen = [np.zeros(n, np.int64) for n in sizes]
        start, length = ctypes.c_longlong(), ctypes.c_longlong()
        for block in range(blocks):
            i = host.lib.locate_block_5(record.ctypes.data, block, ctypes.byref(start),
                                        ctypes.byref(length))
            assert 0 < length.value <= chunk and start.value % chunk == 0
            seen[i][start.value:start.value + length.value] += 1
        assert all(np.all(s == 1) for s in seen), sizes
