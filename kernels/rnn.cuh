// rnn.cuh: the per-element arithmetic of one LSTM step's gates, written once for the GPU
// (the ElementwiseKernels lstm_cell_fwd / lstm_cell_bwd of gpugrad/kernels/rnn.py) and for the
// host test that checks it against the NumPy twins.
//
// Inputs per element (batch row b, hidden unit j): the pre-activations of the four gates in
// PyTorch's order, gi, gf, gg, go (x W_ih^T + b_ih + h W_hh^T + b_hh, columns j, H + j, 2H + j,
// 3H + j), and the previous cell state c_prev. The backward takes the same inputs (nothing but
// the inputs is saved: the activations are recomputed, which is cheaper than storing them).
#ifndef GPUGRAD_RNN_CUH
#define GPUGRAD_RNN_CUH

#include "common.cuh"
#include "activations.cuh"

namespace gg {

// i = σ(gi), f = σ(gf), g = tanh(gg), o = σ(go);  c = f c_prev + i g;  h = o tanh(c).
template <typename T>
GG_HD void lstm_cell_fwd(T gi, T gf, T gg, T go, T c_prev, T& h, T& c) {
    const T i = sigmoid_fwd(gi), f = sigmoid_fwd(gf), g = tanh_(gg), o = sigmoid_fwd(go);
    c = f * c_prev + i * g;
    h = o * tanh_(c);
}

// From dh, dc (the gradients of h and c): s = dc + dh o (1 - tanh²c), the whole gradient of c;
// dgi = s g i(1-i), dgf = s c_prev f(1-f), dgg = s i (1-g²), dgo = dh tanh(c) o(1-o),
// dc_prev = s f.
template <typename T>
GG_HD void lstm_cell_bwd(T gi, T gf, T gg, T go, T c_prev, T dh, T dc, T& dgi, T& dgf,
                         T& dgg, T& dgo, T& dc_prev) {
    const T i = sigmoid_fwd(gi), f = sigmoid_fwd(gf), g = tanh_(gg), o = sigmoid_fwd(go);
    const T tc = tanh_(f * c_prev + i * g);
    const T s = dc + dh * (o * (T(1) - tc * tc));
    dgi = s * (g * (i * (T(1) - i)));
    dgf = s * (c_prev * (f * (T(1) - f)));
    dgg = s * (i * (T(1) - g * g));
    dgo = dh * (tc * (o * (T(1) - o)));
    dc_prev = s * f;
}

// GRU (PyTorch's gates r, z, n): from the input projection's parts xr, xz, xn (x W_ih^T +
// b_ih) and the hidden projection's hr, hz, hn (h W_hh^T + b_hh) and h:
// r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r hn), h' = n + z (h - n).
template <typename T>
GG_HD T gru_cell_fwd(T xr, T xz, T xn, T hr, T hz, T hn, T h) {
    const T r = sigmoid_fwd(xr + hr), z = sigmoid_fwd(xz + hz), n = tanh_(xn + r * hn);
    return n + z * (h - n);
}

// From dh' (the gradient of h'): pn = dh' (1-z)(1-n²) (of xn + r hn), pz = dh' (h-n) z(1-z),
// pr = pn hn r(1-r); d xr = d hr = pr, d xz = d hz = pz, d xn = pn, d hn = pn r, d h = dh' z.
template <typename T>
GG_HD void gru_cell_bwd(T xr, T xz, T xn, T hr, T hz, T hn, T h, T dy, T& dr, T& dz, T& dxn,
                        T& dhn, T& dh) {
    const T r = sigmoid_fwd(xr + hr), z = sigmoid_fwd(xz + hz), n = tanh_(xn + r * hn);
    const T pn = dy * ((T(1) - z) * (T(1) - n * n));
    dr = pn * (hn * (r * (T(1) - r)));
    dz = dy * ((h - n) * (z * (T(1) - z)));
    dxn = pn;
    dhn = pn * r;
    dh = dy * z;
}

}  // namespace gg

#endif  // GPUGRAD_RNN_CUH
