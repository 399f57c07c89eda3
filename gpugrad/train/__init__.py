"""``gpugrad-train`` and the training loop it runs.

* :mod:`.loop`: ``train_step``, ``train_one_epoch``, ``evaluate`` and the MLP: a library that the
  command, the benchmarks and the tests share;
* :mod:`.settings`: the command line, defaults and resuming;
* :mod:`.report`: progress bar, per-epoch lines, ``metrics.json``, ``curves.png``;
* :mod:`.cli`: the command itself (``gpugrad-train``, or ``python -m gpugrad.train``).
"""
from .cli import TrainingJob, load_data, main, run
from .loop import (PROGRESS_EVERY, build_model, build_optimizer, describe_model, evaluate,
                   train_one_epoch, train_step)
from .settings import DEFAULTS, LR_DEFAULTS, UsageError, build_parser

__all__ = ["main", "run", "TrainingJob", "load_data", "build_parser", "build_model",
           "build_optimizer", "describe_model", "train_step", "train_one_epoch", "evaluate",
           "DEFAULTS", "LR_DEFAULTS", "PROGRESS_EVERY", "UsageError"]
