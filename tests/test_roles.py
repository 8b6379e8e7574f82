"""Roles on every door: on the shipped and acceptance flows, any open, event, task or
callback from any role — the flow's, one it does not know, or none — is either what the
flow's `opened by` / `by` rules allow, or refused with RoleNotAllowed and the case left
byte-identical (its JSON encoding unchanged), and no case created by a refused open.

The oracle reads the compiled table, not the runtime: for each door it says who may knock,
and the test checks the runtime agrees, step after step, as hypothesis walks cases through
their flows with data that fits, timers firing and callbacks opening on the way.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCEPTANCE, WORKFLOWS, make_harness, sh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.case import Case
from engine.clock import SimulatedClock
from engine.definition import CALLBACK_DONE, FieldDef, FlowDefinition, StateDef, TransitionDef
from engine.engine import Engine
from engine.errors import FlowdeskError, RoleNotAllowed
from engine.loader import calendars_for, compile_flow_file
from engine.store.serialize import encode

OUTSIDER = "外部人员"  # a role no flow declares
ACTOR = "someone"  # the person every call is made by

FLOWS = sorted(WORKFLOWS.glob("*.flow")) + sorted(
    p for p in ACCEPTANCE.glob("*.flow") if not p.name.startswith("broken_")
)


def _engine(path: Path) -> tuple[Engine, FlowDefinition]:
    calendars = calendars_for(path)
    definition = compile_flow_file(path, calendars)
    engine = Engine(calendars, SimulatedClock(sh(2026, 3, 2, 9, 0)))
    for hook in definition.hooks:
        engine.register_hook(hook, lambda *args: None)
    engine.load(definition)
    return engine, definition


def _value(f: FieldDef, draw: st.DrawFn) -> Any:
    """A value that fits the field (so refusals come from roles, guards or states)."""
    if f.type == "choice":
        return draw(st.sampled_from(f.choices))
    return {
        "text": "测试",
        "int": draw(st.integers(0, 3)),
        "decimal": Decimal("12.50"),
        "bool": draw(st.booleans()),
        "date": date(2026, 3, 3),
        "datetime": sh(2026, 3, 3, 10, 0),
        "duration": timedelta(hours=1),
    }[f.type]


def _opening_data(definition: FlowDefinition, draw: st.DrawFn) -> dict[str, Any]:
    return {f.name: _value(f, draw) for f in definition.fields if f.required}


def _may_open(definition: FlowDefinition, role: str | None) -> bool:
    if definition.openers:
        return role in definition.openers
    return role is None or role in definition.roles


def _may_fire(state: StateDef, case: Case, event: str, role: str | None) -> bool | None:
    """Whether `role` may fire `event` now by the flow's rules; None when the event is not
    possible in this state at all (then any refusal will do)."""
    lines = [t for t in state.transitions if t.event == event]
    open_callbacks = {c.role for c in case.callbacks if c.done_at is None}
    if event == CALLBACK_DONE:
        if lines:
            return any(role in t.roles if t.roles else role in open_callbacks for t in lines)
        return (role in open_callbacks) if open_callbacks else None
    if lines:
        return any(_line_allows(t, case, role) for t in lines)
    task = next((t for t in state.tasks if t.name == event), None)
    if task is not None and case.tasks.get(event) != "done":
        return not task.roles or role in task.roles
    return None


def _line_allows(t: TransitionDef, case: Case, role: str | None) -> bool:
    """An `on` line's `by`: its roles, or the role or person (`ACTOR`) a `by FIELD` names."""
    if not t.roles and not t.holders:
        return True
    held = {case.fields.get(h) for h in t.holders} - {None}
    return role in t.roles or role in held or ACTOR in held


def _callers(t: TransitionDef, case: Case, roles: list[str | None]) -> list[str | None]:
    """The roles a line names, the role its `by FIELD` holds, or any role without `by`."""
    if not t.roles and not t.holders:
        return roles
    return [*t.roles, *(case.fields.get(h) for h in t.holders if case.fields.get(h) in roles)]


def _data_for(state: StateDef, case: Case, event: str, role: str | None,
              fields: dict[str, FieldDef], draw: st.DrawFn) -> dict[str, Any]:  # fmt: skip
    """The required parameters of the first line `role` may take, filled with fitting
    values (guards may still refuse)."""
    for t in state.transitions:
        if t.event == event and _line_allows(t, case, role):
            return {p.name: _value(fields[p.name], draw) for p in t.params if not p.optional}
    return {}


def _knock(state: StateDef, case: Case, events: list[str], roles: list[str | None]
           ) -> st.SearchStrategy[tuple[str, str | None]]:  # fmt: skip
    """Mostly an event of this state by a role one of its lines names (so cases move on
    through their flows), otherwise any event by any role."""
    doors = [(t.event, r) for t in state.transitions for r in _callers(t, case, roles)]
    doors += [(k.name, r) for k in state.tasks if case.tasks.get(k.name) != "done"
              for r in (k.roles or roles)]  # fmt: skip
    doors += [(CALLBACK_DONE, c.role) for c in case.callbacks if c.done_at is None]
    anything = st.tuples(st.sampled_from(events), st.sampled_from(roles))
    if not doors:
        return anything
    return st.one_of(st.sampled_from(doors), st.sampled_from(doors), anything)


def _frozen(case: Case) -> str:
    return json.dumps(encode(case.snapshot()), sort_keys=True, ensure_ascii=False)


@st.composite
def _walk(draw: st.DrawFn, path: Path) -> None:
    engine, definition = _engine(path)
    roles = [*definition.roles, OUTSIDER, None]
    # opens: allowed or refused, never a case made by a refusal
    for role in draw(st.lists(st.sampled_from(roles), min_size=1, max_size=3)):
        before = len(engine.cases)
        try:
            engine.open(definition.name, _opening_data(definition, draw), ACTOR, role)
        except RoleNotAllowed:
            assert not _may_open(definition, role), f"open by {role} refused"
            assert len(engine.cases) == before
        else:
            assert _may_open(definition, role), f"open by {role} accepted"
    case = next(iter(engine.cases.values()), None)
    if case is None:
        return
    fields = {f.name: f for f in definition.fields}
    states = {s.name: s for s in definition.states}
    events = sorted(
        {t.event for s in definition.states for t in s.transitions}
        | {task.name for s in definition.states for task in s.tasks}
        | {CALLBACK_DONE}
    )
    for _ in range(draw(st.integers(1, 25))):
        if states[case.state].final:
            break
        if draw(st.integers(0, 5)) == 0:  # let time pass: timers, SLAs, callbacks' deadlines
            engine.advance(engine.clock.now() + timedelta(hours=draw(st.sampled_from([1, 9, 30]))))
            continue
        state = states[case.state]
        event, role = draw(_knock(state, case, events, roles))
        allowed = _may_fire(state, case, event, role)
        data = _data_for(state, case, event, role, fields, draw) if allowed else {}
        before = _frozen(case)
        try:
            engine.fire(case.id, event, ACTOR, role, data or None)
        except RoleNotAllowed:
            assert allowed is not True, f"{event} by {role} in {state.name}: refused its role"
            assert _frozen(case) == before
        except FlowdeskError:
            assert allowed is not False, f"{event} by {role} in {state.name}: not a role error"
            assert _frozen(case) == before
        else:
            assert allowed is True, f"{event} by {role} in {state.name}: taken"


@pytest.mark.parametrize("path", FLOWS, ids=[f"{p.parent.name}/{p.name}" for p in FLOWS])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(data=st.data())
def test_every_door_checks_the_role(path: Path, data: st.DataObject) -> None:
    data.draw(_walk(path))


def test_the_flows_under_test_include_every_shipped_one() -> None:
    assert {p.stem for p in FLOWS} >= {"complaint", "repair", "move_in", "move_out",
                                        "fee_collection"}  # fmt: skip


def test_callback_done_only_from_the_callbacks_role() -> None:
    """The class the outside testers found: callback_done from another role, an undeclared
    one or none is refused, case unchanged; from the callback's own role it closes it."""
    engine = make_harness(
        "flow cb\nroles: 客服专员, 工程部\n"
        "state working:\n    on finish -> waiting by 工程部:\n"
        '        callback "回访业主" to 客服专员 within 3d\n'
        "state waiting:\n    after 5d -> done\n"
        "final done\n"
    ).engine
    case = engine.open("cb", {}, "a", "客服专员")
    engine.fire(case.id, "finish", "b", "工程部")
    for role in ("工程部", OUTSIDER, None):
        before = _frozen(case)
        with pytest.raises(RoleNotAllowed, match="close a callback"):
            engine.fire(case.id, CALLBACK_DONE, "x", role)
        assert _frozen(case) == before
    engine.fire(case.id, CALLBACK_DONE, "a", "客服专员")
    assert [c.done_at is not None for c in case.callbacks] == [True]


def test_opened_by_names_who_may_open() -> None:
    engine = make_harness(
        "flow o\nroles: 客服专员, 主管, 工程部\nopened by 客服专员, 主管\n"
        "state a:\n    on go -> b by 工程部\nfinal b\n"
    ).engine
    assert engine.open("o", {}, "x", "主管").state == "a"
    for role in ("工程部", OUTSIDER, None):
        with pytest.raises(RoleNotAllowed, match="may not open a case of `o`"):
            engine.open("o", {}, "x", role)
    assert len(engine.cases) == 1
