// layer_norm.cu: layer normalisation of C-contiguous (rows, D) float32 / float64 arrays, forward
// and backward; the arithmetic is in layer_norm.cuh. Launch with 256 threads per block, any grid.
//
//   layer_norm_fwd_S(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, long long rows,
//                    long long D, double eps, int has_w, int has_b)
//       One warp per row (a grid-stride loop over rows): the row's sum, then its sum of squared
//       deviations, in double, reduced across the warp; then y. w and b (D,) are read only
//       where has_w / has_b (pass any valid pointer otherwise).
//   layer_norm_dx_S(const T* x, const T* dy, const T* w, const T* mean, const T* rstd, T* dx,
//                   long long rows, long long D, int has_w)
//       One warp per row: dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy w.
//   layer_norm_dwb_partial_S(const T* x, const T* dy, const T* mean, const T* rstd,
//                            double* part_w, double* part_b, long long rows, long long D,
//                            long long chunk)
//       One thread per (chunk of rows, column): the chunk's sums of dy xhat and of dy,
//       into part_w / part_b (ceil(rows / chunk), D).
//   layer_norm_dwb_finish_S(const double* part_w, const double* part_b, T* dw, T* db,
//                           long long chunks, long long D)
//       One thread per column: the chunks' partial sums added in order (no atomics: the same
//       bits on every run).
#include "common.cuh"
#include "layer_norm.cuh"

#define GG_LAYER_NORM_KERNELS(T, S)                                                          \
    extern "C" __global__ void __launch_bounds__(256) layer_norm_fwd_##S(                    \
        const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, long long rows,          \
        long long D, double eps, int has_w, int has_b) {                                     \
        const int lane = threadIdx.x & 31;                                                   \
        const long long warps = blockDim.x >> 5;                                             \
        for (long long r = blockIdx.x * warps + (threadIdx.x >> 5); r < rows;               \
             r += (long long)gridDim.x * warps) {                                            \
            const T* xr = x + r * D;                                                         \
            double sum = 0;                                                                  \
            for (long long j = lane; j < D; j += 32) sum += (double)xr[j];                   \
            const T m = (T)(gg::warp_sum(sum) / (double)D);                                  \
            double sq = 0;                                                                   \
            for (long long j = lane; j < D; j += 32)                                         \
                sq += (double)(xr[j] - m) * (double)(xr[j] - m);                             \
            const T rs = (T)gg::layer_norm_rstd(gg::warp_sum(sq) / (double)D, eps);          \
            T* yr = y + r * D;                                                               \
            for (long long j = lane; j < D; j += 32)                                         \
                yr[j] = gg::layer_norm_out(xr[j], m, rs, has_w ? w[j] : T(1),                \
                                           has_b ? b[j] : T(0));                             \
            if (lane == 0) {                                                                 \
                mean[r] = m;                                                                 \
                rstd[r] = rs;                                                                \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) layer_norm_dx_##S(                     \
        const T* x, const T* dy, const T* w, const T* mean, const T* rstd, T* dx,            \
        long long rows, long long D, int has_w) {                                            \
        const int lane = threadIdx.x & 31;                                                   \
        const long long warps = blockDim.x >> 5;                                             \
        for (long long r = blockIdx.x * warps + (threadIdx.x >> 5); r < rows;               \
             r += (long long)gridDim.x * warps) {                                            \
            const T* xr = x + r * D;                                                         \
            const T* gr = dy + r * D;                                                        \
            const T m = mean[r], rs = rstd[r];                                               \
            double sg = 0, sgx = 0;                                                          \
            for (long long j = lane; j < D; j += 32) {                                       \
                const T g = has_w ? gr[j] * w[j] : gr[j];                                    \
                sg += (double)g;                                                             \
                sgx += (double)g * (double)((xr[j] - m) * rs);                               \
            }                                                                                \
            const T a = (T)(gg::warp_sum(sg) / (double)D);                                   \
            const T c = (T)(gg::warp_sum(sgx) / (double)D);                                  \
            T* out = dx + r * D;                                                             \
            for (long long j = lane; j < D; j += 32)                                         \
                out[j] = gg::layer_norm_dx(has_w ? gr[j] * w[j] : gr[j], (xr[j] - m) * rs,   \
                                           rs, a, c);                                        \
        }                                                                                    \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) layer_norm_dwb_partial_##S(            \
        const T* x, const T* dy, const T* mean, const T* rstd, double* part_w,               \
        double* part_b, long long rows, long long D, long long chunk) {                      \
        const long long pairs = (rows + chunk - 1) / chunk * D;                              \
        for (long long t = gg::global_thread_id(); t < pairs; t += gg::global_thread_count()) \
            gg::layer_norm_dwb_chunk<T>(t / D, t % D, x, dy, mean, rstd, part_w, part_b, rows, \
                                        D, chunk);                                           \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) layer_norm_dwb_finish_##S(             \
        const double* part_w, const double* part_b, T* dw, T* db, long long chunks,          \
        long long D) {                                                                       \
        for (long long j = gg::global_thread_id(); j < D; j += gg::global_thread_count())   \
            gg::layer_norm_dwb_column<T>(j, part_w, part_b, dw, db, chunks, D);              \
    }

GG_LAYER_NORM_KERNELS(float, f32)
GG_LAYER_NORM_KERNELS(double, f64)

#undef GG_LAYER_NORM_KERNELS
