"""Batches from samples: :func:`default_collate` and :func:`default_convert`, as PyTorch's, and
moving a batch to the DataLoader's device (:func:`batch_to_device`).

Stacking follows the sample's structure: tensors and arrays are stacked along a new first axis
(into a Tensor; integer ones made on the host keep their value bounds, so a GPU loss checks
labels without reading them), Python numbers become a Tensor by ``gg.tensor``'s rules (ints
int64, floats float32: gpugrad's default, where PyTorch's collate gives float64), and tuples,
lists, named tuples and dicts are collated field by field.
"""
from __future__ import annotations

import collections.abc
import numbers

import numpy as np

from .. import backend, creation
from ..functions.shape import stack
from ..tensor import Tensor

__all__ = ["default_collate", "default_convert", "batch_to_device", "empty_batch"]


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _stack_arrays(arrays):
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"default_collate: the samples' arrays have different shapes {sorted(shapes)}; "
                         "pad them to one shape or pass a collate_fn of your own")
    if arrays[0].dtype.kind not in "biufc":
        raise TypeError(f"default_collate: cannot make a tensor of arrays of dtype {arrays[0].dtype}")
    dev = backend.device_of(arrays[0])
    with dev.context():
        return creation.as_tensor(backend.array_module(arrays[0]).stack(arrays))


def _stack_tensors(tensors):
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"default_collate: the samples' tensors have different shapes {sorted(shapes)}; "
                         "pad them to one shape or pass a collate_fn of your own")
    return stack(list(tensors))


def default_collate(batch):
    """One batch from a list of samples, following the first sample's type (see the module
    docstring); a TypeError names what cannot be batched."""
    if not isinstance(batch, collections.abc.Sequence) or not len(batch):
        raise TypeError(f"default_collate: expected a non-empty list of samples, got {type(batch).__name__}")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if backend.is_array(elem):
        return _stack_arrays(batch)
    if isinstance(elem, (np.generic, numbers.Number)):
        return creation.tensor(np.asarray(batch) if isinstance(elem, np.generic) else list(batch))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        fields = {key: default_collate([sample[key] for sample in batch]) for key in elem}
        return fields if type(elem) is dict else _rebuilt(elem, fields)
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise ValueError(f"default_collate: the samples have different lengths {sorted({len(s) for s in batch})}")
        fields = [default_collate(list(samples)) for samples in zip(*batch)]
        if _is_namedtuple(elem):
            return type(elem)(*fields)
        return fields if isinstance(elem, (tuple, list)) else _rebuilt(elem, fields)
    raise TypeError("default_collate: a sample must hold tensors, arrays, numbers, strings, or tuples / lists / "
                    f"dicts of them; found {type(elem).__name__}")


def _rebuilt(elem, fields):
    """``fields`` in ``elem``'s own container type when it can be built from them, else as is."""
    try:
        return type(elem)(fields)
    except TypeError:
        return fields


def _is_leaf(value):
    return isinstance(value, Tensor) or backend.is_array(value)


def map_leaves(fn, data, leaf=_is_leaf, tuples_as_lists=False):
    """``data`` with ``fn`` applied to each leaf (Tensors and arrays) in it, inside tuples,
    lists, named tuples and dicts, which keep their types (tuples become lists if asked)."""
    if leaf(data):
        return fn(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuilt(data, {key: map_leaves(fn, v, leaf, tuples_as_lists) for key, v in data.items()})
    if _is_namedtuple(data):
        return type(data)(*(map_leaves(fn, v, leaf, tuples_as_lists) for v in data))
    if isinstance(data, (tuple, list)):
        return (list if tuples_as_lists else type(data))(map_leaves(fn, v, leaf, tuples_as_lists) for v in data)
    return data


def _numeric(value):
    return (backend.is_array(value) or isinstance(value, np.generic)) and value.dtype.kind in "biufc"


def default_convert(data):
    """One sample, unbatched (the DataLoader with ``batch_size=None``): numeric arrays and NumPy
    scalars become Tensors, inside tuples (made lists, as PyTorch's), lists and dicts too;
    anything else is left as it is."""
    return map_leaves(lambda v: creation.as_tensor(np.asarray(v) if isinstance(v, np.generic) else v), data,
                      leaf=_numeric, tuples_as_lists=True)


def batch_to_device(batch, device, as_tensors=True):
    """``batch`` with every Tensor and array in it (inside tuples, lists and dicts too) a Tensor
    on ``device`` (its raw array there when not ``as_tensors``); value bounds kept."""
    def move(value):
        t = creation.as_tensor(value, device=device) if backend.is_array(value) else value
        t = t if t.device is device else t.to(device)
        return t if as_tensors else t.array

    return map_leaves(move, batch)


def _rows(value):
    """A Tensor or array, or a list of strings or numbers (one per sample): what has rows."""
    return _is_leaf(value) or (isinstance(value, list) and not any(
        _is_leaf(v) or isinstance(v, (tuple, list, collections.abc.Mapping)) for v in value))


def empty_batch(batch):
    """``batch`` with no rows: every Tensor, array and list of strings or numbers in it cut to
    ``[:0]`` (a data-parallel rank's empty part of a short last batch has the structure and
    dtypes of the others)."""
    return map_leaves(lambda v: v[:0], batch, leaf=_rows)
