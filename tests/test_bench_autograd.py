"""The autograd benchmarks run end to end at tiny sizes (speed itself is measured in bench/,
never asserted): bench.hvp prints its table, and bench.ab measures the tree it is given, not the
one it lives in (it once imported its own tree's gpugrad for both sides)."""
import os

import pytest

from bench import ab, hvp


def test_hvp_bench_prints_a_row_per_batch(capsys):
    hvp.main(["--batch-sizes", "2,3", "--impl", "gpugrad", "--repeats", "1", "--min-time", "0"])
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:5] == ["impl", "batch", "fwd", "fwd+bwd", "fwd+hvp"]
    assert [r.split()[:2] for r in rows[1:]] == [["gpugrad", "2"], ["gpugrad", "3"]]
    assert all(float(r.split()[4]) > 0 for r in rows[1:])


def test_ab_imports_the_tree_it_is_given(tmp_path):
    pytest.importorskip("threadpoolctl")
    here = os.path.dirname(os.path.dirname(os.path.abspath(ab.__file__)))
    os.symlink(os.path.join(here, "gpugrad"), tmp_path / "gpugrad")   # another tree
    result = ab.measure(str(tmp_path), [2])
    assert result["gpugrad"] == str(tmp_path / "gpugrad" / "__init__.py")
    assert set(result) == {"gpugrad", "per_op_us", "step_ms_b2"} and result["per_op_us"] > 0
