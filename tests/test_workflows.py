"""The shipped workflows: every flow compiles cleanly and every scenario of it passes.

(a) Each `workflows/*.flow` compiles with `dsl.frontend.compile_file` (against the shipped
    calendars, as `flow check` does) without errors, and without warnings except the ones
    allowed below, each with the reason it is accepted (the same reason is written as a
    comment next to the warned line in the flow).
(b) Each `workflows/scenarios/<flow>/NN_<rule>.yaml` runs through
    `engine.scenario.run_scenario` and passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl.diagnostics import Diagnostic, render_full
from dsl.frontend import FrontendResult, compile_file
from engine.loader import calendars_for
from engine.scenario import run_scenario

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
SCENARIOS = WORKFLOWS / "scenarios"
FLOWS = sorted(WORKFLOWS.glob("*.flow"))
SCENARIO_FILES = sorted(SCENARIOS.rglob("*.yaml"))

# Warnings accepted in any shipped flow, by code.
ALLOWED_CODES: dict[str, str] = {
    "calendar-data-ending": (
        "depends on today's date: the official CN holiday data of chinese-calendar ends on "
        "2026-12-31; upgrade the package when the next year's holidays are published"
    ),
}

# Warnings accepted at one place: (flow file, code, the name the warning points at). None
# today: a state the procedure means to leave waiting says so with `wait "reason"`.
ALLOWED: dict[tuple[str, str, str], str] = {}


def _compile(path: Path) -> FrontendResult:
    calendars = {name: c.official_data_until for name, c in calendars_for(path).items()}
    return compile_file(path, calendars=calendars)


def _subject(result: FrontendResult, d: Diagnostic) -> str:
    """The source text the diagnostic points at (a state name, a calendar name, …)."""
    line = result.source.line(d.span.line)
    end = d.span.end_column if d.span.end_line == d.span.line else len(line) + 1
    return line[d.span.column - 1 : end - 1]


def _is_allowed(path: Path, result: FrontendResult, d: Diagnostic) -> bool:
    return d.code in ALLOWED_CODES or (path.name, d.code, _subject(result, d)) in ALLOWED


def test_there_are_shipped_flows_and_scenarios() -> None:
    names = {p.stem for p in FLOWS}
    assert {"complaint", "repair", "move_in", "move_out", "fee_collection"} <= names
    for name in names:
        assert list((SCENARIOS / name).glob("*.yaml")), f"flow `{name}` has no scenario"


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_flow_compiles_without_errors_or_unexplained_warnings(path: Path) -> None:
    result = _compile(path)
    assert not result.errors, render_full(result.errors, result.source)
    assert result.definition is not None
    unexplained = [d for d in result.diagnostics if not _is_allowed(path, result, d)]
    assert not unexplained, render_full(unexplained, result.source)


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_allowed_warnings_are_justified_next_to_the_warned_line(path: Path) -> None:
    result = _compile(path)
    for d in result.diagnostics:
        if d.is_error or not _is_allowed(path, result, d):
            continue
        above = result.source.lines[max(d.span.line - 8, 0) : d.span.line - 1]
        assert any(f"`{d.code}`" in line for line in above if line.lstrip().startswith("#")), (
            f"{path.name}:{d.span.line}: say in a comment above the line why `{d.code}` is accepted"
        )


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_no_state_waits_unchased(path: Path) -> None:
    """Every waiting state is chased, or marked a deliberate wait with its reason."""
    result = _compile(path)
    unchased = [d for d in result.diagnostics if d.code == "unchased-state"]
    assert not unchased, render_full(unchased, result.source)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_scenario_passes(path: Path) -> None:
    result = run_scenario(path)
    assert result.passed, "\n".join(result.failures)
