"""``gg.save`` / ``gg.load``: state dicts (a model's, an optimizer's, a scheduler's), tensors,
and nested dicts, lists and tuples of them with numbers, strings and arrays, in the checkpoint
format of :mod:`gpugrad.checkpoint`: one ``.npz`` of plain arrays plus UTF-8 JSON, written
atomically, read without ever unpickling.

The JSON (``object`` in the header, ``kind: 'object'``) mirrors the saved object: JSON numbers,
strings, booleans, null and lists stand for themselves; everything else is a one-key object:
``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}`` (keys of any JSON scalar type, in
order), ``{"tensor": "obj:N", "device": ..., "requires_grad": ..., "parameter": ...}``,
``{"array": "obj:N", "device": ...}`` and ``{"scalar": "obj:N"}`` (a NumPy scalar), where
``obj:N`` names the array holding the values. A tensor saved twice is stored once and loads as
one tensor. ``gg.load`` of a training checkpoint (``gpugrad-train``'s ``checkpoint.npz``) gives
``{'model': state dict, 'optimizer': optimizer state dict or None, 'meta': dict}``.
"""
from __future__ import annotations

import io
import json
import os
from collections import OrderedDict

import numpy as np

from . import backend
from .checkpoint import (FORMAT, META_KEY, VERSION, CheckpointError, atomic_write, load_checkpoint,
                         read_arrays, read_header)
from .nn import Parameter
from .tensor import Tensor, wrap

__all__ = ["save", "load"]

KIND = "object"
_KEY_TYPES = (str, int, float, bool, type(None))


def save(obj, f):
    """Write ``obj`` to ``f`` (a path, written atomically: a temporary file renamed over it; or a
    binary file object). Arrays are copied to the host; nothing is pickled, so any other Python
    object is refused with a TypeError that says where it is in ``obj``."""
    arrays, ids = OrderedDict(), {}
    tree = _encode(obj, arrays, ids, "obj")
    header = {"format": FORMAT, "version": VERSION, "kind": KIND, "object": tree}
    arrays[META_KEY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    if hasattr(f, "write"):
        np.savez(f, **arrays)
    else:
        atomic_write(f, lambda out: np.savez(out, **arrays))


def _encode(obj, arrays, ids, where):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)):
        return obj if type(obj) in (int, float) else (int(obj) if isinstance(obj, int) else float(obj))
    if isinstance(obj, Tensor):
        return {"tensor": _store(obj.array, obj, arrays, ids, where), "device": str(obj.device),
                "requires_grad": obj.requires_grad, "parameter": isinstance(obj, Parameter)}
    if backend.is_array(obj):
        return {"array": _store(obj, obj, arrays, ids, where), "device": str(backend.device_of(obj))}
    if isinstance(obj, np.generic):
        return {"scalar": _store(np.asarray(obj), obj, arrays, ids, where)}
    if isinstance(obj, list):
        return [_encode(v, arrays, ids, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return {"tuple": [_encode(v, arrays, ids, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, _KEY_TYPES):
                raise TypeError(f"gg.save: {where} has a key of type {type(key).__name__} ({key!r}); "
                                "keys must be strings, numbers, booleans or None")
        return {"dict": [[_encode(k, arrays, ids, where), _encode(v, arrays, ids, f"{where}[{k!r}]")]
                         for k, v in obj.items()]}
    raise TypeError(f"gg.save: {where} is a {type(obj).__name__}, which gg.save cannot store (it "
                    "saves tensors, arrays, numbers, strings, None and lists, tuples and dicts of "
                    "them; it never pickles)")


def _store(array, owner, arrays, ids, where):
    """The name of the array holding ``array``'s values (once per saved object)."""
    name = ids.get(id(owner))
    if name is None:
        host = backend.to_numpy(array)
        if host.dtype.hasobject:
            raise TypeError(f"gg.save: {where} is an array of Python objects, which would need pickling")
        name = ids[id(owner)] = f"obj:{len(ids)}"
        arrays[name] = host
    return name


def load(f, map_location=None, weights_only=True):
    """Read what :func:`save` wrote to ``f`` (a path or a binary file object).

    Tensors and arrays go back to the device they were saved from, unless ``map_location``
    says otherwise: a device (``'cpu'``, ``'cuda:1'``, a Device) for all of them, or a dict from
    saved device to new device (``{'cuda:1': 'cuda:0'}``). A file from a GPU loads on a machine
    without one only with ``map_location='cpu'``. ``weights_only`` is accepted for PyTorch's
    signature: gg.load never unpickles, whatever it says."""
    del weights_only
    if hasattr(f, "read"):
        source, label = io.BytesIO(f.read()), repr(f)
    else:
        label = os.fspath(f)
        if not os.path.isfile(label):
            raise FileNotFoundError(f"gg.load: no file {label!r}")
        source = label
    arrays = read_arrays(source)
    header = read_header(label, dict(arrays))
    if header.get("kind") is None:          # a training checkpoint (gpugrad-train, save_checkpoint)
        return _training_checkpoint(source, label, map_location)
    if header.get("kind") != KIND or "object" not in header:
        raise CheckpointError(f"gg.load: {label!r} holds a {header.get('kind')!r}, not an object saved by gg.save.")
    arrays.pop(META_KEY)
    return _decode(header["object"], arrays, {}, _Placement(map_location, label), label)


def _training_checkpoint(source, label, map_location):
    if not isinstance(source, str):
        raise CheckpointError("gg.load reads a training checkpoint from a path only")
    model, optim, meta = load_checkpoint(source)
    place = _Placement(map_location, label)
    return {"model": OrderedDict((k, wrap(place.move(v, "cpu"), place.device("cpu"))) for k, v in model.items()),
            "optimizer": optim, "meta": meta}


class _Placement:
    """Where map_location sends an array saved on a device."""

    def __init__(self, map_location, label):
        if map_location is not None and not isinstance(map_location, (str, backend.Device, dict)):
            raise TypeError("gg.load: map_location must be None, a device ('cpu', 'cuda:0', a Device) "
                            f"or a dict from saved device to device, got {type(map_location).__name__}")
        if isinstance(map_location, dict):
            map_location = {str(backend.Device(k)): v for k, v in map_location.items()}
        self.map, self.label = map_location, label

    def device(self, saved):
        target = self.map
        if isinstance(target, dict):
            target = target.get(saved, saved)
        target = saved if target is None else target
        try:
            return backend.resolve_device(target, check=True)
        except RuntimeError as exc:
            if str(backend.Device(target)) != saved:
                raise RuntimeError(f"gg.load: map_location sends data saved on {saved} to {target}, "
                                   f"which is not available here ({exc})") from None
            raise RuntimeError(f"gg.load: {self.label!r} holds data saved on {saved}, which is not "
                               f"available here ({exc}); pass map_location='cpu'") from None

    def move(self, host_array, saved):
        dev = self.device(saved)
        return backend.to_device(host_array, dev) if dev.type != "cpu" else host_array


def _decode(node, arrays, loaded, place, label):
    if not isinstance(node, (dict, list)):
        return node
    if isinstance(node, list):
        return [_decode(v, arrays, loaded, place, label) for v in node]
    try:
        (tag, value), = [(k, v) for k, v in node.items() if k in ("tuple", "dict", "tensor", "array", "scalar")]
        if tag == "tuple":
            return tuple(_decode(v, arrays, loaded, place, label) for v in value)
        if tag == "dict":
            return {_decode(k, arrays, loaded, place, label): _decode(v, arrays, loaded, place, label)
                    for k, v in value}
        if value in loaded:
            return loaded[value]
        host = arrays[value]
        if tag == "scalar":
            result = host[()]
        elif tag == "array":
            result = place.move(host, node["device"])
        else:
            dev = place.device(node["device"])
            data = place.move(host, node["device"])
            result = (Parameter(data, requires_grad=node["requires_grad"]) if node.get("parameter")
                      else wrap(data, dev).requires_grad_(node["requires_grad"]))
        loaded[value] = result
        return result
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"gg.load: {label!r} has a malformed object description ({exc!r}).") from None
