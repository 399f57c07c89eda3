"""nn (Module, Linear, Sequential, state_dict, to) and optim (PyTorch's SGD and Adam rules)."""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F


def test_linear_layout_and_init_follow_the_notes_and_pytorch(device):
    gg.manual_seed(0)
    layer = nn.Linear(50, 7, device=device)
    assert layer.weight.shape == (50, 7) and layer.bias.shape == (7,)
    assert layer.weight.dtype == np.float32 and layer.weight.device == device
    bound = 1 / np.sqrt(50)
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    x = gg.randn(3, 50, device=device)
    np.testing.assert_allclose(layer(x).numpy(), x.numpy() @ w + layer.bias.numpy(), rtol=1e-5, atol=1e-6)


def test_seeded_init_is_identical_on_every_backend(device):
    gg.manual_seed(7)
    a = nn.Linear(4, 3, device="cpu")
    gg.manual_seed(7)
    b = nn.Linear(4, 3, device=device)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())


def test_module_registration_and_traversal():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
            self.scale = nn.Parameter(gg.ones(2))
            self.note = "not a parameter"

        def forward(self, x):
            return self.body(x) * self.scale

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"]
    assert len(list(net.parameters())) == 5
    assert isinstance(net.body[1], nn.ReLU) and len(net.body) == 3
    assert net(gg.randn(5, 4)).shape == (5, 2)
    net.eval()
    assert not net.training and not net.body[0].training
    assert "Linear(in_features=4, out_features=8" in repr(net)


def test_state_dict_roundtrip_copies_values():
    gg.manual_seed(1)
    a = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    b = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    state = {k: v.numpy().copy() for k, v in a.state_dict().items()}
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    b.load_state_dict(state)
    x = gg.randn(5, 3)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    state["0.weight"][:] = 0  # b owns its own copy
    assert np.abs(b[0].weight.numpy()).sum() > 0


def test_module_to_moves_parameters(device):
    model = nn.Sequential(nn.Linear(3, 2))
    assert model.to(device) is model
    assert all(p.device == device for p in model.parameters())
    model.to(dtype="float64")
    assert model[0].weight.dtype == np.float64


def _fixed_grads(params, step):
    for i, p in enumerate(params):
        p.grad = gg.tensor(np.sin(np.arange(p.numel()).reshape(p.shape) + step + i), dtype=p.dtype, device=p.device)


@pytest.mark.parametrize("kw", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
])
def test_sgd_matches_pytorchs_rule(kw, device):
    p = gg.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype="float64", device=device, requires_grad=True)
    opt = gg.optim.SGD([p], **kw)
    ref, buf = np.linspace(-1, 1, 6).reshape(2, 3), None
    lr, mu, damp, wd = kw["lr"], kw.get("momentum", 0), kw.get("dampening", 0), kw.get("weight_decay", 0)
    for step in range(4):
        _fixed_grads([p], step)
        g = p.grad.numpy() + wd * ref
        if mu:
            buf = g.copy() if buf is None else mu * buf + (1 - damp) * g
            g = g + mu * buf if kw.get("nesterov") else buf
        ref = ref - lr * g
        opt.step()
        np.testing.assert_allclose(p.numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_adam_matches_pytorchs_rule(wd, device):
    p = gg.tensor(np.linspace(-1, 1, 6), dtype="float64", device=device, requires_grad=True)
    opt = gg.optim.Adam([p], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=wd)
    ref, m, v = np.linspace(-1, 1, 6), np.zeros(6), np.zeros(6)
    for t in range(1, 5):
        _fixed_grads([p], t)
        g = p.grad.numpy() + wd * ref
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        ref = ref - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.99 ** t)) + 1e-8)
        opt.step()
        np.testing.assert_allclose(p.numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [lambda ps: gg.optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: gg.optim.Adam(ps, lr=0.01)])
def test_optimizer_state_dict_resumes_exactly(make):
    def params():
        return [gg.tensor(np.arange(4.0), dtype="float64", requires_grad=True)]

    straight = params()
    opt = make(straight)
    for s in range(6):
        _fixed_grads(straight, s)
        opt.step()

    first = params()
    opt1 = make(first)
    for s in range(3):
        _fixed_grads(first, s)
        opt1.step()
    saved_state, saved_values = opt1.state_dict(), first[0].numpy().copy()
    resumed = [gg.tensor(saved_values, dtype="float64", requires_grad=True)]
    opt2 = make(resumed)
    opt2.load_state_dict(saved_state)
    for s in range(3, 6):
        _fixed_grads(resumed, s)
        opt2.step()
    np.testing.assert_array_equal(resumed[0].numpy(), straight[0].numpy())


def test_zero_grad_and_param_groups():
    a, b = gg.ones(2, requires_grad=True), gg.ones(3, requires_grad=True)
    opt = gg.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = gg.ones(2), gg.ones(3)
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.9)
    np.testing.assert_allclose(b.numpy(), 0.5)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_small_mlp_learns_a_fixed_synthetic_problem(device):
    """Two interleaved spirals, 3 classes: a linear model cannot fit them, the MLP must."""
    gg.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 100
    xs, ys = [], []
    for c in range(3):
        r = np.linspace(0.05, 1, n)
        t = np.linspace(c * 4, (c + 1) * 4, n) + rng.standard_normal(n) * 0.2
        xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        ys.append(np.full(n, c))
    X = gg.tensor(np.concatenate(xs), dtype="float32", device=device)
    y = gg.tensor(np.concatenate(ys), device=device)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3)).to(device)
    opt = gg.optim.Adam(model.parameters(), lr=0.01)
    first = None
    for _ in range(400):
        loss = F.cross_entropy(model(X), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 1.0
    assert loss.item() < 0.15
    accuracy = (model(X).argmax(axis=1) == y).float().mean().item()
    assert accuracy > 0.95


def test_sgd_momentum_trains_sigmoid_mlp_with_mse(device):
    gg.manual_seed(3)
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(128, 2))
    target = (np.sin(3 * X[:, :1]) * X[:, 1:]).astype(np.float32)
    Xt, Yt = gg.tensor(X, dtype="float32", device=device), gg.tensor(target, device=device)
    model = nn.Sequential(nn.Linear(2, 32), nn.Sigmoid(), nn.Linear(32, 1)).to(device)
    opt = gg.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    for _ in range(1500):
        loss = F.mse_loss(model(Xt), Yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * float(np.var(target))  # explains over 90% of the variance
