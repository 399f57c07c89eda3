// common.cuh: plumbing shared by every gpugrad kernel.
//
// Every header in kernels/ compiles three ways, from the same text:
//   * by NVRTC, inside CuPy (gpugrad/kernels/loader.py inlines the local #includes first);
//   * by nvcc (`nvcc -c -I kernels foo.cu`), which the CPU test suite does to check syntax;
//   * by a plain host C++ compiler (g++), so the CPU tests can run the arithmetic on the host
//     and compare it with the NumPy twins in gpugrad/kernels/*.py.
// Outside CUDA the __host__ / __device__ qualifiers are defined away and <math.h> supplies the
// maths; inside CUDA nothing is #included, because NVRTC has no standard headers.
#ifndef GPUGRAD_COMMON_CUH
#define GPUGRAD_COMMON_CUH

#ifndef __CUDACC__
#include <math.h>
#ifndef __host__
#define __host__
#endif
#ifndef __device__
#define __device__
#endif
#endif

// Qualifiers of a function that runs on both sides.
#define GG_HD __host__ __device__ inline

namespace gg {

// Overloads that pick the float or double maths function, the same on host and device
// (plain `exp(float)` would silently promote to double in host C).
GG_HD float exp_(float x) { return expf(x); }
GG_HD double exp_(double x) { return exp(x); }
GG_HD float log_(float x) { return logf(x); }
GG_HD double log_(double x) { return log(x); }
GG_HD float sqrt_(float x) { return sqrtf(x); }
GG_HD double sqrt_(double x) { return sqrt(x); }
GG_HD float expm1_(float x) { return expm1f(x); }
GG_HD double expm1_(double x) { return expm1(x); }
GG_HD float log1p_(float x) { return log1pf(x); }
GG_HD double log1p_(double x) { return log1p(x); }
GG_HD float tanh_(float x) { return tanhf(x); }
GG_HD double tanh_(double x) { return tanh(x); }
GG_HD float erfc_(float x) { return erfcf(x); }
GG_HD double erfc_(double x) { return erfc(x); }
GG_HD float quiet_nan(float) { return nanf(""); }
GG_HD double quiet_nan(double) { return nan(""); }

// The type the arithmetic runs in for storage type T: double for double, float otherwise
// (so float16 is loaded, computed in float, and rounded once when stored).
template <typename T> struct acc { typedef float type; };
template <> struct acc<double> { typedef double type; };

// The type long sums accumulate in: double, so a float32 row of 1e5 terms sums to within an
// ulp of the exact value, not within sqrt(1e5) ulp.
template <typename T> struct wide { typedef double type; };

#ifdef __CUDACC__
// Sixteen bytes of T (float4-sized for float, double2-sized for double): one aligned 128-bit
// load or store per thread, which is what lets a memory-bound kernel reach copy bandwidth.
template <typename T>
struct alignas(16) Pack {
    static const int N = 16 / sizeof(T);
    T v[16 / sizeof(T)];
};

__device__ __forceinline__ long long global_thread_id() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ long long global_thread_count() {
    return (long long)gridDim.x * blockDim.x;
}

// The one vectorised loop of every elementwise RawKernel.
//
// For every element e < n it calls op(e, x, y), where x[j] is element e of input array in[j]
// and y[j] that of output array out[j]. y[j] is loaded before the call when bit j of `load`
// is set (an array updated in place, like an optimizer's state) and stored after it when bit
// j of `store` is set. Each of `threads` threads (this one is number `tid`) moves 16 bytes of
// every array at a time (one aligned 128-bit load or store: what reaches copy bandwidth), in a
// strided loop, then at most one element of the scalar tail, so any thread count is correct.
// The arrays must be 16-byte aligned.
template <typename T, int NI, int NO, typename Op>
__device__ __forceinline__ void map_packs_by(long long tid, long long threads, long long n,
                                             const T* const (&in)[NI], T* const (&out)[NO],
                                             unsigned load, unsigned store, Op op) {
    typedef Pack<T> P;
    const long long nv = n / P::N;
    for (long long i = tid; i < nv; i += threads) {
        P a[NI], b[NO] = {};
#pragma unroll
        for (int j = 0; j < NI; ++j) a[j] = reinterpret_cast<const P*>(in[j])[i];
#pragma unroll
        for (int j = 0; j < NO; ++j)
            if (load >> j & 1u) b[j] = reinterpret_cast<const P*>(out[j])[i];
#pragma unroll
        for (int k = 0; k < P::N; ++k) {
            T x[NI], y[NO];
#pragma unroll
            for (int j = 0; j < NI; ++j) x[j] = a[j].v[k];
#pragma unroll
            for (int j = 0; j < NO; ++j) y[j] = b[j].v[k];
            op(i * P::N + k, x, y);
#pragma unroll
            for (int j = 0; j < NO; ++j) b[j].v[k] = y[j];
        }
#pragma unroll
        for (int j = 0; j < NO; ++j)
            if (store >> j & 1u) reinterpret_cast<P*>(out[j])[i] = b[j];
    }
    const long long t = nv * P::N + tid;  // the scalar tail (fewer than P::N elements)
    if (t < n) {
        T x[NI], y[NO] = {};
#pragma unroll
        for (int j = 0; j < NI; ++j) x[j] = in[j][t];
#pragma unroll
        for (int j = 0; j < NO; ++j)
            if (load >> j & 1u) y[j] = out[j][t];
        op(t, x, y);
#pragma unroll
        for (int j = 0; j < NO; ++j)
            if (store >> j & 1u) out[j][t] = y[j];
    }
}

// map_packs_by over the whole grid: a grid-stride loop, so any grid size is correct.
template <typename T, int NI, int NO, typename Op>
__device__ __forceinline__ void map_packs(long long n, const T* const (&in)[NI],
                                          T* const (&out)[NO], unsigned load, unsigned store,
                                          Op op) {
    map_packs_by(global_thread_id(), global_thread_count(), n, in, out, load, store, op);
}

// Butterfly reductions over the 32 lanes of a warp: every lane ends with the same value (each
// step adds or compares a pair of lanes symmetrically), so no broadcast from lane 0 is needed.
// All 32 lanes must call them.
const unsigned FULL_WARP = 0xffffffffu;

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        const T w = __shfl_xor_sync(FULL_WARP, v, offset);
        v = w > v ? w : v;
    }
    return v;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(FULL_WARP, v, offset);
    return v;
}

// y[i] = f(x[i]) and y[i] = f(a[i], b[i]): the activation gates.
template <typename T, typename F>
__device__ __forceinline__ void map_unary(const T* x, T* y, long long n, F f) {
    const T* in[1] = {x};
    T* out[1] = {y};
    map_packs(n, in, out, 0u, 1u, [&](long long, const T (&u)[1], T (&v)[1]) { v[0] = f(u[0]); });
}

template <typename T, typename F>
__device__ __forceinline__ void map_binary(const T* a, const T* b, T* y, long long n, F f) {
    const T* in[2] = {a, b};
    T* out[1] = {y};
    map_packs(n, in, out, 0u, 1u,
              [&](long long, const T (&u)[2], T (&v)[1]) { v[0] = f(u[0], u[1]); });
}
#endif  // __CUDACC__

}  // namespace gg

#endif  // GPUGRAD_COMMON_CUH
