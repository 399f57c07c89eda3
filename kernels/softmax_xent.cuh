// softmax_xent.cuh: arithmetic of softmax + cross-entropy over one row of logits.
//
// For a row x[0..C) with integer label k, with m = max_j x[j] and s = sum_j e^(x[j] - m)
// (each term computed in T, summed in double, then rounded to T):
//   p[j]  = e^(x[j] - m) / s                         softmax, saved for backward
//   loss  = log(s) - (x[k] - m)  (= -log p[k])       log-sum-exp, stable for any logits
//   dx[j] = (p[j] - [j == k]) * gloss / B            backward of the batch-mean loss
// The GPU kernel (softmax_xent.cu) reduces m and s across a warp; softmax_xent_row below does
// the same row serially for the host test. The NumPy twin evaluates the same expressions.
#ifndef GPUGRAD_SOFTMAX_XENT_CUH
#define GPUGRAD_SOFTMAX_XENT_CUH

#include "common.cuh"

namespace gg {

// Whether label indexes a class of a row of C logits. A bad label cannot raise on the GPU
// without a host sync, so it makes that row's loss NaN instead (and the mean with it).
GG_HD bool xent_label_ok(long long label, long long C) {
    return label >= 0 && label < C;
}

// p = e^(x - m) / s
template <typename T>
GG_HD T softmax_prob(T x, T m, T s) {
    return exp_(x - m) / s;
}

// loss = log(s) - (x_label - m)
template <typename T>
GG_HD T xent_loss(T m, T s, T x_label) {
    return log_(s) - (x_label - m);
}

// dx = (p - [is_label]) * scale, with scale = gloss / B
template <typename T>
GG_HD T xent_grad(T p, bool is_label, T scale) {
    return (is_label ? p - T(1) : p) * scale;
}

// One row, serially: writes p[0..C) and returns the row's loss (NaN for a bad label).
template <typename T>
GG_HD T softmax_xent_row(const T* x, long long C, long long label, T* p) {
    T m = x[0];
    for (long long j = 1; j < C; ++j) m = x[j] > m ? x[j] : m;
    typename wide<T>::type sum = 0;
    for (long long j = 0; j < C; ++j) sum += exp_(x[j] - m);
    const T s = (T)sum;
    for (long long j = 0; j < C; ++j) p[j] = softmax_prob(x[j], m, s);
    return xent_label_ok(label, C) ? xent_loss(m, s, x[label]) : quiet_nan(m);
}

}  // namespace gg

#endif  // GPUGRAD_SOFTMAX_XENT_CUH
