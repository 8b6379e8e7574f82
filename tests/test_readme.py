"""The README's embedding example runs as written, and its example flow matches the docs."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import run_python

ROOT = Path(__file__).resolve().parents[1]


def test_readme_embedding_example_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", readme, re.S)
    assert code, "the README shows an embedding example"
    run = run_python(code.group(1), timeout=60)
    assert "to 业主服务主管: 未接来电3小时未回复" in run.stdout
    assert "event call_back" in run.stdout


def test_example_flow_is_the_one_the_docs_show() -> None:
    doc = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    example = (ROOT / "docs" / "examples" / "hotline.flow").read_text(encoding="utf-8")
    assert f"```flow\n{example}```" in doc


def test_readme_diagram_is_what_flow_graph_draws() -> None:
    from dsl.frontend import compile_file
    from dsl.graph import to_mermaid

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert shown, "the README shows the complaint flow's diagram"
    result = compile_file(ROOT / "workflows" / "complaint.flow")
    assert result.definition is not None
    assert shown.group(1).rstrip() == to_mermaid(result.definition).rstrip()
