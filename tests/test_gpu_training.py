"""The whole training step on the GPU: no host round trip, out-of-memory handled, and the same
numbers as the CPU backend. All `gpu`-marked; they skip without CUDA."""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad.train import build_model, train_step

from conftest import requires_cuda

pytestmark = [pytest.mark.gpu, requires_cuda]


def _mlp(device, activation="relu", sizes=(784, 256, 256, 10)):
    gg.manual_seed(0)
    return build_model(sizes[0], list(sizes[1:-1]), sizes[-1], activation, device=device)


def _batch(n=512, features=784, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, classes, n)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_training_step_never_synchronises_with_the_host(optimizer, activation):
    cupyx = pytest.importorskip("cupyx")
    allow_synchronize = getattr(cupyx, "allow_synchronize", None)
    if allow_synchronize is None:
        pytest.skip("this CuPy has no cupyx.allow_synchronize")
    model = _mlp("cuda", activation)
    opt = (gg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4) if optimizer == "sgd"
           else gg.optim.Adam(model.parameters(), lr=1e-3))
    xb, yb = _batch()
    x, y = gg.tensor(xb, device="cuda"), gg.tensor(yb, device="cuda")  # labels remember their range

    train_step(model, opt, x, y)  # compile and allocate everything once
    gg.synchronize()
    with allow_synchronize(False):
        for _ in range(3):
            loss = train_step(model, opt, x, y)
    gg.synchronize()
    assert np.isfinite(loss.item())


def test_gpu_step_matches_the_cpu_step():
    xb, yb = _batch(256)
    results = {}
    for device in ("cpu", "cuda"):
        model = _mlp(device)
        opt = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = gg.tensor(xb, device=device), gg.tensor(yb, device=device)
        losses = []
        for _ in range(3):
            losses.append(train_step(model, opt, x, y).item())
        results[device] = (losses, [p.numpy() for p in model.parameters()])
    np.testing.assert_allclose(results["cuda"][0], results["cpu"][0], rtol=1e-4)
    for a, b in zip(results["cuda"][1], results["cpu"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_out_of_memory_says_what_was_asked_and_leaves_the_model_intact():
    cp = gg.backend.cupy_module()
    model = _mlp("cuda", sizes=(64, 4096, 10))  # the hidden layer is 64x wider than the input
    opt = gg.optim.Adam(model.parameters(), lr=1e-3)
    xb, yb = _batch(128, features=64)
    x, y = gg.tensor(xb, device="cuda"), gg.tensor(yb, device="cuda")
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    before = [p.numpy().copy() for p in model.parameters()]
    state_before = {k: v for k, v in opt.state_dict()["state"].items()}
    free, _ = cp.cuda.runtime.memGetInfo()
    rows = int(free * 0.3) // (64 * 4)  # an input that fits, whose hidden activations cannot
    huge = gg.zeros(rows, 64, device="cuda")
    with pytest.raises(MemoryError, match=r"(?s)CUDA out of memory.*Linear forward.*tried to allocate.*smaller batch"):
        model(huge)
    del huge
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)
    assert opt.state_dict()["state"].keys() == state_before.keys()
    # and training goes on afterwards
    assert np.isfinite(train_step(model, opt, x, y).item())


def test_cross_entropy_rejects_out_of_range_labels_made_on_the_gpu():
    cp = gg.backend.cupy_module()
    logits = gg.randn(4, 3, device="cuda")
    labels = gg.tensor(cp.asarray([0, 1, 2, 3]))  # made on the device: no host-side range
    with pytest.raises(ValueError, match="class label 3 is out of range for 3 classes"):
        F.cross_entropy(logits, labels)
