"""One SGD step of the 784-1024-1024-10 ReLU MLP with softmax cross-entropy, written three ways
over the same weights and batch: with gpugrad, and by hand in NumPy (or CuPy) as the anchor."""
from __future__ import annotations

import numpy as np

import gpugrad as gg
from gpugrad.train import build_model, train_step

SIZES = (784, 1024, 1024, 10)
LR = 0.01


def make_batch(batch, device="cpu", dtype=np.float32, seed=0, sizes=SIZES):
    """A fixed batch as NumPy arrays: inputs (batch, sizes[0]) and int64 labels in [0, sizes[-1])."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch)
    return x, y


def gpugrad_model(device="cpu", dtype=np.float32, sizes=SIZES):
    """The MLP as gpugrad-train builds it (Linear, ReLU, ..., Linear), seeded with 0."""
    gg.manual_seed(0)
    return build_model(sizes[0], list(sizes[1:-1]), sizes[-1], "relu", device=device, dtype=dtype)


def init_params(sizes=SIZES, dtype=np.float32):
    """[W1, b1, W2, b2, ...] as NumPy arrays, W of shape (in, out): exactly the values
    gpugrad_step_fn's model starts from (gpugrad's seeded initialiser, seed 0), so every
    implementation of the step starts from the same weights."""
    return [p.numpy() for p in gpugrad_model("cpu", dtype, sizes).parameters()]


def gpugrad_step_fn(batch, device="cpu", dtype=np.float32, sizes=SIZES):
    """A closure running one gpugrad training step (forward, backward, SGD update)."""
    model = gpugrad_model(device, dtype, sizes)
    opt = gg.optim.SGD(model.parameters(), lr=LR)
    xb, yb = make_batch(batch, dtype=dtype, sizes=sizes)
    x, y = gg.tensor(xb, device=device), gg.tensor(yb, device=device)
    return (lambda: train_step(model, opt, x, y)), model


def hand_step_fn(batch, xp=np, dtype=np.float32, sizes=SIZES):
    """The same step written directly against the array module: the anchor to beat."""
    params = [xp.asarray(p) for p in init_params(sizes, dtype)]
    xb, yb = make_batch(batch, dtype=dtype, sizes=sizes)
    x, y = xp.asarray(xb), xp.asarray(yb)
    rows = xp.arange(batch)

    def step():
        acts = [x]
        h = x
        n_layers = len(params) // 2
        for i in range(n_layers):
            W, b = params[2 * i], params[2 * i + 1]
            h = h @ W
            h += b
            if i < n_layers - 1:
                xp.maximum(h, 0, out=h)
                acts.append(h)
        z = h - h.max(axis=1, keepdims=True)
        e = xp.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -xp.log(p[rows, y]).mean()
        dz = p
        dz[rows, y] -= 1
        dz /= batch
        grads = [None] * len(params)
        for i in reversed(range(n_layers)):
            a = acts[i]
            grads[2 * i] = a.T @ dz
            grads[2 * i + 1] = dz.sum(axis=0)
            if i > 0:
                dz = dz @ params[2 * i].T
                dz *= a > 0
        for P, G in zip(params, grads):
            P -= LR * G
        return loss

    return step, params


# ----------------------------------------------------------------------------- forward only

def gpugrad_forward_fn(batch, device="cpu", dtype=np.float32, sizes=SIZES):
    """A closure running the model's forward pass under ``gg.no_grad()`` (inference: no graph
    recorded), returning the logits tensor."""
    model = gpugrad_model(device, dtype, sizes)
    xb, _ = make_batch(batch, dtype=dtype, sizes=sizes)
    x = gg.tensor(xb, device=device)

    def forward():
        with gg.no_grad():
            return model(x)

    return forward, model


def hand_forward_fn(batch, xp=np, dtype=np.float32, sizes=SIZES):
    """The same forward pass written directly against the array module (the anchor)."""
    params = [xp.asarray(p) for p in init_params(sizes, dtype)]
    xb, _ = make_batch(batch, dtype=dtype, sizes=sizes)
    x = xp.asarray(xb)
    n_layers = len(params) // 2

    def forward():
        h = x
        for i in range(n_layers):
            h = h @ params[2 * i]
            h += params[2 * i + 1]
            if i < n_layers - 1:
                xp.maximum(h, 0, out=h)
        return h

    return forward, params
