"""Golden tests: every `.flow` in tests/golden/ against the exact `render_full` text beside it.

Regenerate with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py`, then read every changed
`.expected` file: each message must say what is wrong and each `help:` what to do.
"""

from __future__ import annotations

import importlib.util
import os
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from dsl.checks import check
from dsl.diagnostics import Diagnostic, render_full
from dsl.frontend import compile_source, parse_source
from dsl.rules import RULES
from dsl.source import Source
from engine.i18n import language

GOLDEN = Path(__file__).parent / "golden"
ACCEPTANCE = Path(__file__).resolve().parents[2] / "shared" / "acceptance"
# `shanghai` has official holiday data ending within 60 days of TODAY; `office` needs none.
CALENDARS: dict[str, date | None] = {"always": None, "office": None, "shanghai": date(2026, 12, 31)}
TODAY = date(2026, 11, 15)
FLOWS = sorted(GOLDEN.glob("*.flow"))


def diagnose(source: Source, calendars: dict[str, date | None] | None = None) -> list[Diagnostic]:
    """All diagnostics of a source: through `compile_source` once the compiler exists."""
    calendars = CALENDARS if calendars is None else calendars
    if importlib.util.find_spec("dsl.compiler") is not None:
        from dsl.frontend import compile_source

        return compile_source(source, calendars=calendars, today=TODAY).diagnostics
    flow, diagnostics = parse_source(source)
    if flow is None:
        return diagnostics
    return check(flow, calendars=calendars, today=TODAY)


def golden_source(path: Path) -> Source:
    return Source(f"tests/golden/{path.name}", path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
@pytest.mark.parametrize("path", FLOWS, ids=[p.stem for p in FLOWS])
def test_golden_output(path: Path, lang: str) -> None:
    """English beside the flow; Chinese in golden/zh_CN/ — same places, same codes."""
    source = golden_source(path)
    with language(lang):
        actual = render_full(diagnose(source), source)
    folder = GOLDEN if lang == "en" else GOLDEN / lang
    expected_path = folder / f"{path.stem}.expected"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"missing {expected_path.name}: run with UPDATE_GOLDEN=1"
    assert actual == expected_path.read_text(encoding="utf-8")


CHECKER_RULES = sorted(r.name for r in RULES if r.code >= "FD100")


@pytest.mark.parametrize("code", CHECKER_RULES)
def test_every_checker_rule_has_a_golden_file_showing_it(code: str) -> None:
    path = GOLDEN / f"{code}.flow"
    assert path.exists(), f"add tests/golden/{code}.flow"
    found = diagnose(golden_source(path))
    assert code in {d.code for d in found}


@pytest.mark.parametrize("path", FLOWS, ids=[p.stem for p in FLOWS])
def test_every_diagnostic_says_what_to_do(path: Path) -> None:
    for d in diagnose(golden_source(path)):
        assert d.help, f"{d.code} at {d.span.line}:{d.span.column} has no help"
        assert d.span.line == d.span.end_line, "carets point at one name or token"


def test_the_valid_golden_flow_is_clean() -> None:
    assert diagnose(golden_source(GOLDEN / "valid-complaint.flow")) == []


def test_the_content_hash_of_a_flow_does_not_move() -> None:
    """A stored case names its flow version by this hash: a change to the compiler or to how
    the table is serialised that moved it would leave every stored case on a version no
    loaded flow matches. Pinned from a run before any such change; update it only with a
    migration of stored hashes."""
    result = compile_source(golden_source(GOLDEN / "valid-complaint.flow"))
    assert result.definition is not None
    assert result.definition.content_hash == (
        "sha256:496233bbeb1e256bfd407bba8a568d9d7132a9db2157c28eac609c90ec62f667"
    )


# ---------------------------------------------------------------- shared acceptance files

BROKEN = {
    "broken_unknown_state.flow": (6, 15, ["unknown state `handlng`", "did you mean `handling`?"]),
    "broken_choice.flow": (6, 28, ['`"feee"` is not a value of `category` (fee, facility)']),
    "broken_syntax.flow": (5, 1, ["a block was expected after `state received:`", "indent"]),
    "broken_dead_end.flow": (7, 7, ["state `stuck` is not final and has no way out"]),
}
VALID = ["sla_demo", "tables_demo", "tasks_demo", "timers_demo", "calendar_example_0"]


def acceptance_calendars() -> dict[str, date | None]:
    data = yaml.safe_load((ACCEPTANCE / "calendars.yaml").read_text(encoding="utf-8"))
    return {str(name): None for name in data}


def skip_without_acceptance() -> None:
    if not ACCEPTANCE.is_dir():
        reason = f"shared acceptance folder not found at {ACCEPTANCE}"
        print(reason)
        pytest.skip(reason)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_acceptance_inputs(name: str) -> None:
    skip_without_acceptance()
    line, column, words = BROKEN[name]
    path = ACCEPTANCE / name
    found = diagnose(Source(str(path), path.read_text(encoding="utf-8")), acceptance_calendars())
    errors = [d for d in found if d.is_error]
    assert [(d.span.line, d.span.column) for d in errors] == [(line, column)]
    said = f"{errors[0].message}\n{errors[0].help}"
    for word in words:
        assert word in said


@pytest.mark.parametrize("name", VALID)
def test_valid_acceptance_flows_have_no_errors(name: str) -> None:
    skip_without_acceptance()
    path = ACCEPTANCE / f"{name}.flow"
    found = diagnose(Source(str(path), path.read_text(encoding="utf-8")), acceptance_calendars())
    assert [d for d in found if d.is_error] == []


def test_expected_files_have_no_orphans() -> None:
    flows = {p.stem for p in FLOWS}
    orphans = [p.name for p in GOLDEN.rglob("*.expected") if p.stem not in flows]
    assert orphans == []
    assert all(re.fullmatch(r"[a-z0-9-]+", stem) for stem in flows)
