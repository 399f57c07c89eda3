// scatter.cu: the deterministic scatter-add of rows of scatter.cuh, for C-contiguous float32 /
// float64 rows and int64 keys (launch with 256 threads per block, any grid: both kernels are
// grid-stride loops over every (chunk, column) pair, the column fastest, so neighbouring
// threads read neighbouring columns of a row).
//
//   scatter_chunks_S(const long long* keys, const long long* order, const T* src, T* out,
//                    T* head, T* tail, long long n, long long width, long long chunk,
//                    long long rows, long long skip, int mean)
//   scatter_merge_S(const long long* keys, T* out, const T* head, const T* tail, long long n,
//                   long long width, long long chunk, long long rows, long long skip, int mean)
// keys (n,) sorted target rows, order (n,) their source rows; src (n_src, width); out
// (rows, width), zero-filled; head and tail (ceil(n / chunk), width) scratch. Run the merge
// after the chunks kernel has finished (the next launch on the stream).
#include "common.cuh"
#include "scatter.cuh"

#define GG_SCATTER_KERNELS(T, S)                                                             \
    extern "C" __global__ void __launch_bounds__(256) scatter_chunks_##S(                    \
        const long long* keys, const long long* order, const T* src, T* out, T* head,       \
        T* tail, long long n, long long width, long long chunk, long long rows,              \
        long long skip, int mean) {                                                          \
        const long long pairs = (n + chunk - 1) / chunk * width;                             \
        for (long long t = gg::global_thread_id(); t < pairs; t += gg::global_thread_count()) \
            gg::scatter_chunk<T>(t / width, t % width, keys, order, src, out, head, tail, n, \
                                 width, chunk, rows, skip, mean);                            \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) scatter_merge_##S(                     \
        const long long* keys, T* out, const T* head, const T* tail, long long n,            \
        long long width, long long chunk, long long rows, long long skip, int mean) {        \
        const long long pairs = (n + chunk - 1) / chunk * width;                             \
        for (long long t = gg::global_thread_id(); t < pairs; t += gg::global_thread_count()) \
            gg::scatter_merge<T>(t / width, t % width, keys, out, head, tail, n, width,      \
                                 chunk, rows, skip, mean);                                   \
    }

GG_SCATTER_KERNELS(float, f32)
GG_SCATTER_KERNELS(double, f64)

#undef GG_SCATTER_KERNELS
