// optim.cuh: per-element parameter updates of SGD and Adam, following PyTorch's documented
// algorithms (torch.optim.SGD, torch.optim.Adam with amsgrad=False, maximize=False).
//
// Scalars that depend only on hyper-parameters and the step count (1 - dampening, the bias
// corrections) are computed once on the host, in double, and passed in already rounded to T,
// exactly as the NumPy twins in gpugrad/kernels/optim.py round them.
#ifndef GPUGRAD_OPTIM_CUH
#define GPUGRAD_OPTIM_CUH

#include "common.cuh"

namespace gg {

// One SGD step on one element (p and buf updated in place):
//   g = g + weight_decay * p                      (if weight_decay != 0)
//   if use_momentum:
//       buf = g                                   on the first step, else
//       buf = momentum * buf + (1 - dampening) * g
//       g = g + momentum * buf  if nesterov, else  g = buf
//   p = p - lr * g
// buf is neither read nor written without momentum.
template <typename T>
GG_HD void sgd_update(T& p, T g, T& buf, T lr, T momentum, T one_minus_dampening,
                      T weight_decay, bool use_momentum, bool nesterov, bool first_step) {
    if (weight_decay != T(0)) g = g + weight_decay * p;
    if (use_momentum) {
        buf = first_step ? g : momentum * buf + one_minus_dampening * g;
        g = nesterov ? g + momentum * buf : buf;
    }
    p = p - lr * g;
}

// One Adam step on one element (p, m, v updated in place), at step t >= 1:
//   g = g + weight_decay * p                      (if weight_decay != 0)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - step_size * (m / (sqrt(v) / bias_correction2_sqrt + eps))
// with step_size = lr / (1 - beta1^t) and bias_correction2_sqrt = sqrt(1 - beta2^t).
template <typename T>
GG_HD void adam_update(T& p, T g, T& m, T& v, T step_size, T beta1, T one_minus_beta1,
                       T beta2, T one_minus_beta2, T bias_correction2_sqrt, T eps,
                       T weight_decay) {
    if (weight_decay != T(0)) g = g + weight_decay * p;
    m = beta1 * m + one_minus_beta1 * g;
    v = beta2 * v + one_minus_beta2 * (g * g);
    const T denom = sqrt_(v) / bias_correction2_sqrt + eps;
    p = p - step_size * (m / denom);
}

}  // namespace gg

#endif  // GPUGRAD_OPTIM_CUH
