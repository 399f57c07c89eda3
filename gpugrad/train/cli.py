"""``gpugrad-train``: train an MLP or CNN classifier on real data, on the best device present.

    gpugrad-train                                   # digits (scikit-learn's, no download), defaults
    gpugrad-train --dataset fashion-mnist --epochs 10 --out runs/fashion
    gpugrad-train --dataset fashion-mnist --model cnn --epochs 5 --scheduler cosine
    gpugrad-train --out runs/fashion --resume --epochs 20   # continue that run to 20 epochs

Writes to ``--out``: ``checkpoint.npz`` (model + optimizer + metadata, after every epoch),
``metrics.json`` (per-epoch figures, device, wall time, final accuracy) and ``curves.png``.
Bad input (data files, checkpoints, options, a missing GPU) ends with one
``gpugrad-train: error: ...`` line on stderr and exit status 2.

Under ``mpiexec -n N`` it trains data-parallel on N processes (see :mod:`.processes`).
"""
from __future__ import annotations

import importlib.util
import math
import os
import sys
import time

from .. import __version__, backend
from ..checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from ..data import DataLoader, load_digits, load_idx_dataset, standardize
from . import loop, report
from .processes import SETUP_ERRORS, Processes
from .settings import PROG, UsageError, build_parser, run_settings

__all__ = ["main", "run", "load_data", "TrainingJob"]

CHECKPOINT, METRICS, CURVES = "checkpoint.npz", "metrics.json", "curves.png"
EVAL_BATCH_SIZE = 4096     # test-set batch size (no gradients, so it can be large)
STD_FLOOR = 0.1            # smallest per-feature std used when scaling features


def load_data(dataset, data_dir):
    """(X_train, y_train, X_test, y_test) on the host; the dataset's own test split."""
    if dataset == "digits":
        if data_dir is not None:
            raise UsageError("--data-dir is for --dataset mnist or fashion-mnist; digits ships with scikit-learn")
        if importlib.util.find_spec("sklearn") is None:
            raise UsageError("--dataset digits needs scikit-learn, not installed: pip install 'gpugrad[train]'")
        return load_digits(test_fraction=0.2, seed=0)  # a fixed, stratified 80/20 split
    return load_idx_dataset(data_dir, dataset)


def image_shape(n_features, dataset):
    """(1, side, side) of square grey-scale images flattened to ``n_features``: the CNN's input."""
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise UsageError(f"--model cnn needs square images; {dataset} has {n_features} features per sample")
    return (1, side, side)


def _check_extras():
    missing = [m for m in ("tqdm", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"{PROG} needs {' and '.join(missing)}, not installed: pip install 'gpugrad[train]'")


def _resume_from(path):
    """The checkpoint to resume from, checked to be one of gpugrad-train's."""
    if not os.path.exists(path):
        raise UsageError(f"--resume: there is no checkpoint {path!r} to resume from")
    saved = load_checkpoint(path)
    meta = saved[2]
    if not isinstance(meta.get("settings"), dict) or not isinstance(meta.get("epoch"), int):
        raise CheckpointError(
            f"checkpoint {path!r} was not written by {PROG} (no settings or epoch in its metadata).")
    return saved


def _writable_folder(out):
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out!r}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out {out!r}: the folder is not writable")


class TrainingJob:
    """One invocation of ``gpugrad-train``: its settings, data, model and optimizer, and the
    history of the epochs done so far (those of the checkpoint it resumes, then its own).
    ``ranks`` is this process's place in a data-parallel run (one process by default)."""

    def __init__(self, args, ranks=None):
        self.t_start = time.perf_counter()
        self.args = args
        self.ranks = ranks = ranks if ranks is not None else Processes()
        self.device = ranks.start(args.device)
        self.ckpt_path = os.path.join(args.out, CHECKPOINT)
        self.saved = ranks.from_rank0(_resume_from, self.ckpt_path) if args.resume else None
        meta = self.saved[2] if self.saved else {}
        self.settings = s = run_settings(args, meta.get("settings"), self.ckpt_path)
        given_dir = None if args.data_dir is None else os.path.abspath(args.data_dir)
        s["data_dir"] = meta["settings"].get("data_dir") if self.saved and given_dir is None else given_dir
        self.start_epoch = meta.get("epoch", 0)
        self.history = list(meta.get("history", []))[:self.start_epoch]
        self.wall_before = float(meta.get("wall_time_s", 0.0))
        self.done = self.start_epoch >= s["epochs"]

    def prepare(self):
        """Load and scale the data, build the model and optimizer, restore a resumed run (every
        rank, agreeing on failures); then wrap the model for data parallelism and make the loaders."""
        data = self.ranks.agree(self._build)
        self.ranks.setup_done()
        self.net = self.ranks.data_parallel(self.model)   # the model, or its DistributedDataParallel
        (X_train, y_train), (X_test, y_test) = data
        s = self.settings
        self.train_loader = DataLoader(X_train, y_train, device=self.device, batch_sampler=self.ranks.batch_sampler(
            len(y_train), s["batch_size"], shuffle=True, seed=s["seed"]))
        self.test_loader = DataLoader(X_test, y_test, device=self.device,
                                      batch_sampler=self.ranks.batch_sampler(len(y_test), EVAL_BATCH_SIZE))
        self.n_params = sum(p.numel() for p in self.model.parameters())

    def _build(self):
        s = self.settings
        X_train, y_train, X_test, y_test = load_data(s["dataset"], s["data_dir"])
        X_train, X_test, self.scaling = standardize(X_train, X_test, min_std=STD_FLOOR)
        n_in, self.n_classes = X_train.shape[1], int(max(y_train.max(), y_test.max())) + 1
        if s["model"] == "cnn":   # the images as (N, 1, H, W)
            n_in = image_shape(n_in, s["dataset"])
            X_train, X_test = X_train.reshape(-1, *n_in), X_test.reshape(-1, *n_in)
        self.arch = loop.describe_model(n_in, s["hidden"], self.n_classes, s["activation"], s["model"])
        if self.ranks.is_writer:
            _writable_folder(self.args.out)
        backend.manual_seed(s["seed"])
        self.model = loop.build_model(n_in, s["hidden"], self.n_classes, s["activation"], device=self.device,
                                      model=s["model"])
        self.opt = loop.build_optimizer(s["optimizer"], self.model.parameters(), s["lr"], s["momentum"])
        self.scheduler = loop.build_scheduler(s["scheduler"], self.opt, s["epochs"])
        if self.saved is not None:
            self._restore()
        return (X_train, y_train), (X_test, y_test)

    def _restore(self):
        model_state, optim_state, meta = self.saved
        restore(self.model, self.opt, model_state, optim_state, source=f"checkpoint {self.ckpt_path!r}")
        if self.scheduler is not None and "scheduler" in meta:   # where the schedule had got to
            self.scheduler.load_state_dict(meta["scheduler"])
        if "rng_state" in meta:   # the next dropout masks are the ones an uninterrupted run draws
            backend.set_rng_state(meta["rng_state"])
        if meta.get("architecture") not in (None, self.arch):
            raise CheckpointError(f"checkpoint {self.ckpt_path!r} is for another architecture: "
                                  f"{meta['architecture']}, this run builds {self.arch}.")

    def announce(self):
        s, tl = self.settings, self.train_loader
        what = "resuming after epoch %d" % self.start_epoch if self.saved else "training"
        print(f"{PROG}: {what}: {s['dataset']} ({tl.num_samples} train / {self.test_loader.num_samples} test, "
              f"{self.n_classes} classes), {self.arch} ({self.n_params:,} parameters), {s['optimizer']} "
              f"lr {s['lr']:g}, batch {s['batch_size']}, {s['epochs']} epochs, on {self.where()}", flush=True)

    def where(self):
        """The device, and the number of processes when there are several."""
        n = self.ranks.size
        return str(self.device) if n == 1 else f"{self.device} x {n} processes ({self.ranks.group.backend})"

    def train(self, log, interactive):
        """Train the remaining epochs (or --stop-after of them), checkpointing after each."""
        s = self.settings
        stop_at = s["epochs"] if self.args.stop_after is None else min(s["epochs"], self.start_epoch + self.args.stop_after)
        for epoch in range(self.start_epoch, stop_at):
            self.train_loader.set_epoch(epoch)   # the shuffle depends only on (seed, epoch): resumable
            bar = report.progress_bar(self.train_loader, f"epoch {epoch + 1}/{s['epochs']}") if interactive else None
            lr = self.opt.param_groups[0]["lr"]
            train_loss, seconds, seen = loop.train_one_epoch(self.net, self.opt, self.train_loader, bar,
                                                             clip_grad_norm=s["clip_grad_norm"])
            if self.scheduler is not None:
                self.scheduler.step()
            if bar is not None:
                bar.close()
            test_loss, test_acc = loop.evaluate(self.net, self.test_loader)
            self.history.append({"epoch": epoch + 1, "train_loss": train_loss, "test_loss": test_loss,
                                 "test_accuracy": test_acc, "samples_per_s": seen / seconds,
                                 "epoch_time_s": seconds, "lr": lr, "device": str(self.device),
                                 "processes": self.ranks.size})
            if self.ranks.is_writer:
                log(report.epoch_line(self.history[-1], s["epochs"]))
                save_checkpoint(self.ckpt_path, self.model, self.opt, self.checkpoint_meta())
                report.write_metrics(os.path.join(self.args.out, METRICS), self.metrics(False))

    def checkpoint_meta(self):
        mean, std = self.scaling
        schedule = {} if self.scheduler is None else {"scheduler": self.scheduler.state_dict()}
        return {**schedule, "rng_state": backend.get_rng_state(), "settings": self.settings, "epoch": len(self.history), "architecture": self.arch,
                "history": self.history, "scaling": {"mean": mean.tolist(), "std": std.tolist()},
                "device": str(self.device), "processes": self.ranks.size,
                "wall_time_s": self.wall_before + self.elapsed(),
                "gpugrad_version": __version__}

    def elapsed(self):
        return time.perf_counter() - self.t_start

    def metrics(self, completed):
        s, last = self.settings, (self.history[-1] if self.history else {})
        return {
            "dataset": s["dataset"], "device": str(self.device), "processes": self.ranks.size, "model": self.arch,
            "parameters": self.n_params, "settings": s, "train_samples": self.train_loader.num_samples,
            "test_samples": self.test_loader.num_samples, "epochs": self.history,
            "epochs_completed": len(self.history), "epochs_requested": s["epochs"], "completed": completed,
            "final_test_accuracy": last.get("test_accuracy"), "final_test_loss": last.get("test_loss"),
            "resumed_at_epoch": self.start_epoch if self.saved else None,
            "wall_time_s": self.wall_before + self.elapsed(), "session_wall_time_s": self.elapsed(),
            "checkpoint": CHECKPOINT, "curves": CURVES, "gpugrad_version": __version__,
        }

    def finish(self):
        """Write the curves and the final metrics; print the result, or how to continue (rank 0)."""
        s, out = self.settings, self.args.out
        completed = len(self.history) >= s["epochs"]
        if not self.ranks.is_writer:
            return
        report.save_curves(os.path.join(out, CURVES), self.history,
                           f"{s['dataset']}: {self.arch}, {s['optimizer']}, on {self.where()}")
        doc = self.metrics(completed)
        report.write_metrics(os.path.join(out, METRICS), doc)
        accuracy = 100 * doc["final_test_accuracy"]
        if completed:
            print(f"test accuracy {accuracy:.2f}% after {len(self.history)} epochs on {self.where()} "
                  f"in {doc['session_wall_time_s']:.1f} s; results in {out}", flush=True)
        else:
            print(f"stopped after epoch {len(self.history)} of {s['epochs']} (test accuracy {accuracy:.2f}%); "
                  f"continue with: {PROG} --out {out} --resume", flush=True)


def run(args, ranks=None) -> int:
    """Train as ``args`` say; raises UsageError / DataError / CheckpointError on bad input.
    ``ranks``: this process's place in a data-parallel run (default: from the environment)."""
    _check_extras()
    job = TrainingJob(args, ranks)
    if job.done:
        if job.ranks.is_writer:
            print(f"{PROG}: {job.ckpt_path} already has {job.start_epoch} epochs (--epochs "
                  f"{job.settings['epochs']}); nothing to do (pass a larger --epochs to train further)", flush=True)
        return 0
    job.prepare()
    interactive = job.ranks.is_writer and sys.stdout.isatty()
    if interactive:
        job.announce()
    job.train(_logger(interactive), interactive)
    job.finish()
    return 0


def _logger(interactive):
    """Print a line between progress bars on a terminal, plainly otherwise."""
    if not interactive:
        return lambda line: print(line, flush=True)
    from tqdm.auto import tqdm   # the `train` extra

    return lambda line: tqdm.write(line, file=sys.stdout)


def main(argv=None) -> int:
    """Entry point of ``gpugrad-train``; returns the exit status."""
    ranks = Processes()
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        return run(args, ranks)
    except SETUP_ERRORS as exc:
        return ranks.fail(f"{PROG}: error: {exc}", 2, agreed=ranks.setting_up)
    except MemoryError as exc:  # CUDA out of memory: gpugrad's message says what to do
        return ranks.fail(f"{PROG}: error: {exc}", 1)
    except KeyboardInterrupt:
        return ranks.fail(f"\n{PROG}: interrupted; the last finished epoch's checkpoint is kept (continue with "
                          "--resume)", 130, every_rank=True)
