// optim.cu: fused, in-place optimizer updates for C-contiguous float32 / float64 arrays with
// 16-byte aligned pointers (through gg::map_packs_by of common.cuh: vectorised with a scalar
// tail; launch with 256 threads per block). The arithmetic is in optim.cuh.
//
// Every family has two kernels over one device function <family>_apply:
//   <family>_S(p, g, <state arrays>, n, <scalars>, <flags>)       one parameter, any grid;
//   <family>_multi_S(gg::TensorList<D> list, <scalars>, <flags>)  every parameter of `list`
//       (arrays p, g, <state arrays> in that order, D of them), first_block[count] blocks.
// A state array an option leaves unused (SGD's buf without momentum, Adam's v_max without
// amsgrad, RMSprop's grad_avg when not centered and buf without momentum) is neither loaded
// nor stored: pass any valid pointer (p) for it.
//
//   sgd_step_S(T* p, const T* g, T* buf, long long n, T lr, T momentum,
//              T one_minus_dampening, T weight_decay, int use_momentum, int nesterov,
//              int first_step, int maximize)                                     (D = 3)
//       buf is only written, not read, when first_step != 0.
//   adam_step_S(T* p, const T* g, T* m, T* v, T* v_max, long long n, T step_size, T beta1,
//               T one_minus_beta1, T beta2, T one_minus_beta2, T bias_correction2_sqrt,
//               T eps, T weight_decay, T param_scale, int amsgrad, int maximize)  (D = 5)
//   adam_step_dev_S(T* p, const T* g, T* m, T* v, T* v_max, const T* step, long long n,
//                   double lr, double beta1_d, double beta2_d, T beta1, T one_minus_beta1,
//                   T beta2, T one_minus_beta2, T eps, T weight_decay, T param_scale,
//                   int amsgrad, int maximize)                                    (D = 6)
//       capturable Adam: the step count is the one-element array `step` (already counted
//       for this step by adam_count), and the bias corrections come from it; in the list
//       of the _multi kernel, array 5 of each parameter is its step (one element, no offset).
//   adam_count_S(T* step) / adam_count_list_S(gg::TensorList<6> list)
//       step += 1 for one step count / for the step (array 5) of every parameter of `list`;
//       launch with one block of 64 threads.
//   rmsprop_step_S(T* p, const T* g, T* square_avg, T* grad_avg, T* buf, long long n, T lr,
//                  T alpha, T one_minus_alpha, T eps, T weight_decay, T momentum,
//                  int centered, int use_momentum, int maximize)                  (D = 5)
//   adagrad_step_S(T* p, const T* g, T* state_sum, long long n, T clr, T eps, T weight_decay,
//                  int maximize)                                                  (D = 3)
#include "common.cuh"
#include "optim.cuh"

// The threads of a one-parameter kernel: the whole grid. Of a multi-tensor kernel: one block,
// on the chunk of its parameter that locate_block gives it; `t` is that parameter's index
// and `GG_ARRAY(T, j)` the address of its array j at the chunk.
#define GG_WHOLE_GRID gg::global_thread_id(), gg::global_thread_count()
#define GG_ONE_BLOCK(D)                                                                      \
    long long start, len;                                                                    \
    const int t = gg::locate_block<D>(list, blockIdx.x, start, len);                         \
    (void)t;
#define GG_ARRAY(T, j) gg::list_array<T>(list, j, t, start)

template <typename T>
__device__ __forceinline__ void sgd_apply(long long tid, long long threads, long long n, T* p,
                                          const T* g, T* buf, T lr, T momentum,
                                          T one_minus_dampening, T weight_decay,
                                          int use_momentum, int nesterov, int first_step,
                                          int maximize) {
    const T* in[1] = {g};
    T* out[2] = {p, buf};
    // p is read and written; buf is read unless first_step, written with momentum
    const unsigned load = 1u | ((use_momentum && !first_step) ? 2u : 0u);
    const unsigned store = 1u | (use_momentum ? 2u : 0u);
    gg::map_packs_by(tid, threads, n, in, out, load, store,
                     [=](long long, const T (&x)[1], T (&y)[2]) {
                         gg::sgd_update(y[0], x[0], y[1], lr, momentum, one_minus_dampening,
                                        weight_decay, use_momentum != 0, nesterov != 0,
                                        first_step != 0, maximize != 0);
                     });
}

template <typename T>
__device__ __forceinline__ void adam_apply(long long tid, long long threads, long long n, T* p,
                                           const T* g, T* m, T* v, T* v_max, T step_size,
                                           T beta1, T one_minus_beta1, T beta2,
                                           T one_minus_beta2, T bias_correction2_sqrt, T eps,
                                           T weight_decay, T param_scale, int amsgrad,
                                           int maximize) {
    const T* in[1] = {g};
    T* out[4] = {p, m, v, v_max};
    const unsigned used = 7u | (amsgrad ? 8u : 0u);
    gg::map_packs_by(tid, threads, n, in, out, used, used,
                     [=](long long, const T (&x)[1], T (&y)[4]) {
                         gg::adam_update(y[0], x[0], y[1], y[2], y[3], step_size, beta1,
                                         one_minus_beta1, beta2, one_minus_beta2,
                                         bias_correction2_sqrt, eps, weight_decay, param_scale,
                                         amsgrad != 0, maximize != 0);
                     });
}

// Capturable Adam: the bias corrections from the step count on the device, then adam_apply.
template <typename T>
__device__ __forceinline__ void adam_dev_apply(long long tid, long long threads, long long n,
                                               T* p, const T* g, T* m, T* v, T* v_max,
                                               const T* step, double lr, double beta1_d,
                                               double beta2_d, T beta1, T one_minus_beta1,
                                               T beta2, T one_minus_beta2, T eps,
                                               T weight_decay, T param_scale, int amsgrad,
                                               int maximize) {
    T step_size, bias_correction2_sqrt;
    gg::adam_bias_corrections<T>((double)*step, lr, beta1_d, beta2_d, step_size,
                                 bias_correction2_sqrt);
    adam_apply<T>(tid, threads, n, p, g, m, v, v_max, step_size, beta1, one_minus_beta1, beta2,
                  one_minus_beta2, bias_correction2_sqrt, eps, weight_decay, param_scale,
                  amsgrad, maximize);
}

template <typename T>
__device__ __forceinline__ void rmsprop_apply(long long tid, long long threads, long long n,
                                              T* p, const T* g, T* square_avg, T* grad_avg,
                                              T* buf, T lr, T alpha, T one_minus_alpha, T eps,
                                              T weight_decay, T momentum, int centered,
                                              int use_momentum, int maximize) {
    const T* in[1] = {g};
    T* out[4] = {p, square_avg, grad_avg, buf};
    const unsigned used = 3u | (centered ? 4u : 0u) | (use_momentum ? 8u : 0u);
    gg::map_packs_by(tid, threads, n, in, out, used, used,
                     [=](long long, const T (&x)[1], T (&y)[4]) {
                         gg::rmsprop_update(y[0], x[0], y[1], y[2], y[3], lr, alpha,
                                            one_minus_alpha, eps, weight_decay, momentum,
                                            centered != 0, use_momentum != 0, maximize != 0);
                     });
}

template <typename T>
__device__ __forceinline__ void adagrad_apply(long long tid, long long threads, long long n,
                                              T* p, const T* g, T* state_sum, T clr, T eps,
                                              T weight_decay, int maximize) {
    const T* in[1] = {g};
    T* out[2] = {p, state_sum};
    gg::map_packs_by(tid, threads, n, in, out, 3u, 3u,
                     [=](long long, const T (&x)[1], T (&y)[2]) {
                         gg::adagrad_update(y[0], x[0], y[1], clr, eps, weight_decay,
                                            maximize != 0);
                     });
}

#define GG_OPTIM_KERNELS(T, S)                                                               \
    extern "C" __global__ void __launch_bounds__(256) sgd_step_##S(                          \
        T* p, const T* g, T* buf, long long n, T lr, T momentum, T one_minus_dampening,      \
        T weight_decay, int use_momentum, int nesterov, int first_step, int maximize) {      \
        sgd_apply<T>(GG_WHOLE_GRID, n, p, g, buf, lr, momentum, one_minus_dampening,         \
                     weight_decay, use_momentum, nesterov, first_step, maximize);            \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) sgd_step_multi_##S(                    \
        gg::TensorList<3> list, T lr, T momentum, T one_minus_dampening, T weight_decay,     \
        int use_momentum, int nesterov, int first_step, int maximize) {                      \
        GG_ONE_BLOCK(3)                                                                      \
        sgd_apply<T>(threadIdx.x, blockDim.x, len, GG_ARRAY(T, 0), GG_ARRAY(T, 1),           \
                     GG_ARRAY(T, 2), lr, momentum,                                           \
                     one_minus_dampening, weight_decay, use_momentum, nesterov, first_step,  \
                     maximize);                                                              \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adam_step_##S(                         \
        T* p, const T* g, T* m, T* v, T* v_max, long long n, T step_size, T beta1,           \
        T one_minus_beta1, T beta2, T one_minus_beta2, T bias_correction2_sqrt, T eps,       \
        T weight_decay, T param_scale, int amsgrad, int maximize) {                          \
        adam_apply<T>(GG_WHOLE_GRID, n, p, g, m, v, v_max, step_size, beta1,                 \
                      one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps,   \
                      weight_decay, param_scale, amsgrad, maximize);                         \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adam_step_multi_##S(                   \
        gg::TensorList<5> list, T step_size, T beta1, T one_minus_beta1, T beta2,            \
        T one_minus_beta2, T bias_correction2_sqrt, T eps, T weight_decay, T param_scale,    \
        int amsgrad, int maximize) {                                                         \
        GG_ONE_BLOCK(5)                                                                      \
        adam_apply<T>(threadIdx.x, blockDim.x, len, GG_ARRAY(T, 0), GG_ARRAY(T, 1),          \
                      GG_ARRAY(T, 2), GG_ARRAY(T, 3), GG_ARRAY(T, 4), step_size,             \
                      beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, \
                      eps, weight_decay, param_scale, amsgrad, maximize);                    \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adam_step_dev_##S(                     \
        T* p, const T* g, T* m, T* v, T* v_max, const T* step, long long n, double lr,       \
        double beta1_d, double beta2_d, T beta1, T one_minus_beta1, T beta2,                 \
        T one_minus_beta2, T eps, T weight_decay, T param_scale, int amsgrad, int maximize) { \
        adam_dev_apply<T>(GG_WHOLE_GRID, n, p, g, m, v, v_max, step, lr, beta1_d, beta2_d,   \
                          beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, \
                          param_scale, amsgrad, maximize);                                   \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adam_step_dev_multi_##S(               \
        gg::TensorList<6> list, double lr, double beta1_d, double beta2_d, T beta1,          \
        T one_minus_beta1, T beta2, T one_minus_beta2, T eps, T weight_decay, T param_scale, \
        int amsgrad, int maximize) {                                                         \
        GG_ONE_BLOCK(6)                                                                      \
        adam_dev_apply<T>(threadIdx.x, blockDim.x, len, GG_ARRAY(T, 0), GG_ARRAY(T, 1),      \
                          GG_ARRAY(T, 2), GG_ARRAY(T, 3), GG_ARRAY(T, 4),                    \
                          reinterpret_cast<const T*>(list.ptr[5][t]), lr, beta1_d, beta2_d,  \
                          beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, \
                          param_scale, amsgrad, maximize);                                   \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adam_count_##S(T* step) {              \
        if (gg::global_thread_id() == 0) *step += T(1);                                      \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adam_count_list_##S(                   \
        gg::TensorList<6> list) {                                                            \
        const long long threads = gg::global_thread_count();                                 \
        for (long long i = gg::global_thread_id(); i < list.count; i += threads)             \
            *reinterpret_cast<T*>(list.ptr[5][i]) += T(1);                                   \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) rmsprop_step_##S(                      \
        T* p, const T* g, T* square_avg, T* grad_avg, T* buf, long long n, T lr, T alpha,    \
        T one_minus_alpha, T eps, T weight_decay, T momentum, int centered,                  \
        int use_momentum, int maximize) {                                                    \
        rmsprop_apply<T>(GG_WHOLE_GRID, n, p, g, square_avg, grad_avg, buf, lr, alpha,       \
                         one_minus_alpha, eps, weight_decay, momentum, centered,             \
                         use_momentum, maximize);                                            \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) rmsprop_step_multi_##S(                \
        gg::TensorList<5> list, T lr, T alpha, T one_minus_alpha, T eps, T weight_decay,     \
        T momentum, int centered, int use_momentum, int maximize) {                          \
        GG_ONE_BLOCK(5)                                                                      \
        rmsprop_apply<T>(threadIdx.x, blockDim.x, len, GG_ARRAY(T, 0), GG_ARRAY(T, 1),       \
                         GG_ARRAY(T, 2), GG_ARRAY(T, 3), GG_ARRAY(T, 4), lr,                 \
                         alpha, one_minus_alpha, eps, weight_decay, momentum, centered,      \
                         use_momentum, maximize);                                            \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adagrad_step_##S(                      \
        T* p, const T* g, T* state_sum, long long n, T clr, T eps, T weight_decay,           \
        int maximize) {                                                                      \
        adagrad_apply<T>(GG_WHOLE_GRID, n, p, g, state_sum, clr, eps, weight_decay,          \
                         maximize);                                                          \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) adagrad_step_multi_##S(                \
        gg::TensorList<3> list, T clr, T eps, T weight_decay, int maximize) {                \
        GG_ONE_BLOCK(3)                                                                      \
        adagrad_apply<T>(threadIdx.x, blockDim.x, len, GG_ARRAY(T, 0), GG_ARRAY(T, 1),       \
                         GG_ARRAY(T, 2), clr, eps,                                           \
                         weight_decay, maximize);                                            \
    }

GG_OPTIM_KERNELS(float, f32)
GG_OPTIM_KERNELS(double, f64)

#undef GG_OPTIM_KERNELS
#undef GG_ARRAY
#undef GG_ONE_BLOCK
#undef GG_WHOLE_GRID
