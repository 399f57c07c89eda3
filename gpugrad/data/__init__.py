"""Data, as PyTorch's ``torch.utils.data``: datasets, samplers and the DataLoader; and IDX files
(MNIST's format) and the built-in digits.

* :class:`Dataset` (map-style: ``__getitem__`` and ``__len__``), :class:`TensorDataset`,
  :class:`Subset`, :class:`ConcatDataset`, :func:`random_split`.
* :class:`DataLoader` yields minibatches as tensors on a device. Any dataset is read sample by
  sample and batched by ``collate_fn`` (:func:`default_collate`); a TensorDataset (or arrays,
  or a Subset of one) is moved to the device once and each batch is sliced there. The order of
  each pass is a function of ``(seed, epoch)`` only (see :mod:`gpugrad.data.loader`).
* Samplers (:mod:`gpugrad.data.sampler`): :class:`SequentialSampler`, :class:`RandomSampler`,
  :class:`SubsetRandomSampler`, :class:`WeightedRandomSampler`, :class:`DistributedSampler`,
  :class:`BatchSampler`, and :class:`DistributedBatchSampler`, which gives each rank of a
  data-parallel job its part of every global batch.
* :func:`read_idx` reads one MNIST-format IDX file (plain or gzipped) into a NumPy array;
  :func:`load_idx_dataset` loads the four standard MNIST / Fashion-MNIST files from a folder;
  :func:`load_digits` is scikit-learn's bundled 8x8 digits (1797 images, no download), split.

Device work goes through :mod:`gpugrad.backend`.
"""
from .arrays import PRELOAD_LIMIT_BYTES
from .builtin import load_digits, standardize
from .collate import default_collate, default_convert
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .idx import IDX_FILES, DataError, default_data_dir, load_idx_dataset, read_idx
from .loader import DataLoader
from .sampler import (BatchSampler, DistributedBatchSampler, DistributedSampler, RandomSampler, Sampler,
                      SequentialSampler, SubsetRandomSampler, WeightedRandomSampler, epoch_order)

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader", "PRELOAD_LIMIT_BYTES",
    "default_collate", "default_convert", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "DistributedSampler", "BatchSampler", "DistributedBatchSampler", "epoch_order",
    "DataError", "read_idx", "load_idx_dataset", "default_data_dir", "IDX_FILES", "load_digits", "standardize",
]
