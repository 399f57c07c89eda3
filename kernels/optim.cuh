// optim.cuh: per-element parameter updates of SGD, Adam / AdamW, RMSprop and Adagrad, following
// PyTorch's documented algorithms (torch.optim.*, every option of their single-tensor
// implementations for real tensors).
//
// Scalars that depend only on hyper-parameters and the step count (1 - dampening, the bias
// corrections, Adagrad's decayed lr) are computed once on the host, in double, and passed in
// already rounded to T, exactly as the NumPy twins in gpugrad/kernels/optim.py round them.
#ifndef GPUGRAD_OPTIM_CUH
#define GPUGRAD_OPTIM_CUH

#include "common.cuh"

namespace gg {

// One SGD step on one element (p and buf updated in place):
//   g = -g                                        (if maximize)
//   g = g + weight_decay * p                      (if weight_decay != 0)
//   if use_momentum:
//       buf = g                                   on the first step, else
//       buf = momentum * buf + (1 - dampening) * g
//       g = g + momentum * buf  if nesterov, else  g = buf
//   p = p - lr * g
// buf is neither read nor written without momentum.
template <typename T>
GG_HD void sgd_update(T& p, T g, T& buf, T lr, T momentum, T one_minus_dampening,
                      T weight_decay, bool use_momentum, bool nesterov, bool first_step,
                      bool maximize) {
    if (maximize) g = -g;
    if (weight_decay != T(0)) g = g + weight_decay * p;
    if (use_momentum) {
        buf = first_step ? g : momentum * buf + one_minus_dampening * g;
        g = nesterov ? g + momentum * buf : buf;
    }
    p = p - lr * g;
}

// max(a, b) that propagates a NaN in either, as torch.maximum and np.maximum do.
template <typename T>
GG_HD T max_nan(T a, T b) { return (a > b || a != a) ? a : b; }

// One Adam / AdamW step on one element (p, m, v, and v_max with amsgrad, updated in place), at
// step t >= 1 (torch.optim.Adam and AdamW, amsgrad and maximize included):
//   g = -g                                        (if maximize)
//   g = g + weight_decay * p                      (Adam's L2 penalty; 0 for AdamW)
//   p = param_scale * p                           (AdamW's decoupled decay 1 - lr * wd; 1 for Adam)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   v_max = max(v_max, v)                         (if amsgrad; the denominator then uses v_max)
//   p = p - step_size * (m / (sqrt(v) / bias_correction2_sqrt + eps))
// with step_size = lr / (1 - beta1^t) and bias_correction2_sqrt = sqrt(1 - beta2^t).
// v_max is neither read nor written without amsgrad.
template <typename T>
GG_HD void adam_update(T& p, T g, T& m, T& v, T& v_max, T step_size, T beta1, T one_minus_beta1,
                       T beta2, T one_minus_beta2, T bias_correction2_sqrt, T eps,
                       T weight_decay, T param_scale, bool amsgrad, bool maximize) {
    if (maximize) g = -g;
    if (weight_decay != T(0)) g = g + weight_decay * p;
    if (param_scale != T(1)) p = p * param_scale;
    m = beta1 * m + one_minus_beta1 * g;
    v = beta2 * v + one_minus_beta2 * (g * g);
    if (amsgrad) v_max = max_nan(v_max, v);
    const T denom = sqrt_(amsgrad ? v_max : v) / bias_correction2_sqrt + eps;
    p = p - step_size * (m / denom);
}

// Capturable Adam (its steps replayed by a CUDA graph): the step count t lives on the device,
// and the two scalars above that depend on it are computed where the update runs, in double
// and then rounded to T, as adam_step computes them on the host:
//   step_size = lr / (1 - beta1^t),  bias_correction2_sqrt = sqrt(1 - beta2^t).
template <typename T>
GG_HD void adam_bias_corrections(double t, double lr, double beta1, double beta2, T& step_size,
                                 T& bias_correction2_sqrt) {
    step_size = T(lr / (1.0 - pow(beta1, t)));
    bias_correction2_sqrt = T(sqrt(1.0 - pow(beta2, t)));
}

// One RMSprop step on one element (torch.optim.RMSprop): square_avg always, grad_avg when
// centered and buf with momentum are updated in place (neither is touched otherwise):
//   g = -g                                        (if maximize)
//   g = g + weight_decay * p                      (if weight_decay != 0)
//   square_avg = alpha * square_avg + (1 - alpha) * g * g
//   grad_avg = alpha * grad_avg + (1 - alpha) * g (if centered)
//   avg = sqrt(square_avg - grad_avg^2) + eps     (centered) or sqrt(square_avg) + eps
//   buf = momentum * buf + g / avg; p = p - lr * buf      (with momentum)
//   p = p - lr * (g / avg)                                 (without)
template <typename T>
GG_HD void rmsprop_update(T& p, T g, T& square_avg, T& grad_avg, T& buf, T lr, T alpha,
                          T one_minus_alpha, T eps, T weight_decay, T momentum, bool centered,
                          bool use_momentum, bool maximize) {
    if (maximize) g = -g;
    if (weight_decay != T(0)) g = g + weight_decay * p;
    square_avg = alpha * square_avg + one_minus_alpha * (g * g);
    T avg;
    if (centered) {
        grad_avg = alpha * grad_avg + one_minus_alpha * g;
        avg = sqrt_(square_avg - grad_avg * grad_avg);
    } else {
        avg = sqrt_(square_avg);
    }
    avg = avg + eps;
    if (use_momentum) {
        buf = momentum * buf + g / avg;
        p = p - lr * buf;
    } else {
        p = p - lr * (g / avg);
    }
}

// One Adagrad step on one element (torch.optim.Adagrad; state_sum updated in place), with
// clr = lr / (1 + (t - 1) * lr_decay) at step t:
//   g = -g                                        (if maximize)
//   g = g + weight_decay * p                      (if weight_decay != 0)
//   state_sum = state_sum + g * g
//   p = p - clr * (g / (sqrt(state_sum) + eps))
template <typename T>
GG_HD void adagrad_update(T& p, T g, T& state_sum, T clr, T eps, T weight_decay, bool maximize) {
    if (maximize) g = -g;
    if (weight_decay != T(0)) g = g + weight_decay * p;
    state_sum = state_sum + g * g;
    p = p - clr * (g / (sqrt_(state_sum) + eps));
}

// ---------------------------------------------------------------------- multi-tensor launches
// One launch updates up to LIST_MAX parameters (as PyTorch's multi_tensor_apply does): the
// launch's TensorList, passed by value (about 2.5 KB of kernel parameters, under CUDA's 4 KB),
// names each parameter's D arrays (p, g, then the family's state arrays, in the single-tensor
// kernel's order) and its element count. Each block updates one chunk of LIST_CHUNK elements
// of one parameter (the last chunk of a parameter may be shorter), so a launch has
// first_block[count] blocks. LIST_CHUNK is a multiple of every Pack's length, so each chunk
// starts 16-byte aligned when its parameter does.
const int LIST_MAX = 48;
const long long LIST_CHUNK = 16384;

template <int D>
struct TensorList {
    long long ptr[D][LIST_MAX];      // ptr[j][i]: the address of array j of parameter i
    long long n[LIST_MAX];           // n[i]: its element count
    int first_block[LIST_MAX + 1];   // first_block[i]: its first block; [count]: the grid size
    int count;                       // the number of parameters in this launch
};

// Which parameter block `block` updates, and which elements: returns the parameter's index in
// `list` and sets [start, start + len) to the block's chunk. A binary search over first_block
// (the last i with first_block[i] <= block); `block` must be below first_block[count].
template <int D>
GG_HD int locate_block(const TensorList<D>& list, int block, long long& start, long long& len) {
    int lo = 0, hi = list.count - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (list.first_block[mid] <= block) lo = mid; else hi = mid - 1;
    }
    start = (long long)(block - list.first_block[lo]) * LIST_CHUNK;
    const long long left = list.n[lo] - start;
    len = left < LIST_CHUNK ? left : LIST_CHUNK;
    return lo;
}

// Array j of parameter i of a TensorList, from element `start` on.
template <typename T, int D>
GG_HD T* list_array(const TensorList<D>& list, int j, int i, long long start) {
    return reinterpret_cast<T*>(list.ptr[j][i]) + start;
}

}  // namespace gg

#endif  // GPUGRAD_OPTIM_CUH
