"""Recurrent layers (gpugrad/nn/rnn.py) and the LSTM step op and kernels (functions/recurrent.py,
kernels/rnn.py): PyTorch's values in float64 with PyTorch's weights loaded by name (oracle
tests, skipped without torch), and always-on checks: finite-difference gradients, closed forms
of one step, names and shapes, errors."""
import numpy as np
import pytest

import gpugrad as gg
from gpugrad import kernels, nn
from gpugrad.functions.recurrent import lstm_step

from conftest import to_np

LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
CELLS = {"LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell, "RNNCell": nn.RNNCell}

# (kind, input, hidden, options, seq, batch)
CONFIGS = [
    ("LSTM", 3, 4, {}, 5, 2),
    ("LSTM", 2, 3, {"num_layers": 2, "bidirectional": True}, 4, 3),
    ("LSTM", 3, 5, {"batch_first": True, "bias": False}, 3, 2),
    ("LSTM", 4, 2, {"num_layers": 3, "batch_first": True, "bidirectional": True}, 6, 1),
    ("GRU", 3, 4, {}, 5, 2),
    ("GRU", 2, 3, {"num_layers": 2, "bidirectional": True, "batch_first": True}, 4, 3),
    ("GRU", 3, 2, {"bias": False}, 3, 2),
    ("RNN", 3, 4, {"nonlinearity": "tanh", "num_layers": 2}, 4, 2),
    ("RNN", 3, 4, {"nonlinearity": "relu", "bidirectional": True}, 4, 2),
]


def config_id(c):
    return f"{c[0]}-{c[1]}x{c[2]}-" + "-".join(f"{k}={v}" for k, v in c[3].items())


def draw(shape, rng, device="cpu", requires_grad=True):
    return gg.tensor(rng.normal(size=shape), dtype="float64", device=device, requires_grad=requires_grad)


def initial_state(kind, layer, batch, rng, device):
    shape = (layer.num_layers * layer.num_directions, batch, layer.hidden_size)
    if kind == "LSTM":
        return draw(shape, rng, device), draw(shape, rng, device)
    return draw(shape, rng, device)


def flat(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_layers_equal_pytorch_outputs_states_and_gradients(config, device, rng):
    torch = pytest.importorskip("torch")
    kind, n_in, hidden, options, seq, batch = config
    layer = LAYERS[kind](n_in, hidden, dtype=np.float64, device=device, **options)
    ref = getattr(torch.nn, kind)(n_in, hidden, **options).double()
    ref.load_state_dict({k: torch.tensor(to_np(v)) for k, v in layer.state_dict().items()})
    shape = (batch, seq, n_in) if options.get("batch_first") else (seq, batch, n_in)
    x = draw(shape, rng, device)
    h0 = initial_state(kind, layer, batch, rng, device)
    out, hn = layer(x, h0)
    tx = torch.tensor(to_np(x), requires_grad=True)
    th0 = tuple(torch.tensor(to_np(h), requires_grad=True) for h in flat(h0))
    tout, thn = ref(tx, th0 if kind == "LSTM" else th0[0])
    np.testing.assert_allclose(to_np(out), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(flat(hn), flat(thn)):
        np.testing.assert_allclose(to_np(mine), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = rng.normal(size=out.shape)
    loss = (out * gg.tensor(weights, device=device)).sum() + sum((s * s).sum() for s in flat(hn))
    tloss = (tout * torch.tensor(weights)).sum() + sum((s * s).sum() for s in flat(thn))
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(to_np(x.grad), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for mine, theirs in zip(flat(h0), th0):
        np.testing.assert_allclose(to_np(mine.grad), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
    tparams = dict(ref.named_parameters())
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(to_np(p.grad), tparams[name].grad.numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind,options", [("LSTMCell", {}), ("GRUCell", {}), ("RNNCell", {}),
                                          ("RNNCell", {"nonlinearity": "relu"}),
                                          ("GRUCell", {"bias": False})])
def test_cells_equal_pytorch(kind, options, device, rng):
    torch = pytest.importorskip("torch")
    cell = CELLS[kind](3, 4, dtype=np.float64, device=device, **options)
    ref = getattr(torch.nn, kind)(3, 4, **options).double()
    ref.load_state_dict({k: torch.tensor(to_np(v)) for k, v in cell.state_dict().items()})
    x = draw((2, 3), rng, device)
    state = (draw((2, 4), rng, device), draw((2, 4), rng, device)) if kind == "LSTMCell" else draw((2, 4), rng, device)
    out = flat(cell(x, state))
    tx = torch.tensor(to_np(x), requires_grad=True)
    tstate = tuple(torch.tensor(to_np(s), requires_grad=True) for s in flat(state))
    tout = flat(ref(tx, tstate if kind == "LSTMCell" else tstate[0]))
    for mine, theirs in zip(out, tout):
        np.testing.assert_allclose(to_np(mine), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    sum((o * o).sum() for o in out).backward()
    sum((o * o).sum() for o in tout).backward()
    # an absolute floor too: a ReLU cell's gradients are exact zeros next to rounding-level ones
    np.testing.assert_allclose(to_np(x.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-13)
    tparams = dict(ref.named_parameters())
    for name, p in cell.named_parameters():
        np.testing.assert_allclose(to_np(p.grad), tparams[name].grad.numpy(), rtol=1e-10, atol=1e-13,
                                   err_msg=name)


def test_parameter_names_and_shapes_follow_pytorch():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    names = [n for n, _ in lstm.named_parameters()]
    expect = [f"{w}_l{k}{r}" for k in range(2) for r in ("", "_reverse")
              for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert names == expect
    assert lstm.weight_ih_l0.shape == (16, 3) and lstm.weight_ih_l1.shape == (16, 8)
    assert lstm.weight_hh_l1_reverse.shape == (16, 4) and lstm.bias_hh_l0.shape == (16,)
    assert nn.GRU(3, 4).weight_ih_l0.shape == (12, 3) and nn.RNN(3, 4).weight_hh_l0.shape == (4, 4)
    assert [n for n, _ in nn.GRU(3, 4, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert [n for n, _ in nn.LSTMCell(3, 4).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    bound = 1 / np.sqrt(4)
    values = np.concatenate([to_np(p).ravel() for p in lstm.parameters()])
    assert values.min() >= -bound and values.max() <= bound and values.std() > bound / 3
    assert repr(lstm) == "LSTM(3, 4, num_layers=2, bidirectional=True)"


@pytest.mark.parametrize("kind,options", [
    ("LSTM", {"num_layers": 2, "bidirectional": True}), ("GRU", {"batch_first": True}),
    ("RNN", {"nonlinearity": "tanh", "bidirectional": True}), ("LSTM", {"bias": False})])
def test_layers_gradcheck(kind, options, device, rng):
    layer = LAYERS[kind](2, 3, dtype=np.float64, device=device, **options)
    params = list(layer.parameters())
    x = draw((2, 3, 2) if options.get("batch_first") else (3, 2, 2), rng, device)
    h0 = initial_state(kind, layer, 2, rng, device)

    def run(x, *args):
        state = tuple(args[:2]) if kind == "LSTM" else args[0]
        out, hn = layer(x, state)
        return out.sum() * 0.5 + sum((s * s).sum() for s in flat(hn))

    assert gg.gradcheck(run, (x, *flat(h0)))
    # each parameter's gradient at two entries, against central differences
    for p in params:
        p.grad = None
    run(x, *flat(h0)).backward()
    eps = 1e-6
    for p in params:
        grad = to_np(p.grad)
        for k in ((0,) * p.ndim, tuple(n - 1 for n in p.shape)):
            old = float(to_np(p)[k])
            with gg.no_grad():
                p[k] = old + eps
                up = run(x, *flat(h0)).item()
                p[k] = old - eps
                down = run(x, *flat(h0)).item()
                p[k] = old
            assert abs((up - down) / (2 * eps) - grad[k]) < 1e-6 * max(1.0, abs(grad[k]))


def test_the_lstm_step_equals_its_closed_form_and_gradchecks_to_second_order(device, rng):
    G, c = rng.normal(size=(3, 8)), rng.normal(size=(3, 2))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = sig(G[:, :2]), sig(G[:, 2:4]), np.tanh(G[:, 4:6]), sig(G[:, 6:])
    gates, cp = draw((3, 8), rng, device), draw((3, 2), rng, device)
    with gg.no_grad():
        gates.copy_(gg.tensor(G, device=device))
        cp.copy_(gg.tensor(c, device=device))
    h, c2 = lstm_step(gates, cp)
    np.testing.assert_allclose(to_np(c2), f * c + i * g, rtol=1e-12)
    np.testing.assert_allclose(to_np(h), o * np.tanh(f * c + i * g), rtol=1e-12)
    fn = lambda a, b: lstm_step(a, b)[0] * 2.0 + lstm_step(a, b)[1] ** 2  # noqa: E731
    assert gg.gradcheck(fn, (gates, cp))
    assert gg.gradgradcheck(fn, (gates, cp))


def test_the_lstm_twins_hold_together(rng):
    """kernels.lstm_cell_bwd is the derivative of kernels.lstm_cell_fwd (central differences)."""
    G, c = rng.normal(size=(2, 12)), rng.normal(size=(2, 3))
    dh, dc = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    dG, dcp = kernels.lstm_cell_bwd(G, c, dh, dc)
    loss = lambda G, c: sum((a * w).sum() for a, w in zip(kernels.lstm_cell_fwd(G, c), (dh, dc)))  # noqa: E731
    eps = 1e-6
    for arr, grad in ((G, dG), (c, dcp)):
        num = np.zeros_like(arr)
        for k in np.ndindex(arr.shape):
            old = arr[k]
            arr[k] = old + eps
            up = loss(G, c)
            arr[k] = old - eps
            num[k] = (up - loss(G, c)) / (2 * eps)
            arr[k] = old
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match=r"lstm_cell: gates of shape \(2, 10\)"):
        kernels.lstm_cell_fwd(G[:, :10], c)


def test_batch_first_unbatched_and_default_state(rng):
    gg.manual_seed(0)
    lstm = nn.LSTM(3, 4, batch_first=True, dtype=np.float64)
    x = draw((2, 5, 3), rng, requires_grad=False)
    out, (h, c) = lstm(x)
    assert out.shape == (2, 5, 4) and h.shape == (1, 2, 4) and c.shape == (1, 2, 4)
    np.testing.assert_allclose(to_np(out)[:, -1], to_np(h)[0])
    zeros = gg.zeros(1, 2, 4, dtype="float64")
    out2, _ = lstm(x, (zeros, zeros))
    np.testing.assert_array_equal(to_np(out2), to_np(out))
    one, (h1, _) = lstm(x[0].reshape(5, 3))          # unbatched (seq, input)
    assert one.shape == (5, 4) and h1.shape == (1, 4)
    np.testing.assert_allclose(to_np(one), to_np(out)[0], rtol=1e-12)
    cell = nn.GRUCell(3, 4, dtype=np.float64)
    assert cell(x[0, 0].reshape(3)).shape == (4,)


def test_dropout_between_layers_only_in_training(rng):
    gg.manual_seed(1)
    gru = nn.GRU(3, 4, num_layers=2, dropout=0.5, dtype=np.float64)
    x = draw((4, 2, 3), rng, requires_grad=False)
    gru.eval()
    a, b = gru(x)[0], gru(x)[0]
    np.testing.assert_array_equal(to_np(a), to_np(b))
    gru.train()
    c, d = gru(x)[0], gru(x)[0]
    assert not np.allclose(to_np(c), to_np(a)) and not np.allclose(to_np(c), to_np(d))
    one = nn.GRU(3, 4, num_layers=1, dropout=0.5, dtype=np.float64)   # no layer after: no dropout
    np.testing.assert_array_equal(to_np(one(x)[0]), to_np(one(x)[0]))


def test_bad_arguments_name_the_layer_and_the_shapes():
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"LSTM: expected an input of shape \(seq, batch, 3\).*\(5, 2, 7\)"):
        lstm(gg.zeros(5, 2, 7))
    with pytest.raises(ValueError, match=r"LSTM: expected an initial state of shape \(1, 2, 4\), got \(2, 4\)"):
        lstm(gg.zeros(5, 2, 3), (gg.zeros(2, 4), gg.zeros(2, 4)))
    with pytest.raises(TypeError, match=r"LSTM: the initial state must be a tuple \(h_0, c_0\)"):
        lstm(gg.zeros(5, 2, 3), gg.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="GRU: hidden_size must be a positive int"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="LSTM: dropout must be a probability"):
        nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(NotImplementedError, match="LSTM: proj_size=2"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"LSTMCell: expected an input of shape \(batch, 3\)"):
        nn.LSTMCell(3, 4)(gg.zeros(2, 5))
    for shape, batch_first in (((0, 2, 3), False), ((2, 0, 3), True), ((0, 3), False)):
        with pytest.raises(ValueError, match=r"GRU: an input of shape \(.*\) has no time steps"):
            nn.GRU(3, 4, batch_first=batch_first)(gg.zeros(*shape))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients(kind):
    """As in PyTorch: a batch of 0 sequences runs, with outputs and states of batch 0."""
    layer = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True)
    x = gg.zeros(5, 0, 3, requires_grad=True)
    out, state = layer(x)
    h = state[0] if kind == "LSTM" else state
    assert out.shape == (5, 0, 8) and h.shape == (4, 0, 4)
    (out.sum() + h.sum()).backward()
    assert x.grad.shape == (5, 0, 3)
    np.testing.assert_array_equal(layer.weight_hh_l1_reverse.grad.numpy(), 0)


def test_the_gru_twins_hold_together(rng):
    """kernels.gru_cell_bwd is the derivative of kernels.gru_cell_fwd (central differences),
    and the fused step equals PyTorch's formula written out."""
    xp, hp = rng.normal(size=(2, 9)), rng.normal(size=(2, 9))
    h, dy = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    grads = kernels.gru_cell_bwd(xp, hp, h, dy)
    loss = lambda: (kernels.gru_cell_fwd(xp, hp, h) * dy).sum()  # noqa: E731
    eps = 1e-6
    for arr, grad in zip((xp, hp, h), grads):
        num = np.zeros_like(arr)
        for k in np.ndindex(arr.shape):
            old = arr[k]
            arr[k] = old + eps
            up = loss()
            arr[k] = old - eps
            num[k] = (up - loss()) / (2 * eps)
            arr[k] = old
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    r, z = sig(xp[:, :3] + hp[:, :3]), sig(xp[:, 3:6] + hp[:, 3:6])
    n = np.tanh(xp[:, 6:] + r * hp[:, 6:])
    np.testing.assert_allclose(kernels.gru_cell_fwd(xp, hp, h), (1 - z) * n + z * h, rtol=1e-12)
    with pytest.raises(ValueError, match=r"gru_cell: projections of shapes \(2, 9\) and \(2, 6\)"):
        kernels.gru_cell_fwd(xp, hp[:, :6], h)
