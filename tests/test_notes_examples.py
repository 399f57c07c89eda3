"""Every worked example of the lecture notes (shared/seeds/00*.txt), with the notes' numbers.

Each test builds the notes' graph with gpugrad, runs one backward pass and checks the values the
notes print (to the notes' precision) and, where the notes give a closed form (sigmoid shortcut,
Affine backward, 2 q xᵀ, ...), that the autograd result equals it to float precision.
Every test runs on the CPU, and on CUDA too where there is a device.
"""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F


def T(value, device, dtype=gg.float64, requires_grad=True):
    """A leaf tensor (float64 unless asked otherwise) on ``device``."""
    return gg.tensor(value, dtype=dtype, device=device, requires_grad=requires_grad)


def npy(t):
    """A tensor's values (or its .grad's) as a float64 NumPy array."""
    assert t is not None, "expected a tensor, got None (no gradient reached this leaf?)"
    return np.asarray(t.numpy(), dtype=np.float64)


# --------------------------------------------------------------------------- note 003: (x+y)z

def test_simple_graph_x_plus_y_times_z(device):
    """f(x,y,z) = (x+y)z at (-2, 5, -4): f = -12; PyTorch prints tensor(-4.) tensor(-4.) tensor(3.)."""
    x = gg.tensor(-2.0, device=device, requires_grad=True)
    y = gg.tensor(5.0, device=device, requires_grad=True)
    z = gg.tensor(-4.0, device=device, requires_grad=True)
    q = x + y
    q.retain_grad()
    f = q * z
    assert f.item() == -12.0
    assert q.item() == 3.0
    f.backward()
    assert x.grad.item() == -4.0
    assert y.grad.item() == -4.0
    assert z.grad.item() == 3.0          # df/dz = q
    assert q.grad.item() == -4.0         # df/dq = z (upstream of the add gate)
    assert x.grad.dtype == np.float32 and x.grad.shape == x.shape == ()
    if device == "cpu":
        assert (repr(x.grad), repr(y.grad), repr(z.grad)) == ("tensor(-4.)", "tensor(-4.)", "tensor(3.)")


def test_simple_graph_local_gradient_dq_dx_is_one(device):
    """The local gradient of the add node: dq/dx = dq/dy = 1, so df/dx = df/dq * 1."""
    x = gg.tensor(-2.0, device=device, requires_grad=True)
    y = gg.tensor(5.0, device=device, requires_grad=True)
    q = x + y
    q.backward()
    assert x.grad.item() == 1.0 and y.grad.item() == 1.0


# --------------------------------------------------------------------------- notes 002/003: the sigmoid graph

W_NEURON = (2.0, -3.0, -3.0)
X_NEURON = (-1.0, -2.0)


def _neuron_leaves(device, dtype=gg.float32):
    w = [gg.tensor(v, dtype=dtype, device=device, requires_grad=True) for v in W_NEURON]
    x = [gg.tensor(v, dtype=dtype, device=device, requires_grad=True) for v in X_NEURON]
    return w, x


def _shortcut_grads():
    """The sigmoid-gate shortcut: dσ/ds = (1-σ)σ, times the other input of each mul gate."""
    w0, w1, w2 = W_NEURON
    x0, x1 = X_NEURON
    s = w0 * x0 + w1 * x1 + w2
    sig = 1.0 / (1.0 + np.exp(-s))
    ds = (1.0 - sig) * sig
    return sig, np.array([ds * x0, ds * x1, ds]), np.array([ds * w0, ds * w1])


def test_sigmoid_graph_node_by_node(device):
    """f = 1/(1+exp(-(w0 x0 + w1 x1 + w2))): forward 0.73; backward through 1/x (at 1.37),
    +1, exp, *-1 gives -0.53, -0.53, -0.20, 0.20; then w = (-0.20, -0.39, 0.20), x = (0.39, -0.59)."""
    (w0, w1, w2), (x0, x1) = _neuron_leaves(device)
    s = w0 * x0 + w1 * x1 + w2
    neg = s * -1.0
    e = neg.exp()
    d = e + 1.0
    f = 1.0 / d
    for t in (s, neg, e, d):
        t.retain_grad()
    assert round(s.item(), 2) == 1.0
    assert round(neg.item(), 2) == -1.0
    assert round(e.item(), 2) == 0.37
    assert round(d.item(), 2) == 1.37
    assert round(f.item(), 2) == 0.73

    f.backward()
    assert round(d.grad.item(), 2) == -0.53     # 1/x gate: -1/1.37² * 1.00
    assert round(e.grad.item(), 2) == -0.53     # +1 gate passes it on
    assert round(neg.grad.item(), 2) == -0.20   # exp gate: -0.53 * e^-1
    assert round(s.grad.item(), 2) == 0.20      # *-1 gate
    assert [round(t.grad.item(), 2) for t in (w0, w1, w2)] == [-0.20, -0.39, 0.20]
    assert [round(t.grad.item(), 2) for t in (x0, x1)] == [0.39, -0.59]

    # exactly the sigmoid-gate shortcut (1-σ)σ, times the inputs
    sig, gw, gx = _shortcut_grads()
    np.testing.assert_allclose(f.item(), sig, rtol=0, atol=1e-6)
    np.testing.assert_allclose(s.grad.item(), (1 - sig) * sig, rtol=0, atol=1e-6)
    np.testing.assert_allclose([t.grad.item() for t in (w0, w1, w2)], gw, rtol=0, atol=1e-6)
    np.testing.assert_allclose([t.grad.item() for t in (x0, x1)], gx, rtol=0, atol=1e-6)


def test_sigmoid_graph_grouped_sigmoid_gate_gives_the_same_grads(device):
    """The notes' point: group the four gates into one sigmoid gate; the gradients do not change."""
    (w0, w1, w2), (x0, x1) = _neuron_leaves(device)
    f_nodes = 1.0 / ((-(w0 * x0 + w1 * x1 + w2)).exp() + 1.0)
    f_nodes.backward()
    by_nodes = [t.grad.item() for t in (w0, w1, w2, x0, x1)]

    (v0, v1, v2), (u0, u1) = _neuron_leaves(device)
    s = v0 * u0 + v1 * u1 + v2
    s.retain_grad()
    f_gate = gg.sigmoid(s)
    np.testing.assert_allclose(f_gate.item(), f_nodes.item(), rtol=0, atol=1e-6)
    f_gate.backward()
    by_gate = [t.grad.item() for t in (v0, v1, v2, u0, u1)]
    np.testing.assert_allclose(by_gate, by_nodes, rtol=0, atol=1e-6)
    sig, gw, gx = _shortcut_grads()
    np.testing.assert_allclose(s.grad.item(), (1 - sig) * sig, rtol=0, atol=1e-6)
    np.testing.assert_allclose(by_gate, np.concatenate([gw, gx]), rtol=0, atol=1e-6)


def test_sigmoid_graph_vectorised(device):
    """The same neuron with w (3,) and x (2,) tensors and the Tensor.sigmoid method."""
    w = T(list(W_NEURON), device)
    x = T(list(X_NEURON), device)
    f = ((w[:2] * x).sum() + w[2]).sigmoid()
    f.backward()
    sig, gw, gx = _shortcut_grads()
    np.testing.assert_allclose(f.item(), sig, rtol=1e-12)
    np.testing.assert_allclose(npy(w.grad), gw, rtol=1e-12)
    np.testing.assert_allclose(npy(x.grad), gx, rtol=1e-12)
    np.testing.assert_allclose(np.round(npy(w.grad), 2), [-0.20, -0.39, 0.20])
    np.testing.assert_allclose(np.round(npy(x.grad), 2), [0.39, -0.59])


# --------------------------------------------------------------------------- note 002: f = ||W x||²

@pytest.mark.parametrize("x_shape", [(2,), (2, 1)], ids=["x-vector", "x-column"])
def test_vectorised_l2_example(device, x_shape):
    """W = [[0.1, 0.5], [-0.3, 0.8]], x = [0.2, 0.4]: q = Wx = [0.22, 0.26], f = 0.116,
    df/dq = 2q = [0.44, 0.52], df/dW = 2 q xᵀ, df/dx = 2 Wᵀ q."""
    W = T([[0.1, 0.5], [-0.3, 0.8]], device)
    x = T(np.array([0.2, 0.4]).reshape(x_shape), device)
    q = W @ x
    q.retain_grad()
    f = (q * q).sum()
    np.testing.assert_allclose(npy(q).reshape(-1), [0.22, 0.26], rtol=1e-12)
    assert q.shape == x_shape
    np.testing.assert_allclose(f.item(), 0.116, rtol=1e-12)
    f.backward()
    np.testing.assert_allclose(npy(q.grad).reshape(-1), [0.44, 0.52], rtol=1e-12)
    np.testing.assert_allclose(npy(W.grad), [[0.088, 0.176], [0.104, 0.208]], rtol=1e-12)
    np.testing.assert_allclose(npy(x.grad).reshape(-1), [-0.112, 0.636], rtol=1e-12)
    assert W.grad.shape == (2, 2) and x.grad.shape == x_shape
    # the closed forms of the notes
    Wn, xn, qn = npy(W), npy(x).reshape(2, 1), npy(q).reshape(2, 1)
    np.testing.assert_allclose(npy(W.grad), 2 * qn @ xn.T, rtol=1e-12)
    np.testing.assert_allclose(npy(x.grad).reshape(2, 1), 2 * Wn.T @ qn, rtol=1e-12)


def test_l2_example_with_the_norm_squared_written_as_pow(device):
    """The same L2 node written as (q ** 2).sum(): identical gradients."""
    W = T([[0.1, 0.5], [-0.3, 0.8]], device)
    x = T([0.2, 0.4], device)
    f = ((W @ x) ** 2).sum()
    f.backward()
    np.testing.assert_allclose(f.item(), 0.116, rtol=1e-12)
    np.testing.assert_allclose(npy(W.grad), [[0.088, 0.176], [0.104, 0.208]], rtol=1e-12)
    np.testing.assert_allclose(npy(x.grad), [-0.112, 0.636], rtol=1e-12)


# --------------------------------------------------------------------------- note 001: the Affine layer

def _affine_data(seed, n=2):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 2)), rng.standard_normal((2, 3)), rng.standard_normal(3),
            rng.standard_normal((n, 3)))


@pytest.mark.parametrize("form", ["F.linear", "X@W+b"])
def test_affine_backward(device, form):
    """Y = XW + B with X (2x2), W (2x3): dX = dY Wᵀ, dW = Xᵀ dY, dB = Σ_batch dY."""
    Xn, Wn, Bn, dYn = _affine_data(1)
    X, W, B = T(Xn, device), T(Wn, device), T(Bn, device)
    Y = F.linear(X, W, B) if form == "F.linear" else X @ W + B
    assert Y.shape == (2, 3)
    np.testing.assert_allclose(npy(Y), Xn @ Wn + Bn, rtol=1e-12)
    Y.backward(gg.tensor(dYn, device=device))
    np.testing.assert_allclose(npy(X.grad), dYn @ Wn.T, rtol=1e-12)
    np.testing.assert_allclose(npy(W.grad), Xn.T @ dYn, rtol=1e-12)
    np.testing.assert_allclose(npy(B.grad), dYn.sum(axis=0), rtol=1e-12)
    assert (X.grad.shape, W.grad.shape, B.grad.shape) == ((2, 2), (2, 3), (3,))


def test_affine_backward_element_by_element(device):
    """The notes' derivation: dL/dx11 = Σ_j dL/dy1j w1j, and likewise every element of dX and dW."""
    Xn, Wn, Bn, dYn = _affine_data(2)
    X, W, B = T(Xn, device), T(Wn, device), T(Bn, device)
    F.linear(X, W, B).backward(gg.tensor(dYn, device=device))
    gX, gW = npy(X.grad), npy(W.grad)
    # (1,1) element, written out as in the notes
    expected_x11 = dYn[0, 0] * Wn[0, 0] + dYn[0, 1] * Wn[0, 1] + dYn[0, 2] * Wn[0, 2]
    np.testing.assert_allclose(gX[0, 0], expected_x11, rtol=1e-12)
    for i in range(2):
        for k in range(2):
            np.testing.assert_allclose(gX[i, k], sum(dYn[i, j] * Wn[k, j] for j in range(3)), rtol=1e-12)
    for k in range(2):
        for j in range(3):
            np.testing.assert_allclose(gW[k, j], sum(Xn[i, k] * dYn[i, j] for i in range(2)), rtol=1e-12)


def test_affine_as_nn_linear_layer(device):
    """nn.Linear holds W of shape (in, out) as in the notes; its grads follow the same formulas."""
    Xn, _, _, dYn = _affine_data(3, n=5)
    layer = nn.Linear(2, 3, device=device, dtype=np.float64)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (3,)
    X = T(Xn, device)
    layer(X).backward(gg.tensor(dYn, device=device))
    Wn = npy(layer.weight)
    np.testing.assert_allclose(npy(X.grad), dYn @ Wn.T, rtol=1e-12)
    np.testing.assert_allclose(npy(layer.weight.grad), Xn.T @ dYn, rtol=1e-12)
    np.testing.assert_allclose(npy(layer.bias.grad), dYn.sum(axis=0), rtol=1e-12)


# --------------------------------------------------------------------------- notes 000/003: gate patterns

def test_add_gate_distributes(device):
    """Both inputs of an add gate get the upstream gradient unchanged."""
    a = T([1.0, -2.0, 3.0], device)
    b = T([4.0, 5.0, -6.0], device)
    g = np.array([0.5, -1.5, 2.0])
    (a + b).backward(gg.tensor(g, device=device))
    np.testing.assert_array_equal(npy(a.grad), g)
    np.testing.assert_array_equal(npy(b.grad), g)


def test_mul_gate_swaps(device):
    """da = g * b, db = g * a."""
    an, bn, g = np.array([3.0, -1.0, 2.0]), np.array([-4.0, 0.5, 7.0]), np.array([2.0, -3.0, 0.25])
    a, b = T(an, device), T(bn, device)
    (a * b).backward(gg.tensor(g, device=device))
    np.testing.assert_array_equal(npy(a.grad), g * bn)
    np.testing.assert_array_equal(npy(b.grad), g * an)


def test_copy_gate_adds(device):
    """x used twice: f = x*y + x*z gives dx = y + z (and dy = x, dz = x)."""
    x = T(3.0, device)
    y = T(-4.0, device)
    z = T(2.5, device)
    (x * y + x * z).backward()
    assert x.grad.item() == -1.5
    assert y.grad.item() == 3.0 and z.grad.item() == 3.0


def test_copy_gate_x_plus_x_is_two(device):
    x = T(3.0, device)
    (x + x).backward()
    assert x.grad.item() == 2.0


@pytest.mark.parametrize("shape", [(), (3,)], ids=["0-d", "vector"])
def test_copy_gate_fan_out_of_four(device, shape):
    """A value fanned out to several gates gets the sum of all their gradients: x+x+x+x gives 4."""
    x = T(np.full(shape, 2.0), device)
    (x + x + x + x).sum().backward()
    np.testing.assert_array_equal(npy(x.grad), np.full(shape, 4.0))


@pytest.mark.parametrize("shape", [(), (3,)], ids=["0-d", "vector"])
def test_copy_gate_fan_out_of_three_mul_gates(device, shape):
    """3x + 5x + 7x: dx = 15."""
    x = T(np.full(shape, 2.0), device)
    (x * 3.0 + x * 5.0 + x * 7.0).sum().backward()
    np.testing.assert_array_equal(npy(x.grad), np.full(shape, 15.0))


@pytest.mark.parametrize("shape", [(), (3,)], ids=["0-d", "vector"])
def test_copy_gate_fan_out_of_an_intermediate(device, shape):
    """An intermediate value fanned out three times: y = x², z = y + y + y: dz/dy = 3, dz/dx = 6x."""
    x = T(np.full(shape, 2.0), device)
    y = x * x
    y.retain_grad()
    (y * 1.0 + y * 1.0 + y * 1.0).sum().backward()
    np.testing.assert_array_equal(npy(y.grad), np.full(shape, 3.0))
    np.testing.assert_array_equal(npy(x.grad), np.full(shape, 12.0))


def test_copy_gate_in_a_vector_graph(device):
    """x feeding three different branches: d/dx [sum(x*y) + sum(x*z) + sum(x*x)] = y + z + 2x."""
    xn, yn, zn = np.array([1.0, -2.0, 0.5]), np.array([3.0, 1.0, -1.0]), np.array([0.5, 2.0, 4.0])
    x, y, z = T(xn, device), T(yn, device), T(zn, device)
    ((x * y).sum() + (x * z).sum() + (x * x).sum()).backward()
    np.testing.assert_allclose(npy(x.grad), yn + zn + 2 * xn, rtol=1e-12)


def test_gate_patterns_cs231n_figure(device):
    """The lecture's figure: f = 2 (x y + max(z, w)) at x=3, y=-4, z=2, w=-1.
    The *2 gate gives 2.00 upstream; add distributes it, max routes it to z (w gets 0),
    mul swaps: dx = 2 y = -8, dy = 2 x = 6."""
    x, y, z, w = T(3.0, device), T(-4.0, device), T(2.0, device), T(-1.0, device)
    f = (x * y + gg.maximum(z, w)) * 2.0
    assert f.item() == -20.0
    f.backward()
    assert (x.grad.item(), y.grad.item(), z.grad.item(), w.grad.item()) == (-8.0, 6.0, 2.0, 0.0)


def test_max_gate_routes_elementwise(device):
    """gg.maximum(a, b) sends the whole gradient to the larger input, zero to the other."""
    an, bn = np.array([1.0, 5.0, -3.0, 0.5]), np.array([2.0, -1.0, -4.0, 0.25])
    g = np.array([1.5, -2.0, 3.0, 0.75])
    a, b = T(an, device), T(bn, device)
    out = gg.maximum(a, b)
    np.testing.assert_array_equal(npy(out), np.maximum(an, bn))
    out.backward(gg.tensor(g, device=device))
    np.testing.assert_array_equal(npy(a.grad), np.where(an > bn, g, 0.0))
    np.testing.assert_array_equal(npy(b.grad), np.where(an > bn, 0.0, g))


def test_max_reduction_routes_to_the_argmax(device):
    """t.max() sends the gradient to the argmax only; with an axis, to each row's argmax."""
    t = T([1.0, 5.0, 3.0, 2.0], device)
    m = t.max()
    assert m.item() == 5.0
    (m * 3.0).backward()
    np.testing.assert_array_equal(npy(t.grad), [0.0, 3.0, 0.0, 0.0])

    tn = np.array([[1.0, 7.0, 3.0], [9.0, -1.0, 4.0]])
    t = T(tn, device)
    m = t.max(axis=1)
    np.testing.assert_array_equal(npy(m), [7.0, 9.0])
    m.backward(gg.tensor([2.0, -0.5], dtype=gg.float64, device=device))
    np.testing.assert_array_equal(npy(t.grad), [[0.0, 2.0, 0.0], [-0.5, 0.0, 0.0]])


def test_relu_is_max_with_zero_routing(device):
    """ReLU = max(0, x): the gradient goes where x > 0, exactly as gg.maximum(x, 0) routes it."""
    xn = np.array([-2.0, 3.0, -0.5, 1.5, 4.0])
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    x1, x2 = T(xn, device), T(xn, device)
    r, m = F.relu(x1), gg.maximum(x2, 0.0)
    np.testing.assert_array_equal(npy(r), np.maximum(xn, 0))
    np.testing.assert_array_equal(npy(m), np.maximum(xn, 0))
    r.backward(gg.tensor(g, device=device))
    m.backward(gg.tensor(g, device=device))
    np.testing.assert_array_equal(npy(x1.grad), [0.0, 2.0, 0.0, 4.0, 5.0])
    np.testing.assert_array_equal(npy(x2.grad), npy(x1.grad))


# --------------------------------------------------------------------------- note 000: implicit Jacobian

@pytest.mark.parametrize("op", ["relu", "maximum"])
def test_implicit_jacobian_of_elementwise_max(device, op):
    """On a 4096-vector, max(0, x) has a 4096x4096 diagonal Jacobian; backprop never builds it:
    x.grad is just the upstream gradient masked by x > 0."""
    rng = np.random.default_rng(4096)
    xn = rng.standard_normal(4096).astype(np.float32)
    xn[np.abs(xn) < 1e-3] = 0.5  # keep clear of the kink
    g = rng.standard_normal(4096).astype(np.float32)
    x = gg.tensor(xn, device=device, requires_grad=True)
    y = F.relu(x) if op == "relu" else gg.maximum(x, 0.0)
    y.backward(gg.tensor(g, device=device))
    assert x.grad.shape == (4096,) and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.where(xn > 0, g, 0).astype(np.float32))
    assert 1500 < int((xn > 0).sum()) < 2600  # the mask really has both kinds of entries


# --------------------------------------------------------------------------- note 004: chains

def test_chain_3x_then_4x(device):
    """x -> g = 3x -> f = 4g at x = 1: f = 12 and df/dx = 4 * 3 = 12; df/dg = 4."""
    x = T(1.0, device)
    g = x * 3.0
    g.retain_grad()
    f = g * 4.0
    assert g.item() == 3.0 and f.item() == 12.0
    f.backward()
    assert x.grad.item() == 12.0
    assert g.grad.item() == 4.0


def test_five_layer_chain_one_backward_gives_every_partial(device):
    """f_k = tanh(w_k f_{k-1}), f_0 = v, out = f5². One backward fills d out / d f_k for every
    layer, d out / d w_k and d out / d v, each the product of the local derivatives downstream
    (g5 = 2 f5, g_{k-1} = g_k (1 - f_k²) w_k)."""
    wn = [0.9, -1.3, 0.7, 1.6, -0.8]
    vn = 0.6
    v = T(vn, device)
    ws = [T(w, device) for w in wn]
    fs = [v]
    for w in ws:
        fs.append((w * fs[-1]).tanh())
    for f in fs[1:]:
        f.retain_grad()
    out = fs[-1] * fs[-1]
    out.backward()

    # manual chain rule in NumPy
    f_np = [vn]
    for w in wn:
        f_np.append(np.tanh(w * f_np[-1]))
    np.testing.assert_allclose([f.item() for f in fs], f_np, rtol=1e-12)
    g = 2 * f_np[5]  # d out / d f5
    for k in range(5, 0, -1):
        np.testing.assert_allclose(fs[k].grad.item(), g, rtol=1e-12)        # d out / d f_k
        dpre = g * (1 - f_np[k] ** 2)
        np.testing.assert_allclose(ws[k - 1].grad.item(), dpre * f_np[k - 1], rtol=1e-12)
        g = dpre * wn[k - 1]
    np.testing.assert_allclose(v.grad.item(), g, rtol=1e-12)
    # and d out / d v is the product of every local derivative along the chain
    prod = 2 * f_np[5]
    for k in range(5, 0, -1):
        prod *= (1 - f_np[k] ** 2) * wn[k - 1]
    np.testing.assert_allclose(v.grad.item(), prod, rtol=1e-12)


# --------------------------------------------------------------------------- note 003: SGD update

def test_sgd_update_on_the_notes_neuron(device):
    """w_new = w - α dL/dw with L the sigmoid neuron's output: one SGD(lr=α) step on
    w = (2, -3, -3) moves it by -α (-0.20, -0.39, 0.20)."""
    alpha = 0.1
    w = T(list(W_NEURON), device)
    x = gg.tensor(list(X_NEURON), dtype=gg.float64, device=device)
    opt = gg.optim.SGD([w], lr=alpha)
    L = ((w[:2] * x).sum() + w[2]).sigmoid()
    L.backward()
    grad = npy(w.grad)
    _, gw, _ = _shortcut_grads()
    np.testing.assert_allclose(grad, gw, rtol=1e-12)
    opt.step()
    np.testing.assert_allclose(npy(w), np.array(W_NEURON) - alpha * gw, rtol=1e-12)


def test_sgd_update_logistic_regression(device):
    """Logistic regression on 4 points: one SGD step equals w - α Xᵀ(p - y)/N, b - α mean(p - y)."""
    alpha = 0.5
    Xn = np.array([[0.5, -1.0], [1.5, 2.0], [-0.3, 0.8], [1.0, 1.0]])
    yn = np.array([0.0, 1.0, 0.0, 1.0])
    w0, b0 = np.array([0.2, -0.4]), 0.1
    w, b = T(w0, device), T(b0, device)
    X = gg.tensor(Xn, device=device)
    y = gg.tensor(yn, device=device)
    opt = gg.optim.SGD([w, b], lr=alpha)
    opt.zero_grad()
    p = (X @ w + b).sigmoid()
    L = -(y * p.log() + (1.0 - y) * (1.0 - p).log()).mean()
    L.backward()
    pn = 1 / (1 + np.exp(-(Xn @ w0 + b0)))
    gw, gb = Xn.T @ (pn - yn) / 4, (pn - yn).mean()
    np.testing.assert_allclose(L.item(), -np.mean(yn * np.log(pn) + (1 - yn) * np.log(1 - pn)), rtol=1e-12)
    np.testing.assert_allclose(npy(w.grad), gw, rtol=1e-10)
    np.testing.assert_allclose(b.grad.item(), gb, rtol=1e-10)
    opt.step()
    np.testing.assert_allclose(npy(w), w0 - alpha * gw, rtol=1e-10)
    np.testing.assert_allclose(b.item(), b0 - alpha * gb, rtol=1e-10)


# --------------------------------------------------------------------------- note 004: the minibatch

def test_minibatch_gradient_is_the_mean_of_per_sample_gradients(device):
    """100 samples in one forward/backward: the gradient of the batch-mean loss equals the
    average of the 100 per-sample gradients (the "cheap summation" of the notes), which the
    engine itself accumulates when backward is called once per sample."""
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8, device=device, dtype=np.float64), nn.ReLU(),
                          nn.Linear(8, 3, device=device, dtype=np.float64))
    rng = np.random.default_rng(100)
    Xn = rng.standard_normal((100, 5))
    yn = rng.integers(0, 3, size=100)
    X = gg.tensor(Xn, device=device)
    y = gg.tensor(yn, device=device)

    loss = F.cross_entropy(model(X), y)
    loss.backward()
    params = list(model.parameters())
    assert len(params) == 4
    batch_grads = [npy(p.grad).copy() for p in params]
    batch_loss = loss.item()

    model.zero_grad()
    per_sample_losses = []
    for i in range(100):
        li = F.cross_entropy(model(X[i:i + 1]), y[i:i + 1])
        per_sample_losses.append(li.item())
        li.backward()                       # .grad accumulates: the sum over the samples
    np.testing.assert_allclose(batch_loss, np.mean(per_sample_losses), rtol=1e-12)
    for p, bg in zip(params, batch_grads):
        np.testing.assert_allclose(npy(p.grad) / 100, bg, rtol=1e-9, atol=1e-14)
        assert np.abs(bg).max() > 1e-6      # a real gradient, not all zeros

    # one weight update with the batch gradient
    w_before = [npy(p).copy() for p in params]
    for p, bg in zip(params, batch_grads):
        p.grad = gg.tensor(bg, device=device)
    gg.optim.SGD(params, lr=0.1).step()
    for p, w, bg in zip(params, w_before, batch_grads):
        np.testing.assert_allclose(npy(p), w - 0.1 * bg, rtol=1e-12)


# --------------------------------------------------------------------------- note 003: the MLP

def test_mlp_gradients_match_the_chain_rule(device):
    """L = (ŷ - y)², ŷ = W2 σ(W1 x): autograd against the hand-written chain rule."""
    rng = np.random.default_rng(3)
    W1n, W2n, xn, yv = rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal(3), 0.7
    W1, W2, x = T(W1n, device), T(W2n, device), T(xn, device)
    y_hat = W2 @ F.sigmoid(W1 @ x)
    L = (y_hat - yv) ** 2
    L.backward()

    h = 1 / (1 + np.exp(-(W1n @ xn)))
    yh = W2n @ h
    dy = 2 * (yh - yv)
    dW2 = dy * h
    dz = dy * W2n * h * (1 - h)
    dW1 = np.outer(dz, xn)
    dx = W1n.T @ dz
    np.testing.assert_allclose(y_hat.item(), yh, rtol=1e-12)
    np.testing.assert_allclose(L.item(), (yh - yv) ** 2, rtol=1e-12)
    np.testing.assert_allclose(npy(W2.grad), dW2, rtol=1e-12)
    np.testing.assert_allclose(npy(W1.grad), dW1, rtol=1e-12)
    np.testing.assert_allclose(npy(x.grad), dx, rtol=1e-12)


def test_mlp_batch_with_mse_loss(device):
    """The same MLP on a batch (rows are samples, W of shape (in, out) as nn.Linear keeps it),
    with F.mse_loss: gradients equal the chain rule with the 1/N of the mean."""
    rng = np.random.default_rng(5)
    Xn, W1n, W2n, Yn = (rng.standard_normal((6, 3)), rng.standard_normal((3, 4)),
                        rng.standard_normal((4, 1)), rng.standard_normal((6, 1)))
    W1, W2 = T(W1n, device), T(W2n, device)
    X, Y = gg.tensor(Xn, device=device), gg.tensor(Yn, device=device)
    L = F.mse_loss(F.sigmoid(X @ W1) @ W2, Y)
    L.backward()
    H = 1 / (1 + np.exp(-(Xn @ W1n)))
    dYh = 2 * (H @ W2n - Yn) / 6
    dZ = (dYh @ W2n.T) * H * (1 - H)
    np.testing.assert_allclose(L.item(), np.mean((H @ W2n - Yn) ** 2), rtol=1e-12)
    np.testing.assert_allclose(npy(W2.grad), H.T @ dYh, rtol=1e-12)
    np.testing.assert_allclose(npy(W1.grad), Xn.T @ dZ, rtol=1e-12)


# --------------------------------------------------------------------------- note 002: multiclass SVM loss

SVM_SCORES = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]
SVM_LABELS = [0, 1, 2]


def _svm_numpy(scores, labels, margin=1.0):
    s = np.asarray(scores, dtype=np.float64)
    n = len(labels)
    rows = np.arange(n)
    m = s - s[rows, labels][:, None] + margin
    m[rows, labels] = 0
    pos = m > 0
    per = (m * pos).sum(axis=1)
    ds = pos.astype(np.float64)
    ds[rows, labels] = -pos.sum(axis=1)
    return per, per.mean(), ds / n


def test_svm_loss_values(device):
    """CS231n: per-example losses 2.9, 0, 12.9; mean 5.27."""
    for i, expected in enumerate([2.9, 0.0, 12.9]):
        s = gg.tensor([SVM_SCORES[i]], dtype=gg.float64, device=device)
        li = F.hinge_loss(s, gg.tensor([SVM_LABELS[i]], device=device))
        np.testing.assert_allclose(li.item(), expected, rtol=1e-12, atol=1e-12)
    s = gg.tensor(SVM_SCORES, device=device)  # float32, the default for Python floats
    L = F.hinge_loss(s, SVM_LABELS)
    assert round(L.item(), 2) == 5.27
    np.testing.assert_allclose(L.item(), 15.8 / 3, rtol=1e-6)


def test_svm_loss_gradient(device):
    """dL/ds_ij = [margin_ij > 0]/N for j ≠ y_i, and -(count of positive margins)/N at y_i."""
    s = gg.tensor(SVM_SCORES, dtype=gg.float64, device=device, requires_grad=True)
    L = F.hinge_loss(s, gg.tensor(SVM_LABELS, device=device))
    L.backward()
    _, mean, ds = _svm_numpy(SVM_SCORES, SVM_LABELS)
    np.testing.assert_allclose(L.item(), mean, rtol=1e-12)
    np.testing.assert_allclose(npy(s.grad), ds, rtol=1e-12)
    np.testing.assert_allclose(npy(s.grad), [[-1 / 3, 1 / 3, 0], [0, 0, 0], [1 / 3, 1 / 3, -2 / 3]],
                               rtol=1e-12)


def test_svm_loss_gradient_random_batch(device):
    rng = np.random.default_rng(7)
    sn = rng.standard_normal((20, 5)) * 2
    labels = rng.integers(0, 5, size=20)
    s = T(sn, device)
    L = F.hinge_loss(s, gg.tensor(labels, device=device))
    L.backward()
    _, mean, ds = _svm_numpy(sn, labels)
    np.testing.assert_allclose(L.item(), mean, rtol=1e-12)
    np.testing.assert_allclose(npy(s.grad), ds, rtol=1e-12)
