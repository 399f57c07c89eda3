// conv.cuh: the index arithmetic of sliding windows (convolution and pooling), written once for
// the GPU kernels of conv.cu and for the host test that checks it against the NumPy twins of
// gpugrad/kernels/conv.py.
//
// A window geometry over one (H, W) plane: kernel (kh, kw), stride (sh, sw), padding before the
// first row and column (pt, pl), dilation (dh, dw) and the output size (oh, ow). Output position
// (r, c) with kernel tap (i, j) reads input row r*sh - pt + i*dh and column c*sw - pl + j*dw;
// a position outside [0, H) x [0, W) reads the padding value (so padding after the last row or
// column, and ceil-mode pooling's partial windows, need no size of their own).
//
// cols has the layout (N, C, kh, kw, oh, ow): for one sample and channel, each kernel tap is a
// contiguous (oh, ow) plane, so a convolution is W (OC, C*kh*kw) @ cols (C*kh*kw, oh*ow) per
// sample, and its output comes out in NCHW order.
#ifndef GPUGRAD_CONV_CUH
#define GPUGRAD_CONV_CUH

#include "common.cuh"

namespace gg {

struct Window {
    long long H, W;          // input plane
    long long kh, kw;        // kernel
    long long sh, sw;        // stride
    long long pt, pl;        // padding before the first row / column
    long long dh, dw;        // dilation
    long long oh, ow;        // output plane
};

// The input offset (h * W + w, within one plane) that element e of cols reads, or -1 for the
// padding. e indexes one (C-contiguous) plane group (kh, kw, oh, ow) of one sample and channel.
GG_HD long long window_source(const Window& g, long long e) {
    const long long c = e % g.ow;
    long long rest = e / g.ow;
    const long long r = rest % g.oh;
    rest /= g.oh;
    const long long j = rest % g.kw;
    const long long i = rest / g.kw;
    const long long h = r * g.sh - g.pt + i * g.dh;
    const long long w = c * g.sw - g.pl + j * g.dw;
    return (h >= 0 && h < g.H && w >= 0 && w < g.W) ? h * g.W + w : -1;
}

// Element e of cols (N, C, kh, kw, oh, ow), from x (N, C, H, W).
template <typename T>
GG_HD T im2col_value(const Window& g, const T* x, long long e, T pad_value) {
    const long long per_plane = g.kh * g.kw * g.oh * g.ow;
    const long long nc = e / per_plane;
    const long long src = window_source(g, e - nc * per_plane);
    return src < 0 ? pad_value : x[nc * g.H * g.W + src];
}

// Along one axis: the output index o whose kernel tap k reads input index h (o * s - p + k * d
// == h, 0 <= o < outs), or -1 when there is none.
GG_HD long long window_tap_output(long long h, long long k, long long s, long long p, long long d,
                                  long long outs) {
    const long long t = h + p - k * d;          // = o * s
    if (t < 0 || t % s != 0) return -1;
    const long long o = t / s;
    return o < outs ? o : -1;
}

// Element e of the gradient dx (N, C, H, W) from dcols (N, C, kh, kw, oh, ow): the sum over
// the kernel taps that read input position e, taps in order (i, j) (the twin adds them in the
// same order, so the two agree to the last bit).
template <typename T>
GG_HD T col2im_value(const Window& g, const T* cols, long long e) {
    typedef typename acc<T>::type A;
    const long long w = e % g.W;
    long long rest = e / g.W;
    const long long h = rest % g.H;
    const long long nc = rest / g.H;
    const T* base = cols + nc * g.kh * g.kw * g.oh * g.ow;
    A sum = A(0);
    for (long long i = 0; i < g.kh; ++i) {
        const long long r = window_tap_output(h, i, g.sh, g.pt, g.dh, g.oh);
        if (r < 0) continue;
        for (long long j = 0; j < g.kw; ++j) {
            const long long c = window_tap_output(w, j, g.sw, g.pl, g.dw, g.ow);
            if (c < 0) continue;
            sum += (A)base[((i * g.kw + j) * g.oh + r) * g.ow + c];
        }
    }
    return (T)sum;
}

}  // namespace gg

#endif  // GPUGRAD_CONV_CUH
