// activations.cuh: per-element arithmetic of the activation gates, written once for the GPU
// kernels (activations.cu, and the ElementwiseKernels of gpugrad/kernels/activations.py) and
// for the host test that checks it against the NumPy twins.
//
// The backward functions take the saved *output* y, not the input x: the forward pass keeps
// only y, and both gates' local derivatives are functions of y.
#ifndef GPUGRAD_ACTIVATIONS_CUH
#define GPUGRAD_ACTIVATIONS_CUH

#include "common.cuh"

namespace gg {

// Activation codes shared with ACTIVATION_CODES in gpugrad/kernels/activations.py.
enum { ACT_NONE = 0, ACT_RELU = 1, ACT_SIGMOID = 2 };

// Below this x, e^-x would overflow T's range in 1 / (1 + e^-x) (e^80 and e^700 are finite).
GG_HD float sigmoid_exp_limit(float) { return -80.0f; }
GG_HD double sigmoid_exp_limit(double) { return -700.0; }

// y = 1 / (1 + e^-x), without overflow for any x.
// For x below the limit e^x is so small that 1 + e^x rounds to 1 in T, so there
// y = e^x / (1 + e^x) = e^x exactly; elsewhere the plain formula is accurate to a few ulp.
// NaN gives NaN, +inf gives 1, -inf gives 0.
template <typename T>
GG_HD T sigmoid_fwd(T x) {
    return x < sigmoid_exp_limit(x) ? exp_(x) : T(1) / (T(1) + exp_(-x));
}

// dx = dy * y * (1 - y), from the saved output y (the sigmoid gate's shortcut).
template <typename T>
GG_HD T sigmoid_bwd(T y, T dy) {
    return dy * (y * (T(1) - y));
}

// y = max(x, 0); NaN passes through, and -0.0 gives +0.0.
template <typename T>
GG_HD T relu_fwd(T x) {
    return x <= T(0) ? T(0) : x;
}

// dx = dy where y > 0, else 0 (the saved output y is > 0 exactly where x > 0).
// A select, not a product: dy = NaN or inf where y == 0 still gives 0.
template <typename T>
GG_HD T relu_bwd(T y, T dy) {
    return y > T(0) ? dy : T(0);
}

// act(x) for an activation code (ACT_NONE, ACT_RELU, ACT_SIGMOID).
template <typename T>
GG_HD T activation_fwd(int act, T x) {
    return act == ACT_RELU ? relu_fwd(x) : act == ACT_SIGMOID ? sigmoid_fwd(x) : x;
}

// y = act(z + b): the affine layer's bias add fused with its activation.
template <typename T>
GG_HD T bias_act_fwd(int act, T z, T b) {
    return activation_fwd(act, z + b);
}

}  // namespace gg

#endif  // GPUGRAD_ACTIVATIONS_CUH
