"""Type promotion: PyTorch's rule, the same on NumPy and CuPy and on every NumPy version.

NumPy's rule makes ``int64 + float32`` float64, which on a GPU halves throughput and doubles
memory for no gain; PyTorch's keeps the float operand's dtype. gpugrad follows PyTorch:

* dtypes fall in categories, bool < integer < floating;
* a higher category wins: ``int64 tensor + float32 tensor`` is float32;
* within one category the wider dtype wins (``float16 + float32`` is float32, ``uint8 + int8``
  int16), as in NumPy;
* a 0-d tensor takes part only when its category is higher than every dimensioned operand's
  (``float32 tensor + float64 0-d tensor`` stays float32; ``int32 tensor + 0-d float64`` is
  float64), and a Python number only when its category is higher than the tensors' (``int64
  tensor + 2.5`` is float32, the default float dtype; ``float16 tensor * 2.0`` stays float16);
* true division and the floating-only maths (``exp``, ``log``, ``sigmoid``...) of integer or
  bool tensors give the default float dtype, float32.
"""
from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_FLOAT", "promote_operands", "result_dtype", "as_floating"]

DEFAULT_FLOAT = np.dtype(np.float32)
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_SCALAR_CATEGORY = {bool: 0, int: 1, float: 2, complex: 3}
_SCALAR_DTYPE = {0: np.dtype(bool), 1: np.dtype(np.int64), 2: DEFAULT_FLOAT, 3: np.dtype(np.complex64)}


def result_dtype(*operands):
    """The dtype ``op(*operands)`` computes in, by the rule above. Operands are arrays (or
    anything with ``dtype`` and ``ndim``) and Python numbers; at least one array."""
    ranked = ([], [], [])   # dimensioned arrays, 0-d arrays, Python numbers: (category, dtype)
    for x in operands:
        dtype = getattr(x, "dtype", None)
        if dtype is None:
            cat = _number_category(x, "type promotion")
            ranked[2].append((cat, _SCALAR_DTYPE[cat]))
        else:
            ranked[0 if x.ndim else 1].append((_CATEGORY[dtype.kind], dtype))
    dtype, top = None, -1
    for group in ranked:
        if not group:
            continue
        cat = max(c for c, _ in group)
        if cat > top:
            dtype, top = np.result_type(*(d for c, d in group if c == cat)), cat
    return dtype


def promote_operands(a, b, op):
    """``(a, b)`` with their arrays cast to :func:`result_dtype` where they differ from it
    (Python numbers stay numbers: NumPy and CuPy keep the array's dtype for them). A TypeError
    naming ``op`` for an operand that is neither (a list, a string)."""
    da = getattr(a, "dtype", None)
    db = getattr(b, "dtype", None)
    if da is db or (da is not None and da == db):
        return a, b   # the common case: two arrays of one dtype
    if db is None:   # tensor (op) number of no higher category: the tensor's dtype
        if _number_category(b, op) <= _CATEGORY[da.kind]:
            return a, b
    elif da is None:
        if _number_category(a, op) <= _CATEGORY[db.kind]:
            return a, b
    dtype = result_dtype(a, b)
    if da is not None and da != dtype:
        a = a.astype(dtype)
    if db is not None and db != dtype:
        b = b.astype(dtype)
    return a, b


def _number_category(x, op):
    """0/1/2/3 for a Python (or NumPy-scalar subclass) bool/int/float/complex; TypeError naming
    ``op`` for anything else."""
    cat = _SCALAR_CATEGORY.get(type(x))
    if cat is None:
        if not isinstance(x, (bool, int, float, complex)):
            raise TypeError(f"{op}: unsupported operand of type {type(x).__name__} (a Tensor or a "
                            "Python number; wrap data with gg.tensor(...))")
        cat = next(c for t, c in _SCALAR_CATEGORY.items() if isinstance(x, t))
    return cat


def as_floating(x):
    """``x`` as is when floating, else in the default float dtype (float32)."""
    return x if x.dtype.kind in "fc" else x.astype(DEFAULT_FLOAT)
