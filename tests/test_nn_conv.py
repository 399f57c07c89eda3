"""Convolution, pooling, batch norm and dropout layers: values and gradients equal to PyTorch's
in float64 (oracle tests, skipped without torch), gradchecks on every backend (always on),
BatchNorm's running statistics and train/eval, dropout's statistics, and errors that name the
layer and the shapes."""
import math

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F

ORACLE = dict(rtol=1e-10, atol=1e-12)


def leaf(a, device="cpu"):
    return gg.tensor(a, dtype="float64", device=device, requires_grad=True)


def _copy_params(ours, theirs):
    """PyTorch's module's parameters set to ours (the layouts are the same)."""
    import torch
    with torch.no_grad():
        for name, p in ours.named_parameters():
            dict(theirs.named_parameters())[name].copy_(torch.tensor(p.numpy()))


def _compare_layer(ours, theirs, x, rng, train=True):
    """Forward values, the input's and every parameter's gradient of <v, y>, equal to PyTorch's."""
    import torch
    theirs = theirs.double()
    _copy_params(ours, theirs)
    ours.train(train), theirs.train(train)
    xg, xt = leaf(x), torch.tensor(x, requires_grad=True)
    y, yt = ours(xg), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **ORACLE)
    v = rng.standard_normal(yt.shape)
    y.backward(gg.tensor(v))
    yt.backward(torch.tensor(v))
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), **ORACLE)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), **ORACLE)


CONV2D = [   # (in, out, kernel, kwargs, input shape)
    (3, 4, 3, {}, (2, 3, 7, 6)),
    (4, 6, (3, 2), dict(stride=2, padding=1), (2, 4, 9, 8)),
    (4, 4, 3, dict(padding="same", dilation=2, groups=2), (2, 4, 8, 7)),
    (4, 8, 2, dict(padding="same", bias=False, groups=4), (1, 4, 5, 6)),
    (3, 2, (1, 3), dict(stride=(1, 2), padding=(0, 2), dilation=(1, 3)), (2, 3, 4, 11)),
    (2, 3, 1, {}, (2, 2, 4, 4)),                                   # pointwise: no column buffer
    (2, 3, 3, dict(padding="valid"), (2, 3 - 1, 5, 5)),
    (3, 4, 3, dict(padding=2, padding_mode="reflect"), (2, 3, 6, 5)),
    (3, 4, 3, dict(padding=1, padding_mode="replicate", stride=2), (2, 3, 6, 5)),
    (3, 4, (3, 2), dict(padding=(1, 2), padding_mode="circular"), (2, 3, 6, 5)),
    (3, 4, 3, dict(padding=1), (3, 6, 5)),                          # unbatched
]


@pytest.mark.parametrize("case", CONV2D, ids=lambda c: str(c[3]) + str(c[4]))
def test_conv2d_equals_pytorch(case, rng):
    torch = pytest.importorskip("torch")
    cin, cout, k, kw, shape = case
    gg.manual_seed(0)
    ours = nn.Conv2d(cin, cout, k, dtype=np.float64, **kw)
    _compare_layer(ours, torch.nn.Conv2d(cin, cout, k, **kw), rng.standard_normal(shape), rng)


CONV1D = [
    (3, 4, 3, {}, (2, 3, 9)),
    (4, 6, 4, dict(stride=2, padding=3, dilation=2, groups=2), (2, 4, 13)),
    (2, 2, 4, dict(padding="same", bias=False), (3, 2, 7)),
    (2, 3, 3, dict(padding=2, padding_mode="circular"), (2, 2, 6)),
    (2, 3, 3, dict(padding=1), (2, 8)),                             # unbatched
]


@pytest.mark.parametrize("case", CONV1D, ids=lambda c: str(c[3]) + str(c[4]))
def test_conv1d_equals_pytorch(case, rng):
    torch = pytest.importorskip("torch")
    cin, cout, k, kw, shape = case
    ours = nn.Conv1d(cin, cout, k, dtype=np.float64, **kw)
    _compare_layer(ours, torch.nn.Conv1d(cin, cout, k, **kw), rng.standard_normal(shape), rng)


POOLS = [   # (our layer, PyTorch's class name, kwargs, input shape)
    (nn.MaxPool2d, "MaxPool2d", dict(kernel_size=2), (2, 3, 8, 8)),
    (nn.MaxPool2d, "MaxPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 2, 9, 8)),
    (nn.MaxPool2d, "MaxPool2d", dict(kernel_size=(2, 3), stride=1, dilation=2), (1, 2, 7, 9)),
    (nn.MaxPool2d, "MaxPool2d", dict(kernel_size=3, stride=2, ceil_mode=True), (2, 6, 6)),
    (nn.MaxPool1d, "MaxPool1d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 3, 10)),
    (nn.AvgPool2d, "AvgPool2d", dict(kernel_size=2), (2, 3, 8, 8)),
    (nn.AvgPool2d, "AvgPool2d", dict(kernel_size=3, stride=2, padding=1), (2, 2, 9, 8)),
    (nn.AvgPool2d, "AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False,
                                     ceil_mode=True), (2, 2, 8, 9)),
    (nn.AvgPool2d, "AvgPool2d", dict(kernel_size=(2, 3), padding=(1, 1), divisor_override=5), (1, 2, 7, 7)),
    (nn.AvgPool1d, "AvgPool1d", dict(kernel_size=4, stride=3, padding=2, count_include_pad=False), (2, 3, 11)),
    (nn.AdaptiveAvgPool2d, "AdaptiveAvgPool2d", dict(output_size=1), (2, 3, 5, 7)),
    (nn.AdaptiveAvgPool2d, "AdaptiveAvgPool2d", dict(output_size=(3, 2)), (2, 3, 7, 5)),
    (nn.AdaptiveAvgPool2d, "AdaptiveAvgPool2d", dict(output_size=(None, 2)), (2, 3, 6, 4)),
    (nn.AdaptiveAvgPool1d, "AdaptiveAvgPool1d", dict(output_size=4), (2, 3, 10)),
]


@pytest.mark.parametrize("case", POOLS, ids=lambda c: f"{c[1]}{c[2]}{c[3]}")
def test_pooling_equals_pytorch(case, rng):
    torch = pytest.importorskip("torch")
    ours, name, kw, shape = case
    x = rng.standard_normal(shape)
    _compare_layer(ours(**kw), getattr(torch.nn, name)(**kw), x, rng)


def test_max_pool_return_indices_and_ties_equal_pytorch(rng):
    torch = pytest.importorskip("torch")
    x = np.round(rng.standard_normal((2, 3, 7, 8)))          # many ties: the first one wins
    y, idx = F.max_pool2d(leaf(x), 3, stride=2, padding=1, return_indices=True)
    yt, it = torch.nn.functional.max_pool2d(torch.tensor(x), 3, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), yt.numpy())
    np.testing.assert_array_equal(idx.numpy(), it.numpy())
    assert idx.dtype == np.int64


def test_batch_norm_train_eval_and_running_statistics_equal_pytorch(rng):
    torch = pytest.importorskip("torch")
    for ours, theirs, shape in ((nn.BatchNorm2d(3, momentum=0.3, dtype=np.float64),
                                 torch.nn.BatchNorm2d(3, momentum=0.3), (4, 3, 5, 6)),
                                (nn.BatchNorm1d(4, momentum=None, dtype=np.float64),
                                 torch.nn.BatchNorm1d(4, momentum=None), (6, 4)),
                                (nn.BatchNorm1d(2, eps=1e-3, dtype=np.float64),
                                 torch.nn.BatchNorm1d(2, eps=1e-3), (3, 2, 5))):
        theirs = theirs.double()
        with gg.no_grad():
            ours.weight.data[...] = rng.standard_normal(ours.weight.shape)
            ours.bias.data[...] = rng.standard_normal(ours.bias.shape)
        for _ in range(3):
            _compare_layer(ours, theirs, rng.standard_normal(shape) * 2 + 1, rng, train=True)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy(),
                                       **ORACLE)
        _compare_layer(ours, theirs, rng.standard_normal(shape), rng, train=False)
        assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("affine, track", [(False, True), (True, False), (False, False)])
def test_batch_norm_options_equal_pytorch(affine, track, rng):
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm2d(3, affine=affine, track_running_stats=track, dtype=np.float64)
    theirs = torch.nn.BatchNorm2d(3, affine=affine, track_running_stats=track)
    _compare_layer(ours, theirs, rng.standard_normal((2, 3, 4, 4)), rng, train=True)
    _compare_layer(ours, theirs, rng.standard_normal((2, 3, 4, 4)), rng, train=False)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_batch_norm_running_statistics_by_hand(device, rng):
    """momentum m: running ← (1 - m) running + m batch (unbiased variance); None: the mean of
    the batches so far; eval normalises with the running statistics."""
    x1, x2 = rng.standard_normal((5, 2, 3)) + 3, rng.standard_normal((5, 2, 3)) * 2
    stats = [(x.mean(axis=(0, 2)), x.var(axis=(0, 2), ddof=1)) for x in (x1, x2)]
    bn = nn.BatchNorm1d(2, momentum=0.25, dtype=np.float64, device=device)
    cumulative = nn.BatchNorm1d(2, momentum=None, dtype=np.float64, device=device)
    for x in (x1, x2):
        bn(gg.tensor(x, device=device)), cumulative(gg.tensor(x, device=device))
    mean = 0.75 * (0.75 * 0 + 0.25 * stats[0][0]) + 0.25 * stats[1][0]
    var = 0.75 * (0.75 * 1 + 0.25 * stats[0][1]) + 0.25 * stats[1][1]
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    np.testing.assert_allclose(cumulative.running_mean.numpy(), (stats[0][0] + stats[1][0]) / 2, rtol=1e-12)
    np.testing.assert_allclose(cumulative.running_var.numpy(), (stats[0][1] + stats[1][1]) / 2, rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 2
    bn.eval()
    y = bn(gg.tensor(x1, device=device)).numpy()
    want = (x1 - mean.reshape(1, -1, 1)) / np.sqrt(var.reshape(1, -1, 1) + 1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)   # eval leaves them


def test_batch_norm_state_dict_round_trip_and_to(rng):
    bn = nn.BatchNorm2d(3, dtype=np.float64)
    bn(gg.tensor(rng.standard_normal((4, 3, 2, 2))))
    state = {k: v.numpy().copy() for k, v in bn.state_dict().items()}
    assert set(state) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    fresh = nn.BatchNorm2d(3, dtype=np.float64)
    fresh.load_state_dict(state)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k])
    fresh.to(dtype=np.float32)
    assert fresh.running_mean.dtype == np.float32 and fresh.num_batches_tracked.dtype == np.int64
    assert [n for n, _ in fresh.named_parameters()] == ["weight", "bias"]
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    assert "1.running_var" in model.state_dict() and len(list(model.buffers())) == 3


@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2), (2, 2, 5, 4)),
    (lambda: nn.Conv1d(2, 3, 3, dilation=2, padding="same"), (2, 2, 7)),
    (lambda: nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), (1, 2, 4, 4)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (1, 2, 5, 5)),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), (1, 2, 5, 7)),
])
def test_layers_gradcheck(layer, shape, device, rng):
    m = layer().to(device, dtype=np.float64)
    params = list(m.parameters())
    x = leaf(rng.standard_normal(shape), device)
    assert gg.gradcheck(lambda x, *ps: m(x), [x, *params])


def test_max_pool_gradcheck(device, rng):
    x = rng.permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5) * 0.1     # no ties
    assert gg.gradcheck(lambda t: F.max_pool2d(t, 3, stride=2, padding=1, ceil_mode=True),
                        [leaf(x, device)])


# --------------------------------------------------------------------------- dropout

def test_dropout_statistics_scale_and_gradient(device):
    gg.manual_seed(3)
    x = gg.tensor(np.ones((400, 500)), device=device, requires_grad=True)
    y = F.dropout(x, 0.2)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.8) < 0.005
    np.testing.assert_allclose(y.numpy()[kept], 1.25, rtol=1e-15)
    y.backward(gg.tensor(np.full((400, 500), 2.0), device=device))
    np.testing.assert_array_equal(x.grad.numpy(), 2.0 * y.numpy())     # the same mask
    gg.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.2).numpy(), y.numpy())  # seeded
    assert not np.array_equal(F.dropout(x, 0.2).numpy(), y.numpy())      # fresh each call


def test_dropout_identities_and_channel_dropout(device):
    x = gg.tensor(np.arange(1.0, 25.0).reshape(2, 3, 2, 2), device=device)
    layer = nn.Dropout(0.5)
    layer.eval()
    assert layer(x) is x and F.dropout(x, 0.0) is x and F.dropout(x, 0.7, training=False) is x
    assert not np.any(F.dropout(x, 1.0).numpy())
    gg.manual_seed(0)
    y = nn.Dropout2d(0.5)(gg.tensor(np.ones((8, 16, 3, 3)), device=device)).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))   # whole channels
    assert set(np.unique(y)) == {0.0, 2.0}


def test_dropout_gradcheck(device, rng):
    x = leaf(rng.standard_normal((3, 4)), device)
    gg.manual_seed(5)
    key_state = gg.backend.cpu_generator().bit_generator.state

    def fn(t):   # the same mask on every evaluation
        gg.backend.cpu_generator().bit_generator.state = key_state
        return F.dropout(t, 0.4)
    assert gg.gradcheck(fn, [x])


# --------------------------------------------------------------------------- init and repr

def test_conv_reset_parameters_follow_pytorch_fan_rule():
    gg.manual_seed(0)
    conv = nn.Conv2d(6, 32, (3, 5), groups=2)
    bound = 1 / math.sqrt(3 * 3 * 5)              # fan_in = in/groups · kh · kw
    w, b = conv.weight.numpy(), conv.bias.numpy()
    assert conv.weight.shape == (32, 3, 3, 5) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and np.abs(b).std() > 0.2 * bound
    assert repr(conv) == "Conv2d(6, 32, kernel_size=(3, 5), stride=(1, 1), groups=2)"
    assert repr(nn.BatchNorm2d(4, momentum=None)) == ("BatchNorm2d(4, eps=1e-05, momentum=None, affine=True, "
                                                      "track_running_stats=True)")


def test_layer_reprs_match_pytorch():
    torch = pytest.importorskip("torch")
    for ours, theirs in ((nn.Conv1d(2, 4, 3, padding="same", bias=False), torch.nn.Conv1d(2, 4, 3, padding="same", bias=False)),
                         (nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"),
                          torch.nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect")),
                         (nn.Dropout(0.3), torch.nn.Dropout(0.3)),
                         (nn.AdaptiveAvgPool2d((1, 1)), torch.nn.AdaptiveAvgPool2d((1, 1)))):
        assert repr(ours) == repr(theirs)


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, match", [
    (lambda: nn.Conv2d(3, 4, 3)(gg.zeros((2, 2, 5, 5))), r"conv2d: weight of shape \(4, 3, 3, 3\).*\(2, 2, 5, 5\)"),
    (lambda: nn.Conv2d(3, 4, 3)(gg.zeros((3, 5, 5, 5, 1))), r"conv2d: expected a 3-D .* 4-D .*\(3, 5, 5, 5, 1\)"),
    (lambda: nn.Conv2d(3, 4, 5)(gg.zeros((1, 3, 3, 3))), r"conv2d: the kernel \(5, 5\).*\(1, 3, 3, 3\)"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), r"Conv2d: in_channels \(3\).*groups \(2\)"),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), r"padding='same'.*strided"),
    (lambda: nn.Conv2d(3, 4, 3, padding="full"), r"padding must be"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), r"Conv2d: padding_mode"),
    (lambda: F.conv2d(gg.zeros((1, 2, 4, 4)), gg.zeros((3, 2, 2, 2)), gg.zeros(4)), r"conv2d: bias of shape \(4,\)"),
    (lambda: nn.MaxPool2d(2, padding=2)(gg.zeros((1, 1, 6, 6))), r"max_pool2d: padding \(2, 2\)"),
    (lambda: nn.MaxPool2d(4)(gg.zeros((1, 1, 3, 3))), r"max_pool2d: an input of shape \(1, 1, 3, 3\) is too small"),
    (lambda: nn.AvgPool2d(2)(gg.zeros((4, 4))), r"avg_pool2d: expected a 3-D .*\(4, 4\)"),
    (lambda: nn.BatchNorm2d(3)(gg.zeros((2, 4, 2, 2))), r"BatchNorm2d\(3\): an input of shape \(2, 4, 2, 2\)"),
    (lambda: nn.BatchNorm2d(3)(gg.zeros((2, 3))), r"BatchNorm2d: expected 4D input .*\(2, 3\)"),
    (lambda: nn.BatchNorm1d(3)(gg.zeros((1, 3))), r"batch_norm: expected more than 1 value per channel"),
    (lambda: nn.Dropout(1.5), r"Dropout: dropout probability has to be between 0 and 1"),
    (lambda: F.dropout(gg.zeros(3), -0.1), r"dropout: dropout probability"),
])
def test_bad_arguments_name_the_layer_and_shapes(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_conv_dtype_mismatch_is_a_type_error():
    with pytest.raises(TypeError, match="conv2d: input, weight and bias must share a dtype"):
        F.conv2d(gg.zeros((1, 2, 4, 4), dtype="float64"), gg.zeros((3, 2, 2, 2), dtype="float32"))
