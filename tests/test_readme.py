"""The README's tour runs as written and prints what it says, on the CPU and on a GPU (where
the tensors it prints say so: ``tensor(-4., device='cuda:0')``)."""
import re
from pathlib import Path

import pytest

import gpugrad as gg

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def default_device(device):
    """The tour runs on the default device: make it ``device`` for the test."""
    gg.set_default_device(device)
    yield device
    gg.set_default_device(None)


def test_readme_tour_runs(capsys, default_device):
    text = README.read_text()
    code = re.search(r"## A tour\n\n```python\n(.*?)```", text, re.S).group(1)
    scope = {}
    exec(compile(code, "README.md tour", "exec"), scope)
    where = "" if default_device == "cpu" else ", device='cuda:0'"
    assert capsys.readouterr().out.splitlines() == [
        f"tensor(-4.{where}) tensor(-4.{where}) tensor(3.{where})"]
    assert scope["xb"].device == default_device and scope["model"](scope["xb"]).device == default_device
    assert 0.0 <= scope["accuracy"] <= 1.0


def test_readme_autograd_in_depth_runs_and_prints_what_it_says(capsys):
    """The code of "Autograd in depth", run in order in one scope: each print( with a comment
    prints that comment; the anomaly example prints the message's first line."""
    text = README.read_text()
    start = text.index("## Autograd in depth")
    section = text[start:text.index("\n## ", start)]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    expected = [line.split("# ", 1)[1].strip() for line in code.splitlines()
                if line.lstrip().startswith("print(") and "# " in line]
    import numpy as np
    with np.errstate(all="ignore"):
        exec(compile(code, "README.md autograd in depth", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[:len(expected)] == expected
    assert out[-1].startswith("anomaly: the backward of Log returned nan values in the gradient "
                              "of its input 0 (shape (2,), dtype float32); Log was created at")


def _run_section_example(heading, name):
    """Run the first code block after ``heading``; return its scope, having checked that each
    top-level print prints its comment."""
    code = re.search(heading + r"\n.*?```python\n(.*?)```", README.read_text(), re.S).group(1)
    promised = [line.split("# ", 1)[1].strip() for line in code.splitlines() if line.startswith("print(")]
    scope = {}
    exec(compile(code, name, "exec"), scope)
    return scope, promised


def test_readme_data_example_runs(capsys, default_device):
    """The data section's example prints what its comments say, on each device."""
    scope, promised = _run_section_example("## Data: datasets, samplers and the DataLoader", "README.md data")
    assert capsys.readouterr().out.splitlines() == promised
    assert scope["xb"].device == default_device and scope["batch"]["x"].device == default_device


def test_readme_recurrent_example_prints_what_it_says(capsys):
    _, promised = _run_section_example("## Recurrent layers", "README.md recurrent layers")
    assert capsys.readouterr().out.splitlines() == promised
def test_readme_cnn_example_runs(capsys, default_device):
    """The convolutional networks section's example trains a step and prints what it says."""
    scope, promised = _run_section_example("## Convolutional networks", "README.md cnn")
    assert capsys.readouterr().out.splitlines() == promised
    assert scope["loss"].device == default_device and scope["model"][1].running_mean.device == default_device
