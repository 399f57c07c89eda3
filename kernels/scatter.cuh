// scatter.cuh: a deterministic scatter-add of rows, out[keys[i]] += src[i], without atomics.
//
// The n source rows (each `width` wide) are visited in the order of their target row: keys is
// that order's target rows (sorted, a stable sort of the indices) and order[j] the source row
// of sorted position j. The sorted positions are cut into chunks of `chunk` positions, and the
// sum of a target row is taken in two passes, each a function of one (chunk, column) pair:
//   scatter_chunk: the runs of equal keys inside the chunk; a run that is the whole of its
//       target's positions is written to out, the first run of a chunk that continues a
//       target from the chunk before goes to head[chunk], the last run of one that goes on
//       into the next chunk to tail[chunk];
//   scatter_merge: for a chunk where such a target starts, its tail plus the heads of the
//       chunks it continues into, in order, written to out.
// So every target row is summed in one fixed order (chunk by chunk, position by position):
// the same bits on every run, and no thread sums more than `chunk` rows in the first pass or
// one partial sum per chunk in the second. A key equal to `skip` (embedding's padding_idx) or
// outside [0, rows) leaves its row alone (out is zero-filled by the caller); with `mean` each
// row is divided by the number of its sources (embedding's scale_grad_by_freq).
#ifndef GPUGRAD_SCATTER_CUH
#define GPUGRAD_SCATTER_CUH

#include "common.cuh"

namespace gg {

GG_HD bool scatter_keeps(long long row, long long rows, long long skip) {
    return row >= 0 && row < rows && row != skip;
}

template <typename T>
GG_HD void scatter_chunk(long long c, long long d, const long long* keys, const long long* order,
                         const T* src, T* out, T* head, T* tail, long long n, long long width,
                         long long chunk, long long rows, long long skip, int mean) {
    typedef typename acc<T>::type A;
    const long long lo = c * chunk;
    const long long hi = lo + chunk < n ? lo + chunk : n;
    long long j = lo;
    while (j < hi) {
        const long long row = keys[j], start = j;
        A sum = A(0);
        for (; j < hi && keys[j] == row; ++j) sum += (A)src[order[j] * width + d];
        const bool from_before = start == lo && lo > 0 && keys[lo - 1] == row;
        const bool into_next = j == hi && hi < n && keys[hi] == row;
        if (from_before) {
            head[c * width + d] = (T)sum;
        } else if (into_next) {
            tail[c * width + d] = (T)sum;
        } else if (scatter_keeps(row, rows, skip)) {
            out[row * width + d] = mean ? (T)(sum / (A)(j - start)) : (T)sum;
        }
    }
}

template <typename T>
GG_HD void scatter_merge(long long c, long long d, const long long* keys, T* out, const T* head,
                         const T* tail, long long n, long long width, long long chunk,
                         long long rows, long long skip, int mean) {
    typedef typename acc<T>::type A;
    const long long lo = c * chunk;
    const long long hi = lo + chunk < n ? lo + chunk : n;
    if (hi >= n || keys[hi - 1] != keys[hi]) return;      // no target goes on past this chunk
    const long long row = keys[hi - 1];
    if ((lo > 0 && keys[lo - 1] == row) || !scatter_keeps(row, rows, skip)) return;
    long long start = hi - 1;                             // where the target starts here
    while (start > lo && keys[start - 1] == row) --start;
    long long count = hi - start;
    A sum = (A)tail[c * width + d];
    for (long long next = c + 1;; ++next) {
        const long long nlo = next * chunk;
        const long long nhi = nlo + chunk < n ? nlo + chunk : n;
        sum += (A)head[next * width + d];
        if (nhi < n && keys[nhi] == row) {                // the whole chunk, and on
            count += nhi - nlo;
            continue;
        }
        long long end = nlo;
        while (end < nhi && keys[end] == row) ++end;
        count += end - nlo;
        break;
    }
    out[row * width + d] = mean ? (T)(sum / (A)count) : (T)sum;
}

}  // namespace gg

#endif  // GPUGRAD_SCATTER_CUH
