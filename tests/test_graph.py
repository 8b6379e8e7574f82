"""`flow graph`: Mermaid and Graphviz drawings of a flow, and SVG through `dot`."""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import CALENDARS_YAML

import cli
from dsl.frontend import compile_source
from dsl.graph import GraphvizMissing, expr_text, to_dot, to_mermaid, to_svg
from dsl.source import Source
from engine.definition import FlowDefinition

REPAIR = textwrap.dedent(
    """
    flow repair "报修: 快速"
    calendar office
    roles: 客服专员, 业主关系主管, 业主服务主管, 工程部

    fields:
        major: bool = false
        appointment: datetime?
        remark: text?

    sla reply "答复" within 24h from received until replied, closed:
        warn at 75%: notify 业主服务主管 "快"
        breach: escalate to 业主服务主管 "超时"

    state received "已受理: 新单":
        on dispatch when major -> handling by 客服专员, 业主关系主管
        on note(remark):
            record "{remark}"
        when appointment is set and appointment < 2026-03-06 16:30 -> handling
        after 24h: escalate to 业主服务主管 "24小时未答复"
        on close -> closed by 客服专员

    state handling "处理中; 维修":
        every 1 working day: notify 工程部 "未完成"
        task parts "备件" by 工程部 within 2个工作日
        after 48h -> replied
        on reply -> replied by 工程部

    state replied "已答复":
        on close -> closed by 客服专员

    final closed "已结案"
    """
).lstrip()


def definition(text: str = REPAIR) -> FlowDefinition:
    result = compile_source(Source("repair.flow", text))
    assert result.definition is not None, [d.message for d in result.errors]
    return result.definition


# ---------------------------------------------------------------- Mermaid


def test_mermaid_states_edges_finals_and_notes() -> None:
    lines = to_mermaid(definition()).splitlines()
    assert lines[0] == "stateDiagram-v2"
    for expected in [
        '    state "已受理： 新单 received" as s0',
        '    state "处理中； 维修 handling" as s1',
        "    [*] --> s0",
        "    s0 --> s1 : dispatch [major] (by 客服专员, 业主关系主管)",
        "    s0 --> s1 : when appointment is set and appointment < 2026-03-06 16：30",
        "    s0 --> s3 : close (by 客服专员)",
        "    s1 --> s2 : ⏱ after 48h",
        "    s3 --> [*]",
        "    class s3 final",
    ]:
        assert expected in lines
    assert any(line.startswith("    classDef final ") for line in lines)
    text = "\n".join(lines)
    assert "note right of s0\n        on note(remark): record\n" in text
    assert "        ⏱ after 24h: escalate to 业主服务主管\n" in text
    assert "note right of s1\n        ⏱ every 1 working day: notify 工程部\n" in text
    assert "        task parts 备件 (by 工程部) within 2个工作日\n" in text
    assert "note left of s0\n        SLA reply (答复) 24h: received → replied, closed\n" in text
    assert "        breach: escalate to 业主服务主管\n    end note" in text


def test_mermaid_labels_have_no_ascii_colon_or_semicolon_and_ids_are_ascii() -> None:
    text = to_mermaid(definition())
    arrows = re.findall(r"^    (\S+) --> (\S+)(?: : (.*))?$", text, re.M)
    assert len(arrows) == 8
    for source, target, label in arrows:
        assert re.fullmatch(r"s\d+|\[\*\]", source) and re.fullmatch(r"s\d+|\[\*\]", target)
        assert ":" not in label and ";" not in label
    states = re.findall(r'^    state "([^"]*)" as (.*)$', text, re.M)
    assert [sid for _, sid in states] == ["s0", "s1", "s2", "s3"]
    for description, _ in states:
        assert ":" not in description and ";" not in description
    assert all(name.isascii() for name in re.findall(r"^    class(?:Def)? (\S+)", text, re.M))


def test_mermaid_quotes_in_a_state_label_do_not_end_the_description() -> None:
    flow = 'flow q\nroles: r\nstate a "说\\"好\\"的":\n    on go -> b\nfinal b\n'
    assert '    state "说＂好＂的 a" as s0' in to_mermaid(definition(flow)).splitlines()


# ---------------------------------------------------------------- Graphviz dot

_QUOTED = r'"(?:[^"\\]|\\.)*"'
_STATEMENT = re.compile(rf"^    ({_QUOTED})(?: -> ({_QUOTED}))?(?: \[(.*)\])?;$")


def parse_dot(text: str) -> tuple[dict[str, str], dict[tuple[str, str], list[str]]]:
    """A strict reading of our dot layout: nodes with their attributes, edges with theirs."""
    lines = text.splitlines()
    assert re.fullmatch(rf"digraph {_QUOTED} \{{", lines[0]) and lines[-1] == "}"
    nodes: dict[str, str] = {}
    edges: dict[tuple[str, str], list[str]] = {}
    for line in lines[1:-1]:
        if re.match(r"^    (graph|node|edge) \[.*\];$", line):
            continue
        match = _STATEMENT.match(line)
        assert match, f"not a dot statement: {line!r}"
        source, target, attrs = match.group(1)[1:-1], match.group(2), match.group(3) or ""
        if target is None:
            nodes[source] = attrs
        else:
            edges.setdefault((source, target[1:-1]), []).append(attrs)
    return nodes, edges


def test_dot_is_a_digraph_with_states_edges_and_styles() -> None:
    text = to_dot(definition())
    nodes, edges = parse_dot(text)
    assert "rankdir=LR" in text
    assert text.count('fontname="Noto Sans CJK SC"') == 3  # graph, node, edge
    assert {"received", "handling", "replied", "closed"} <= nodes.keys()
    assert nodes["received"] == 'label="已受理: 新单\\nreceived"'
    assert "peripheries=2" in nodes["closed"] and "peripheries" not in nodes["received"]
    assert nodes["__start"].startswith("shape=point")
    assert edges[("__start", "received")] == [""]
    assert edges[("received", "handling")] == [
        'label="dispatch [major] (by 客服专员, 业主关系主管)"',
        'label="when appointment is set and appointment < 2026-03-06 16:30", style=dotted',
    ]
    assert 'label="⏱ after 48h", style=dashed' in edges[("handling", "replied")]
    assert "shape=note" in nodes["__sla_reply"] and "SLA reply (答复) 24h" in nodes["__sla_reply"]
    assert "⏱ every 1 working day: notify 工程部\\l" in nodes["__note_handling"]
    assert ("__note_received", "received") in edges


def test_dot_escapes_quotes_and_backslashes() -> None:
    flow = (
        'flow q "引号\\"与\\\\反斜杠"\nroles: r\nstate a "说\\"好\\"的":\n    on go -> b\nfinal b\n'
    )
    text = to_dot(definition(flow))
    nodes, _ = parse_dot(text)
    assert nodes["a"] == 'label="说\\"好\\"的\\na"'
    assert 'label="引号\\"与\\\\反斜杠 (q)"' in text


# ---------------------------------------------------------------- SVG


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_svg_with_graphviz_installed() -> None:
    svg = to_svg(definition())
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")
    assert "已受理" in svg and "已结案" in svg


def test_svg_without_graphviz_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(GraphvizMissing) as caught:
        to_svg(definition())
    message = str(caught.value)
    assert "apt-get install graphviz" in message and "fonts-noto-cjk" in message
    assert "--format mermaid" in message and "--format dot" in message


def _fake_dot(tmp_path: Path, body: str) -> str:
    script = tmp_path / "dot"
    script.write_text(f"#!{sys.executable}\nimport sys\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return str(script)


def test_svg_pipes_the_dot_text_through_the_dot_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        "data = sys.stdin.buffer.read().decode()\n"
        "sys.stdout.buffer.write(f'<svg args=\"{sys.argv[1:]}\">{data}</svg>'.encode())"
    )
    fake = _fake_dot(tmp_path, body)
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: fake)
    svg = to_svg(definition())
    assert svg.startswith('<svg args="[\'-Tsvg\']">digraph "repair" {')
    assert "已受理" in svg


def test_svg_reports_a_failing_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_dot(tmp_path, "sys.stderr.write('syntax error in line 3')\nsys.exit(1)")
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: fake)
    with pytest.raises(RuntimeError, match="syntax error in line 3"):
        to_svg(definition())


# ---------------------------------------------------------------- expressions back to text


@pytest.mark.parametrize(
    ("written", "rendered"),
    [
        ("(n + m) * 2 > 3", "(n + m) * 2 > 3"),
        ("n - (m - 1) > 0", "n - (m - 1) > 0"),
        ("n - m - 1 > 0", "n - m - 1 > 0"),
        ("-(n + 1) < 0", "-(n + 1) < 0"),
        ("not (major and n > 1)", "not (major and n > 1)"),
        ("(not major) or n == 1", "not major or n == 1"),
        ("(major or n > 1) and remark is set", "(major or n > 1) and remark is set"),
        ('category not in ["fee", "facility"]', 'category not in ["fee", "facility"]'),
        ("t is not set or t < now + 2 working days", "t is not set or t < now + 2 working days"),
        ("t > 2026-03-06T09:00", "t > 2026-03-06 09:00"),
        ('((remark == "说\\"好\\""))', 'remark == "说\\"好\\""'),
        ("n * 2 / 3 >= 1.5", "n * 2 / 3 >= 1.5"),
        ('dept(category) == "工程部"', 'dept(category) == "工程部"'),
    ],
)
def test_expr_text_writes_guards_back_in_flow_syntax(written: str, rendered: str) -> None:
    def guard(expression: str) -> object:
        flow = textwrap.dedent(
            f"""
            flow e
            roles: r
            fields:
                n: int = 0
                m: int = 0
                major: bool = false
                category: choice(fee, facility)
                remark: text?
                t: datetime?
            state a:
                when {expression} -> b
                on go -> b
            final b
            table dept(category):
                "fee" -> "财务部"
                else -> "工程部"
            """
        )
        return definition(flow).states[0].automatic[0].guard

    parsed = guard(written)
    assert expr_text(parsed) == rendered  # type: ignore[arg-type]
    assert guard(rendered) == parsed  # the text reads back as the same expression


# ---------------------------------------------------------------- the CLI


def test_cli_graph_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "repair.flow"
    flow.write_text(REPAIR, encoding="utf-8")
    (tmp_path / "calendars.yaml").write_text(CALENDARS_YAML, encoding="utf-8")
    assert cli.main(["graph", str(flow)]) == 0
    assert capsys.readouterr().out.startswith("stateDiagram-v2\n")
    out = tmp_path / "repair.dot"
    assert cli.main(["graph", str(flow), "--format", "dot", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith('digraph "repair" {')


def test_cli_graph_svg_without_graphviz(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = tmp_path / "repair.flow"
    flow.write_text(REPAIR, encoding="utf-8")
    (tmp_path / "calendars.yaml").write_text(CALENDARS_YAML, encoding="utf-8")
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    assert cli.main(["graph", str(flow), "--format", "svg"]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err
