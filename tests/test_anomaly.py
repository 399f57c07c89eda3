"""Anomaly mode: a NaN made in backward (log(0)) raises, naming the op and the user's line that
created it; off, nothing is noted or checked."""
import inspect
import os
import sys

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.autograd import Function, detect_anomaly, set_detect_anomaly
from gpugrad.autograd.op import NODE_OBSERVERS

HERE = os.path.basename(__file__)
# these tests make NaNs and infinities on purpose (log(0), 0 / 0): NumPy's warnings are expected
pytestmark = pytest.mark.filterwarnings("ignore:(divide by zero|invalid value):RuntimeWarning")


def _line_after():
    return inspect.currentframe().f_back.f_lineno + 1


def test_a_nan_from_log_of_zero_names_the_op_and_the_line(device):
    with detect_anomaly():
        x = gg.tensor([0.0, 1.0], dtype="float64", device=device, requires_grad=True)
        line = _line_after()
        y = x.log()                                          # the line anomaly mode must name
        loss = (y * gg.tensor([0.0, 1.0], dtype="float64", device=device)).sum()
        with pytest.raises(RuntimeError) as info:
            loss.backward()                                  # Log backward: 0 / 0 = nan
    message = str(info.value)
    assert "backward of Log returned nan values in the gradient of its input 0" in message
    assert f"{HERE}:{line}" in message and "y = x.log()" in message
    assert "test_a_nan_from_log_of_zero_names_the_op_and_the_line" in message


def test_an_infinity_is_caught_too(device):
    with detect_anomaly():
        x = gg.tensor([0.0, 2.0], dtype="float64", device=device, requires_grad=True)
        line = _line_after()
        z = x.sqrt()
        with pytest.raises(RuntimeError, match=rf"backward of Sqrt returned inf values.*{HERE}:{line}"):
            z.sum().backward()                               # 1 / (2 * 0) = inf


def test_off_the_nan_goes_through_silently_and_nothing_is_noted(device):
    assert not NODE_OBSERVERS and not gg.autograd.is_anomaly_enabled()
    x = gg.tensor([0.0, 1.0], dtype="float64", device=device, requires_grad=True)
    y = x.log()
    assert not hasattr(y.grad_fn, "created_at")
    with np.errstate(all="ignore"):
        (y * gg.tensor([0.0, 1.0], dtype="float64", device=device)).sum().backward()
    assert np.isnan(x.grad.numpy()[0])


def test_check_nan_false_records_but_does_not_check(device):
    with set_detect_anomaly(True, check_nan=False):
        x = gg.tensor([0.0], dtype="float64", device=device, requires_grad=True)
        y = x.log()
        assert y.grad_fn.created_at[-1].line == "y = x.log()"
        with np.errstate(all="ignore"):
            (y * 0.0).sum().backward()
    assert not NODE_OBSERVERS


def test_nesting_and_decorating_restore_the_previous_mode():
    @detect_anomaly()
    def inner():
        return gg.autograd.is_anomaly_enabled()

    with detect_anomaly():
        with set_detect_anomaly(False):
            assert not gg.autograd.is_anomaly_enabled() and not NODE_OBSERVERS
        assert gg.autograd.is_anomaly_enabled() and len(NODE_OBSERVERS) == 1
        assert inner()
        assert gg.autograd.is_anomaly_enabled()
    assert not gg.autograd.is_anomaly_enabled() and not NODE_OBSERVERS
    assert inner() and not gg.autograd.is_anomaly_enabled()


def test_forward_outside_anomaly_mode_says_how_to_find_the_line():
    x = gg.tensor([0.0], dtype="float64", requires_grad=True)
    y = x.log()
    with detect_anomaly(), pytest.raises(RuntimeError, match="run the forward pass inside"):
        with np.errstate(all="ignore"):
            (y * 0.0).sum().backward()


class Boom(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        raise ValueError("boom")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are Python 3.11+")
def test_an_error_in_a_backward_gets_the_creation_line_as_a_note():
    with detect_anomaly():
        x = gg.tensor([1.0], requires_grad=True)
        line = _line_after()
        y = Boom.apply(x)
        with pytest.raises(ValueError, match="boom") as info:
            y.sum().backward()
    notes = "\n".join(info.value.__notes__)
    assert "in the backward of Boom" in notes and f"{HERE}:{line}" in notes


def test_anomaly_mode_in_a_recorded_pass(device):
    with detect_anomaly():
        x = gg.tensor([0.0, 1.0], dtype="float64", device=device, requires_grad=True)
        g, = gg.autograd.grad((x * x).sum(), x, create_graph=True)     # 2x: 0 at x = 0
        line = _line_after()
        h = g.log()
        with pytest.raises(RuntimeError, match=rf"backward of Log returned (nan|inf).*{HERE}:{line}"):
            gg.autograd.grad((h * gg.tensor([0.0, 1.0], dtype="float64", device=device)).sum(), x)
