"""Every differentiable op passes a float64 central-difference gradient check on each backend."""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F


def leaf(rng, *shape, device="cpu", positive=False, away_from_zero=False):
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    if away_from_zero:  # keep kinks (relu, abs, max) out of the finite-difference stencil
        a = np.where(np.abs(a) < 0.1, a + np.sign(a + 1e-12) * 0.2, a)
    return gg.tensor(a, dtype="float64", device=device, requires_grad=True)


def labels(rng, n, classes, device):
    return gg.tensor(rng.integers(0, classes, size=n), device=device)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
    "maximum": gg.maximum,
    "minimum": gg.minimum,
}

# (a shape, b shape): equal, scalar-like, row/column broadcasts, rank-changing broadcasts
BROADCASTS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((1,), (2, 3))]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
def test_binary_ops_with_broadcasting(name, shapes, device, rng):
    positive = name == "pow"
    a = leaf(rng, *shapes[0], device=device, positive=positive)
    b = leaf(rng, *shapes[1], device=device, positive=name in ("div", "pow"))
    if name in ("maximum", "minimum"):  # no ties inside the stencil
        b = gg.tensor(b.numpy() + 0.3, device=device, requires_grad=True)
    assert gg.gradcheck(BINARY[name], [a, b])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "rsub", "rdiv", "rpow"])
def test_ops_with_python_scalars(name, device, rng):
    x = leaf(rng, 3, 2, device=device, positive=True)
    fn = {"add": lambda t: t + 2.5, "sub": lambda t: t - 1.5, "mul": lambda t: t * -3.0,
          "div": lambda t: t / 4.0, "pow": lambda t: t ** 3, "rsub": lambda t: 1.0 - t,
          "rdiv": lambda t: 2.0 / t, "rpow": lambda t: 2.0 ** t}[name]
    assert gg.gradcheck(fn, [x])


UNARY = {
    "neg": (lambda t: -t, {}),
    "exp": (lambda t: t.exp(), {}),
    "log": (lambda t: t.log(), {"positive": True}),
    "sqrt": (lambda t: t.sqrt(), {"positive": True}),
    "abs": (lambda t: abs(t), {"away_from_zero": True}),
    "clip": (lambda t: t.clip(-0.5, 0.5), {"away_from_zero": True}),
    "relu": (lambda t: t.relu(), {"away_from_zero": True}),
    "sigmoid": (lambda t: t.sigmoid(), {}),
    "tanh": (lambda t: t.tanh(), {}),
    "softmax": (lambda t: t.softmax(axis=-1), {}),
    "softmax_axis0": (lambda t: gg.softmax(t, axis=0), {}),
    "log_softmax": (lambda t: t.log_softmax(axis=1), {}),
    "sum_all": (lambda t: t.sum(), {}),
    "sum_axis": (lambda t: t.sum(axis=1), {}),
    "sum_keepdims": (lambda t: t.sum(axis=(0, 2), keepdims=True), {}),
    "mean": (lambda t: t.mean(axis=-1), {}),
    "mean_all": (lambda t: t.mean(), {}),
    "max_axis": (lambda t: t.max(axis=1), {}),
    "max_all": (lambda t: t.max(), {}),
    "min_keepdims": (lambda t: t.min(axis=0, keepdims=True), {}),
    "reshape": (lambda t: t.reshape(4, -1) * 2, {}),
    "flatten": (lambda t: t.flatten(1) * 2, {}),
    "flatten_middle": (lambda t: t.flatten(0, 1) * 2, {}),
    "unflatten": (lambda t: t.unflatten(2, (2, -1)) * 2, {}),
    "permute": (lambda t: t.permute(2, 0, 1) * 2, {}),
    "transpose": (lambda t: t.transpose(2, 0) * 2, {}),
    "transpose_negative": (lambda t: t.transpose(-1, 1) * 2, {}),
    "clamp": (lambda t: t.clamp(-0.5, 0.5), {"away_from_zero": True}),
    "clamp_min": (lambda t: t.clamp(min=-0.25), {"away_from_zero": True}),
    "T": (lambda t: t.T * 2, {}),
    "getitem_basic": (lambda t: t[1:, ::2, 0] * 2, {}),
    "getitem_advanced_repeats": (lambda t: t[[0, 1, 0], :, [1, 2, 1]] * 2, {}),
    "getitem_bool": (lambda t: t[t.data > 0] * 2, {}),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops(name, device, rng):
    fn, kw = UNARY[name]
    x = leaf(rng, 2, 3, 4, device=device, **kw)
    if name == "getitem_bool" and device != "cpu":
        pytest.skip("boolean-mask indexing with a host mask")
    assert gg.gradcheck(fn, [x])


def test_matmul_shapes(device, rng):
    cases = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
             ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 2))]
    for sa, sb in cases:
        assert gg.gradcheck(lambda a, b: a @ b, [leaf(rng, *sa, device=device), leaf(rng, *sb, device=device)])


def test_linear(device, rng):
    x, w, b = leaf(rng, 5, 3, device=device), leaf(rng, 3, 4, device=device), leaf(rng, 4, device=device)
    assert gg.gradcheck(F.linear, [x, w, b])
    assert gg.gradcheck(lambda x, w: F.linear(x, w), [x, w])
    x3 = leaf(rng, 2, 5, 3, device=device)
    assert gg.gradcheck(F.linear, [x3, w, b])


def test_concatenate_and_stack(device, rng):
    a, b = leaf(rng, 2, 3, device=device), leaf(rng, 4, 3, device=device)
    assert gg.gradcheck(lambda a, b: gg.concatenate([a, b], axis=0) * 2, [a, b])
    c, d = leaf(rng, 2, 3, device=device), leaf(rng, 2, 3, device=device)
    assert gg.gradcheck(lambda c, d: gg.stack([c, d], axis=1) * 2, [c, d])


def test_losses(device, rng):
    logits = leaf(rng, 6, 5, device=device)
    y = labels(rng, 6, 5, device)
    assert gg.gradcheck(lambda z: F.cross_entropy(z, y), [logits])
    assert gg.gradcheck(lambda z: F.cross_entropy(z, y, reduction="sum"), [logits])
    assert gg.gradcheck(lambda z: F.cross_entropy(z, y, reduction="none"), [logits])
    assert gg.gradcheck(lambda z: F.hinge_loss(z, y), [logits])
    target = gg.tensor(rng.standard_normal((6, 5)), device=device)
    assert gg.gradcheck(lambda z: F.mse_loss(z, target), [logits])
    t2 = leaf(rng, 6, 5, device=device)
    assert gg.gradcheck(F.mse_loss, [logits, t2])


def test_to_device_roundtrip_is_differentiable(device, rng):
    x = leaf(rng, 3, 2, device=device)
    assert gg.gradcheck(lambda t: (t.to("cpu") * 3).to(device), [x])


def test_composite_mlp(device, rng):
    x = leaf(rng, 4, 3, device=device)
    w1, b1 = leaf(rng, 3, 5, device=device), leaf(rng, 5, device=device)
    w2, b2 = leaf(rng, 5, 2, device=device), leaf(rng, 2, device=device)
    y = labels(rng, 4, 2, device)

    def loss(x, w1, b1, w2, b2):
        h = F.sigmoid(F.linear(x, w1, b1))
        return F.cross_entropy(F.tanh(F.linear(h, w2, b2)), y)

    assert gg.gradcheck(loss, [x, w1, b1, w2, b2])


def test_astype_passes_gradient_back_in_the_source_dtype(device):
    # float32 rounding defeats finite differences, so this cast is checked by value.
    x = gg.tensor([[1.5, -2.0]], dtype="float64", device=device, requires_grad=True)
    y = x.astype("float32")
    assert y.dtype == np.float32
    (y * gg.tensor([[3.0, 4.0]], device=device)).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 4.0]])


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_linear_with_fused_activation(activation, device, rng):
    x, w = leaf(rng, 5, 3, device=device), leaf(rng, 3, 4, device=device)
    b = leaf(rng, 4, device=device, away_from_zero=True)
    assert gg.gradcheck(lambda x, w, b: F.linear(x, w, b, activation=activation), [x, w, b])
    assert gg.gradcheck(lambda x, w: F.linear(x, w, activation=activation), [x, w])
    fused = F.linear(x, w, b, activation=activation)
    plain = getattr(F, activation)(x @ w + b)
    np.testing.assert_allclose(fused.numpy(), plain.numpy(), rtol=1e-12, atol=1e-15)


def test_sequential_fuses_linear_and_activation_without_changing_results(device, rng):
    import gpugrad.nn as nn

    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Sigmoid(), nn.Linear(4, 3)).to(device)
    x = gg.tensor(rng.standard_normal((7, 6)), dtype="float32", device=device)
    out = model(x)
    assert type(out.grad_fn).__name__ == "Linear" and out.grad_fn.activation is None
    hidden = out.grad_fn.next_edges[0][0]
    assert hidden.activation == "sigmoid"  # the Linear+Sigmoid pair ran as one node
    by_hand = x
    for m in model:
        by_hand = m(by_hand)  # each module on its own: unfused
    np.testing.assert_allclose(out.numpy(), by_hand.numpy(), rtol=1e-6, atol=1e-7)


def test_linear_with_an_activation_the_kernels_do_not_fuse(device, rng):
    x, w = leaf(rng, 5, 3, device=device), leaf(rng, 3, 4, device=device)
    b = leaf(rng, 4, device=device)
    assert gg.gradcheck(lambda x, w, b: F.linear(x, w, b, activation="tanh"), [x, w, b])
    np.testing.assert_allclose(F.linear(x, w, b, activation="tanh").numpy(),
                               np.tanh(x.numpy() @ w.numpy() + b.numpy()), rtol=1e-12)
    with pytest.raises(ValueError, match=r"unknown activation 'swish': expected one of \['elu', "
                                         r"'gelu', 'leaky_relu', 'relu', 'sigmoid', 'silu', 'softplus', 'tanh'\]"):
        F.linear(x, w, b, activation="swish")
    np.testing.assert_allclose(F.linear(x, w, b, activation="gelu").numpy(),
                               F.gelu(x @ w + b).numpy(), rtol=1e-12)


def test_the_activation_registry_names_every_layer_and_what_the_kernels_fuse():
    import gpugrad.nn as nn
    from gpugrad.functions.activation import ACTIVATIONS

    assert {name: nn.activation_module(name) for name in ACTIVATIONS} == {
        "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU,
        "elu": nn.ELU, "softplus": nn.Softplus, "leaky_relu": nn.LeakyReLU}
    assert {name for name, a in ACTIVATIONS.items() if a.fusable} == {"relu", "sigmoid"}
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    out = model(gg.randn(2, 3))
    assert type(out.grad_fn.next_edges[0][0]).__name__ == "Tanh"   # not fused: a node of its own
