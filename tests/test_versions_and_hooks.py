"""Version counters (a saved tensor modified in place makes backward raise) and gradient hooks
(on leaves and non-leaves, post-accumulate hooks, handles), on both backends."""
import numpy as np
import pytest

import gpugrad as gg
from gpugrad.autograd import Op


def f64(values, device="cpu", requires_grad=True):
    return gg.tensor(values, dtype="float64", device=device, requires_grad=requires_grad)


# --------------------------------------------------------------------------- versions

def test_writing_through_data_after_forward_makes_backward_name_the_op(device):
    a = f64([1.0, 2.0, 3.0], device)
    z = (a * a).sum()
    a.data[:] = 100                      # the Mul node saved a
    with pytest.raises(RuntimeError, match=r"backward through Mul: an input of shape \(3,\).*modified in place"):
        z.backward()


def test_reading_through_array_or_numpy_does_not_count_as_a_write(device):
    a = f64([1.0, 2.0, 3.0], device)
    z = (a * a).sum()
    _ = a.array, a.numpy(), a.item if a.numel() == 1 else None
    z.backward()
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 4.0, 6.0])


def test_a_saved_output_modified_in_place_is_caught(device):
    x = f64([0.5, -1.0], device)
    y = x.exp()                          # Exp saves its output y
    loss = (y * 2.0).sum()
    y.data[...] = 0
    with pytest.raises(RuntimeError, match="backward through Exp: output 0"):
        loss.backward()


def test_an_input_the_op_did_not_save_may_change(device):
    x = f64([1.0, 2.0], device)
    h = x * 3.0
    y = (h + 1.0).sum()                  # Add saves nothing
    h.data[...] = 7.0
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_detach_shares_the_version_counter(device):
    a = f64([1.0, 2.0], device)
    z = (a * a).sum()
    a.detach().data[0] = 5.0             # same memory: the graph's saved copy changed too
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()


def test_optimizer_step_bumps_the_parameter_version():
    w = f64([1.0, 2.0])
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    gg.optim.SGD([w], lr=0.1).step()     # an in-place update of w, which Mul saved
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_assigning_data_replaces_the_array_and_device():
    t = gg.zeros(3)
    v0 = t._version
    t.data = np.ones(2, np.float32)
    assert t.shape == (2,) and t.device == "cpu" and t._version == v0 + 1
    with pytest.raises(TypeError, match="NumPy or CuPy array"):
        t.data = [1, 2]


# --------------------------------------------------------------------------- hooks

def test_leaf_hook_sees_the_gradient_and_may_replace_it(device):
    x = f64([1.0, 2.0], device)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10.0)
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(seen[0], [3.0, 3.0])
    np.testing.assert_allclose(x.grad.numpy(), [30.0, 30.0])
    handle.remove()
    handle.remove()                      # twice is harmless
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_non_leaf_hook_changes_what_flows_further_back(device):
    x = f64([1.0, -2.0], device)
    h = x * 2.0
    h.register_hook(lambda g: g * 0.5)
    h.retain_grad()
    (h * h).sum().backward()             # dL/dh = 2h = (4, -8); halved: (2, -4)
    np.testing.assert_allclose(h.grad.numpy(), [2.0, -4.0])
    np.testing.assert_allclose(x.grad.numpy(), [4.0, -8.0])


def test_leaf_hook_sees_the_total_of_a_value_used_twice(device):
    x = f64([2.0], device)
    seen = []
    x.register_hook(lambda g: seen.append(g.item()))
    (x * 3.0 + x * 4.0).sum().backward()
    assert seen == [7.0]                 # once, with the sum of both uses


def test_post_accumulate_hook_runs_once_the_leaf_is_final_before_backward_ends(device):
    w1, w2 = f64([1.0], device), f64([2.0], device)
    order = []

    class Spy(Op):
        """Identity that records when its backward runs."""

        def forward(self, x):
            return x

        def backward(self, gy):
            order.append("spy backward")
            return gy

    for name, w in (("w1", w1), ("w2", w2)):
        w.register_post_accumulate_grad_hook(lambda t, name=name: order.append(f"{name} final {t.grad.item()}"))
    out = Spy()(w1 * 3.0) * w2          # w2's gradient is final before Spy's backward runs
    out.sum().backward()
    assert order == ["w2 final 3.0", "spy backward", "w1 final 6.0"]


def test_hooks_need_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        gg.zeros(2).register_hook(lambda g: g)
    h = f64([1.0]) * 2.0
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        h.register_post_accumulate_grad_hook(lambda t: None)


def test_a_hook_returning_the_wrong_shape_is_refused():
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: gg.zeros(3, dtype="float64"))
    with pytest.raises(ValueError, match=r"hook returned shape \(3,\) for a gradient of shape \(2,\)"):
        (x * 1.0).sum().backward()


def _hooked_run(make, modify):
    """Tensor hooks (``register_hook`` on leaves and intermediates, post-accumulate hooks on the
    leaves) over two backward passes of one graph; ``make(array)`` makes a leaf that requires
    grad (gpugrad's or PyTorch's). Returns the events (tensor, kind, gradient) in call order and
    the final ``.grad`` of each leaf."""
    rng = np.random.default_rng(0)
    a, b, c = (make(rng.standard_normal(s)) for s in [(3, 2), (3, 2), (2,)])
    events = []

    def values(g):
        return np.array(g.detach().cpu().numpy() if hasattr(g, "cpu") else g.numpy())

    def pre(name, k):
        def hook(g):
            events.append((name, "pre", values(g)))
            return g * k if modify else None
        return hook

    def post(name):
        return lambda t: events.append((name, "post", values(t.grad)))

    for name, t in (("a", a), ("b", b), ("c", c)):
        t.register_hook(pre(name, 2.0))
        t.register_post_accumulate_grad_hook(post(name))
    h = a * b
    h.register_hook(pre("h", 3.0))
    u = h + c                         # c is broadcast: its gradient is a sum
    u.register_hook(pre("u", 0.5))
    v = (u * u).sum() + (a * c).sum()  # a and c used twice: their hooks see the totals
    v.backward(retain_graph=True)
    v.backward()                       # the second pass accumulates into .grad
    return events, [values(t.grad) for t in (a, b, c)]


@pytest.mark.parametrize("modify", [False, True], ids=["observe", "modify"])
def test_tensor_hooks_order_and_gradients_match_pytorch(device, modify):
    torch = pytest.importorskip("torch")
    ours = _hooked_run(lambda a: gg.tensor(a, device=device, requires_grad=True), modify)
    theirs = _hooked_run(lambda a: torch.tensor(a, requires_grad=True), modify)
    assert [e[:2] for e in ours[0]] == [e[:2] for e in theirs[0]]
    assert len(ours[0]) == 16
    for mine, want in zip(ours[0], theirs[0]):
        np.testing.assert_allclose(mine[2], want[2], rtol=1e-12, err_msg=str(mine[:2]))
    for mine, want in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(mine, want, rtol=1e-12)
