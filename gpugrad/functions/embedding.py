"""Embedding lookup: rows of a weight table picked by integer indices. Its gradient adds each
output row's gradient onto the table row it came from, summing over repeated indices: the
deterministic scatter-add of ``kernels.index_add_rows`` (a sort and two passes on the GPU, no
atomics: the same bits every run)."""
from __future__ import annotations

from .. import backend, kernels
from ..autograd import Op
from ..tensor import Tensor
from .selection import check_index

__all__ = ["embedding"]


class Embedding(Op):
    """y[..., :] = weight[index[...], :]: dweight = dy rows added at their indices
    (EmbeddingBackward), none for ``padding_idx``'s row, each row divided by how often it was
    picked with ``scale_grad_by_freq``."""

    def __init__(self, index, padding_idx=None, scale_grad_by_freq=False):
        self.index, self.padding_idx, self.scale = index, padding_idx, scale_grad_by_freq

    def forward(self, weight):
        self.rows = weight.shape[0]
        return backend.array_module(weight).take(weight, self.index, axis=0)

    def backward(self, gy):
        return EmbeddingBackward(self.index, self.rows, self.padding_idx, self.scale).apply(gy)


class EmbeddingBackward(Op):
    """dweight (rows, D) from dy (index.shape + (D,)): the scatter-add. Linear in dy: its own
    gradient is the lookup of d dweight at the indices, times 0 at padding_idx and 1/count
    with scale_grad_by_freq (Embedding again, then that raw factor)."""

    def __init__(self, index, rows, padding_idx, scale):
        self.index, self.rows, self.padding_idx, self.scale = index, rows, padding_idx, scale

    def forward(self, gy):
        flat = self.index.reshape(-1)
        return kernels.index_add_rows(flat, gy.reshape(flat.shape[0], -1), self.rows,
                                      skip=self.padding_idx, mean=self.scale)

    def backward(self, ggw):
        gy = Embedding(self.index).apply(ggw)
        if self.padding_idx is None and not self.scale:
            return gy
        xp = backend.array_module(self.index)
        factor = xp.ones(self.index.shape + (1,), ggw.dtype)
        if self.scale:
            counts = xp.bincount(self.index.reshape(-1), minlength=self.rows)
            factor = factor / counts[self.index][..., None]
        if self.padding_idx is not None:
            factor = factor * (self.index != self.padding_idx)[..., None]
        return gy * factor.astype(ggw.dtype)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,  # noqa: A002
              scale_grad_by_freq=False, sparse=False):
    """``F.embedding``: rows of ``weight`` (num_embeddings, D) at the integer ``input``
    indices, of shape input.shape + (D,). ``padding_idx``'s row gets no gradient."""
    if max_norm is not None or sparse:
        raise NotImplementedError("embedding: max_norm and sparse=True are not supported")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"embedding: weight must be a 2-D Tensor (num_embeddings, dim), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    if isinstance(input, Tensor) and input.device is not weight.device:
        raise RuntimeError(f"embedding: indices are on {input.device} but weight on {weight.device}")
    n = weight.shape[0]
    check_index("embedding", input, n)
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for "
                             f"{n} embeddings")
        padding_idx %= n
    return Embedding(input.array, padding_idx, scale_grad_by_freq)(weight)
