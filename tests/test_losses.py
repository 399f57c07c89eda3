"""The losses of issues 15/16 and their nn modules: values and gradients equal to PyTorch's
(float64) in every reduction and option, gradcheck on each backend, closed forms that stand
without PyTorch, the fused fast path of the plain mean cross-entropy, and errors."""
import math

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F
from gpugrad.functions.loss import SoftmaxCrossEntropy
from conftest import assert_raises_naming

REDUCTIONS = ["mean", "sum", "none"]
W = np.array([0.5, 2.0, 1.25, 1.0])


def _inputs(rng):
    x = rng.standard_normal((6, 4))
    y = np.array([0, 3, 1, -100, 2, 3])
    t = rng.random((6, 4))
    return x, y, t


# name -> (gpugrad call, torch call), each of (x, labels (-100 among them), labels in [0, 4),
# targets, weight, reduction)
LOSSES = {
    "cross_entropy": (lambda x, y, y4, t, w, r: F.cross_entropy(x, y, reduction=r),
                      lambda tF, x, y, y4, t, w, r: tF.cross_entropy(x, y, reduction=r)),
    "cross_entropy_weight_smoothing": (
        lambda x, y, y4, t, w, r: F.cross_entropy(x, y, weight=w, reduction=r, label_smoothing=0.15),
        lambda tF, x, y, y4, t, w, r: tF.cross_entropy(x, y, weight=w, reduction=r, label_smoothing=0.15)),
    "cross_entropy_ignore_index_3": (
        lambda x, y, y4, t, w, r: F.cross_entropy(x, y4, ignore_index=3, reduction=r),
        lambda tF, x, y, y4, t, w, r: tF.cross_entropy(x, y4, ignore_index=3, reduction=r)),
    "cross_entropy_probabilities": (
        lambda x, y, y4, t, w, r: F.cross_entropy(x, t, weight=w, reduction=r, label_smoothing=0.1),
        lambda tF, x, y, y4, t, w, r: tF.cross_entropy(x, t, weight=w, reduction=r, label_smoothing=0.1)),
    "nll_loss": (lambda x, y, y4, t, w, r: F.nll_loss(x.log_softmax(axis=1), y, weight=w, reduction=r),
                 lambda tF, x, y, y4, t, w, r: tF.nll_loss(x.log_softmax(1), y, weight=w, reduction=r)),
    "multi_margin_loss": (
        lambda x, y, y4, t, w, r: F.multi_margin_loss(x, y4, margin=0.7, weight=w, reduction=r),
        lambda tF, x, y, y4, t, w, r: tF.multi_margin_loss(x, y4, margin=0.7, weight=w, reduction=r)),
    "multi_margin_loss_p2": (
        lambda x, y, y4, t, w, r: F.multi_margin_loss(x, y4, p=2, reduction=r),
        lambda tF, x, y, y4, t, w, r: tF.multi_margin_loss(x, y4, p=2, reduction=r)),
    "mse_loss": (lambda x, y, y4, t, w, r: F.mse_loss(x, t, reduction=r),
                 lambda tF, x, y, y4, t, w, r: tF.mse_loss(x, t, reduction=r)),
    "l1_loss": (lambda x, y, y4, t, w, r: F.l1_loss(x, t, reduction=r),
                lambda tF, x, y, y4, t, w, r: tF.l1_loss(x, t, reduction=r)),
    "smooth_l1_loss": (lambda x, y, y4, t, w, r: F.smooth_l1_loss(x, t, reduction=r, beta=0.4),
                       lambda tF, x, y, y4, t, w, r: tF.smooth_l1_loss(x, t, reduction=r, beta=0.4)),
    "binary_cross_entropy": (
        lambda x, y, y4, t, w, r: F.binary_cross_entropy(x.sigmoid(), t, weight=w, reduction=r),
        lambda tF, x, y, y4, t, w, r: tF.binary_cross_entropy(x.sigmoid(), t, weight=w, reduction=r)),
    "binary_cross_entropy_with_logits": (
        lambda x, y, y4, t, w, r: F.binary_cross_entropy_with_logits(x * 20, t, weight=w, reduction=r,
                                                                 pos_weight=w * 2),
        lambda tF, x, y, y4, t, w, r: tF.binary_cross_entropy_with_logits(x * 20, t, weight=w, reduction=r,
                                                                      pos_weight=w * 2)),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_values_and_gradients_equal_pytorchs(name, reduction, rng):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as tF
    x, y, t = _inputs(rng)
    y4 = np.abs(y) % 4
    gx = gg.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    ours = LOSSES[name][0](gx, gg.tensor(y), gg.tensor(y4), gg.tensor(t), gg.tensor(W), reduction)
    theirs = LOSSES[name][1](tF, tx, torch.tensor(y), torch.tensor(y4), torch.tensor(t),
                             torch.tensor(W), reduction)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    v = rng.standard_normal(ours.shape)
    (ours * gg.tensor(v)).sum().backward()
    (theirs * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradcheck(name, device, rng):
    x, y, t = _inputs(rng)
    y, y4 = gg.tensor(y, device=device), gg.tensor(np.abs(y) % 4, device=device)
    t, w = gg.tensor(t, device=device), gg.tensor(W, device=device)
    x = gg.tensor(x, device=device, requires_grad=True)
    if "margin" in name or name == "l1_loss" or "smooth" in name:    # kinks out of the stencil
        x = gg.tensor(np.round(x.numpy(), 1) + 0.0005 * np.arange(1, 25).reshape(6, 4),
                      device=device, requires_grad=True)
    assert gg.gradcheck(lambda x: LOSSES[name][0](x, y, y4, t, w, "mean"), [x])


def test_closed_forms(device):
    def f64(values):
        return gg.tensor(values, dtype="float64", device=device)

    x = f64([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    y = gg.tensor([0, 2], device=device)
    lse0 = math.log(math.exp(2) + 1 + math.exp(-1))
    ce = [lse0 - 2.0, math.log(3.0)]
    np.testing.assert_allclose(F.cross_entropy(x, y, reduction="none").numpy(), ce, rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(x, gg.tensor([0, -100], device=device)).numpy(),
                               ce[0], rtol=1e-12)      # the ignored sample is not counted
    w = f64([3.0, 1.0, 0.5])
    np.testing.assert_allclose(F.cross_entropy(x, y, weight=w).numpy(),
                               (3 * ce[0] + 0.5 * ce[1]) / 3.5, rtol=1e-12)
    # label smoothing: the target is (1 - eps) onehot + eps / C
    logp = x.log_softmax(axis=1).numpy()
    smooth = -(logp * (0.8 * np.eye(3)[[0, 2]] + 0.2 / 3)).sum(1).mean()
    np.testing.assert_allclose(F.cross_entropy(x, y, label_smoothing=0.2).numpy(), smooth, rtol=1e-12)
    # the notes' hinge loss and PyTorch's multi_margin_loss are one formula, 1/C apart
    # sample 0: max(0, 1 + s_j - 2) = 0 for both others; sample 1: 1 for both -> (0 + 2) / 2
    np.testing.assert_allclose(F.hinge_loss(x, y).numpy(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(F.multi_margin_loss(x, y).numpy() * 3, F.hinge_loss(x, y).numpy(),
                               rtol=1e-12)
    p, t = f64([0.9, 0.2, 0.0]), f64([1.0, 0.0, 1.0])
    np.testing.assert_allclose(F.binary_cross_entropy(p, t, reduction="none").numpy(),
                               [-math.log(0.9), -math.log(0.8), 100.0], rtol=1e-12)
    z = f64([800.0, -800.0, 0.0])
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(z, f64([1.0, 1.0, 0.0]),
                                                                  reduction="none").numpy(),
                               [0.0, 800.0, math.log(2)], rtol=1e-12)
    d = f64([0.1, -2.0])
    np.testing.assert_allclose(F.smooth_l1_loss(d, gg.zeros(2, dtype="float64", device=device),
                                                reduction="none").numpy(), [0.005, 1.5])
    np.testing.assert_allclose(F.l1_loss(d, [1.0, 1.0]).numpy(), (0.9 + 3.0) / 2)


def test_plain_mean_cross_entropy_stays_one_fused_op(rng):
    x = gg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    loss = F.cross_entropy(x, gg.tensor([0, 1, 2, 1]))
    assert type(loss.grad_fn) is SoftmaxCrossEntropy
    assert type(nn.CrossEntropyLoss()(x, gg.tensor([0, 1, 2, 1])).grad_fn) is SoftmaxCrossEntropy
    assert type(F.cross_entropy(x, gg.tensor([0, 1, 2, 1]), label_smoothing=0.1).grad_fn) \
        is not SoftmaxCrossEntropy


@pytest.mark.parametrize("module,function,kwargs", [
    (nn.CrossEntropyLoss, F.cross_entropy, dict(ignore_index=1, label_smoothing=0.1)),
    (nn.NLLLoss, F.nll_loss, dict(reduction="sum")),
    (nn.MultiMarginLoss, F.multi_margin_loss, dict(p=2, margin=0.5)),
    (nn.MSELoss, F.mse_loss, dict(reduction="none")),
    (nn.L1Loss, F.l1_loss, dict()),
    (nn.SmoothL1Loss, F.smooth_l1_loss, dict(beta=0.3)),
    (nn.BCELoss, F.binary_cross_entropy, dict(reduction="sum")),
    (nn.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits, dict()),
])
def test_loss_modules_call_their_function(module, function, kwargs, device, rng):
    x = gg.tensor(rng.random((5, 3)), device=device)
    if module in (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss):
        target = gg.tensor([0, 1, 2, 2, 1], device=device)
    else:
        target = gg.tensor(rng.random((5, 3)), device=device)
    np.testing.assert_array_equal(module(**kwargs)(x, target).numpy(),
                                  function(x, target, **kwargs).numpy())


def test_loss_module_weights_are_buffers(rng):
    w, pw = gg.tensor([1.0, 2.0, 0.5]), gg.tensor([2.0, 1.0, 1.0])
    ce = nn.CrossEntropyLoss(weight=w, reduction="sum")
    assert list(ce.state_dict()) == ["weight"] and list(ce.parameters()) == []
    assert repr(ce) == "CrossEntropyLoss()"      # as PyTorch prints it
    bce = nn.BCEWithLogitsLoss(pos_weight=pw)
    assert [n for n, _ in bce.named_buffers()] == ["pos_weight"]
    ce.to(dtype="float32")
    assert ce.weight.dtype == np.float32


@pytest.mark.parametrize("call,exc,words", [
    (lambda x: F.cross_entropy(x, gg.tensor([0, 5, 1])), ValueError, ["cross_entropy", "label 5", "4 classes"]),
    (lambda x: F.cross_entropy(x, gg.tensor([0, 1, 1]), reduction="avg"), ValueError, ["cross_entropy", "avg"]),
    (lambda x: F.cross_entropy(x, gg.tensor([0, 1, 1]), weight=gg.ones(3)), ValueError,
     ["cross_entropy", "weight", "(3,)", "(3, 4)"]),
    (lambda x: F.cross_entropy(x, gg.tensor([0, 1, 1]), label_smoothing=1.5), ValueError,
     ["cross_entropy", "label_smoothing", "1.5"]),
    (lambda x: F.nll_loss(x, gg.tensor([0, 1])), ValueError, ["nll_loss", "(2,)", "(3, 4)"]),
    (lambda x: F.multi_margin_loss(x, gg.tensor([0, 1, 1]), p=3), ValueError, ["multi_margin_loss", "3"]),
    (lambda x: F.mse_loss(x, gg.zeros(4, 3)), ValueError, ["mse_loss", "(3, 4)", "(4, 3)"]),
    (lambda x: F.l1_loss(x, gg.zeros(3, 4, dtype="int64")), TypeError, ["l1_loss", "int64"]),
    (lambda x: F.smooth_l1_loss(x, x, beta=-1.0), ValueError, ["smooth_l1_loss", "beta"]),
    (lambda x: F.binary_cross_entropy(x, x), ValueError, ["binary_cross_entropy", "[0, 1]"]),
    (lambda x: nn.MSELoss(reduction="mean_all"), ValueError, ["MSELoss", "mean_all"]),
])
def test_bad_input_names_the_loss_and_shapes(call, exc, words):
    assert_raises_naming(exc, words, call, gg.tensor(np.arange(12.0).reshape(3, 4) - 3))
