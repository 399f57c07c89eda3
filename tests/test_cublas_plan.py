"""The row-major -> column-major mapping of gpugrad's own cuBLAS calls (backend/cublas.py),
checked on the CPU: a NumPy gemm that reads and writes memory exactly as cuBLAS does (column
major, leading dimensions, N / T), fed the plan for every layout of operand a matmul meets."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from gpugrad.backend.cublas import OP_N, gemm_plan


def blas_gemm(plan, a, b, out):
    """What cuBLAS's gemm does with the plan's arguments, on the arrays' own memory."""
    view = np.lib.stride_tricks.as_strided
    isz = a.itemsize

    def operand(x, op, rows, cols, ld):      # op(X) is rows x cols; X stored column-major
        stored = view(x, (rows, cols) if op == OP_N else (cols, rows), (isz, ld * isz))
        return stored if op == OP_N else stored.T

    first = operand(b, plan.trans_first, plan.M, plan.K, plan.ld_first)
    second = operand(a, plan.trans_second, plan.K, plan.N, plan.ld_second)
    c = view(out, (plan.M, plan.N), (isz, plan.ld_out * isz), writeable=True)
    c[...] = first @ second


def layouts(rows, cols, rng, dtype):
    """The same values as C-contiguous, transposed (F), row-sliced (ld > cols), column-sliced
    (ld > rows, transposed), and every-other-column (neither contiguous) arrays."""
    x = rng.standard_normal((rows, cols)).astype(dtype)
    wide = np.zeros((rows, cols + 3), dtype)
    wide[:, :cols] = x
    tall = np.zeros((cols, rows + 5), dtype)
    tall[:, :rows] = x.T
    strided = np.zeros((rows, 2 * cols), dtype)
    strided[:, ::2] = x
    return {"C": x, "F": np.asfortranarray(x), "rows-ld": wide[:, :cols],
            "cols-ld": tall[:, :rows].T, "strided": strided[:, ::2]}


SHAPES = [(1, 1, 1), (3, 4, 5), (1, 7, 3), (6, 1, 4), (5, 4, 1), (64, 33, 17)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_plan_computes_a_at_b_for_every_layout(dtype, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    A, B = layouts(m, k, rng, dtype), layouts(k, n, rng, dtype)
    for (la, a), (lb, b) in itertools.product(A.items(), B.items()):
        plan = gemm_plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
        if plan.copy_a:
            a = np.ascontiguousarray(a)
        if plan.copy_b:
            b = np.ascontiguousarray(b)
        if plan.copy_a or plan.copy_b:
            plan = gemm_plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
        out = np.full((m, n), np.nan, dtype)
        blas_gemm(plan, a, b, out)
        np.testing.assert_allclose(out, A["C"] @ B["C"], rtol=1e-5, atol=1e-5,
                                   err_msg=f"a {la}, b {lb}")


def test_only_operands_with_neither_rows_nor_columns_contiguous_are_copied():
    x = np.zeros((4, 8), np.float32)
    y = np.zeros((8, 6), np.float32)
    assert not any(gemm_plan(x.shape, x.strides, y.shape, y.strides, 4)[-2:])
    t = y.T.T, x.T                        # a transposed view is read as it lies (T)
    plan = gemm_plan(t[1].shape, t[1].strides, x.shape, x.strides, 4)
    assert not plan.copy_a and not plan.copy_b and plan.trans_second != OP_N
    s = np.zeros((4, 16), np.float32)[:, ::2]
    assert gemm_plan(s.shape, s.strides, y.shape, y.strides, 4).copy_a
    with pytest.raises(ValueError, match=r"\(4, 8\) and \(6, 8\)"):
        gemm_plan(x.shape, x.strides, (6, 8), (32, 4), 4)
