"""The rule registry: one definition per check, docs generated from it, and a project's
choice of rules (flowdesk.toml / [tool.flowdesk], --select, --ignore) applied by flow check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

import cli
from dsl.config import ConfigError, choice_from, find_config
from dsl.rules import BY_NAME, RULES, Severity, explain, find, markdown
from engine.i18n import language

UNUSED = """flow demo "演示"
roles: 客服
fields:
    remark: text?
    handling_note: text?
state received:
    on close -> closed by 客服:
        set handling_note = "ok"
final closed
table unused(x):
    "a" -> "b"
"""
FOUR = {"unused-field", "unused-table", "table-without-else", "unchased-state"}


def test_codes_and_names_are_unique_and_well_formed() -> None:
    assert len({r.code for r in RULES}) == len({r.name for r in RULES}) == len(RULES)
    for rule in RULES:
        assert re.fullmatch(r"FD\d{3}", rule.code) and re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.name)
        assert rule.bad != rule.good and rule.summary and rule.why


def test_the_rule_list_in_docs_is_generated_from_the_registry() -> None:
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == markdown(), (
        "run `python -m dsl.rules > docs/rules.md`"
    )


def test_a_rule_is_found_by_code_or_name() -> None:
    assert find("FD201") is find("fd201") is find("unknown-state") is BY_NAME["unknown-state"]
    assert find("FD999") is None and find("no-such-rule") is None


def test_explain_shows_why_and_a_bad_and_a_good_example_in_either_language() -> None:
    rule = BY_NAME["unchased-state"]
    english = explain(rule)
    assert english.startswith("FD508 unchased-state (warning)\nnothing chases a waiting state")
    assert "Bad:\n    state waiting_parts:" in english and "Good:" in english
    with language("zh_CN"):
        chinese = explain(rule)
    assert "没有任何机制催办等待中的状态" in chinese and "错误写法：" in chinese


def test_flow_check_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--explain", "unknown-state"]) == 0
    assert "FD201 unknown-state (error)" in capsys.readouterr().out
    assert cli.main(["check", "--explain", "FD9"]) == 2
    assert "no rule `FD9`" in capsys.readouterr().err


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, set[str]]:
    """Check the demo flow; the exit code and the rule names reported."""
    flow = tmp_path / "demo.flow"
    flow.write_text(UNUSED, encoding="utf-8")
    code = cli.main(["check", "--format", "concise", *options, str(flow)])
    said = capsys.readouterr()
    return code, set(re.findall(r"\[([a-z-]+)\]", said.out)) | ({"!"} if said.err else set())


def test_without_configuration_every_rule_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, capsys) == (0, FOUR)


def test_flowdesk_toml_ignores_and_raises_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "flowdesk.toml").write_text(
        'ignore = ["unused-table"]\nseverity = { unused-field = "error", FD506 = "ignore" }\n'
    )
    assert run(tmp_path, capsys) == (1, {"unused-field", "unchased-state"})


def test_pyproject_tool_flowdesk_selects_and_the_command_line_narrows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flowdesk]\nselect = ["FD5"]\n')
    assert run(tmp_path, capsys) == (0, FOUR)
    assert run(tmp_path, capsys, "--ignore", "unused-field,FD506") == (
        0,
        {"unused-table", "unchased-state"},
    )
    assert run(tmp_path, capsys, "--select", "table-without-else") == (0, {"table-without-else"})


def test_a_folder_above_the_flow_configures_it(tmp_path: Path) -> None:
    (tmp_path / "flowdesk.toml").write_text('ignore = ["FD504"]\n')
    (tmp_path / "flows").mkdir()
    assert "FD504" not in find_config(tmp_path / "flows" / "x.flow").selected


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ({"ignore": ["unknown-state"]}, "FD201 unknown-state is an error"),
        ({"severity": {"dead-end-state": "warning"}}, "FD401 dead-end-state is an error"),
        ({"select": ["FD9"]}, "select: `FD9` names no rule"),
        ({"ignore": "FD504"}, "`ignore` is a list of rule codes or names"),
        ({"severity": {"unused-field": "loud"}}, "severity of `unused-field` is `loud`"),
        ({"rules": []}, "unknown key `rules`"),
    ],
)
def test_a_configuration_that_cannot_be_is_refused_naming_its_place(
    table: dict[str, object], said: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(said)):
        choice_from(table, "x/flowdesk.toml")


def test_a_broken_configuration_file_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "flowdesk.toml").write_text("ignore = [\n")
    code, _ = run(tmp_path, capsys)
    assert code == 2


def test_json_diagnostics_carry_the_rule_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "demo.flow"
    flow.write_text(UNUSED, encoding="utf-8")
    cli.main(["check", "--format", "json", str(flow)])
    items = json.loads(capsys.readouterr().out)
    assert {(i["code"], i["rule"]) for i in items} >= {("unused-field", "FD504")}
    assert all(BY_NAME[i["code"]].severity is Severity(i["severity"]) for i in items)
