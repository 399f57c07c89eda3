"""``gpugrad-train``: train an MLP or CNN classifier on real data, on the best device present.

    gpugrad-train                                   # digits (scikit-learn's, no download), defaults
    gpugrad-train --dataset fashion-mnist --epochs 10 --out runs/fashion
    gpugrad-train --dataset fashion-mnist --model cnn --epochs 5 --scheduler cosine
    gpugrad-train --out runs/fashion --resume --epochs 20   # continue that run to 20 epochs

Writes to ``--out``: ``checkpoint.npz`` (model + optimizer + metadata, after every epoch),
``metrics.json`` (per-epoch figures, device, wall time, final accuracy) and ``curves.png``.
Bad input (data files, checkpoints, options, a missing GPU, a checkpoint that cannot be
written) ends with one ``gpugrad-train: error: ...`` line on stderr and exit status 2; a loss
that becomes NaN or infinite ends the run with one such line and status 1, before that epoch's
checkpoint is written, so the last good checkpoint stays.

Under ``mpiexec -n N`` it trains data-parallel on N processes (see :mod:`.processes`).
"""
from __future__ import annotations

import importlib.util
import math
import os
import sys
import time

import numpy as np

from .. import __version__, backend
from ..checkpoint import CheckpointError, restore, save_checkpoint
from ..data import DataLoader, load_digits, load_idx_dataset, standardize
from . import checks, loop, report
from .processes import SETUP_ERRORS, Processes
from .settings import PROG, UsageError, build_parser, format_setting, run_settings

__all__ = ["main", "run", "load_data", "TrainingJob"]

CHECKPOINT, METRICS, CURVES = "checkpoint.npz", "metrics.json", "curves.png"
EVAL_BATCH_SIZE = 4096     # test-set batch size (no gradients, so it can be large)
STD_FLOOR = 0.1            # smallest per-feature std used when scaling features


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: training stops (exit status 1) before the epoch's
    checkpoint is written, so the last good one stays."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while training, with what was kept."""


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
        self.cuda_graph = bool(getattr(args, "cuda_graph", False))
        self.ranks = ranks = ranks if ranks is not None else Processes()
        self.device = ranks.start(args.device)
        self.ckpt_path = os.path.join(args.out, CHECKPOINT)
        self.saved = ranks.from_rank0(checks.resume_from, self.ckpt_path) if args.resume else None
        meta = self.saved[2] if self.saved else {}
        self.settings = s = run_settings(args, meta.get("settings"), self.ckpt_path)
        given_dir = None if args.data_dir is None else os.path.abspath(args.data_dir)
        s["data_dir"] = meta["settings"].get("data_dir") if self.saved and given_dir is None else given_dir
        self.start_epoch = meta.get("epoch", 0)
        self.history = list(meta.get("history", []))[:self.start_epoch]
        self.wall_before = float(meta.get("wall_time_s", 0.0))
        self.done = self.start_epoch >= s["epochs"]
        self.checkpoint_epoch = self.start_epoch if self.saved else None   # the one on disk to continue from

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
        checks.check_labels(y_train, y_test, s["dataset"])
        X_train, X_test, self.scaling = standardize(X_train, X_test, min_std=STD_FLOOR)
        n_in, self.n_classes = X_train.shape[1], int(y_train.max()) + 1
        if s["model"] == "cnn":   # the images as (N, 1, H, W)
            n_in = image_shape(n_in, s["dataset"])
            X_train, X_test = X_train.reshape(-1, *n_in), X_test.reshape(-1, *n_in)
        self.arch = loop.describe_model(n_in, s["hidden"], self.n_classes, s["activation"], s["model"])
        if self.ranks.is_writer:
            _writable_folder(self.args.out)
        backend.manual_seed(s["seed"])
        if s["model"] == "mlp":
            checks.check_model_fits([n_in, *s["hidden"], self.n_classes], self.device)
        try:
            self.model = loop.build_model(n_in, s["hidden"], self.n_classes, s["activation"], device=self.device,
                                          model=s["model"])
            self.opt = loop.build_optimizer(s["optimizer"], self.model.parameters(), s["lr"], s["momentum"],
                                            capturable=self.cuda_graph)
        except (MemoryError, ValueError) as exc:   # NumPy: "array is too big"; CuPy: out of memory
            raise UsageError(f"--hidden {format_setting('hidden', s['hidden'])}: the model cannot be allocated on "
                             f"{self.device} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        self.scheduler = loop.build_scheduler(s["scheduler"], self.opt, s["epochs"])
        if self.cuda_graph:
            checks.check_cuda_graph(s, self.device, self.ranks.size)
        if self.saved is not None:
            self._restore()
        if self.cuda_graph:   # a checkpoint of an eager run resumes with its Adam made capturable
            for group in self.opt.param_groups:
                if "capturable" in group:
                    group["capturable"] = True
        return (X_train, y_train), (X_test, y_test)

    def _restore(self):
        model_state, optim_state, meta = self.saved
        restore(self.model, self.opt, model_state, optim_state, source=f"checkpoint {self.ckpt_path!r}")
        try:
            if self.scheduler is not None and "scheduler" in meta:   # where the schedule had got to
                self.scheduler.load_state_dict(meta["scheduler"])
            if "rng_state" in meta:   # the next dropout masks are the ones an uninterrupted run draws
                backend.set_rng_state(meta["rng_state"])
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint {self.ckpt_path!r}: {exc}") from None
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
            try:
                train_loss, seconds, seen = loop.train_one_epoch(self.net, self.opt, self.train_loader, bar,
                                                                 clip_grad_norm=s["clip_grad_norm"],
                                                                 cuda_graph=self.cuda_graph)
            except loop.NonFiniteLoss as exc:
                raise TrainingDiverged(f"epoch {epoch + 1}: {exc}; {self.kept()}") from None
            finally:
                if bar is not None:
                    bar.close()
            if self.scheduler is not None:
                self.scheduler.step()
            test_loss, test_acc = loop.evaluate(self.net, self.test_loader)
            if not math.isfinite(test_loss):   # the epoch's last update made the weights non-finite
                raise TrainingDiverged(f"epoch {epoch + 1}: the test loss is {test_loss} after the epoch's last "
                                       f"step (step {len(self.train_loader)}); {self.kept()}")
            self.history.append({"epoch": epoch + 1, "train_loss": train_loss, "test_loss": test_loss,
                                 "test_accuracy": test_acc, "samples_per_s": seen / seconds,
                                 "epoch_time_s": seconds, "lr": lr, "device": str(self.device),
                                 "processes": self.ranks.size})
            if self.ranks.is_writer:
                log(report.epoch_line(self.history[-1], s["epochs"]))
                self.write(self.ckpt_path, save_checkpoint, self.model, self.opt, self.checkpoint_meta())
                self.checkpoint_epoch = epoch + 1
                self.write(os.path.join(self.args.out, METRICS), report.write_metrics, self.metrics(False))

    def write(self, path, writer, *args):
        """``writer(path, *args)``: an OSError (a full disk, a read-only folder) is one line saying
        what could not be written and what is kept (every file is written atomically)."""
        try:
            writer(path, *args)
        except OSError as exc:
            raise CheckpointError(f"cannot write {path!r} ({exc.strerror or exc}); {self.kept()}") from None

    def kept(self) -> str:
        """What is on disk to continue from, said truthfully."""
        if self.checkpoint_epoch is None:
            return "no epoch of this run finished, so no checkpoint was written"
        return (f"the checkpoint of epoch {self.checkpoint_epoch} in {self.args.out} is kept as it was "
                f"(continue with --resume)")

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
        self.write(os.path.join(out, CURVES), report.save_curves, self.history,
                   f"{s['dataset']}: {self.arch}, {s['optimizer']}, on {self.where()}")
        doc = self.metrics(completed)
        self.write(os.path.join(out, METRICS), report.write_metrics, doc)
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
    try:
        job.prepare()
        interactive = job.ranks.is_writer and sys.stdout.isatty()
        if interactive:
            job.announce()
        # the loop checks the loss itself (TrainingDiverged, one line): NumPy's warnings about the
        # overflows and NaNs of a diverging run would only add lines before it
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            job.train(_logger(interactive), interactive)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; {job.kept()}") from None
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
    except TrainingDiverged as exc:  # found after the epoch's figures are summed: on every rank at once
        return ranks.fail(f"{PROG}: error: {exc}", 1, agreed=True)
    except MemoryError as exc:  # CUDA out of memory: gpugrad's message says what to do
        return ranks.fail(f"{PROG}: error: {exc}", 1)
    except KeyboardInterrupt as exc:
        what = str(exc) if isinstance(exc, Interrupted) else "interrupted before training began; nothing was written"
        return ranks.fail(f"\n{PROG}: {what}", 130, every_rank=True)
