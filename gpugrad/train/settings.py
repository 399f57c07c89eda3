"""The settings of a ``gpugrad-train`` run: the command line, its defaults, and resuming.

None on the command line means "default" for a new run and "the checkpoint's value" for
``--resume``; :func:`run_settings` merges the three.
"""
from __future__ import annotations

import argparse
import math
import os

from .. import backend
from ..checkpoint import CheckpointError
from ..functions.activation import ACTIVATIONS

__all__ = ["PROG", "DEFAULTS", "LR_DEFAULTS", "RESUME_KEYS", "DEFAULT_OUT", "UsageError",
           "build_parser", "run_settings", "run_device", "format_setting"]

PROG = "gpugrad-train"
DEFAULT_OUT = os.path.join("runs", "gpugrad-train")

# The settings that define a run.
DEFAULTS = {
    "dataset": "digits",
    "model": "mlp",
    "hidden": [1024],
    "activation": "relu",
    "batch_size": 64,
    "epochs": 30,
    "optimizer": "adam",
    "lr": None,             # per optimizer: LR_DEFAULTS
    "momentum": 0.9,        # SGD only
    "seed": 0,
    "scheduler": "none",
    "clip_grad_norm": None,  # no clipping
}
LR_DEFAULTS = {"adam": 1e-3, "sgd": 0.05}
# Settings a resumed run must share with its checkpoint (--epochs may grow; --device may change).
RESUME_KEYS = ("dataset", "model", "hidden", "activation", "batch_size", "optimizer", "lr", "momentum", "seed",
               "scheduler", "clip_grad_norm")


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


def _number(cast, ok, what):
    """An argparse type: ``cast(text)`` that must satisfy ``ok``, else a message naming ``what``."""
    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value
    return parse


_positive_int = _number(int, lambda v: v > 0, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
_momentum = _number(float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")


def _hidden(text):
    """'256,128' -> [256, 128]; '' or 'none' -> [] (a linear classifier)."""
    text = text.strip().lower()
    if text in ("", "none"):
        return []
    sizes = []
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        try:
            size = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated layer sizes like 256,128, got {text!r}") from None
        if size <= 0:
            raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {size}")
        sizes.append(size)
    return sizes


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block; main() prints it
        raise UsageError(f"{message} (see {PROG} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Train an MLP or CNN classifier with gpugrad on real data, on the best device present, "
                    "with a progress bar, a checkpoint after every epoch, metrics.json and curves.png.",
        epilog="Errors (bad data files, bad checkpoints, bad options, no GPU for --device cuda) print one "
               "line and exit with status 2.")
    d = DEFAULTS
    p.add_argument("--dataset", choices=["digits", "mnist", "fashion-mnist"], default=None,
                   help=f"digits: scikit-learn's 8x8 handwritten digits, no download; mnist, fashion-mnist: "
                        f"MNIST-format IDX files from --data-dir (default: {d['dataset']})")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder with the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped or not). Default for "
                        "fashion-mnist: /usr/share/datasets/fashion-mnist when present (Debian's "
                        "dataset-fashion-mnist)")
    p.add_argument("--model", choices=["mlp", "cnn"], default=None,
                   help="mlp: --hidden Linear layers; cnn: two conv blocks (3x3 conv, batch norm, the activation, "
                        "2x2 max pooling; 32 and 64 channels), dropout and a linear head, on the images as "
                        f"(N, 1, H, W) (default: {d['model']})")
    p.add_argument("--hidden", type=_hidden, default=None, metavar="SIZES",
                   help="hidden layer sizes, comma-separated; 'none' for a linear classifier "
                        f"(default: {','.join(map(str, d['hidden']))})")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None,
                   help=f"hidden-layer activation (default: {d['activation']})")
    p.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                   help=f"minibatch size (default: {d['batch_size']})")
    p.add_argument("--epochs", type=_positive_int, default=None, metavar="N",
                   help=f"total number of epochs; with --resume, the total to reach (default: {d['epochs']}, "
                        "or the checkpoint's)")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: " + ", ".join(f"{v:g} for {k}" for k, v in LR_DEFAULTS.items()) + ")")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=None,
                   help=f"optimizer (default: {d['optimizer']}); sgd uses --momentum")
    p.add_argument("--momentum", type=_momentum, default=None,
                   help=f"SGD momentum (default: {d['momentum']})")
    p.add_argument("--scheduler", choices=["none", "cosine", "step"], default=None,
                   help="learning-rate schedule, stepped after each epoch: cosine anneals to 0 over --epochs, "
                        f"step multiplies it by 0.1 after every third of them (default: {d['scheduler']})")
    p.add_argument("--clip-grad-norm", type=_positive_float, default=None, metavar="MAX",
                   help="clip the gradients' total 2-norm to MAX before each update (default: no clipping)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda, cuda:N or auto (default: $GPUGRAD_DEVICE, else auto: CUDA when CuPy "
                        "sees a GPU, else the CPU)")
    p.add_argument("--seed", type=_non_negative_int, default=None,
                   help=f"seeds the initial weights and each epoch's shuffle (default: {d['seed']})")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help="output folder for checkpoint.npz, metrics.json and curves.png; a checkpoint "
                        f"already there is replaced unless --resume (default: {DEFAULT_OUT})")
    p.add_argument("--resume", action="store_true",
                   help="continue from DIR/checkpoint.npz with the next epoch; settings not given take "
                        "the checkpoint's values")
    # For tests and demos: stop (as if interrupted) after this many epochs of this invocation.
    p.add_argument("--stop-after", type=_positive_int, default=None, help=argparse.SUPPRESS)
    return p


def format_setting(key, value):
    if key == "hidden":
        return ",".join(map(str, value)) or "none"
    return str(value)


def run_settings(args, saved=None, ckpt_path=None) -> dict:
    """The run's settings: the command line's, else the checkpoint's (resume), else DEFAULTS.
    Raises CheckpointError when the command line contradicts the checkpoint being resumed."""
    given = {k: getattr(args, k) for k in DEFAULTS}
    if saved is not None:
        for key in RESUME_KEYS:
            if given[key] is not None and key in saved and given[key] != saved[key]:
                raise CheckpointError(
                    f"cannot resume from {ckpt_path!r}: it was trained with --{key.replace('_', '-')} "
                    f"{format_setting(key, saved[key])}, this run asks for {format_setting(key, given[key])} "
                    "(leave the option out to continue that run, or use another --out).")
    settings = {}
    for key, default in DEFAULTS.items():
        if given[key] is not None:
            settings[key] = given[key]
        elif saved is not None and key in saved:
            settings[key] = saved[key]
        else:
            settings[key] = default
    if settings["lr"] is None:
        settings["lr"] = LR_DEFAULTS[settings["optimizer"]]
    settings["hidden"] = [int(h) for h in settings["hidden"]]
    return settings


def run_device(spec):
    """``--device`` (None: the default device) as a usable Device, or UsageError (one line)."""
    try:
        return backend.resolve_device(spec, check=True)
    except (RuntimeError, ValueError) as exc:
        where = f"--device {spec}" if spec is not None else f"GPUGRAD_DEVICE={os.environ.get('GPUGRAD_DEVICE', '')}"
        raise UsageError(f"{where}: {exc}") from None
