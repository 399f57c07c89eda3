// optim.cu: fused, in-place optimizer updates for C-contiguous float32 / float64 arrays with
// 16-byte aligned pointers (through gg::map_packs of common.cuh: vectorised with a scalar tail;
// launch with 256 threads per block, any grid). The arithmetic is in optim.cuh.
//
//   sgd_step_S(T* p, const T* g, T* buf, long long n, T lr, T momentum,
//              T one_minus_dampening, T weight_decay, int use_momentum, int nesterov,
//              int first_step)
//       buf is only touched when use_momentum != 0 (pass any valid pointer otherwise), and
//       only written, not read, when first_step != 0.
//   adam_step_S(T* p, const T* g, T* m, T* v, long long n, T step_size, T beta1,
//               T one_minus_beta1, T beta2, T one_minus_beta2, T bias_correction2_sqrt,
//               T eps, T weight_decay)
#include "common.cuh"
#include "optim.cuh"

#define GG_OPTIM_KERNELS(T, S)                                                               \
    extern "C" __global__ void __launch_bounds__(256) sgd_step_##S(                          \
        T* p, const T* g, T* buf, long long n, T lr, T momentum, T one_minus_dampening,      \
        T weight_decay, int use_momentum, int nesterov, int first_step) {                    \
        const T* in[1] = {g};                                                                \
        T* out[2] = {p, buf};                                                                \
        /* p is read and written; buf is read unless first_step, written with momentum */   \
        const unsigned load = 1u | ((use_momentum && !first_step) ? 2u : 0u);                \
        const unsigned store = 1u | (use_momentum ? 2u : 0u);                                \
        gg::map_packs(n, in, out, load, store, [=](long long, const T (&x)[1], T (&y)[2]) {  \
            gg::sgd_update(y[0], x[0], y[1], lr, momentum, one_minus_dampening,              \
                           weight_decay, use_momentum != 0, nesterov != 0, first_step != 0); \
        });                                                                                  \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adam_step_##S(                         \
        T* p, const T* g, T* m, T* v, long long n, T step_size, T beta1, T one_minus_beta1,  \
        T beta2, T one_minus_beta2, T bias_correction2_sqrt, T eps, T weight_decay) {        \
        const T* in[1] = {g};                                                                \
        T* out[3] = {p, m, v};                                                               \
        gg::map_packs(n, in, out, 7u, 7u, [=](long long, const T (&x)[1], T (&y)[3]) {       \
            gg::adam_update(y[0], x[0], y[1], y[2], step_size, beta1, one_minus_beta1,       \
                            beta2, one_minus_beta2, bias_correction2_sqrt, eps,              \
                            weight_decay);                                                   \
        });                                                                                  \
    }

GG_OPTIM_KERNELS(float, f32)
GG_OPTIM_KERNELS(double, f64)

#undef GG_OPTIM_KERNELS
