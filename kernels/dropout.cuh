// dropout.cuh: the keep-or-drop decision of dropout, written once for the GPU kernel
// (dropout.cu; float16 goes through it in float32) and for the host test
// that checks it against the NumPy twin.
//
// The mask is a counter-based hash, as PyTorch's Philox masks are: element `index` of a call
// keyed (a, b) is kept when mix32(lo * a + (b ^ mix32(hi))) >= threshold, where lo and hi are
// the index's low and high 32 bits, a is odd (so lo -> lo * a + c is a bijection: every call
// walks the hash in an order of its own) and threshold = round(p * 2^32). mix32 is Chris
// Wellons' lowbias32 finalizer (full avalanche, bias 0.17). Nothing is stored: the backward
// recomputes the same mask from the same key, and the CPU and the GPU draw the same masks.
#ifndef GPUGRAD_DROPOUT_CUH
#define GPUGRAD_DROPOUT_CUH

#include "common.cuh"

namespace gg {

GG_HD unsigned int mix32(unsigned int h) {
    h ^= h >> 16;
    h *= 0x7feb352dU;
    h ^= h >> 15;
    h *= 0x846ca68bU;
    h ^= h >> 16;
    return h;
}

GG_HD bool dropout_keep(long long index, unsigned int a, unsigned int b, unsigned int threshold) {
    const unsigned long long u = (unsigned long long)index;
    const unsigned int lo = (unsigned int)(u & 0xffffffffULL);
    const unsigned int hi = (unsigned int)(u >> 32);
    return mix32(lo * a + (b ^ mix32(hi))) >= threshold;
}

// y = x * scale where kept, else exactly 0 (a select: a dropped NaN or inf gives 0).
template <typename T>
GG_HD T dropout_value(T x, long long index, unsigned int a, unsigned int b,
                      unsigned int threshold, T scale) {
    return dropout_keep(index, a, b, threshold) ? x * scale : T(0);
}

}  // namespace gg

#endif  // GPUGRAD_DROPOUT_CUH
