"""One SGD step of the 784-1024-1024-10 ReLU MLP with softmax cross-entropy, written three ways
over the same weights and batch: with gpugrad, and by hand in NumPy (or CuPy) as the anchor."""
from __future__ import annotations

import numpy as np

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F

SIZES = (784, 1024, 1024, 10)
LR = 0.01


def make_batch(batch, device="cpu", dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], size=batch)
    return x, y


def gpugrad_step_fn(batch, device="cpu", dtype=np.float32, sizes=SIZES):
    """A closure running one gpugrad training step (forward, backward, SGD update)."""
    gg.manual_seed(0)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, device=device, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    opt = gg.optim.SGD(model.parameters(), lr=LR)
    xb, yb = make_batch(batch, dtype=dtype)
    x, y = gg.tensor(xb, device=device), gg.tensor(yb, device=device)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step, model


def hand_step_fn(batch, xp=np, dtype=np.float32, sizes=SIZES):
    """The same step written directly against the array module: the anchor to beat."""
    gg.manual_seed(0)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layer = nn.Linear(n_in, n_out, device="cpu", dtype=dtype)
        params += [xp.asarray(layer.weight.data), xp.asarray(layer.bias.data)]
    xb, yb = make_batch(batch, dtype=dtype)
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
