"""gg.viz.draw: the notes' worked examples drawn with the notes' values (green, above each edge)
and gradients (red, below), checked in the DOT text (no `dot` program needed); a model drawn
one node per module; what draw returns with and without `dot`."""
import re

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
from gpugrad import viz

pytest.importorskip("graphviz")

EDGE = re.compile(r'^\s*"?([\w.]+)"? -> "?([\w.]+)"? \[label=(?:<(.*)>|"(.*)")\]$')
NODE = re.compile(r'^\s*"?([\w.]+)"? \[label=(?:"([^"]*)"|<(.*)>|([^\s\]]+))')
FONT = re.compile(r'<font color="([^"]+)">(.*?)</font>')


def parse(dot):
    """(labels of the nodes by id, edges as dicts: tail, head (ids), tail_label, head_label
    and the rows of the edge label)."""
    labels, raw = {}, []
    for line in str(dot).splitlines():
        m = EDGE.match(line)
        if m:
            raw.append((m.group(1), m.group(2), m.group(3) or m.group(4)))
            continue
        m = NODE.match(line)
        if m:
            labels[m.group(1)] = next(g for g in m.group(2, 3, 4) if g is not None)
    return labels, [dict(rows(label), tail=t, head=h, tail_label=labels.get(t, t),
                         head_label=labels.get(h, h)) for t, h, label in raw]


def rows(label):
    """{'name', 'value', 'grad', 'meta', 'order'} of an edge label (values of several rows
    joined), in the order drawn."""
    out = {"order": []}
    name = re.match(r"<b>(.*?)</b>", label)
    if name:
        out["name"] = name.group(1)
    for colour, text in FONT.findall(label):
        text = text.replace("<br/>", "")
        key = {viz.VALUE_COLOUR: "value", viz.GRAD_COLOUR: "grad"}.get(colour, "meta")
        out[key] = text
        out["order"].append(key)
    if not name and not out["order"]:
        out["text"] = label
    return out


def edge_named(edges, name):
    (found,) = [e for e in edges if e.get("name") == name]
    return found


def test_the_add_mul_graph_of_the_notes(device):
    """f = (x + y) z at (-2, 5, -4): q = 3, f = -12; gradients x -4, y -4, z 3, q -4."""
    x = gg.tensor(-2.0, device=device, requires_grad=True)
    y = gg.tensor(5.0, device=device, requires_grad=True)
    z = gg.tensor(-4.0, device=device, requires_grad=True)
    q = x + y
    f = q * z
    labels, edges = parse(viz.draw(f, names={"x": x, "y": y, "z": z, "q": q, "f": f}))
    assert sorted(labels[k] for k in labels if k.startswith("op")) == ["*", "+"]
    want = {"x": ("-2.00", "-4.00", "+"), "y": ("5.00", "-4.00", "+"), "z": ("-4.00", "3.00", "*"),
            "q": ("3.00", "-4.00", "*")}
    for name, (value, grad, head) in want.items():
        edge = edge_named(edges, name)
        assert (edge["value"], edge["grad"], edge["head_label"]) == (value, grad, head)
        assert edge["order"] == ["value", "grad"]              # value above, gradient below
    out = edge_named(edges, "f")
    assert (out["value"], out["grad"], out["tail_label"], out["head"]) == ("-12.00", "1.00", "*", "output")
    assert x.grad is None and f.grad_fn is not None           # draw fills no .grad
    f.backward()                                              # and keeps the graph
    assert x.grad.item() == -4.0


def test_the_sigmoid_gate_of_the_notes(device):
    """f = 1/(1+exp(-(w0 x0 + w1 x1 + w2))) at w = (2, -3, -3), x = (-1, -2): each gate's value
    and gradient as the notes give them: 1.37/-0.53, 0.37/-0.53, -1.00/-0.20, 1.00/0.20."""
    with viz.keep_values():
        w0, x0, w1, x1, w2 = (gg.tensor(v, device=device, requires_grad=True)
                              for v in (2.0, -1.0, -3.0, -2.0, -3.0))
        f = 1.0 / (((w0 * x0 + w1 * x1 + w2) * -1.0).exp() + 1.0)
    labels, edges = parse(viz.draw(f, names=locals()))
    assert sorted(v for k, v in labels.items() if k.startswith("op")) == \
        ["*", "*", "*-1", "+", "+", "+1", "1/x", "exp"]
    into = {e["head_label"]: e for e in edges if "name" not in e}
    assert (into["1/x"]["value"], into["1/x"]["grad"]) == ("1.37", "-0.53")
    assert (into["+1"]["value"], into["+1"]["grad"]) == ("0.37", "-0.53")
    assert (into["exp"]["value"], into["exp"]["grad"]) == ("-1.00", "-0.20")
    assert (into["*-1"]["value"], into["*-1"]["grad"]) == ("1.00", "0.20")
    grads = {n: edge_named(edges, n)["grad"] for n in ("w0", "w1", "w2", "x0", "x1")}
    assert grads == {"w0": "-0.20", "w1": "-0.39", "w2": "0.20", "x0": "0.39", "x1": "-0.59"}
    assert edge_named(edges, "f")["value"] == "0.73"


def _matrix(a):
    return np.array2string(np.asarray(a, dtype=np.float64), separator=", ",
                           formatter={"float_kind": lambda v: f"{v:.2f}"}).replace("\n ", "")


def test_the_affine_layer_of_the_notes(device, rng):
    """Y = X·W + B with X (2x2), W (2x3): dX = dY Wᵀ, dW = Xᵀ dY, dB = Σ_batch dY, drawn for
    dY = 1 (the gradient of Y.sum())."""
    Xn, Wn, Bn = rng.standard_normal((2, 2)), rng.standard_normal((2, 3)), rng.standard_normal(3)
    X, W, B = (gg.tensor(a, dtype="float64", device=device, requires_grad=True) for a in (Xn, Wn, Bn))
    XW = X @ W
    Y = XW + B
    labels, edges = parse(viz.draw(Y, names={"X": X, "W": W, "B": B, "XW": XW, "Y": Y}))
    assert sorted(v for k, v in labels.items() if k.startswith("op")) == ["+", "dot"]
    dY = np.ones((2, 3))
    want = {"X": (Xn, dY @ Wn.T), "W": (Wn, Xn.T @ dY), "B": (Bn, dY.sum(axis=0)),
            "XW": (Xn @ Wn, dY), "Y": (Xn @ Wn + Bn, dY)}
    for name, (value, grad) in want.items():
        r = edge_named(edges, name)
        assert r["value"].replace(" ", "") == _matrix(value).replace(" ", "")
        assert r["grad"].replace(" ", "") == _matrix(grad).replace(" ", "")


def test_large_tensors_show_shape_dtype_and_norm(device):
    a = gg.tensor(np.full((10, 20), 0.5, np.float32), device=device, requires_grad=True)
    out = (a * 2.0).sum()
    _, edges = parse(viz.draw(out, names={"a": a}))
    r = edge_named(edges, "a")
    assert r["value"] == "(10, 20) float32 ‖·‖=7.1" and r["grad"] == "(10, 20) float32 ‖·‖=28"


def test_a_dropped_intermediate_shows_its_shape(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    out = ((x + 1.0) + 1.0).sum()                 # nothing keeps the first sum's values
    _, edges = parse(viz.draw(out))
    assert any(e.get("meta") == "(2,) float32" and e["grad"] == "[1.00, 1.00]" for e in edges)
    with viz.keep_values():
        out = ((x + 1.0) + 1.0).sum()
    _, edges = parse(viz.draw(out))
    assert any(e.get("value") == "[2.00, 3.00]" for e in edges)


def test_a_model_one_node_per_module_and_collapsible(device):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(),
                          nn.Sequential(nn.Linear(4, 2), nn.Sigmoid())).to(device)
    x = gg.randn(5, 3, device=device)
    labels, edges = parse(viz.draw(model, x))
    modules = {k: v for k, v in labels.items() if k.startswith("m_")}
    assert set(modules) == {"m_0", "m_1", "m_2.0", "m_2.1"}
    assert modules["m_0"].startswith("<b>0: Linear</b><br/>in_features=3, out_features=4")
    flows = {(e["tail"], e["head"]): e["text"] for e in edges}
    assert flows == {("input0", "m_0"): "(5, 3) float32", ("m_0", "m_1"): "(5, 4) float32",
                     ("m_1", "m_2.0"): "(5, 4) float32", ("m_2.0", "m_2.1"): "(5, 2) float32",
                     ("m_2.1", "output0"): "(5, 2) float32"}
    assert "subgraph cluster_2 {" in str(viz.draw(model, x))
    labels1, _ = parse(viz.draw(model, x, depth=1))
    assert {k for k in labels1 if k.startswith("m_")} == {"m_0", "m_1", "m_2"}
    labels0, edges0 = parse(viz.draw(model, x, depth=0))
    assert {k for k in labels0 if k.startswith("m_")} == {"m_"}
    assert {(e["tail"], e["head"]) for e in edges0} == {("input0", "m_"), ("m_", "output0")}
    assert not any(m.has_hooks() for m in model.modules())     # draw's hooks are gone
    assert type(model[:2](x).grad_fn).__name__ == "Linear"     # so Linear+ReLU fuses again


def test_what_draw_returns(monkeypatch):
    import graphviz
    x = gg.tensor(1.0, requires_grad=True)
    out = x * 2.0
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    text = viz.draw(out)
    assert isinstance(text, str) and text.startswith("digraph gpugrad {")
    monkeypatch.setattr(viz.shutil, "which", lambda name: "/usr/bin/dot")
    g = viz.draw(out)
    assert isinstance(g, graphviz.Digraph) and str(g) == text


def test_errors(monkeypatch):
    x = gg.tensor([1.0], requires_grad=True)
    out = (x * 2.0).sum()
    out.backward()
    with pytest.raises(ValueError, match="freed by a backward pass.*retain_graph=True"):
        viz.draw(out)
    with pytest.raises(TypeError, match="expected a Tensor or a Module, got list"):
        viz.draw([x])
    with pytest.raises(TypeError, match="give the model an example input"):
        viz.draw(nn.Linear(1, 1))
    monkeypatch.setitem(__import__("sys").modules, "graphviz", None)
    with pytest.raises(ImportError, match=r'pip install "gpugrad\[viz\]"'):
        viz.draw(x * 2.0)
