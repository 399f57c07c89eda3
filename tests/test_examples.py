"""The examples in examples/ run and do what the README says (briefly: small settings)."""
import sys
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_lstm_learns_to_add_digit_strings():
    """examples/lstm_addition.py: nn.LSTM learns to carry; a short run already gets every one
    of 1000 new 3-digit sums right (chance: 1 in 10^4)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import lstm_addition
    finally:
        sys.path.remove(str(EXAMPLES))
    x, y, a, b = lstm_addition.make_batch(np.random.default_rng(0), 5, 3)
    assert x.shape == (5, 4, 20) and np.array_equal(lstm_addition.to_number(y), a + b)
    assert lstm_addition.train(steps=300, digits=3, hidden=32, batch=32, lr=0.02) >= 0.95
