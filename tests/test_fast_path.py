"""The runtime's fast path (an event without data whose lines need no guard, data or
actions beyond the move) and its general path give identical steps: every scenario of the
shipped flows is played twice, the second time with the fast path switched off, and any
events on a flow whose plain moves take the fast path are fired on both."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calendar import Calendar
from engine.errors import FlowdeskError
from engine.runtime import FlowRuntime
from engine.scenario import play, prepare
from tests.conftest import ROOT, SH, compile_flow

SCENARIOS = sorted((ROOT / "workflows" / "scenarios").rglob("*.yaml"))


def played(path: Path, fast: bool) -> tuple[object, ...]:
    scenario, engine = prepare(path)
    if not fast:
        for runtime in engine.flows.values():
            runtime._plain = {}
    result = play(scenario, engine, path)
    assert result.case is not None
    timeline = [(e.at, str(e.text), e.kind) for e in result.timeline]
    return result.case.snapshot(), result.case.audit_rows, timeline, result.failures


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_fast_path_and_the_general_path_give_the_same_steps(path: Path) -> None:
    fast = played(path, fast=True)
    general = played(path, fast=False)
    assert fast == general


# The shipped flows act on almost every move (they record, notify, arm), so their events take
# the general path; this flow's plain moves take the fast one, beside guarded, data-carrying
# and acting lines, an automatic move and a final state.
PLAIN = """\
flow plain
calendar always
roles: agent, lead
fields:
    n: int = 0
state a:
    on go -> b by agent
    on hop -> c by agent, lead
    on bump by agent:
        set n = n + 1
    on note(n) -> b by lead
state b:
    on back -> a by agent
    on go when n > 0 -> c by agent
    on go when n == 0 -> a by agent
state c:
    on back -> b by lead
    on stop -> done by lead
    when n > 2 -> done
final done
"""
EVENTS = ["go", "hop", "bump", "note", "back", "stop", "nope"]
START = datetime(2026, 3, 2, 9, 0, tzinfo=SH)


def test_the_fast_path_is_taken_by_the_plain_moves() -> None:
    runtime = FlowRuntime(compile_flow(PLAIN), Calendar.always())
    assert ("a", "go") in runtime._plain and ("b", "back") in runtime._plain
    assert ("a", "bump") not in runtime._plain and ("b", "go") not in runtime._plain


@settings(max_examples=200, deadline=None)
@given(
    moves=st.lists(
        st.tuples(st.sampled_from(EVENTS), st.sampled_from(["agent", "lead", None])),
        max_size=30,
    )
)
def test_any_events_give_the_same_steps_on_both_paths(moves: list[tuple[str, str | None]]) -> None:
    fast = FlowRuntime(compile_flow(PLAIN), Calendar.always())
    general = FlowRuntime(compile_flow(PLAIN), Calendar.always())
    general._plain = {}
    cases = [r.open("c1", {}, "x", "agent", START).case for r in (fast, general)]
    for event, role in moves:
        outcomes = []
        for runtime, case in zip((fast, general), cases, strict=True):
            data = {"n": 5} if event == "note" else None
            try:
                step = runtime.fire(case, event, "x", role, data, START)
                outcomes.append((step.records, step.armed, step.cancelled, case.snapshot()))
            except FlowdeskError as exc:
                outcomes.append((type(exc).__name__, str(exc), case.snapshot()))
        assert outcomes[0] == outcomes[1]
    assert cases[0].audit_rows == cases[1].audit_rows
