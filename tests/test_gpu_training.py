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


LABELS = {   # class labels on the GPU, made the ways a training script makes them
    "tensor": lambda yb: gg.tensor(yb, device="cuda"),
    "to": lambda yb: gg.tensor(yb).to("cuda"),
    "astype": lambda yb: gg.tensor(yb.astype(np.int32)).to("cuda").astype(np.int64),
    "getitem": lambda yb: gg.tensor(np.concatenate([yb, yb]), device="cuda")[: len(yb)],
}


@pytest.mark.parametrize("optimizer,activation,labels", [
    ("sgd", "relu", "tensor"), ("adam", "sigmoid", "tensor"), ("sgd", "sigmoid", "to"),
    ("adam", "relu", "astype"), ("adam", "relu", "getitem")])
def test_training_step_never_synchronises_with_the_host(optimizer, activation, labels):
    cupyx = pytest.importorskip("cupyx")
    allow_synchronize = getattr(cupyx, "allow_synchronize", None)
    if allow_synchronize is None:
        pytest.skip("this CuPy has no cupyx.allow_synchronize")
    model = _mlp("cuda", activation)
    opt = (gg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4) if optimizer == "sgd"
           else gg.optim.Adam(model.parameters(), lr=1e-3))
    xb, yb = _batch()
    x, y = gg.tensor(xb, device="cuda"), LABELS[labels](yb)  # labels remember their range

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
    with pytest.raises(MemoryError, match=r"CUDA out of memory on cuda:0 in Linear forward; tried to "
                                          r"allocate .*; .* held by live arrays; .* cached by CuPy's "
                                          r"memory pool \(now released to the device\); .* free of .* on "
                                          r"the device\. Try a smaller batch size"):
        model(huge)
    assert cp.get_default_memory_pool().free_bytes() == 0   # the pool's cache went back
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


@pytest.mark.parametrize("factory", [gg.randn, gg.rand])
def test_random_factories_make_float16_on_the_gpu(factory):
    t = factory(4096, dtype=np.float16, device="cuda")      # CuPy draws float32/float64 only
    assert t.dtype == np.float16 and t.device == "cuda:0"
    values = t.numpy().astype(np.float64)
    assert np.isfinite(values).all() and values.std() > 0.1


@pytest.mark.skipif(gg.backend.cuda_device_count() < 2, reason="needs two GPUs")
def test_a_tensor_on_the_second_gpu_lives_there_and_trains_there():
    x1 = gg.randn(256, 784, device="cuda:0").to("cuda:1")
    assert x1.array.device.id == 1                          # copied, not relabelled
    model = _mlp("cuda:1")
    opt = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    y1 = gg.tensor(np.arange(256) % 10, device="cuda:1")
    loss = train_step(model, opt, x1, y1)                   # cuda:0 is the current device
    assert loss.array.device.id == 1
    assert all(p.array.device.id == 1 and p.grad.array.device.id == 1 for p in model.parameters())
