// softmax_xent.cu: softmax + cross-entropy over a batch of logits, forward and backward.
// The arithmetic is in softmax_xent.cuh. Launch both with 256 threads per block.
//
//   softmax_xent_fwd_S(const T* logits, const long long* labels, T* probs, T* loss_rows,
//                      long long B, long long C)
//       logits: C-contiguous (B, C), C >= 1; labels: (B,) int64.
//       One warp per row (grid-stride over rows): the warp reduces the row's max m and
//       s = sum e^(x - m) (in double) with shuffles, writes probs[row] = e^(x - m) / s and
//       loss_rows[row] = log(s) - (x[label] - m), or NaN for a label outside [0, C).
//       The batch mean is left to the caller (one reduction over B values).
//
//   softmax_xent_bwd_S(const T* probs, const long long* labels, const T* gloss, T* dx,
//                      long long B, long long C)
//       dx = (probs - onehot(labels)) * gloss[0] / B over the C-contiguous (B, C) arrays,
//       16-byte aligned (through gg::map_packs: vectorised with a scalar tail). gloss is a
//       device scalar, so the upstream gradient of the mean loss never has to visit the host.
#include "common.cuh"
#include "softmax_xent.cuh"

namespace {

template <typename T>
__device__ __forceinline__ void softmax_xent_fwd_rows(const T* logits, const long long* labels,
                                                      T* probs, T* loss_rows, long long B,
                                                      long long C) {
    const int lane = threadIdx.x & 31;
    const long long warps_per_block = blockDim.x >> 5;
    const long long row_stride = (long long)gridDim.x * warps_per_block;
    // The row loop is uniform across a warp, so all 32 lanes reach every shuffle.
    for (long long row = blockIdx.x * warps_per_block + (threadIdx.x >> 5); row < B;
         row += row_stride) {
        const T* x = logits + row * C;
        T* p = probs + row * C;
        T m = x[0];
        for (long long j = lane; j < C; j += 32) m = x[j] > m ? x[j] : m;
        m = gg::warp_max(m);
        typename gg::wide<T>::type sum = 0;
        for (long long j = lane; j < C; j += 32) sum += gg::exp_(x[j] - m);
        const T s = (T)gg::warp_sum(sum);
        for (long long j = lane; j < C; j += 32) p[j] = gg::softmax_prob(x[j], m, s);
        if (lane == 0) {
            const long long label = labels[row];
            loss_rows[row] = gg::xent_label_ok(label, C) ? gg::xent_loss(m, s, x[label])
                                                         : gg::quiet_nan(m);
        }
    }
}

}  // namespace

#define GG_SOFTMAX_XENT_KERNELS(T, S)                                                        \
    extern "C" __global__ void __launch_bounds__(256) softmax_xent_fwd_##S(                  \
        const T* logits, const long long* labels, T* probs, T* loss_rows, long long B,       \
        long long C) {                                                                       \
        softmax_xent_fwd_rows(logits, labels, probs, loss_rows, B, C);                       \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(256) softmax_xent_bwd_##S(                  \
        const T* probs, const long long* labels, const T* gloss, T* dx, long long B,         \
        long long C) {                                                                       \
        const T scale = gloss[0] / (T)B;                                                     \
        const T* in[1] = {probs};                                                            \
        T* out[1] = {dx};                                                                    \
        gg::map_packs(B * C, in, out, 0u, 1u, [=](long long e, const T (&x)[1], T (&y)[1]) { \
            const long long r = e / C;                                                       \
            y[0] = gg::xent_grad(x[0], e - r * C == labels[r], scale);                       \
        });                                                                                  \
    }

GG_SOFTMAX_XENT_KERNELS(float, f32)
GG_SOFTMAX_XENT_KERNELS(double, f64)

#undef GG_SOFTMAX_XENT_KERNELS
