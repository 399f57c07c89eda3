// pointwise.cuh: per-element arithmetic of the activations with a smooth or parametric form,
// written once for the GPU kernels (pointwise.cu, and the ElementwiseKernels of
// gpugrad/kernels/pointwise.py) and for the host test that checks it against the NumPy twins.
// Each has a forward y = f(x) and a backward dx = dy f'(x) from the saved input x; the
// formulas are PyTorch's (aten/src/ATen/native/cpu/Activation.cpp), with two parameters a and
// b where an activation has them:
//   GELU         y = x Phi(x) = x erfc(-x / sqrt 2) / 2        dx = dy (Phi(x) + x phi(x))
//   GELU (tanh)  y = x (1 + tanh u) / 2, u = k (x + c x^3)     k = sqrt(2 / pi), c = 0.044715
//   SiLU         y = x / (1 + e^-x)                            dx = dy s (1 + x (1 - s)), s = sigmoid x
//   ELU(a)       y = x for x > 0, else a (e^x - 1)            dx = dy, or dy a e^x
//   Softplus(a = beta, b = threshold)
//                y = x where a x > b, else log(1 + e^(a x)) / a   dx = dy, or dy z / (z + 1), z = e^(a x)
//   LeakyReLU(a) y = x for x > 0, else a x                    dx = dy, or dy a
#ifndef GPUGRAD_POINTWISE_CUH
#define GPUGRAD_POINTWISE_CUH

#include "common.cuh"

namespace gg {

// Codes shared with POINTWISE_CODES in gpugrad/kernels/pointwise.py.
enum { PW_GELU = 0, PW_GELU_TANH = 1, PW_SILU = 2, PW_ELU = 3, PW_SOFTPLUS = 4, PW_LEAKY_RELU = 5 };

template <typename T>
GG_HD T gelu_cdf(T x) {  // Phi(x) = erfc(-x / sqrt 2) / 2, accurate in the left tail too
    return T(0.5) * erfc_(-x * T(0.70710678118654752440));
}

template <typename T>
GG_HD T gelu_tanh_inner(T x) {
    return T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
}

template <typename T>
GG_HD T pointwise_fwd(int code, T x, T a, T b) {
    switch (code) {
        case PW_GELU: return x * gelu_cdf(x);
        case PW_GELU_TANH: return T(0.5) * x * (T(1) + tanh_(gelu_tanh_inner(x)));
        case PW_SILU: return x / (T(1) + exp_(-x));
        case PW_ELU: return x > T(0) ? x : a * expm1_(x);
        case PW_SOFTPLUS: return a * x > b ? x : log1p_(exp_(a * x)) / a;
        default: return x > T(0) ? x : a * x;  // PW_LEAKY_RELU
    }
}

template <typename T>
GG_HD T pointwise_bwd(int code, T x, T dy, T a, T b) {
    switch (code) {
        case PW_GELU: {
            const T pdf = exp_(T(-0.5) * x * x) * T(0.39894228040143267794);
            return dy * (gelu_cdf(x) + x * pdf);
        }
        case PW_GELU_TANH: {
            const T t = tanh_(gelu_tanh_inner(x));
            const T du = T(0.79788456080286535588) * (T(1) + T(3) * T(0.044715) * x * x);
            return dy * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du);
        }
        case PW_SILU: {
            const T s = T(1) / (T(1) + exp_(-x));
            return dy * (s * (T(1) + x * (T(1) - s)));
        }
        case PW_ELU: return x > T(0) ? dy : dy * (a * exp_(x));
        case PW_SOFTPLUS: {
            if (a * x > b) return dy;
            const T z = exp_(a * x);
            return dy * z / (z + T(1));
        }
        default: return x > T(0) ? dy : dy * a;  // PW_LEAKY_RELU
    }
}

}  // namespace gg

#endif  // GPUGRAD_POINTWISE_CUH
