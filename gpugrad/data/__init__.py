"""Data: IDX files (MNIST's format), the built-in digits, and a device-aware DataLoader.

* :func:`read_idx` reads one MNIST-format IDX file (plain or gzipped) into a NumPy array.
* :func:`load_idx_dataset` loads the four standard MNIST / Fashion-MNIST files from a folder.
* :func:`load_digits` is scikit-learn's bundled 8x8 digits (1797 images, no download), split.
* :class:`DataLoader` yields ``(Tensor(xb), Tensor(yb))`` minibatches on a device; a dataset that
  fits is moved to the device once, and each batch is sliced there;
* :class:`BatchSampler` says which samples each step takes (each epoch's order from
  ``(seed, epoch)``), and :class:`DistributedBatchSampler` gives each rank of a data-parallel
  job its part of every global batch.

Everything here works on host NumPy arrays until the loader moves them; the only device work goes
through :mod:`gpugrad.backend`.
"""
from .datasets import load_digits, standardize
from .idx import IDX_FILES, DataError, default_data_dir, load_idx_dataset, read_idx
from .loader import PRELOAD_LIMIT_BYTES, DataLoader
from .sampler import BatchSampler, DistributedBatchSampler, epoch_order

__all__ = [
    "DataError", "read_idx", "load_idx_dataset", "default_data_dir", "IDX_FILES",
    "load_digits", "standardize", "DataLoader", "PRELOAD_LIMIT_BYTES", "BatchSampler",
    "DistributedBatchSampler", "epoch_order",
]
