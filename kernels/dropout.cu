// dropout.cu: dropout as one vectorised pass (the decision is in dropout.cuh). Launch with 256
// threads per block, through gg::map_packs (16-byte loads and stores and a scalar tail, so any
// grid size is correct); x and y C-contiguous and 16-byte aligned, and may be the same array.
//
//   dropout_S(const T* x, T* y, long long n, unsigned int a, unsigned int b,
//             unsigned int threshold, T scale)
//       y[e] = x[e] * scale where element e is kept under the key (a, b), else 0.
// The same kernel is the forward (x the input) and the backward (x the incoming gradient):
// dropout is linear and its own adjoint.
#include "common.cuh"
#include "dropout.cuh"

#define GG_DROPOUT_KERNELS(T, S)                                                             \
    extern "C" __global__ void __launch_bounds__(256)                                        \
        dropout_##S(const T* x, T* y, long long n, unsigned int a, unsigned int b,           \
                    unsigned int threshold, T scale) {                                       \
        const T* in[1] = {x};                                                                \
        T* out[1] = {y};                                                                     \
        gg::map_packs(n, in, out, 0u, 1u, [=](long long e, const T (&u)[1], T (&v)[1]) {     \
            v[0] = gg::dropout_value(u[0], e, a, b, threshold, scale);                       \
        });                                                                                  \
    }

GG_DROPOUT_KERNELS(float, f32)
GG_DROPOUT_KERNELS(double, f64)

#undef GG_DROPOUT_KERNELS
