"""The autograd engine: ordering, accumulation, retain_graph, no_grad, freeing the graph."""
import gc
import weakref

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.autograd import Op


def f64(values, device="cpu", requires_grad=True):
    return gg.tensor(values, dtype="float64", device=device, requires_grad=requires_grad)


def test_copy_gate_adds_gradients(device):
    x = f64([1.0, 2.0], device)
    y = x * x + x * 3.0 + x  # x feeds four uses
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.0, 2.0]) + 3.0 + 1.0)


def test_diamond_graph_runs_each_node_after_all_its_consumers(device):
    x = f64(1.5, device)
    a = x * 2.0
    b = a + 1.0
    c = a * 3.0
    d = b * c  # d = (2x+1)(6x) = 12x² + 6x
    d.backward()
    assert x.grad.item() == pytest.approx(24 * 1.5 + 6)


def test_shared_gradient_buffers_are_never_aliased_between_leaves(device):
    x, y = f64([1.0, 2.0], device), f64([3.0, 4.0], device)
    (x + y).sum().backward()  # the add gate hands the same upstream array to both
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    (x * 5.0).sum().backward()  # accumulating into x.grad must leave y.grad alone
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])


def test_in_place_accumulation_does_not_corrupt_a_shared_upstream(device):
    x = f64([1.0, 2.0], device)
    y = f64([10.0, 20.0], device)
    s = x + y  # gradient of s reaches x and y as one shared array
    out = (s * 1.0 + x + x).sum()  # x receives three contributions, y one
    out.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])


def test_gradients_accumulate_across_backward_calls_until_zeroed(device):
    x = f64([1.0, -1.0], device)
    (x * 2.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_second_backward_needs_retain_graph(device):
    x = f64([2.0], device)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()  # allowed: the first one kept the graph
    np.testing.assert_array_equal(x.grad.numpy(), [8.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_explicit_upstream_gradient(device):
    x = f64([[1.0, 2.0], [3.0, 4.0]], device)
    y = x * x
    upstream = np.array([[1.0, 0.0], [0.5, 2.0]])
    y.backward(gg.tensor(upstream, dtype="float64", device=device))
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() * upstream)


def test_no_grad_records_nothing_and_nests(device):
    x = f64([1.0], device)
    with gg.no_grad():
        y = x * 2.0
        with gg.enable_grad():
            z = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    assert gg.is_grad_enabled()

    @gg.no_grad()
    def evaluate(t):
        return t * t

    assert not evaluate(x).requires_grad


def test_retain_grad_and_detach(device):
    x = f64([1.0, 2.0], device)
    h = (x * 3.0).retain_grad()
    d = h.detach()
    out = (h * h).sum() + (d * x).sum()
    out.backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    # d is a constant: x gets 2h*3 from h*h and d from d*x
    np.testing.assert_allclose(x.grad.numpy(), 6 * h.numpy() + d.numpy())
    assert d.grad is None and not d.requires_grad


def test_a_20000_op_chain_does_not_recurse():
    x = f64(1.0)
    y = x
    for _ in range(20000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 20000, rel=1e-9)
    z = x
    for _ in range(20000):
        z = z + 1.0
    del z  # freeing an un-walked deep graph must not overflow the stack either


def test_graph_is_freed_by_reference_counting_alone(device):
    gc.disable()
    try:
        x = f64(np.ones(4), device)
        h = x.exp()
        node = weakref.ref(h.grad_fn)
        loss = (h * 2.0).sum()
        del h
        assert node() is not None  # the loss keeps the graph alive
        del loss
        assert node() is None  # ...and nothing else does
    finally:
        gc.enable()


def test_saved_arrays_are_released_after_backward():
    x = f64(np.ones(1000))
    h = x.exp()  # Exp keeps its output for backward
    saved = weakref.ref(h.grad_fn.saved[0])
    loss = (h * 3.0).sum()
    del h
    assert saved() is not None
    loss.backward()
    assert saved() is None, "the Exp node still holds its output after backward"


def test_intermediate_inputs_are_not_kept_alive_by_the_graph():
    # Sigmoid keeps its output, not its input: the pre-activation can be freed in forward.
    x = f64(np.ones(1000))
    pre = x * 2.0
    pre_data = weakref.ref(pre.data)
    out = pre.sigmoid()
    del pre
    assert pre_data() is None
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * out.numpy() * (1 - out.numpy()))


def test_unneeded_input_gradients_are_skipped():
    calls = []

    class Spy(Op):
        def forward(self, a, b):
            calls.append(self.needs_input_grad)
            return a * b

        def backward(self, g):
            return None if not self.needs_input_grad[0] else g, None

    a = f64([1.0])
    b = f64([2.0], requires_grad=False)
    Spy()(a, b).sum().backward()
    assert calls == [(True, False)]
    assert b.grad is None


def test_type_promotion_returns_gradients_in_each_input_dtype(device):
    a = gg.tensor([1.0, 2.0], dtype="float32", device=device, requires_grad=True)
    b = f64([3.0, 4.0], device)
    out = (a * b).sum()
    assert out.dtype == np.float64
    out.backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])


def test_raw_numpy_operands_are_constants():
    x = f64([1.0, 2.0])
    y = (x * np.array([3.0, 4.0])).sum() + (np.array([1.0, 1.0]) * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 5.0])


def test_leaf_backward_and_tensor_basics(device):
    x = f64(3.0, device)
    x.backward()
    assert x.grad.item() == 1.0
    t = gg.tensor([[1, 2], [3, 4]], device=device)
    assert t.dtype == np.int64 and t.shape == (2, 2) and t.size() == (2, 2) and t.numel() == 4 and t.ndim == 2
    assert gg.tensor([1.0]).dtype == np.float32
    assert gg.tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert gg.tensor([True]).dtype == np.bool_
    assert t.device == device
    assert (t == 2).numpy().tolist() == [[False, True], [False, False]]
    assert t.T.numpy().tolist() == [[1, 3], [2, 4]]
    assert float(gg.tensor(2.5)) == 2.5


def test_tensor_copies_user_arrays():
    data = np.array([1.0, 2.0], dtype=np.float32)
    t = gg.tensor(data, requires_grad=True)
    with gg.no_grad():
        t.data -= 1.0
    np.testing.assert_array_equal(data, [1.0, 2.0])  # what the user saved is untouched


def test_leaf_gradients_are_independent_writable_arrays(device):
    x, y = f64([1.0, 2.0], device), f64([3.0, 4.0], device)
    w = f64([[1.0, 2.0], [3.0, 4.0]], device)
    ((x + y).sum() + w.sum()).backward()  # add gate: one array for both; sum: a broadcast view
    assert x.grad.data is not y.grad.data
    with gg.no_grad():
        x.grad.data *= 0.5  # in-place clipping touches x.grad only
        w.grad.data *= 2.0
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.5])
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(w.grad.numpy(), [[2.0, 2.0], [2.0, 2.0]])


def test_grad_mode_is_per_thread():
    import threading

    seen = {}
    with gg.no_grad():
        worker = threading.Thread(target=lambda: seen.update(enabled=gg.is_grad_enabled()))
        worker.start()
        worker.join()
        assert not gg.is_grad_enabled()
    assert seen["enabled"] is True


def test_a_reshaped_gradient_does_not_alias_another_leafs(device):
    x, y = f64([[1.0, 2.0]], device), f64([3.0, 4.0], device)
    (x.reshape(2) + y).sum().backward()  # x.grad is a reshape of the array y.grad received
    with gg.no_grad():
        x.grad.data *= 3.0
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 3.0]])
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])
