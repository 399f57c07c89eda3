"""``einsum``: Einstein summation over any number of operands, NumPy's and PyTorch's notation
(``'ij,jk->ik'``, an implicit output, ``...`` for broadcast dimensions).

Its gradient is an einsum again: for operand i, the upstream gradient contracted with every
other operand onto operand i's letters. A letter that only operand i has (summed away) comes
back by broadcasting, a repeated letter (a diagonal, ``'ii->i'``) by putting the gradient on
that diagonal, and a size-1 dimension that was broadcast by summing back. Each step is an op,
so the gradient is differentiable again.
"""
from __future__ import annotations

import string
from collections import Counter

from .. import backend
from ..autograd import Op, array_of
from ..tensor import Tensor
from .broadcast import broadcast_to, sum_to
from .promotion import result_dtype
from .shape import Transpose

__all__ = ["einsum"]


def _parse(subscripts, shapes):
    """(terms, out): one string of letters per operand and the output's letters, with ``...``
    replaced by letters of its own and the implicit output made explicit (NumPy's rule: the
    broadcast dimensions, then every letter used once, in alphabetical order)."""
    spec = subscripts.replace(" ", "")
    lhs, arrow, out = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {subscripts!r} has subscripts for {len(terms)} operand(s), "
                         f"but {len(shapes)} were given")
    free = [c for c in string.ascii_letters if c not in spec]
    ell_dims = max([len(s) - len(t) + 3 for t, s in zip(terms, shapes) if "..." in t], default=0)
    ell = "".join(free[:max(ell_dims, 0)])
    parsed = []
    for t, shape in zip(terms, shapes):
        if "..." in t:
            k = len(shape) - len(t) + 3
            t = t.replace("...", ell[len(ell) - k:] if k > 0 else "", 1)
        if len(t) != len(shape) or not all(c in string.ascii_letters for c in t):
            raise ValueError(f"einsum: subscripts {t!r} of {subscripts!r} do not fit an operand "
                             f"of shape {tuple(shape)}")
        parsed.append(t)
    if arrow:
        out = out.replace("...", ell)
        unknown = set(out) - set("".join(parsed))
        if unknown or len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscripts of {subscripts!r} must be distinct "
                             f"letters of the inputs")
    else:
        counts = Counter("".join(parsed))
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    return tuple(parsed), out


class Einsum(Op):
    """y = einsum(terms -> out, *operands): d operand_i = einsum(out, other terms -> term_i)
    of dy and the other operands, broadcast over letters only operand i has and placed on the
    diagonal of a repeated letter."""

    def __init__(self, terms, out):
        self.terms, self.out = terms, out

    def forward(self, *operands):
        self.meta = [(o.shape, o.dtype) for o in operands]
        self.save_for_backward(*operands)
        xp = backend.array_module(operands[0])
        try:
            return xp.einsum(",".join(self.terms) + "->" + self.out, *operands,
                             optimize=len(operands) > 1)
        except ValueError as exc:
            shapes = [tuple(o.shape) for o in operands]
            raise ValueError(f"einsum: {','.join(self.terms)}->{self.out} does not fit operands of "
                             f"shapes {shapes}: {exc}") from None

    def backward(self, gy):
        operands = self.saved
        return tuple(self._grad(i, gy, operands) if need else None
                     for i, need in enumerate(self.needs_input_grad))

    def _grad(self, i, gy, operands):
        term = self.terms[i]
        others = [t for j, t in enumerate(self.terms) if j != i]
        shape, dtype = self.meta[i]
        size = {c: n for c, n in zip(term, shape)}
        reachable = set(self.out).union(*others)
        letters = "".join(dict.fromkeys(term))                   # unique, in order
        kept = "".join(c for c in letters if c in reachable)
        g = Einsum((self.out, *others), kept).apply(gy, *(o for j, o in enumerate(operands) if j != i))
        g = g.reshape(tuple(g.shape[kept.index(c)] if c in kept else 1 for c in letters))
        # letters operand i lacks in the output come back at its size; so does a letter the
        # others had at size 1 against operand i's n (a broadcast label)
        g = broadcast_to(g, tuple(g.shape[k] if c in kept and g.shape[k] != 1 else size[c]
                                  for k, c in enumerate(letters)))
        if len(letters) < len(term):
            g = _on_diagonals(g, letters, term, size)
        g = sum_to(g, shape)                                     # size-1 dims that broadcast
        return g if g.dtype == dtype else g.astype(dtype)


def _on_diagonals(g, letters, term, size):
    """``g`` (axes: the unique ``letters``) as a tensor of ``term``'s axes, zero off the
    diagonals of its repeated letters: g[i, j] -> out[i, j, k] = g[i, j] [i == k] for 'iji'."""
    xp = backend.array_module(array_of(g))
    seen, extra, order = set(), [], []
    for c in term:
        if c in seen:
            order.append(len(letters) + len(extra))
            extra.append(c)
        else:
            order.append(letters.index(c))
            seen.add(c)
    g = g.reshape(tuple(g.shape) + (1,) * len(extra))
    g = Transpose(tuple(order)).apply(g)
    full = tuple(size[c] for c in term)
    g = broadcast_to(g, full)
    mask = xp.ones((1,) * len(term), dtype=bool)
    for pos, c in enumerate(term):
        first = term.index(c)
        if first != pos:
            mask = mask & _eye_along(xp, size[c], first, pos, len(term))
    return g * mask


def _eye_along(xp, n, a, b, ndim):
    """A boolean array, true where the coordinates along axes a and b agree."""
    ia = xp.arange(n).reshape(tuple(n if k == a else 1 for k in range(ndim)))
    ib = xp.arange(n).reshape(tuple(n if k == b else 1 for k in range(ndim)))
    return ia == ib


def einsum(subscripts, *operands):
    """Einstein summation: ``einsum('ij,jk->ik', a, b)`` is a @ b, ``einsum('ii', a)`` the
    trace, ``einsum('...ij->...ji', x)`` swaps the last two axes; the operands may also be
    given as one list, as in PyTorch."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(subscripts, str):
        raise TypeError("einsum: give the subscripts as a string first, e.g. einsum('ij,jk->ik', a, b)")
    if not operands or not all(isinstance(o, Tensor) for o in operands):
        raise TypeError(f"einsum: the operands must be Tensors, got "
                        f"{[type(o).__name__ for o in operands]}")
    terms, out = _parse(subscripts, [o.shape for o in operands])
    dtype = result_dtype(*operands)   # PyTorch's promotion, before NumPy contracts any pair
    operands = [o if o.dtype == dtype else o.astype(dtype) for o in operands]
    return Einsum(terms, out)(*operands)
