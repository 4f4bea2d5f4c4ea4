"""The README's Python tour runs as written: its ```python blocks, in order, in one namespace."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_blocks(path):
    with open(path, encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), flags=re.S | re.M)


def test_readme_tour_runs(tmp_path, monkeypatch, capsys):
    blocks = python_blocks(os.path.join(REPO, "README.md"))
    assert len(blocks) >= 5, "the tour lost its snippets"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "11,683,584" in printed and "(1, 5, 32) (1, 32)" in printed
    assert os.path.isdir(tmp_path / "exported" / "classifier")
    assert namespace["answer"]["predictions"].numpy()[0] in (b"question", b"news")
