"""Render the pictures of the lecture notes' worked examples into docs/ (needs `dot`):

    python docs/draw_notes_examples.py
"""
from pathlib import Path

import numpy as np

import gpugrad as gg

HERE = Path(__file__).resolve().parent


def add_mul():
    """Note 003: f = (x + y) z at (-2, 5, -4)."""
    x = gg.tensor(-2.0, requires_grad=True)
    y = gg.tensor(5.0, requires_grad=True)
    z = gg.tensor(-4.0, requires_grad=True)
    q = x + y
    f = q * z
    return gg.viz.draw(f, names=locals())


def sigmoid_gate():
    """Note 002: f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) at w = (2, -3, -3), x = (-1, -2)."""
    with gg.viz.keep_values():
        w0, x0, w1, x1, w2 = (gg.tensor(v, requires_grad=True) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
        f = 1.0 / (((w0 * x0 + w1 * x1 + w2) * -1.0).exp() + 1.0)
    return gg.viz.draw(f, names=locals())


def affine():
    """Note 001: Y = X·W + B with X (2x2), W (2x3), B (3,); gradients of Y.sum()."""
    rng = np.random.default_rng(1)
    X, W, B = (gg.tensor(rng.standard_normal(s).round(1), requires_grad=True)
               for s in ((2, 2), (2, 3), (3,)))
    XW = X @ W
    Y = XW + B
    return gg.viz.draw(Y, names=locals())


if __name__ == "__main__":
    for name, build in (("notes-add-mul", add_mul), ("notes-sigmoid-gate", sigmoid_gate),
                        ("notes-affine", affine)):
        graph = build()
        if isinstance(graph, str):
            raise SystemExit("the dot program is not installed (apt-get install graphviz)")
        graph.render(HERE / name, format="png", cleanup=True)
        print(HERE / f"{name}.png")
