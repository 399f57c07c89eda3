"""Learning-rate schedulers with PyTorch's names, signatures and lr sequences
(``torch.optim.lr_scheduler``): each sets ``group['lr']`` of its optimizer's parameter groups,
per group, when ``step()`` is called (after ``optimizer.step()``, once per epoch or per batch as
the schedule is meant), and has ``state_dict()`` / ``load_state_dict()`` of plain numbers,
strings, lists and dicts (``gg.save`` writes them).

* :mod:`.base`: ``LRScheduler``, the chainable form and the closed form;
* :mod:`.decay`: ``LambdaLR``, ``MultiplicativeLR``, ``StepLR``, ``MultiStepLR``,
  ``ConstantLR``, ``LinearLR``, ``ExponentialLR``, ``PolynomialLR``;
* :mod:`.cosine`: ``CosineAnnealingLR``, ``CosineAnnealingWarmRestarts``, ``OneCycleLR``;
* :mod:`.plateau`: ``ReduceLROnPlateau`` (steps on a metric);
* :mod:`.composite`: ``SequentialLR``, ``ChainedScheduler``.
"""
from .base import LRScheduler
from .composite import ChainedScheduler, SequentialLR
from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR
from .decay import (ConstantLR, ExponentialLR, LambdaLR, LinearLR, MultiplicativeLR, MultiStepLR,
                    PolynomialLR, StepLR)
from .plateau import ReduceLROnPlateau

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
           "LinearLR", "ExponentialLR", "PolynomialLR", "CosineAnnealingLR",
           "CosineAnnealingWarmRestarts", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR",
           "ChainedScheduler"]
