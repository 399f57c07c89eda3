"""The checks of a ``gpugrad-train`` run's inputs beyond the command line: the checkpoint it
resumes (its metadata, as a hand may have edited it), the labels of its data, and whether its
model fits in memory. Each failure is one line (UsageError, DataError or CheckpointError)."""
from __future__ import annotations

import os

import numpy as np

from ..checkpoint import CheckpointError, load_checkpoint
from ..data import DataError
from . import report
from .settings import PROG, UsageError, check_saved_settings, format_setting

__all__ = ["resume_from", "check_labels", "check_model_fits", "TRAINING_COPIES"]


def check_labels(y_train, y_test, dataset):
    """The classes a classifier is trained for are the training labels' (0 to their maximum):
    a test label that no training label has could never be predicted, so it is refused (a
    DataError naming the label and the training labels) rather than scored as a wrong answer."""
    unseen = np.setdiff1d(y_test, y_train)
    if unseen.size:
        seen = np.unique(y_train)
        shown = ", ".join(map(str, seen[:12].tolist())) + (", ..." if seen.size > 12 else "")
        raise DataError(f"{dataset}: the test labels hold {int(unseen[0])} ({unseen.size} such class(es) in all), which "
                        f"no training label has (the training labels are {shown}): a model trained on them could "
                        "never predict it.")


def resume_from(path):
    """The checkpoint to resume from, checked to be one of gpugrad-train's, with valid metadata
    (a hand-edited epoch, setting or history is refused naming the field)."""
    if not os.path.exists(path):
        raise UsageError(f"--resume: there is no checkpoint {path!r} to resume from")
    saved = load_checkpoint(path)
    meta = saved[2]
    if not isinstance(meta.get("settings"), dict) or "epoch" not in meta:
        raise CheckpointError(
            f"checkpoint {path!r} was not written by {PROG} (no settings or epoch in its metadata).")
    check_saved_settings(meta["settings"], path)
    epoch, history = meta["epoch"], meta.get("history", [])
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CheckpointError(f"checkpoint {path!r} has a bad epoch in its metadata: {epoch!r}, expected an "
                              "integer >= 0.")
    if not isinstance(history, list) or len(history) < epoch or not all(_is_epoch_record(r) for r in history):
        raise CheckpointError(f"checkpoint {path!r} has a bad history in its metadata: expected a list of "
                              f"{epoch} per-epoch records with numeric {', '.join(report.EPOCH_FIGURES)}.")
    wall = meta.get("wall_time_s", 0.0)
    if isinstance(wall, bool) or not isinstance(wall, (int, float)) or not wall >= 0:
        raise CheckpointError(f"checkpoint {path!r} has a bad wall_time_s in its metadata: {wall!r}, "
                              "expected a number >= 0.")
    return saved


def _is_epoch_record(record) -> bool:
    return isinstance(record, dict) and all(
        isinstance(record.get(k), (int, float)) and not isinstance(record.get(k), bool) for k in report.EPOCH_FIGURES)


TRAINING_COPIES = 4        # parameters, gradients and (Adam) two moment buffers: what training holds


def check_model_fits(sizes, device):
    """UsageError when an MLP of these layer sizes could not be trained in the host's memory
    (checked before allocating: an over-committed allocation would be killed later, not refused).
    On a GPU an allocation that fails is reported the same way (see cli.TrainingJob)."""
    n_params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    needed = TRAINING_COPIES * 4 * n_params   # float32
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):   # not POSIX: the allocation itself will tell
        return
    if device.type == "cpu" and needed > memory:
        raise UsageError(f"--hidden {format_setting('hidden', sizes[1:-1])}: an MLP {'-'.join(map(str, sizes))} has "
                         f"{n_params:,} parameters; training it needs about {needed / 2**30:,.1f} GiB, more than "
                         f"this machine's {memory / 2**30:,.1f} GiB of memory")


def check_cuda_graph(settings, device, processes):
    """UsageError when --cuda-graph cannot capture this run's step: it needs CUDA, the MLP
    (the CNN's convolutions multiply batches through CuPy, which a capture refuses) and one
    process. SGD and Adam both replay right (Adam is made capturable: its step count lives on
    the device)."""
    problem = ("needs a CUDA device, and this run is on " + str(device) if device.type != "cuda"
               else "works with --model mlp" if settings["model"] != "mlp"
               else "runs in one process" if processes > 1 else None)
    if problem:
        raise UsageError(f"--cuda-graph {problem}")
