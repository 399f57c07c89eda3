"""The README's tour runs as written and prints what it says."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_tour_runs(capsys):
    text = README.read_text()
    code = re.search(r"## A tour\n\n```python\n(.*?)```", text, re.S).group(1)
    scope = {}
    exec(compile(code, "README.md tour", "exec"), scope)
    assert capsys.readouterr().out.split() == ["tensor(-4.)", "tensor(-4.)", "tensor(3.)"]
    assert 0.0 <= scope["accuracy"] <= 1.0
