// optim.cu: fused, in-place optimizer updates for C-contiguous float32 / float64 arrays with
// 16-byte aligned pointers (vectorised with a scalar tail; launch with 256 threads per block,
// any grid). The arithmetic is in optim.cuh.
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

namespace {

template <typename T>
__device__ __forceinline__ void sgd_step_impl(T* p, const T* g, T* buf, long long n, T lr,
                                              T momentum, T one_minus_dampening,
                                              T weight_decay, bool use_momentum,
                                              bool nesterov, bool first_step) {
    typedef gg::Pack<T> P;
    const bool read_buf = use_momentum && !first_step;
    const long long nv = n / P::N;
    const long long tid = gg::global_thread_id();
    const long long stride = gg::global_thread_count();
    for (long long i = tid; i < nv; i += stride) {
        P pv = reinterpret_cast<const P*>(p)[i];
        const P gv = reinterpret_cast<const P*>(g)[i];
        P bv = P();
        if (read_buf) bv = reinterpret_cast<const P*>(buf)[i];
#pragma unroll
        for (int k = 0; k < P::N; ++k)
            gg::sgd_update(pv.v[k], gv.v[k], bv.v[k], lr, momentum, one_minus_dampening,
                           weight_decay, use_momentum, nesterov, first_step);
        reinterpret_cast<P*>(p)[i] = pv;
        if (use_momentum) reinterpret_cast<P*>(buf)[i] = bv;
    }
    const long long t = nv * P::N + tid;
    if (t < n) {
        T pt = p[t];
        T bt = read_buf ? buf[t] : T(0);
        gg::sgd_update(pt, g[t], bt, lr, momentum, one_minus_dampening, weight_decay,
                       use_momentum, nesterov, first_step);
        p[t] = pt;
        if (use_momentum) buf[t] = bt;
    }
}

template <typename T>
__device__ __forceinline__ void adam_step_impl(T* p, const T* g, T* m, T* v, long long n,
                                               T step_size, T beta1, T one_minus_beta1,
                                               T beta2, T one_minus_beta2,
                                               T bias_correction2_sqrt, T eps,
                                               T weight_decay) {
    typedef gg::Pack<T> P;
    const long long nv = n / P::N;
    const long long tid = gg::global_thread_id();
    const long long stride = gg::global_thread_count();
    for (long long i = tid; i < nv; i += stride) {
        P pv = reinterpret_cast<const P*>(p)[i];
        const P gv = reinterpret_cast<const P*>(g)[i];
        P mv = reinterpret_cast<const P*>(m)[i];
        P vv = reinterpret_cast<const P*>(v)[i];
#pragma unroll
        for (int k = 0; k < P::N; ++k)
            gg::adam_update(pv.v[k], gv.v[k], mv.v[k], vv.v[k], step_size, beta1,
                            one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt,
                            eps, weight_decay);
        reinterpret_cast<P*>(p)[i] = pv;
        reinterpret_cast<P*>(m)[i] = mv;
        reinterpret_cast<P*>(v)[i] = vv;
    }
    const long long t = nv * P::N + tid;
    if (t < n) {
        T pt = p[t], mt = m[t], vt = v[t];
        gg::adam_update(pt, g[t], mt, vt, step_size, beta1, one_minus_beta1, beta2,
                        one_minus_beta2, bias_correction2_sqrt, eps, weight_decay);
        p[t] = pt;
        m[t] = mt;
        v[t] = vt;
    }
}

}  // namespace

#define GG_OPTIM_KERNELS(T, S)                                                               \
    extern "C" __global__ void __launch_bounds__(256) sgd_step_##S(                          \
        T* p, const T* g, T* buf, long long n, T lr, T momentum, T one_minus_dampening,      \
        T weight_decay, int use_momentum, int nesterov, int first_step) {                    \
        sgd_step_impl(p, g, buf, n, lr, momentum, one_minus_dampening, weight_decay,         \
                      use_momentum != 0, nesterov != 0, first_step != 0);                    \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adam_step_##S(                         \
        T* p, const T* g, T* m, T* v, long long n, T step_size, T beta1, T one_minus_beta1,  \
        T beta2, T one_minus_beta2, T bias_correction2_sqrt, T eps, T weight_decay) {        \
        adam_step_impl(p, g, m, v, n, step_size, beta1, one_minus_beta1, beta2,              \
                       one_minus_beta2, bias_correction2_sqrt, eps, weight_decay);           \
    }

GG_OPTIM_KERNELS(float, f32)
GG_OPTIM_KERNELS(double, f64)

#undef GG_OPTIM_KERNELS
