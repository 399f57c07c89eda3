// pointwise.cu: vectorised RawKernels for the activations of pointwise.cuh, for C-contiguous
// float32 / float64 arrays whose pointers are 16-byte aligned (gpugrad/kernels/pointwise.py
// checks this and uses ElementwiseKernels otherwise). Launch with 256 threads per block, any
// grid (gg::map_packs is a grid-stride loop with a scalar tail).
//
//   pointwise_fwd_S(const T* x, T* y, long long n, int code, T a, T b)      y = f(x)
//   pointwise_bwd_S(const T* x, const T* dy, T* dx, long long n, int code, T a, T b)
//                                                                         dx = dy f'(x)
// code picks the activation (PW_GELU, ...), a and b are its parameters.
#include "common.cuh"
#include "pointwise.cuh"

#define GG_POINTWISE_KERNELS(T, S)                                                           \
    extern "C" __global__ void __launch_bounds__(256) pointwise_fwd_##S(                     \
        const T* x, T* y, long long n, int code, T a, T b) {                                 \
        gg::map_unary(x, y, n, [=](T v) { return gg::pointwise_fwd(code, v, a, b); });       \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) pointwise_bwd_##S(                     \
        const T* x, const T* dy, T* dx, long long n, int code, T a, T b) {                   \
        gg::map_binary(x, dy, dx, n,                                                         \
                       [=](T xv, T dyv) { return gg::pointwise_bwd(code, xv, dyv, a, b); }); \
    }

GG_POINTWISE_KERNELS(float, f32)
GG_POINTWISE_KERNELS(double, f64)

#undef GG_POINTWISE_KERNELS
