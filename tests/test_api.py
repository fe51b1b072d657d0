"""The Python API: docs/api.md's example runs as written, and every name it lists resolves."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_api_names_resolve_lazily():
    import subprocess
    import sys

    code = (
        "import sys, pqaccel.api as a; from pqaccel.api import convert, preset; "
        "print(any(m.startswith('amaranth') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "False"
    import pqaccel.api as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        api.nonexistent


def test_docs_api_example_runs(monkeypatch, capsys):
    doc = (ROOT / "docs" / "api.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", doc, re.S)
    monkeypatch.chdir(ROOT)
    exec(compile(block, "docs/api.md", "exec"), {})
    out = capsys.readouterr().out
    assert "PQ integer" in out and "co-simulation: 0 mismatches" in out and "DP16KD" in out
