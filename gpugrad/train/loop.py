"""The training loop as a library: the step, an epoch, evaluation, and the MLP being trained.

``train_step`` is the one copy of forward, backward and the update; ``gpugrad-train``, the
benchmarks and the tests all run it. In :func:`train_one_epoch` the running loss stays on the
device (no host sync per batch) and is read only every ``PROGRESS_EVERY`` batches for the
progress bar, and at the end of the epoch: the template for a training script of your own.
"""
from __future__ import annotations

import time

import numpy as np

from .. import backend, creation, nn, optim
from ..autograd import no_grad
from ..functions import loss as losses
from ..functions.reduction import argmax

__all__ = ["PROGRESS_EVERY", "train_step", "train_one_epoch", "evaluate", "build_model",
           "build_optimizer", "describe_model"]

PROGRESS_EVERY = 10        # batches between reads of the running loss (each read is a host sync)


def train_step(model, opt, xb, yb, loss_fn=losses.cross_entropy):
    """One step: the loss of ``model(xb)`` against ``yb``, backward, and ``opt.step()``.
    Returns the loss tensor (on the device; reading it is the caller's choice)."""
    loss = loss_fn(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def train_one_epoch(model, opt, loader, progress=None):
    """One pass over ``loader``; returns (mean training loss, seconds, samples).

    The running loss is a device tensor: adding ``loss.detach()`` queues work on the GPU and
    never waits for it. It is read (a host sync) only every PROGRESS_EVERY batches when a
    progress bar is shown, and once at the end."""
    model.train()
    start = time.perf_counter()
    loss_sum = creation.zeros((), device=loader.device)   # stays on the device
    seen = 0
    batches = progress if progress is not None else loader
    for i, (xb, yb) in enumerate(batches, 1):
        loss = train_step(model, opt, xb, yb)
        loss_sum = loss_sum + loss.detach() * len(yb)
        seen += len(yb)
        if progress is not None and i % PROGRESS_EVERY == 0:
            progress.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", refresh=False)
    backend.synchronize(loader.device)   # all queued work done: the time below is real
    seconds = time.perf_counter() - start
    return loss_sum.item() / seen, seconds, seen


def evaluate(model, loader):
    """(mean loss, accuracy) over ``loader``, without recording a graph."""
    model.eval()
    with no_grad():
        loss_sum = creation.zeros((), device=loader.device)
        correct = creation.zeros((), dtype=np.int64, device=loader.device)
        for xb, yb in loader:
            logits = model(xb)
            loss_sum = loss_sum + losses.cross_entropy(logits, yb) * len(yb)
            correct = correct + (argmax(logits, axis=1) == yb).sum()
    return loss_sum.item() / loader.num_samples, correct.item() / loader.num_samples


def build_model(n_in, hidden, n_classes, activation="relu", device=None, dtype=np.float32):
    """An MLP: Linear -> activation for each hidden size, then Linear to the class scores."""
    act = nn.activation_module(activation)
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h, device=device, dtype=dtype), act()]
        width = h
    layers.append(nn.Linear(width, n_classes, device=device, dtype=dtype))
    return nn.Sequential(*layers)


def describe_model(n_in, hidden, n_classes, activation):
    return "MLP " + "-".join(str(n) for n in [n_in, *hidden, n_classes]) + (f" {activation}" if hidden else "")


def build_optimizer(name, params, lr, momentum):
    if name == "adam":
        return optim.Adam(params, lr=lr)
    return optim.SGD(params, lr=lr, momentum=momentum)
