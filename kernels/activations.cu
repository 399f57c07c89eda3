// activations.cu: vectorised RawKernels for the activation gates, for C-contiguous float32 /
// float64 arrays whose pointers are 16-byte aligned (gpugrad/kernels/activations.py checks this
// and uses ElementwiseKernels otherwise). The arithmetic is in activations.cuh.
//
// Kernels (S is f32 or f64, T float or double; launch with 256 threads per block):
//   sigmoid_fwd_S(const T* x, T* y, long long n)              y = 1 / (1 + e^-x)
//   sigmoid_bwd_S(const T* y, const T* dy, T* dx, long long n) dx = dy * y * (1 - y)
//   relu_fwd_S(const T* x, T* y, long long n)                 y = max(x, 0)
//   relu_bwd_S(const T* y, const T* dy, T* dx, long long n)    dx = dy where y > 0
//   bias_act_fwd_vec_S(const T* z, const T* b, T* y, long long rows, long long cols, int act)
//   bias_act_fwd_S(same arguments)                             y[r, c] = act(z[r, c] + b[c])
// The elementwise kernels run through gg::map_packs (common.cuh): 16-byte loads and stores in a
// grid-stride loop plus a scalar tail, so any grid size is correct. The bias kernels take a 2-D
// launch: x over column units (packs of columns for _vec_, which needs cols % (16 / sizeof(T))
// == 0; single columns otherwise) and y over rows, so each thread loads its slice of the bias once and reuses it for every row.
// Outputs may alias inputs (in-place use): no pointer is __restrict__.
#include "common.cuh"
#include "activations.cuh"

namespace {

// y = act(z + b) over (rows, cols), U = Pack<T> (vectorised) or T (one column per thread).
template <typename T, typename U>
__device__ __forceinline__ void bias_act_rows(const T* z, const T* b, T* y, long long rows,
                                              long long cols, int act) {
    const int N = sizeof(U) / sizeof(T);
    const long long units = cols / N;
    const long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= units) return;
    const U bias = reinterpret_cast<const U*>(b)[c];
    const T* bv = reinterpret_cast<const T*>(&bias);
    const long long row_stride = (long long)gridDim.y * blockDim.y;
    for (long long r = (long long)blockIdx.y * blockDim.y + threadIdx.y; r < rows; r += row_stride) {
        U a = reinterpret_cast<const U*>(z + r * cols)[c];
        T* av = reinterpret_cast<T*>(&a);
#pragma unroll
        for (int k = 0; k < N; ++k) av[k] = gg::bias_act_fwd(act, av[k], bv[k]);
        reinterpret_cast<U*>(y + r * cols)[c] = a;
    }
}

}  // namespace

#define GG_ACTIVATION_KERNELS(T, S)                                                          \
    extern "C" __global__ void __launch_bounds__(256)                                        \
        sigmoid_fwd_##S(const T* x, T* y, long long n) {                                     \
        gg::map_unary(x, y, n, [](T v) { return gg::sigmoid_fwd(v); });                      \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256)                                        \
        sigmoid_bwd_##S(const T* y, const T* dy, T* dx, long long n) {                       \
        gg::map_binary(y, dy, dx, n, [](T yv, T dyv) { return gg::sigmoid_bwd(yv, dyv); });  \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256)                                        \
        relu_fwd_##S(const T* x, T* y, long long n) {                                        \
        gg::map_unary(x, y, n, [](T v) { return gg::relu_fwd(v); });                         \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256)                                        \
        relu_bwd_##S(const T* y, const T* dy, T* dx, long long n) {                          \
        gg::map_binary(y, dy, dx, n, [](T yv, T dyv) { return gg::relu_bwd(yv, dyv); });     \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) bias_act_fwd_vec_##S(                  \
        const T* z, const T* b, T* y, long long rows, long long cols, int act) {             \
        bias_act_rows<T, gg::Pack<T> >(z, b, y, rows, cols, act);                            \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) bias_act_fwd_##S(                      \
        const T* z, const T* b, T* y, long long rows, long long cols, int act) {             \
        bias_act_rows<T, T>(z, b, y, rows, cols, act);                                       \
    }

GG_ACTIVATION_KERNELS(float, f32)
GG_ACTIVATION_KERNELS(double, f64)

#undef GG_ACTIVATION_KERNELS
