// layer_norm.cuh: the arithmetic of layer normalisation over the last D elements of each row,
// written once for the GPU kernels (layer_norm.cu) and for the host test, which runs the row
// functions below and compares them with the NumPy twins of gpugrad/kernels/layer_norm.py.
//
// For a row x[0..D) with mean m, variance v = mean((x - m)^2) (the biased estimate, as PyTorch)
// and rstd = 1 / sqrt(v + eps), xhat = (x - m) rstd:
//   y     = xhat w + b                                 (w = 1, b = 0 without an affine part)
//   g     = dy w,  a = mean_j g_j,  c = mean_j g_j xhat_j
//   dx    = rstd (g - a - xhat c)
//   dw_j  = sum over rows of dy_j xhat_j,   db_j = sum over rows of dy_j
// Row sums are accumulated in double (gg::wide), then rounded to T.
#ifndef GPUGRAD_LAYER_NORM_CUH
#define GPUGRAD_LAYER_NORM_CUH

#include "common.cuh"

namespace gg {

GG_HD double layer_norm_rstd(double var, double eps) {
    return 1.0 / sqrt(var + eps);
}

template <typename T>
GG_HD T layer_norm_out(T x, T mean, T rstd, T w, T b) {
    return (x - mean) * rstd * w + b;
}

template <typename T>
GG_HD T layer_norm_dx(T g, T xhat, T rstd, T a, T c) {
    return rstd * (g - a - xhat * c);
}

// One row, serially: y, and the row's mean and rstd (what the warp kernel computes).
template <typename T>
GG_HD void layer_norm_row(const T* x, const T* w, const T* b, T* y, long long D, double eps,
                          T* mean, T* rstd) {
    double sum = 0;
    for (long long j = 0; j < D; ++j) sum += (double)x[j];
    const T m = (T)(sum / (double)D);
    double sq = 0;
    for (long long j = 0; j < D; ++j) sq += (double)(x[j] - m) * (double)(x[j] - m);
    const T r = (T)layer_norm_rstd(sq / (double)D, eps);
    for (long long j = 0; j < D; ++j)
        y[j] = layer_norm_out(x[j], m, r, w ? w[j] : T(1), b ? b[j] : T(0));
    *mean = m;
    *rstd = r;
}

// One row's dx, serially.
template <typename T>
GG_HD void layer_norm_dx_row(const T* x, const T* dy, const T* w, T mean, T rstd, T* dx,
                             long long D) {
    double sg = 0, sgx = 0;
    for (long long j = 0; j < D; ++j) {
        const T g = w ? dy[j] * w[j] : dy[j];
        sg += (double)g;
        sgx += (double)g * (double)((x[j] - mean) * rstd);
    }
    const T a = (T)(sg / (double)D), c = (T)(sgx / (double)D);
    for (long long j = 0; j < D; ++j)
        dx[j] = layer_norm_dx(w ? dy[j] * w[j] : dy[j], (x[j] - mean) * rstd, rstd, a, c);
}

// The weight and bias gradients in two passes, with no atomics: first each chunk of `chunk`
// rows sums dy xhat and dy of column j into part_w / part_b[c * D + j] (in double) ...
template <typename T>
GG_HD void layer_norm_dwb_chunk(long long c, long long j, const T* x, const T* dy, const T* mean,
                                const T* rstd, double* part_w, double* part_b, long long rows,
                                long long D, long long chunk) {
    const long long end = (c + 1) * chunk < rows ? (c + 1) * chunk : rows;
    double sw = 0, sb = 0;
    for (long long r = c * chunk; r < end; ++r) {
        const T g = dy[r * D + j];
        sw += (double)g * (double)((x[r * D + j] - mean[r]) * rstd[r]);
        sb += (double)g;
    }
    part_w[c * D + j] = sw;
    part_b[c * D + j] = sb;
}

// ... then column j's chunk sums are added in order (the same bits on every run).
template <typename T>
GG_HD void layer_norm_dwb_column(long long j, const double* part_w, const double* part_b, T* dw,
                                 T* db, long long chunks, long long D) {
    double sw = 0, sb = 0;
    for (long long c = 0; c < chunks; ++c) {
        sw += part_w[c * D + j];
        sb += part_b[c * D + j];
    }
    dw[j] = (T)sw;
    db[j] = (T)sb;
}

}  // namespace gg

#endif  // GPUGRAD_LAYER_NORM_CUH
