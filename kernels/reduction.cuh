// reduction.cuh: the arithmetic of vector norms (torch.linalg.vector_norm's, for the gradient
// clipping of torch.nn.utils.clip_grad_norm_), accumulated in double whatever the element type.
//
// A norm is reduced in three parts, so that a reduction split over blocks and arrays gives the
// same result in any grouping: norm_term maps an element to its contribution, norm_combine
// merges two partial results, norm_root turns the merged result into the norm.
#ifndef GPUGRAD_REDUCTION_CUH
#define GPUGRAD_REDUCTION_CUH

#include "common.cuh"

namespace gg {

// How a norm is reduced (gpugrad/kernels/reduction.py: NORM_MODES).
enum NormMode { NORM_POW = 0, NORM_SQUARE = 1, NORM_ABS = 2, NORM_MAX = 3 };

GG_HD double abs_(double x) { return x < 0 ? -x : x; }
GG_HD double pow_(double x, double p) { return pow(x, p); }

// The contribution of one element: |x|^p (x*x for p = 2, |x| for p = 1), or |x| for the
// max norm (p = inf).
GG_HD double norm_term(double x, double p, int mode) {
    if (mode == NORM_SQUARE) return x * x;
    if (mode == NORM_ABS || mode == NORM_MAX) return abs_(x);
    return pow_(abs_(x), p);
}

// Two partial results merged: a sum, or a max that keeps a NaN (as torch's norms do).
GG_HD double norm_combine(double a, double b, int mode) {
    if (mode == NORM_MAX) return (a > b || a != a) ? a : b;
    return a + b;
}

// The norm of a merged result: s^(1/p) (sqrt for p = 2), or s itself for p = 1 and inf.
GG_HD double norm_root(double s, double p, int mode) {
    if (mode == NORM_SQUARE) return sqrt(s);
    if (mode == NORM_POW) return pow_(s, 1.0 / p);
    return s;
}

// clip_grad_norm_'s factor: max_norm / (total + 1e-6), at most 1 (NaN stays NaN).
GG_HD double clip_coef(double total, double max_norm) {
    const double c = max_norm / (total + 1e-6);
    return c > 1.0 ? 1.0 : c;
}

}  // namespace gg

#endif  // GPUGRAD_REDUCTION_CUH
