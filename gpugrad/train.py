"""``gpugrad-train``: train an MLP classifier on real data, on the best device present.

    gpugrad-train                                   # digits (scikit-learn's, no download), defaults
    gpugrad-train --dataset fashion-mnist --epochs 10 --out runs/fashion
    gpugrad-train --out runs/fashion --resume --epochs 20   # continue that run to 20 epochs

Writes to ``--out``: ``checkpoint.npz`` (model + optimizer + metadata, after every epoch),
``metrics.json`` (per-epoch figures, device, wall time, final accuracy) and ``curves.png``.
Also ``python -m gpugrad.train``. Bad input (data files, checkpoints, options, a missing GPU)
ends with one ``gpugrad-train: error: ...`` line on stderr and exit status 2.

The training loop in :func:`train_one_epoch` is the template to copy for your own scripts: the
running loss stays on the device (no host sync per batch) and is read only every
``PROGRESS_EVERY`` batches for the progress bar, and at the end of the epoch.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time

import numpy as np

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F
from gpugrad import backend
from gpugrad.checkpoint import CheckpointError, atomic_write, load_checkpoint, restore, save_checkpoint
from gpugrad.data import DataError, DataLoader, load_digits, load_idx_dataset, standardize

__all__ = ["main", "build_parser", "build_model", "train_one_epoch", "evaluate", "DEFAULTS"]

PROG = "gpugrad-train"
CHECKPOINT, METRICS, CURVES = "checkpoint.npz", "metrics.json", "curves.png"
DEFAULT_OUT = os.path.join("runs", "gpugrad-train")
PROGRESS_EVERY = 10        # batches between reads of the running loss (each read is a host sync)
EVAL_BATCH_SIZE = 4096     # test-set batch size (no gradients, so it can be large)
STD_FLOOR = 0.1            # smallest per-feature std used when scaling features

# The settings that define a run. None on the command line means "default" for a new run and
# "the checkpoint's value" for --resume.
DEFAULTS = {
    "dataset": "digits",
    "hidden": [1024],
    "activation": "relu",
    "batch_size": 64,
    "epochs": 30,
    "optimizer": "adam",
    "lr": None,             # per optimizer: LR_DEFAULTS
    "momentum": 0.9,        # SGD only
    "seed": 0,
}
LR_DEFAULTS = {"adam": 1e-3, "sgd": 0.05}
# Settings a resumed run must share with its checkpoint (--epochs may grow; --device may change).
RESUME_KEYS = ("dataset", "hidden", "activation", "batch_size", "optimizer", "lr", "momentum", "seed")


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


# --------------------------------------------------------------------------- command line

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
        description="Train an MLP classifier with gpugrad on real data, on the best device present, "
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
    p.add_argument("--hidden", type=_hidden, default=None, metavar="SIZES",
                   help="hidden layer sizes, comma-separated; 'none' for a linear classifier "
                        f"(default: {','.join(map(str, d['hidden']))})")
    p.add_argument("--activation", choices=["relu", "sigmoid"], default=None,
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


def _fmt_setting(key, value):
    if key == "hidden":
        return ",".join(map(str, value)) or "none"
    return str(value)


def _settings(args, saved=None, ckpt_path=None) -> dict:
    """The run's settings: the command line's, else the checkpoint's (resume), else DEFAULTS."""
    given = {k: getattr(args, k) for k in DEFAULTS}
    if saved is not None:
        for key in RESUME_KEYS:
            if given[key] is not None and key in saved and given[key] != saved[key]:
                raise CheckpointError(
                    f"cannot resume from {ckpt_path!r}: it was trained with --{key.replace('_', '-')} "
                    f"{_fmt_setting(key, saved[key])}, this run asks for {_fmt_setting(key, given[key])} "
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


def _device(spec):
    """Resolve --device, raising UsageError (one line) when it is unusable."""
    try:
        if spec is None:
            dev = backend.get_default_device()
        elif spec.strip().lower() == "auto":
            dev = gg.Device("cuda:0") if gg.cuda_available() else gg.Device("cpu")
        else:
            dev = gg.Device(spec)
        dev._check_available()
    except (RuntimeError, ValueError) as exc:
        where = f"--device {spec}" if spec is not None else f"GPUGRAD_DEVICE={os.environ.get('GPUGRAD_DEVICE', '')}"
        raise UsageError(f"{where}: {exc}") from None
    return dev


# --------------------------------------------------------------------------- data and model

def load_data(dataset, data_dir):
    """(X_train, y_train, X_test, y_test) on the host; the dataset's own test split."""
    if dataset == "digits":
        if data_dir is not None:
            raise UsageError("--data-dir is for --dataset mnist or fashion-mnist; digits ships with scikit-learn")
        if importlib.util.find_spec("sklearn") is None:
            raise UsageError("--dataset digits needs scikit-learn, not installed: pip install 'gpugrad[train]'")
        return load_digits(test_fraction=0.2, seed=0)  # a fixed, stratified 80/20 split
    return load_idx_dataset(data_dir, dataset)


def build_model(n_in, hidden, n_classes, activation="relu", device=None):
    """An MLP: Linear -> activation for each hidden size, then Linear to the class scores."""
    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}[activation]
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h, device=device), act()]
        width = h
    layers.append(nn.Linear(width, n_classes, device=device))
    return nn.Sequential(*layers)


def describe_model(n_in, hidden, n_classes, activation):
    return "MLP " + "-".join(str(n) for n in [n_in, *hidden, n_classes]) + (f" {activation}" if hidden else "")


def build_optimizer(name, params, lr, momentum):
    if name == "adam":
        return gg.optim.Adam(params, lr=lr)
    return gg.optim.SGD(params, lr=lr, momentum=momentum)


# --------------------------------------------------------------------------- the training loop

def train_one_epoch(model, opt, loader, progress=None):
    """One pass over ``loader``; returns (mean training loss, seconds, samples).

    The running loss is a device tensor: adding ``loss.detach()`` queues work on the GPU and
    never waits for it. It is read (a host sync) only every PROGRESS_EVERY batches when a
    progress bar is shown, and once at the end."""
    model.train()
    start = time.perf_counter()
    loss_sum = gg.zeros((), device=loader.device)   # stays on the device
    seen = 0
    batches = progress if progress is not None else loader
    for i, (xb, yb) in enumerate(batches, 1):
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum = loss_sum + loss.detach() * len(yb)
        seen += len(yb)
        if progress is not None and i % PROGRESS_EVERY == 0:
            progress.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", refresh=False)
    gg.synchronize(loader.device)   # all queued work done: the time below is real
    seconds = time.perf_counter() - start
    return loss_sum.item() / seen, seconds, seen


def evaluate(model, loader):
    """(mean loss, accuracy) over ``loader``, without recording a graph."""
    model.eval()
    with gg.no_grad():
        loss_sum = gg.zeros((), device=loader.device)
        correct = gg.zeros((), dtype=gg.int64, device=loader.device)
        for xb, yb in loader:
            logits = model(xb)
            loss_sum = loss_sum + F.cross_entropy(logits, yb) * len(yb)
            correct = correct + (logits.argmax(axis=1) == yb).sum()
    return loss_sum.item() / loader.num_samples, correct.item() / loader.num_samples


def progress_bar(loader, desc, **options):
    """A tqdm bar over ``loader`` on stdout that disappears when the epoch ends."""
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, unit="batch", leave=False, file=sys.stdout, dynamic_ncols=True, **options)


# --------------------------------------------------------------------------- outputs

def write_metrics(path, metrics):
    atomic_write(path, lambda f: f.write((json.dumps(metrics, indent=2) + "\n").encode("utf-8")))


def save_curves(path, history, title=""):
    """Loss (train, test) and test accuracy against epoch, as a PNG (matplotlib, Agg, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", ms=3, label="train")
    ax_loss.plot(epochs, [h["test_loss"] for h in history], "o-", ms=3, label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [100 * h["test_accuracy"] for h in history], "o-", ms=3, color="tab:green")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))


# --------------------------------------------------------------------------- main

def _check_extras():
    missing = [m for m in ("tqdm", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"{PROG} needs {' and '.join(missing)}, not installed: pip install 'gpugrad[train]'")


def run(args) -> int:
    """Train as ``args`` say; raises UsageError / DataError / CheckpointError on bad input."""
    t_start = time.perf_counter()
    _check_extras()
    from tqdm.auto import tqdm

    device = _device(args.device)
    out = args.out
    ckpt_path = os.path.join(out, CHECKPOINT)
    saved = None
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise UsageError(f"--resume: there is no checkpoint {ckpt_path!r} to resume from")
        saved = load_checkpoint(ckpt_path)
        meta = saved[2]
        if not isinstance(meta.get("settings"), dict) or not isinstance(meta.get("epoch"), int):
            raise CheckpointError(
                f"checkpoint {ckpt_path!r} was not written by {PROG} (no settings or epoch in its metadata).")
    s = _settings(args, saved[2]["settings"] if saved else None, ckpt_path)
    if saved is not None and args.data_dir is None:
        data_dir = saved[2]["settings"].get("data_dir")
    else:
        data_dir = None if args.data_dir is None else os.path.abspath(args.data_dir)
    s["data_dir"] = data_dir
    start_epoch = saved[2]["epoch"] if saved else 0
    if start_epoch >= s["epochs"]:
        print(f"{PROG}: {ckpt_path} already has {start_epoch} epochs (--epochs {s['epochs']}); nothing to do "
              f"(pass a larger --epochs to train further)", flush=True)
        return 0
    interactive = sys.stdout.isatty()

    X_train, y_train, X_test, y_test = load_data(s["dataset"], data_dir)
    X_train, X_test, (mean, std) = standardize(X_train, X_test, min_std=STD_FLOOR)
    n_in, n_classes = X_train.shape[1], int(max(y_train.max(), y_test.max())) + 1
    arch = describe_model(n_in, s["hidden"], n_classes, s["activation"])
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out!r}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out {out!r}: the folder is not writable")

    gg.manual_seed(s["seed"])
    model = build_model(n_in, s["hidden"], n_classes, s["activation"], device=device)
    opt = build_optimizer(s["optimizer"], model.parameters(), s["lr"], s["momentum"])
    history, wall_before = [], 0.0
    if saved is not None:
        model_state, optim_state, meta = saved
        restore(model, opt, model_state, optim_state, source=f"checkpoint {ckpt_path!r}")  # names, shapes
        if meta.get("architecture") not in (None, arch):
            raise CheckpointError(f"checkpoint {ckpt_path!r} is for another architecture: {meta['architecture']}, "
                                  f"this run builds {arch}.")
        history = list(meta.get("history", []))[:start_epoch]
        wall_before = float(meta.get("wall_time_s", 0.0))

    train_loader = DataLoader(X_train, y_train, s["batch_size"], shuffle=True, seed=s["seed"], device=device)
    test_loader = DataLoader(X_test, y_test, EVAL_BATCH_SIZE, device=device)
    n_params = sum(p.size for p in model.parameters())
    if interactive:
        what = "resuming after epoch %d" % start_epoch if saved else "training"
        print(f"{PROG}: {what}: {s['dataset']} ({len(y_train)} train / {len(y_test)} test, {n_classes} classes), "
              f"{arch} ({n_params:,} parameters), {s['optimizer']} lr {s['lr']:g}, batch {s['batch_size']}, "
              f"{s['epochs']} epochs, on {device}", flush=True)

    def log(line):  # between progress bars on a terminal
        if interactive:
            tqdm.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def metrics_doc(completed):
        last = history[-1] if history else {}
        return {
            "dataset": s["dataset"], "device": str(device), "model": arch, "parameters": n_params,
            "settings": s, "train_samples": int(len(y_train)), "test_samples": int(len(y_test)),
            "epochs": history, "epochs_completed": len(history), "epochs_requested": s["epochs"],
            "completed": completed, "final_test_accuracy": last.get("test_accuracy"),
            "final_test_loss": last.get("test_loss"), "resumed_at_epoch": start_epoch if saved else None,
            "wall_time_s": wall_before + (time.perf_counter() - t_start),
            "session_wall_time_s": time.perf_counter() - t_start,
            "checkpoint": CHECKPOINT, "curves": CURVES, "gpugrad_version": gg.__version__,
        }

    stop_at = s["epochs"] if args.stop_after is None else min(s["epochs"], start_epoch + args.stop_after)
    for epoch in range(start_epoch, stop_at):
        train_loader.set_epoch(epoch)   # the shuffle depends only on (seed, epoch): resumable
        bar = progress_bar(train_loader, f"epoch {epoch + 1}/{s['epochs']}") if interactive else None
        train_loss, seconds, seen = train_one_epoch(model, opt, train_loader, bar)
        if bar is not None:
            bar.close()
        test_loss, test_acc = evaluate(model, test_loader)
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "test_loss": test_loss,
                        "test_accuracy": test_acc, "samples_per_s": seen / seconds, "epoch_time_s": seconds,
                        "device": str(device)})
        log(f"epoch {epoch + 1:3d}/{s['epochs']}  train loss {train_loss:.4f}  test loss {test_loss:.4f}  "
            f"test acc {100 * test_acc:6.2f}%  {seen / seconds:,.0f} samples/s")
        meta = {"settings": s, "epoch": epoch + 1, "architecture": arch, "history": history,
                "scaling": {"mean": mean.tolist(), "std": std.tolist()}, "device": str(device),
                "wall_time_s": wall_before + (time.perf_counter() - t_start), "gpugrad_version": gg.__version__}
        save_checkpoint(ckpt_path, model, opt, meta)
        write_metrics(os.path.join(out, METRICS), metrics_doc(False))

    completed = len(history) >= s["epochs"]
    save_curves(os.path.join(out, CURVES), history, f"{s['dataset']}: {arch}, {s['optimizer']}, on {device}")
    doc = metrics_doc(completed)
    write_metrics(os.path.join(out, METRICS), doc)
    if completed:
        print(f"test accuracy {100 * doc['final_test_accuracy']:.2f}% after {len(history)} epochs on {device} "
              f"in {doc['session_wall_time_s']:.1f} s; results in {out}", flush=True)
    else:
        print(f"stopped after epoch {len(history)} of {s['epochs']} (test accuracy "
              f"{100 * doc['final_test_accuracy']:.2f}%); continue with: {PROG} --out {out} --resume", flush=True)
    return 0


def main(argv=None) -> int:
    """Entry point of ``gpugrad-train``; returns the exit status."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        return run(args)
    except (UsageError, DataError, CheckpointError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except MemoryError as exc:  # CUDA out of memory: gpugrad's message says what to do
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; the last finished epoch's checkpoint is kept (continue with --resume)",
              file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
