"""What a ``gpugrad-train`` run shows and leaves behind: the progress bar and per-epoch lines,
``metrics.json`` and ``curves.png``."""
from __future__ import annotations

import json
import sys

from ..checkpoint import atomic_write

__all__ = ["EPOCH_FIGURES", "progress_bar", "epoch_line", "write_metrics", "save_curves"]

#: The figures of each epoch's record that the epoch line and the curves read.
EPOCH_FIGURES = ("epoch", "train_loss", "test_loss", "test_accuracy", "samples_per_s")


def progress_bar(loader, desc, **options):
    """A tqdm bar over ``loader`` on stdout that disappears when the epoch ends."""
    from tqdm.auto import tqdm   # the `train` extra

    return tqdm(loader, desc=desc, unit="batch", leave=False, file=sys.stdout, dynamic_ncols=True, **options)


def epoch_line(record, epochs):
    """One line per epoch: its losses, accuracy and throughput."""
    return (f"epoch {record['epoch']:3d}/{epochs}  train loss {record['train_loss']:.4f}  "
            f"test loss {record['test_loss']:.4f}  test acc {100 * record['test_accuracy']:6.2f}%  "
            f"{record['samples_per_s']:,.0f} samples/s")


def write_metrics(path, metrics):
    atomic_write(path, lambda f: f.write((json.dumps(metrics, indent=2) + "\n").encode("utf-8")))


def save_curves(path, history, title=""):
    """Loss (train, test) and test accuracy against epoch, as a PNG (matplotlib, Agg, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg   # the `train` extra
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
