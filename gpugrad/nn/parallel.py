"""``nn.parallel.DistributedDataParallel``, PyTorch's name for :mod:`gpugrad.distributed`'s wrapper."""
from ..distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
