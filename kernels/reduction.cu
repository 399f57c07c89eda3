// reduction.cu: vector norms of contiguous float32 / float64 arrays, in two deterministic
// passes (no atomics: the same inputs give the same bits on every run). Launch with 256 threads
// per block. The arithmetic is in reduction.cuh.
//
//   norm_partial_S(const T* x, long long n, double p, int mode, double* partials)
//       block b writes the merged norm_term of its grid-stride share of x to partials[b]
//       (partials has gridDim.x slots; any grid size is correct).
//   norm_finish_S(const double* partials, long long count, double p, int mode,
//                 double max_norm, T* total, T* coef)
//       one block: merges the count partials (of one or many arrays), writes the norm to
//       total[0] and clip_coef(norm, max_norm) to coef[0].
#include "common.cuh"
#include "reduction.cuh"

namespace gg {

// Merge one value per thread of a 256-thread block; thread 0 gets the result.
__device__ __forceinline__ double block_combine(double v, int mode) {
    __shared__ double shared[256];
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = 128; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] = norm_combine(shared[threadIdx.x], shared[threadIdx.x + s], mode);
        __syncthreads();
    }
    return shared[0];
}

}  // namespace gg

#define GG_NORM_KERNELS(T, S)                                                                \
    extern "C" __global__ void __launch_bounds__(256) norm_partial_##S(                      \
        const T* x, long long n, double p, int mode, double* partials) {                     \
        double acc = 0.0;   /* the identity of the sums and of the max of |x| >= 0 */        \
        for (long long i = gg::global_thread_id(); i < n; i += gg::global_thread_count())    \
            acc = gg::norm_combine(acc, gg::norm_term((double)x[i], p, mode), mode);         \
        acc = gg::block_combine(acc, mode);                                                  \
        if (threadIdx.x == 0) partials[blockIdx.x] = acc;                                    \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) norm_finish_##S(                       \
        const double* partials, long long count, double p, int mode, double max_norm,        \
        T* total, T* coef) {                                                                 \
        double acc = 0.0;                                                                    \
        for (long long i = threadIdx.x; i < count; i += blockDim.x)                          \
            acc = gg::norm_combine(acc, partials[i], mode);                                  \
        acc = gg::block_combine(acc, mode);                                                  \
        if (threadIdx.x == 0) {                                                              \
            const double norm = gg::norm_root(acc, p, mode);                                 \
            total[0] = (T)norm;                                                              \
            coef[0] = (T)gg::clip_coef(norm, max_norm);                                      \
        }                                                                                    \
    }

GG_NORM_KERNELS(float, f32)
GG_NORM_KERNELS(double, f64)

#undef GG_NORM_KERNELS
