// normalization.cuh: the per-element arithmetic of batch normalisation, written once for the
// GPU (the ElementwiseKernels of gpugrad/kernels/normalization.py, which broadcast the
// per-channel values over the batch and the spatial axes) and for the host test that checks it
// against the NumPy twins.
#ifndef GPUGRAD_NORMALIZATION_CUH
#define GPUGRAD_NORMALIZATION_CUH

#include "common.cuh"

namespace gg {

// y = (x - mean) * scale + shift, scale = weight / sqrt(var + eps), shift = bias.
template <typename T>
GG_HD T batch_norm_apply(T x, T mean, T scale, T shift) {
    return (x - mean) * scale + shift;
}

// dx = x * b + c + dy * a: the batch-statistics backward with its per-channel coefficients
// folded (a = weight * invstd, b = -a * invstd * Σ(dy x̂) / n, c = -a * Σ dy / n - mean * b).
template <typename T>
GG_HD T batch_norm_grad(T x, T dy, T a, T b, T c) {
    return (x * b + c) + dy * a;
}

}  // namespace gg

#endif  // GPUGRAD_NORMALIZATION_CUH
