"""Property tests (hypothesis) over random shapes and broadcasts."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gpugrad as gg
from gpugrad.functions import sum_to

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def broadcastable_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
    return shapes.input_shapes


def _reference_unbroadcast(g, shape):
    """Sum g over every axis that broadcasting added or stretched, the slow obvious way."""
    g = np.asarray(g)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


@SETTINGS
@given(broadcastable_pair(), st.sampled_from(["add", "sub", "mul", "div"]), st.integers(0, 2**32 - 1))
def test_binary_op_gradients_reduce_to_each_input_shape(shapes, op, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes
    a_np = rng.standard_normal(sa)
    b_np = rng.uniform(0.5, 2.0, sb)
    a = gg.tensor(a_np, dtype="float64", requires_grad=True)
    b = gg.tensor(b_np, dtype="float64", requires_grad=True)
    out = {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b}[op]
    g = rng.standard_normal(out.shape)
    out.backward(gg.tensor(g, dtype="float64"))
    A, B = np.broadcast_arrays(a_np, b_np)
    local_a, local_b = {"add": (1, 1), "sub": (1, -1), "mul": (B, A), "div": (1 / B, -A / B**2)}[op]
    assert a.grad.shape == tuple(sa) and b.grad.shape == tuple(sb)
    np.testing.assert_allclose(a.grad.numpy(), _reference_unbroadcast(g * local_a, sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), _reference_unbroadcast(g * local_b, sb), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(broadcastable_pair(), st.integers(0, 2**32 - 1))
def test_sum_to_matches_the_reference(shapes, seed):
    rng = np.random.default_rng(seed)
    target = shapes[0]
    full = np.broadcast_shapes(*shapes)
    g = rng.standard_normal(full)
    np.testing.assert_allclose(sum_to(g, tuple(target)), _reference_unbroadcast(g, target), rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), st.integers(0, 2**32 - 1),
       st.sampled_from(["sum", "mean", "max", "softmax", "log_softmax", "sigmoid", "tanh"]))
def test_reductions_and_activations_pass_gradcheck_on_random_shapes(shape, seed, op):
    rng = np.random.default_rng(seed)
    x = gg.tensor(rng.standard_normal(shape), dtype="float64", requires_grad=True)
    axis = int(rng.integers(0, len(shape)))
    fn = {
        "sum": lambda t: t.sum(axis=axis),
        "mean": lambda t: t.mean(axis=axis, keepdims=True),
        "max": lambda t: t.max(axis=axis),
        "softmax": lambda t: t.softmax(axis=axis),
        "log_softmax": lambda t: t.log_softmax(axis=axis),
        "sigmoid": lambda t: t.sigmoid(),
        "tanh": lambda t: t.tanh(),
    }[op]
    assert gg.gradcheck(fn, [x])


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_affine_backward_is_the_notes_formula(batch, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    X, W, b = rng.standard_normal((batch, n_in)), rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)
    dY = rng.standard_normal((batch, n_out))
    x, w, bb = (gg.tensor(v, dtype="float64", requires_grad=True) for v in (X, W, b))
    gg.nn.functional.linear(x, w, bb).backward(gg.tensor(dY, dtype="float64"))
    np.testing.assert_allclose(x.grad.numpy(), dY @ W.T, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), X.T @ dY, rtol=1e-12)
    np.testing.assert_allclose(bb.grad.numpy(), dY.sum(axis=0), rtol=1e-12)
