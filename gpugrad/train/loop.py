"""The training loop as a library: the step, an epoch, evaluation, and the models being trained
(an MLP, or a small CNN for images), their optimizer and learning-rate schedule.

``train_step`` is the one copy of forward, backward and the update; ``gpugrad-train``, the
benchmarks and the tests all run it. In :func:`train_one_epoch` the running loss stays on the
device (no host sync per batch) and is read only every ``PROGRESS_EVERY`` batches for the
progress bar, and at the end of the epoch: the template for a training script of your own.

Data parallel: pass a model wrapped in DistributedDataParallel and loaders whose batch sampler is
a DistributedBatchSampler; each rank backpropagates its share of the global batch's mean loss
(``loss_weight``), and the epoch's loss and accuracy are summed over the ranks, so N processes
report the figures one process would.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .. import backend, creation, cuda, distributed, nn, optim
from ..optim import lr_scheduler
from ..autograd import no_grad
from ..functions import loss as losses
from ..functions.selection import argmax
from ..functions.shape import stack

__all__ = ["PROGRESS_EVERY", "MODELS", "SCHEDULERS", "NonFiniteLoss", "train_step", "train_one_epoch",
           "evaluate", "build_model", "build_optimizer", "build_scheduler", "describe_model"]

PROGRESS_EVERY = 10        # batches between reads of the running loss (each read is a host sync)
MODELS = ("mlp", "cnn")
SCHEDULERS = ("none", "cosine", "step")
CNN_CHANNELS = (32, 64)    # the CNN's two conv blocks
CNN_DROPOUT = 0.25


class NonFiniteLoss(ArithmeticError):
    """The loss became NaN or infinite: the weights are no longer usable (a learning rate too
    large, or bad data). ``step`` is the 1-based batch of the epoch where it first happened
    (None when it happened on another process of a data-parallel job)."""

    def __init__(self, message, step=None):
        super().__init__(message)
        self.step = step


def train_step(model, opt, xb, yb, loss_fn=losses.cross_entropy, loss_weight=1.0, clip_grad_norm=None):
    """One step: the loss of ``model(xb)`` against ``yb``, backward, and ``opt.step()``, with
    the gradients' total 2-norm clipped to ``clip_grad_norm`` first when it is given.
    Returns the loss tensor (on the device; reading it is the caller's choice).

    ``loss_weight`` scales the loss that is backpropagated (not the one returned): under data
    parallelism, this rank's share of the global batch (DistributedBatchSampler.loss_weight).
    A rank whose part of a short last batch is empty backpropagates zeros, so it still takes
    part in averaging the gradients."""
    out = model(xb)
    if len(yb) == 0:
        loss = out.sum() * 0.0
        objective = loss
    else:
        loss = loss_fn(out, yb)
        objective = loss if loss_weight == 1.0 else loss * loss_weight
    opt.zero_grad()
    objective.backward()      # under data parallelism, returns with the averaged gradients
    if clip_grad_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    opt.step()
    return loss


def _replicas(loader) -> int:
    """How many ranks share ``loader``'s epochs: its (batch) sampler's ``num_replicas``, 1 for
    a loader whose samplers are not split over ranks."""
    for sampler in (getattr(loader, "batch_sampler", None), getattr(loader, "sampler", None)):
        if hasattr(sampler, "num_replicas"):
            return sampler.num_replicas
    return 1


def _sum_over_ranks(loader, *values):
    """The sums over the ranks of per-rank figures when ``loader`` hands out one rank's part of
    each epoch (a data-parallel job); the figures themselves otherwise."""
    if _replicas(loader) == 1:
        return values
    totals = creation.tensor(np.array(values, dtype=np.float64), device="cpu")
    distributed.all_reduce(totals)
    return tuple(totals.array.tolist())


class _GraphedSteps:
    """The epoch's steps with ``cuda_graph``: the first batch runs eagerly as the warm-up of a
    capture of the step, batches of its shapes replay the graph, others (a short last batch)
    run eagerly. Returns each step's loss as a tensor of its own (a replay's output is the
    graph's, overwritten by the next replay)."""

    def __init__(self, model, opt, clip_grad_norm):
        self.fn = lambda x, y: train_step(model, opt, x, y, clip_grad_norm=clip_grad_norm)
        self.step = None

    def __call__(self, xb, yb):
        if self.step is None:
            self.step = cuda.graphed(self.fn, (xb, yb), warmup=1)
            return self.step.warmup_outputs
        if (xb.shape, yb.shape) != tuple(t.shape for t in self.step.static_inputs):
            return self.fn(xb, yb)
        return self.step(xb, yb).detach().clone()


def train_one_epoch(model, opt, loader, progress=None, clip_grad_norm=None, cuda_graph=False):
    """One pass over ``loader``; returns (mean training loss, seconds, samples), over all ranks
    in a data-parallel job. ``clip_grad_norm``: see :func:`train_step`. ``cuda_graph``: capture
    the step as one CUDA graph after the first batch and replay it (see :mod:`gpugrad.cuda`).

    The running loss is a device tensor: adding ``loss.detach()`` queues work on the GPU and
    never waits for it. It is read (a host sync) only every PROGRESS_EVERY batches when a
    progress bar is shown, and once at the end."""
    model.train()
    start = time.perf_counter()
    loss_sum = creation.zeros((), device=loader.device)   # stays on the device
    seen = 0
    weight = getattr(loader.batch_sampler, "loss_weight", lambda step: 1.0)   # DistributedBatchSampler's share
    batches = progress if progress is not None else loader
    batch_losses = []   # each batch's loss, still on the device: read only to find a non-finite one
    graphed = _GraphedSteps(model, opt, clip_grad_norm) if cuda_graph else None
    for i, (xb, yb) in enumerate(batches, 1):
        if graphed is not None:
            loss = graphed(xb, yb)
        else:
            loss = train_step(model, opt, xb, yb, loss_weight=weight(i - 1), clip_grad_norm=clip_grad_norm)
        batch_losses.append(loss.detach())
        loss_sum = loss_sum + batch_losses[-1] * len(yb)
        seen += len(yb)
        if progress is not None and i % PROGRESS_EVERY == 0:
            progress.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", refresh=False)
    backend.synchronize(loader.device)   # all queued work done: the time below is real
    seconds = time.perf_counter() - start
    total, seen = _sum_over_ranks(loader, loss_sum.item(), seen)
    if not math.isfinite(total):   # the same on every rank: the figures are summed over them
        raise _non_finite(batch_losses, total)
    return total / seen, seconds, int(seen)


def _non_finite(batch_losses, total) -> NonFiniteLoss:
    """The error for an epoch whose loss is not finite, naming the first batch whose loss was
    not (one host read, made only when the epoch's loss already is not finite)."""
    values = backend.to_numpy(stack(batch_losses).array) if batch_losses else np.zeros(0)
    bad = np.flatnonzero(~np.isfinite(values))
    if not bad.size:
        return NonFiniteLoss(f"the training loss is {total} (it became non-finite on another process)")
    step = int(bad[0]) + 1
    return NonFiniteLoss(f"the training loss became {values[bad[0]]} at step {step} of {len(batch_losses)}", step)


def evaluate(model, loader):
    """(mean loss, accuracy) over ``loader`` (over all ranks in a data-parallel job), without
    recording a graph."""
    model.eval()
    with no_grad():
        loss_sum = creation.zeros((), device=loader.device)
        correct = creation.zeros((), dtype=np.int64, device=loader.device)
        for xb, yb in loader:
            if not len(yb):   # this rank's part of a short last batch
                continue
            logits = model(xb)
            loss_sum = loss_sum + losses.cross_entropy(logits, yb) * len(yb)
            correct = correct + (argmax(logits, axis=1) == yb).sum()
    total, right = _sum_over_ranks(loader, loss_sum.item(), correct.item())
    return total / loader.num_samples, right / loader.num_samples


def build_model(n_in, hidden, n_classes, activation="relu", device=None, dtype=np.float32, model="mlp"):
    """``model="mlp"``: Linear -> activation for each hidden size, then Linear to the class
    scores (``n_in`` features). ``model="cnn"``: two conv blocks (3x3 Conv2d, BatchNorm2d, the
    activation, 2x2 MaxPool2d; CNN_CHANNELS channels), then Dropout and a Linear head, on
    images of shape ``n_in`` = (C, H, W); ``hidden`` is not used."""
    act = nn.activation_module(activation)
    if model == "cnn":
        return _build_cnn(n_in, n_classes, act, device, dtype)
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h, device=device, dtype=dtype), act()]
        width = h
    layers.append(nn.Linear(width, n_classes, device=device, dtype=dtype))
    return nn.Sequential(*layers)


def _build_cnn(image_shape, n_classes, act, device, dtype):
    c, h, w = image_shape
    layers = []
    for out in CNN_CHANNELS:   # no conv bias: the batch norm's shift takes its place
        layers += [nn.Conv2d(c, out, 3, padding=1, bias=False, device=device, dtype=dtype),
                   nn.BatchNorm2d(out, device=device, dtype=dtype), act(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    layers += [nn.Flatten(), nn.Dropout(CNN_DROPOUT), nn.Linear(c * h * w, n_classes, device=device, dtype=dtype)]
    return nn.Sequential(*layers)


def describe_model(n_in, hidden, n_classes, activation, model="mlp"):
    if model == "cnn":
        blocks = "-".join(f"conv{c}" for c in CNN_CHANNELS)
        return f"CNN {'x'.join(map(str, n_in))} {blocks} {activation} bn maxpool dropout{CNN_DROPOUT:g} -> {n_classes}"
    return "MLP " + "-".join(str(n) for n in [n_in, *hidden, n_classes]) + (f" {activation}" if hidden else "")


def build_scheduler(name, opt, epochs):
    """The learning-rate schedule, stepped once per epoch: None for "none"; "cosine" anneals to 0
    over ``epochs`` (CosineAnnealingLR); "step" multiplies by 0.1 after every third of them
    (StepLR, step_size max(1, epochs // 3))."""
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if name == "step":
        return lr_scheduler.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1)
    return None


def build_optimizer(name, params, lr, momentum, capturable=False):
    """SGD (with ``momentum``) or Adam; ``capturable`` keeps Adam's step count on the device,
    for a step captured in a CUDA graph."""
    if name == "adam":
        return optim.Adam(params, lr=lr, capturable=capturable)
    return optim.SGD(params, lr=lr, momentum=momentum)
