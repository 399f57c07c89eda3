"""nn.init: PyTorch's initialisers, gains and fan rules, in place on each backend, seeded by
gg.manual_seed; gpugrad's (in, out) Linear weight gets the fans PyTorch's (out, in) one has."""
import math

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
from gpugrad.nn import init

from conftest import to_np


def ks_uniform(x, a, b):
    """Kolmogorov-Smirnov distance between the sample x and U(a, b)."""
    x = np.sort(np.asarray(x, np.float64).ravel())
    cdf = np.clip((x - a) / (b - a), 0, 1)
    n = len(x)
    return max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))


def ks_normal(x, std):
    x = np.sort(np.asarray(x, np.float64).ravel())
    cdf = np.array([(1 + math.erf(v / (std * math.sqrt(2)))) / 2 for v in x])
    n = len(x)
    return max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))


def ks_limit(n):
    return 1.63 / math.sqrt(n)          # the 1% critical value


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1 and init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("relu") == math.sqrt(2) and init.calculate_gain("selu") == 0.75
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01 ** 2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="not a number"):
        init.calculate_gain("leaky_relu", "0.2")


def test_fan_rules():
    assert init.calculate_fan_in_and_fan_out(gg.zeros(16, 8, 3, 3)) == (72, 144)    # (out, in, kh, kw)
    assert init.calculate_fan_in_and_fan_out(gg.zeros(5, 3)) == (3, 5)              # PyTorch's (out, in)
    assert init.calculate_fan_in_and_fan_out(nn.Linear(3, 5).weight) == (3, 5)      # gpugrad's (in, out)
    w = init.set_fan_axes(gg.zeros(3, 5), fan_in_axis=0, fan_out_axis=1)
    assert init.calculate_fan_in_and_fan_out(w) == (3, 5)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.calculate_fan_in_and_fan_out(gg.zeros(4))
    with pytest.raises(ValueError, match="set_fan_axes"):
        init.set_fan_axes(gg.zeros(2, 2, 2), 0, 1)


def test_linear_initialises_with_pytorchs_distribution():
    gg.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.shape == (400, 300) and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert ks_uniform(w, -bound, bound) < ks_limit(w.size)
    assert ks_uniform(b, -bound, bound) < ks_limit(b.size) * 1.5
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.Linear(400, 300).weight.detach().numpy()       # (out, in)
    assert ref.shape == (300, 400)
    t_bound = float(np.abs(ref).max())
    assert t_bound <= bound and t_bound == pytest.approx(bound, rel=1e-3)
    assert ks_uniform(ref, -bound, bound) < ks_limit(ref.size)    # the same law as ours
    qs = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    np.testing.assert_allclose(np.quantile(w, qs), np.quantile(ref, qs), atol=bound * 0.02)


def test_fan_out_modes_read_the_layer_not_the_shape():
    torch = pytest.importorskip("torch")
    gg.manual_seed(1)
    layer = nn.Linear(50, 2000)
    init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    ref = torch.nn.Linear(50, 2000).weight
    torch.nn.init.kaiming_normal_(ref, mode="fan_out", nonlinearity="relu")
    want = math.sqrt(2 / 2000)
    assert layer.weight.numpy().std() == pytest.approx(want, rel=0.02)
    assert float(ref.detach().std()) == pytest.approx(want, rel=0.02)
    init.xavier_uniform_(layer.weight, gain=init.calculate_gain("tanh"))
    bound = 5 / 3 * math.sqrt(6 / 2050)
    assert ks_uniform(layer.weight.numpy(), -bound, bound) < ks_limit(100000)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_initialisers_fill_in_place_on_each_backend(device, dtype):
    t = gg.zeros(64, 32, 3, 3, dtype=dtype, device=device)
    version = t._version
    fan_in, fan_out = 32 * 9, 64 * 9
    gg.manual_seed(5)
    assert init.kaiming_uniform_(t, nonlinearity="relu") is t
    assert t._version > version and t.dtype == dtype and t.device == device
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    values = to_np(t).astype(np.float64)
    assert np.abs(values).max() <= bound * (1 + 1e-3)
    assert ks_uniform(values, -bound, bound) < ks_limit(values.size)
    gg.manual_seed(5)
    cpu = init.kaiming_uniform_(gg.zeros(64, 32, 3, 3, dtype=dtype), nonlinearity="relu")
    np.testing.assert_array_equal(values, cpu.numpy().astype(np.float64))   # same seeded draws
    init.xavier_normal_(t)
    assert to_np(t).astype(np.float64).std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.03)
    init.normal_(t, mean=3.0, std=0.5)
    assert to_np(t).astype(np.float64).mean() == pytest.approx(3.0, abs=0.01)
    init.uniform_(t, -2, -1)
    assert -2 <= to_np(t).min() and to_np(t).max() <= -1
    init.constant_(t, 0.25)
    assert np.all(to_np(t) == 0.25)
    init.zeros_(t)
    assert not to_np(t).any()
    init.ones_(t)
    assert np.all(to_np(t) == 1)


def test_inits_under_autograd_are_modifications(device):
    w = gg.ones(3, 4, device=device, requires_grad=True)
    y = (w * w).sum()
    init.normal_(w)                                        # a leaf in use: backward must refuse
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_eye_orthogonal_trunc_normal(device):
    e = init.eye_(gg.zeros(3, 5, device=device))
    np.testing.assert_array_equal(to_np(e), np.eye(3, 5))
    q = init.orthogonal_(gg.zeros(6, 4, device=device, dtype=gg.float64), gain=2.0)
    np.testing.assert_allclose(to_np(q).T @ to_np(q), 4 * np.eye(4), atol=1e-12)
    wide = init.orthogonal_(gg.zeros(3, 2, 2, device=device, dtype=gg.float64))
    flat = to_np(wide).reshape(3, 4)
    np.testing.assert_allclose(flat @ flat.T, np.eye(3), atol=1e-12)
    t = init.trunc_normal_(gg.zeros(20000, device=device), std=2.0, a=-1.0, b=3.0)
    v = to_np(t)
    assert v.min() >= -1.0 and v.max() <= 3.0 and v.min() < -0.99 and v.max() > 2.99
    with pytest.raises(ValueError, match="eye_ needs a 2-D"):
        init.eye_(gg.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="almost none"):
        init.trunc_normal_(gg.zeros(3), a=50.0, b=51.0)


def test_init_errors():
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(gg.zeros(2, 2), mode="fan_avg")
    with pytest.raises(TypeError, match="fills a Tensor in place"):
        init.zeros_(np.zeros(3))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(gg.zeros(3))


def test_generator_argument_draws_from_the_given_generator():
    a = init.normal_(gg.zeros(5), generator=np.random.default_rng(7)).numpy()
    b = init.normal_(gg.zeros(5), generator=np.random.default_rng(7)).numpy()
    np.testing.assert_array_equal(a, b)
    assert ks_normal(init.normal_(gg.zeros(4000, dtype=gg.float64), std=1.0).numpy(), 1.0) < ks_limit(4000)
