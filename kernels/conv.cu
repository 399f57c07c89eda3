// conv.cu: sliding windows for convolution and pooling (the arithmetic is in conv.cuh).
// Launch with 256 threads per block; both loops are grid-stride, so any grid size is correct.
//
//   im2col_S(const T* x, T* cols, long long n, long long H, long long W, long long kh,
//            long long kw, long long sh, long long sw, long long pt, long long pl, long long dh,
//            long long dw, long long oh, long long ow, T pad_value)
//       x: C-contiguous (N, C, H, W); cols: (N, C, kh, kw, oh, ow), n = its size. Each thread
//       writes elements of cols (consecutive threads: consecutive output columns, so the
//       writes are coalesced and the reads of one kernel tap are strided by sw).
//   col2im_S(const T* cols, T* x, long long n, same geometry)
//       x: (N, C, H, W), n = its size. Each thread gathers the taps that read its element of
//       x and sums them in a fixed order: deterministic, no atomics.
#include "common.cuh"
#include "conv.cuh"

#define GG_WINDOW {H, W, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow}

#define GG_CONV_KERNELS(T, S)                                                                \
    extern "C" __global__ void __launch_bounds__(256)                                        \
        im2col_##S(const T* x, T* cols, long long n, long long H, long long W, long long kh,  \
                   long long kw, long long sh, long long sw, long long pt, long long pl,     \
                   long long dh, long long dw, long long oh, long long ow, T pad_value) {    \
        const gg::Window g = GG_WINDOW;                                                      \
        const long long stride = (long long)gridDim.x * blockDim.x;                          \
        for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < n;          \
             e += stride)                                                                    \
            cols[e] = gg::im2col_value(g, x, e, pad_value);                                  \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256)                                        \
        col2im_##S(const T* cols, T* x, long long n, long long H, long long W, long long kh,  \
                   long long kw, long long sh, long long sw, long long pt, long long pl,     \
                   long long dh, long long dw, long long oh, long long ow) {                 \
        const gg::Window g = GG_WINDOW;                                                      \
        const long long stride = (long long)gridDim.x * blockDim.x;                          \
        for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < n;          \
             e += stride)                                                                    \
            x[e] = gg::col2im_value(g, cols, e);                                             \
    }

GG_CONV_KERNELS(float, f32)
GG_CONV_KERNELS(double, f64)

#undef GG_CONV_KERNELS
#undef GG_WINDOW
