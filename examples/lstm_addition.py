"""Learning to add digit strings with an LSTM, on the CPU in seconds.

Two numbers of up to ``digits`` decimal digits are read one column at a time, least significant
first: at step t the input is the one-hot pair (a_t, b_t) (20 features) and the target is the
sum's digit t (10 classes); one step more than the digits takes the last carry. The LSTM must
learn to carry: what it outputs at step t depends on every column before it.

    python examples/lstm_addition.py            # about 10 s on one core; prints progress
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F


def make_batch(rng, batch, digits):
    """(inputs (batch, digits + 1, 20) one-hot float32, targets (batch, digits + 1) int64, the
    numbers a and b)."""
    a = rng.integers(0, 10 ** digits, size=batch)
    b = rng.integers(0, 10 ** digits, size=batch)
    steps = digits + 1
    place = 10 ** np.arange(steps)
    da, db, ds = ((n[:, None] // place) % 10 for n in (a, b, a + b))
    x = np.zeros((batch, steps, 20), np.float32)
    rows, cols = np.indices((batch, steps))
    x[rows, cols, da] = 1.0
    x[rows, cols, 10 + db] = 1.0
    return x, ds.astype(np.int64), a, b


class Adder(nn.Module):
    """nn.LSTM over the columns, then a Linear read-out of each step's digit."""

    def __init__(self, hidden=64):
        super().__init__()
        self.lstm = nn.LSTM(20, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):
        h, _ = self.lstm(x)                       # (batch, steps, hidden)
        return self.head(h)                       # (batch, steps, 10) logits


def to_number(digits):
    """The numbers whose digits, least significant first, are the rows of ``digits``."""
    return (digits * 10 ** np.arange(digits.shape[1])).sum(axis=1)


def train(steps=400, digits=6, batch=64, hidden=64, lr=0.01, seed=0, log_every=0):
    """Train, then return the fraction of 1000 fresh sums the model gets exactly right."""
    gg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Adder(hidden)
    opt = gg.optim.Adam(model.parameters(), lr=lr)
    for step in range(1, steps + 1):
        x, y, _, _ = make_batch(rng, batch, digits)
        logits = model(gg.tensor(x))
        loss = F.cross_entropy(logits.reshape(-1, 10), gg.tensor(y.reshape(-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log_every and step % log_every == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    x, _, a, b = make_batch(np.random.default_rng(seed + 1), 1000, digits)
    with gg.no_grad():
        guess = model(gg.tensor(x)).argmax(axis=-1).numpy()
    return float(np.mean(to_number(guess) == a + b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--digits", type=int, default=6)
    args = parser.parse_args()
    start = time.perf_counter()
    accuracy = train(args.steps, args.digits, log_every=50)
    print(f"exact sums on 1000 new pairs: {accuracy:.1%} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
