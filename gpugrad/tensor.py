"""``Tensor``: a raw NumPy/CuPy array on a device, with the bookkeeping autograd needs.

This module knows nothing above it. The operators and op methods (``+``, ``@``, ``.sum()``,
``.reshape()``, ...) and ``backward`` are bound onto :class:`Tensor` in one place,
:mod:`gpugrad.functions.methods`, as DeZero binds them; the engine in :mod:`gpugrad.autograd`
builds and walks the graph.

Two ways to reach the raw array:

* ``t.array``: the array itself, for reading. Writing through it is not tracked.
* ``t.data``: the same array handed out for *writing* (as ``.data`` is in PyTorch and
  Chainer). Handing it out counts as an in-place modification: the tensor's version goes up,
  so a backward pass through a graph that saved this tensor raises instead of silently using
  the new values. Assigning ``t.data = new_array`` replaces the array (and device).

Versions and views. A tensor's *version* counts the in-place modifications of its memory
(in-place ops, writes through ``.data``); a view (a reshape, transpose or basic index sharing
the memory, see :mod:`gpugrad.functions.shape`) and ``detach()`` share their base's counter, so
a write through any of them is seen by every graph node that saved any of them. The counter
also notes which in-place op wrote last (for the error message) and how often an in-place op
recorded in the graph gave the memory a new history, and holds weak references to the views
made of it, which ``autograd.rebase_history`` gives their new history at once.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import backend

__all__ = ["Tensor", "wrap", "MODIFICATIONS", "conform_array", "bounds_in_dtype", "FLOAT_KINDS"]

FLOAT_KINDS = "f"

#: In-place modifications of any tensor so far. A graph node notes it when it saves tensors, so
#: a backward pass checks their versions only when something was modified since its forward.
MODIFICATIONS = [0]


class Tensor:
    """An n-dimensional array on a device, with an optional gradient.

    Build one with :func:`gpugrad.tensor`; ``Tensor(array)`` wraps a raw NumPy/CuPy array
    without copying it.

    Autograd bookkeeping (read by :mod:`gpugrad.autograd`): ``grad_fn`` is the node that made
    this tensor (None for a leaf), ``output_nr`` which of its outputs this is,
    ``retains_grad`` whether a non-leaf keeps its ``.grad``, ``hooks`` the gradient hooks of a
    leaf (None without any). ``value_bounds`` (below) bounds an integer tensor's values
    without reading them, so checks such as "class labels in [0, C)" need no device
    synchronisation.
    """

    __slots__ = ("array", "grad", "requires_grad", "grad_fn", "output_nr", "device",
                 "retains_grad", "_bounds", "hooks", "_version_box", "_view", "__weakref__")
    __array_ufunc__ = None  # make NumPy hand `ndarray (op) Tensor` to our reflected operators
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad=False):
        if not backend.is_array(data):
            raise TypeError(f"Tensor() wraps a NumPy or CuPy array; use gg.tensor() for {type(data).__name__}")
        if requires_grad and data.dtype.kind not in FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {data.dtype}")
        self.array = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.grad_fn = None
        self.output_nr = 0
        self.device = backend.device_of(data)
        self.retains_grad = False
        self._bounds = None
        self.hooks = None
        self._version_box = None

    # ------------------------------------------------------------------ the array
    @property
    def data(self):
        """The raw array, handed out for writing: counts as an in-place modification."""
        self.increment_version()
        return self.array

    @data.setter
    def data(self, array):
        if not backend.is_array(array):
            raise TypeError(f"Tensor.data must be a NumPy or CuPy array, got {type(array).__name__}")
        self.array = array
        self.device = backend.device_of(array)
        self.increment_version()

    @property
    def _version(self):
        """How many times this tensor (or a view sharing its memory) was modified in place."""
        box = self._version_box
        return 0 if box is None else box[0]

    @property
    def _base(self):
        """The tensor whose memory this one is a view of (PyTorch's ``_base``), else None."""
        source = self.view_source()
        return None if source is None else source[0]

    def view_source(self):
        """For a view made by a shape op (see :mod:`gpugrad.functions.shape`): ``(base, make,
        history)``, its root base, how it is made again from that (a function of a tensor), and
        the base's history count when it was made; None for any other tensor. (The slot is left
        unset until a view is made, so making an ordinary tensor costs nothing more.)"""
        return getattr(self, "_view", None)

    def set_view_source(self, base, make):
        """Mark this tensor a view of ``base`` (whose version counter it shares) made by
        ``make(base)``; ``base``'s counter keeps a weak reference to it, so that an in-place op
        recorded on ``base`` can give it its new history (``autograd.rebase_history``)."""
        box = self._version_box
        known = self.view_source() is not None
        self._view = (base, make, box[1])
        if known:
            return
        views = box[3]
        if views is None:
            views = box[3] = []
        elif len(views) >= 64 and not len(views) & (len(views) - 1):   # at 64, 128, 256...:
            views[:] = [ref for ref in views if ref() is not None]     # amortised O(1)
        views.append(weakref.ref(self))

    def views_of_memory(self):
        """The live views (tensors marked by :meth:`set_view_source`) sharing this tensor's
        version counter."""
        box = self._version_box
        if box is None or not box[3]:
            return []
        return [v for v in (ref() for ref in box[3]) if v is not None]

    def history_count(self):
        """How often an in-place op recorded in the graph gave this memory a new history."""
        box = self._version_box
        return 0 if box is None else box[1]

    def new_history(self):
        """Count a new history of this memory (``autograd.rebase_history`` calls this)."""
        box = self._version_box
        if box is None:
            box = self._version_box = [0, 0, None, None]
        box[1] += 1

    def increment_version(self, by="a write through .data"):
        """Record an in-place modification of this tensor's array (in-place ops call this,
        naming themselves in ``by``). The counter is a list ``[version, history, by, views]``,
        shared with the views of the same memory."""
        MODIFICATIONS[0] += 1
        box = self._version_box
        if box is None:
            self._version_box = [1, 0, by, None]
        else:
            box[0] += 1
            box[2] = by

    def modified_by(self):
        """What modified this tensor's memory in place last (an in-place op's name, or a write
        through ``.data``), or None if nothing did."""
        box = self._version_box
        return None if box is None else box[2]

    @property
    def value_bounds(self):
        """``(lo, hi)`` with ``lo <= every value <= hi``, when that is known without reading
        the values, else None: integer labels that came from the host (``gg.tensor``, the
        DataLoader), ``gg.arange``, and what moves, integer casts, indexing and the other shape
        ops make of such tensors (they keep a subset of the values). Forgotten as soon as the
        tensor (or a view sharing its memory) is modified in place."""
        bounds = self._bounds
        if bounds is None or bounds[2] != self._version:
            return None
        return bounds[0], bounds[1]

    @value_bounds.setter
    def value_bounds(self, bounds):
        self._bounds = None if bounds is None else (int(bounds[0]), int(bounds[1]), self._version)

    def share_version(self, base):
        """Make this tensor (a view of ``base``'s memory) count modifications with ``base``."""
        box = base._version_box
        if box is None:
            box = base._version_box = [0, 0, None, None]
        self._version_box = box
        return self

    # ------------------------------------------------------------------ properties
    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.array)

    # ------------------------------------------------------------------ autograd flags
    def detach(self):
        """The same data (and version counter), cut off from the graph."""
        t = wrap(self.array, self.device).share_version(self)
        t._bounds = self._bounds
        return t

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.array.dtype.kind not in FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.array.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    # ------------------------------------------------------------------ host values
    def numpy(self):
        """A NumPy array of the values (the array itself on the CPU; a host copy from a GPU)."""
        return backend.to_numpy(self.array)

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item() needs a one-element tensor, got shape {self.shape}")
        if self.device.type == "cpu":
            return self.array.reshape(()).item()
        return backend.to_numpy(self.array).item()

    def tolist(self):
        return backend.to_numpy(self.array).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __array__(self, dtype=None, copy=None):
        if self.device.type != "cpu":
            raise TypeError(f"cannot convert a tensor on {self.device} to NumPy implicitly; call .numpy()")
        return self.array if dtype is None else self.array.astype(dtype)

    # ------------------------------------------------------------------ DLPack (zero-copy exchange)
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """Export this tensor's memory (no copy) to another library: ``torch.from_dlpack(t)``,
        ``jax.dlpack.from_dlpack(t)``, ``cupy.from_dlpack(t)``, ``np.from_dlpack(t)``. As in
        PyTorch, a tensor that requires grad must be detached first."""
        if self.requires_grad:
            raise RuntimeError("cannot export a tensor that requires grad through DLPack (its "
                               "changes would bypass autograd): export t.detach()")
        given = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
        return self.array.__dlpack__(**{k: v for k, v in given.items() if v is not None})

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    def __repr__(self):
        body = np.array2string(backend.to_numpy(self.array), separator=", ", prefix="tensor(")
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.array.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.array.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def wrap(array, device, requires_grad=False):
    """A Tensor around ``array`` (no copy, no checks): the fast constructor ops and the engine
    use. The caller vouches that ``array`` lives on ``device``."""
    t = object.__new__(Tensor)
    t.array = array
    t.grad = None
    t.requires_grad = requires_grad
    t.grad_fn = None
    t.output_nr = 0
    t.device = device
    t.retains_grad = False
    t._bounds = None
    t.hooks = None
    t._version_box = None
    return t


def conform_array(value, like, what):
    """``value`` (a Tensor or a NumPy/CuPy array) as a fresh array with the shape, dtype and
    device of the tensor or array ``like``: how saved state (a state dict, an optimizer's
    buffers) is loaded. Raises TypeError/ValueError naming ``what`` when it does not fit."""
    if isinstance(value, Tensor):
        value = value.array
    if not backend.is_array(value):
        raise TypeError(f"{what} is a {type(value).__name__}, not an array")
    target = like.array if isinstance(like, Tensor) else like
    if tuple(value.shape) != tuple(target.shape):
        raise ValueError(f"{what} has shape {tuple(value.shape)}, but {tuple(target.shape)} is "
                         "expected")
    return backend.to_device(value, backend.device_of(target)).astype(target.dtype, copy=True)


def bounds_in_dtype(bounds, dtype):
    """``bounds`` (lo, hi) when every integer in it is a value of the integer dtype ``dtype``,
    else None (a float or bool dtype, an unknown bound, or values that would wrap around)."""
    dtype = np.dtype(dtype)
    if bounds is None or dtype.kind not in "iu":
        return None
    info = np.iinfo(dtype)
    return bounds if info.min <= bounds[0] and bounds[1] <= info.max else None
