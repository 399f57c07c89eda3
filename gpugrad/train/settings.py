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
           "build_parser", "run_settings", "check_saved_settings", "run_device", "format_setting"]

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


# Each numeric setting's type, range and description: the command line's parsers and the check
# of a resumed checkpoint's settings (check_saved_settings) are made from this one table.
NUMBERS = {
    "batch_size": (int, lambda v: v > 0, "a positive integer"),
    "epochs": (int, lambda v: v > 0, "a positive integer"),
    "stop_after": (int, lambda v: v > 0, "a positive integer"),
    "seed": (int, lambda v: 0 <= v < 2**64, "an integer in [0, 2**64)"),
    "lr": (float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0"),
    "momentum": (float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)"),
}
_positive_int = _number(*NUMBERS["batch_size"])
_seed = _number(*NUMBERS["seed"])
_positive_float = _number(*NUMBERS["lr"])
_momentum = _number(*NUMBERS["momentum"])
DATASETS = ("digits", "mnist", "fashion-mnist")
OPTIMIZERS = ("sgd", "adam")


def _hidden(text):
    """'256,128' -> [256, 128]; 'none' -> [] (a linear classifier). Every comma-separated part
    must be a positive integer: '', ' ', ',', '32,,16' and 'abc' are refused, never read as
    'none' (an empty part is a typo, not a request for a linear model)."""
    cleaned = text.strip().lower()
    if cleaned == "none":
        return []
    parts = [part.strip() for part in cleaned.split(",")]
    if not cleaned or any(not part for part in parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes like 256,128 (or 'none' for a linear classifier), got {text!r}")
    sizes = []
    for part in parts:
        try:
            size = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated layer sizes like 256,128 (or 'none'), got {text!r}: {part!r} is "
                "not an integer") from None
        if size <= 0:
            raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {size} in {text!r}")
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
        epilog="Errors (bad data files, bad checkpoints, bad options, no GPU for --device cuda, a checkpoint "
               "that cannot be written) print one line and exit with status 2. A loss that becomes NaN or "
               "infinite stops the run with one line and status 1, keeping the last good checkpoint.")
    d = DEFAULTS
    p.add_argument("--dataset", choices=DATASETS, default=None,
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
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
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
    p.add_argument("--cuda-graph", action="store_true",
                   help="capture the training step as one CUDA graph and replay it for every batch "
                        "of the same shape (each epoch's first batch warms up; a short last batch runs "
                        "as usual). CUDA, --model mlp, one process; Adam becomes capturable=True")
    p.add_argument("--seed", type=_seed, default=None,
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
    _check_momentum_is_for_sgd(given, saved)
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


def _check_momentum_is_for_sgd(given, saved):
    """--momentum with Adam would be ignored (PyTorch's Adam has no momentum): refuse it."""
    if given["momentum"] is None:
        return
    if given["optimizer"] is not None:
        optimizer, whose = given["optimizer"], ""
    elif saved is not None and "optimizer" in saved:
        optimizer, whose = saved["optimizer"], " (the checkpoint's)"
    else:
        optimizer, whose = DEFAULTS["optimizer"], " (the default)"
    if optimizer != "sgd":
        raise UsageError(f"--momentum is for --optimizer sgd, and this run uses --optimizer {optimizer}{whose}: "
                         "leave --momentum out, or pass --optimizer sgd")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _saved_setting_problem(key, value):
    """What is wrong with a checkpoint's setting ``key`` (None when it is valid)."""
    if key in NUMBERS:
        cast, ok, what = NUMBERS[key]
        typed = _is_int(value) or (cast is float and isinstance(value, float))
        return None if typed and ok(value) else what
    choices = {"dataset": DATASETS, "optimizer": OPTIMIZERS, "activation": tuple(sorted(ACTIVATIONS))}
    if key in choices:
        return None if value in choices[key] else "one of " + ", ".join(choices[key])
    if key == "hidden":
        ok = isinstance(value, list) and all(_is_int(h) and h > 0 for h in value)
        return None if ok else "a list of positive layer sizes"
    if key == "data_dir":
        return None if value is None or isinstance(value, str) else "a folder name or null"
    return None


def check_saved_settings(saved, path) -> None:
    """Refuse (CheckpointError naming the field) a resumed checkpoint's settings that are
    missing or out of range: a hand-edited ``hidden="abc"`` or ``epochs=-5`` must not reach
    the model or the loop."""
    if not isinstance(saved, dict):
        raise CheckpointError(f"checkpoint {path!r} was not written by {PROG} (no settings in its metadata).")
    missing = [key for key in (*RESUME_KEYS, "epochs") if key not in saved]
    if missing:
        raise CheckpointError(f"checkpoint {path!r} is incomplete: its settings have no {', '.join(missing)}.")
    for key, value in saved.items():
        problem = _saved_setting_problem(key, value)
        if problem is not None:
            raise CheckpointError(f"checkpoint {path!r} has a bad setting in its metadata: {key} is {value!r}, "
                                  f"expected {problem}.")


def run_device(spec):
    """``--device`` (None: the default device) as a usable Device, or UsageError (one line)."""
    try:
        return backend.resolve_device(spec, check=True)
    except (RuntimeError, ValueError) as exc:
        where = f"--device {spec}" if spec is not None else f"GPUGRAD_DEVICE={os.environ.get('GPUGRAD_DEVICE', '')}"
        raise UsageError(f"{where}: {exc}") from None
