"""Property tests: random event sequences and clock jumps on every flow we can find.

Flows: each `/work/shared/acceptance/*.flow` that compiles and each `workflows/*.flow` that
exists when the tests are collected. For each, hypothesis opens a case and plays random steps
(known and unknown events, any role or none, data drawn from the field types — sometimes
wrong — and time advances including working-day jumps), checking after every step that

- the case is valid: its state exists, its fields validate against the flow's schema, every
  armed timer falls due no earlier than it was armed and later than now (due ones fired),
  a case in a final state has no timers;
- a refused event changed nothing (snapshot equality);
- and at the end, replaying the audit log rebuilds the very same case.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCEPTANCE, CALENDARS, SH, WORKFLOWS, compile_flow, sh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.case import Case
from engine.clock import SimulatedClock
from engine.definition import CALLBACK_DONE, FieldDef, FlowDefinition
from engine.engine import Engine
from engine.errors import FlowdeskError
from engine.loader import calendars_for, compile_flow_file
from engine.runtime import FlowRuntime, Step


def _flow_files() -> list[Path]:
    found = sorted(ACCEPTANCE.glob("*.flow")) if ACCEPTANCE.is_dir() else []
    found += sorted(WORKFLOWS.glob("*.flow")) if WORKFLOWS.is_dir() else []
    return found


# A flow of our own that uses every construct (emit, callbacks, SLA pause, `at` on data,
# failing notifications to a field, wall-clock timers…), so the properties see them all.
KITCHEN = """
flow kitchen
calendar office
roles: 客服, 主管, 工程部, 财务部
fields:
    category: choice(fee, facility, security)
    major: bool = false
    dept: text?
    appointment: datetime?
    count: int = 0
    amount: decimal?
    wait: duration?
    due: date?
    remark: text?
table department_for(category):
    "fee" -> "财务部"
    "facility" -> "工程部"
    else -> "主管"
sla reply within 4 working hours from received until handling, closed:
    warn at 50%: notify 主管 "half"
    warn 1h before: notify 客服 "1h"
    breach: escalate to 主管 "late"
sla solve within 2 working days from received until closed pause in waiting:
    breach: escalate to 主管 "solve late"
state received:
    enter:
        set dept = department_for(category)
        assign to dept
    when major -> handling
    on note(remark, appointment?, due?):
        record "{remark}"
    on dispatch(dept?) -> handling by 客服
    on redirect(dept) by 主管
    on bump(count) when count > 3 -> waiting
    on bump(count)
    at appointment - 10m: notify 工程部 "visit"
    every 1 working day at most 2 times: notify dept "reminder"
state handling:
    task inspect by 工程部 within 4 working hours:
        overdue: escalate to 主管 "inspect late"
    task sign by 客服
    when all tasks done -> waiting
    on callback_ask: callback "回访" to 客服 within 1 working day
    on callback_done
    on pay(amount) when amount > 100 -> waiting:
        emit settle
    on plan(wait):
        set appointment = now + wait
    on restart -> handling by 主管
    every day at 17:30: notify 主管 "daily"
state waiting:
    on settle:
        set count = count + 1
    on resume -> handling
    on close -> closed by 客服, 主管
    after 3 working days -> closed
    every monday at 09:00: set count = count + 1
final closed
"""


def _params() -> list[Any]:
    params: list[Any] = [pytest.param(KITCHEN_PATH, id="inline/kitchen.flow")]
    for path in _flow_files():
        if path.name.startswith("broken_"):
            continue  # deliberately broken examples: the checker's tests cover them
        params.append(pytest.param(path, id=f"{path.parent.name}/{path.name}"))
    return params


KITCHEN_PATH = Path("<inline>/kitchen.flow")


def _load(path: Path) -> tuple[FlowDefinition, dict[str, Any]]:
    if path == KITCHEN_PATH:
        return compile_flow(KITCHEN), dict(CALENDARS)
    calendars = calendars_for(path)
    return compile_flow_file(path, calendars), calendars  # every flow here must compile


# ------------------------------------------------------------------ strategies

SOME_TEXT = st.text(alphabet="abc工程部客服 ", max_size=6)


def value_for(f: FieldDef, roles: tuple[str, ...], wrong: bool = True) -> st.SearchStrategy[Any]:
    """Values a user might send for a field: mostly right, now and then wrong or empty."""
    base: st.SearchStrategy[Any]
    if f.type == "text":
        base = st.one_of(st.sampled_from(roles), SOME_TEXT) if roles else SOME_TEXT
    elif f.type == "int":
        base = st.integers(-3, 50)
    elif f.type == "decimal":
        base = st.decimals(-100, 1000, places=2, allow_nan=False, allow_infinity=False)
    elif f.type == "bool":
        base = st.booleans()
    elif f.type == "date":
        base = st.dates(date(2026, 1, 1), date(2027, 6, 30))
    elif f.type == "datetime":
        moments = st.datetimes(datetime(2026, 1, 1), datetime(2027, 6, 30)).map(
            lambda t: t.replace(second=0, microsecond=0)
        )
        base = st.one_of(
            moments.map(lambda t: t.replace(tzinfo=SH)),
            moments.map(lambda t: t.strftime("%Y-%m-%d %H:%M")),
        )
    elif f.type == "duration":
        base = st.integers(0, 72 * 60).map(lambda m: timedelta(minutes=m))
    elif f.type == "choice":
        base = st.sampled_from(f.choices)
    else:
        base = st.none()
    options = [base, base, base]
    if f.optional:
        options.append(st.none())
    if wrong:
        options.append(st.sampled_from(["?!", "not-a-value", -1.5, None, [1]]))
    return st.one_of(*options)


def event_names(definition: FlowDefinition) -> list[str]:
    names: list[str] = []
    for state in definition.states:
        names += [t.event for t in state.transitions] + [t.name for t in state.tasks]
    names.append(CALLBACK_DONE)
    names += ["no_such_event", "重开"]
    return sorted(set(names))


def event_params(definition: FlowDefinition) -> dict[str, list[str]]:
    params: dict[str, set[str]] = {}
    for state in definition.states:
        for t in state.transitions:
            params.setdefault(t.event, set()).update(p.name for p in t.params)
    return {k: sorted(v) for k, v in params.items()}


@st.composite
def open_data(draw: st.DrawFn, definition: FlowDefinition) -> dict[str, Any]:
    data = {}
    for f in definition.fields:
        if f.required or draw(st.booleans()):
            data[f.name] = draw(value_for(f, definition.roles, wrong=False))
    return data


def roles_for(definition: FlowDefinition, state: str, event: str) -> list[str]:
    """The roles that may fire `event` in `state` (every role when any may)."""
    roles: set[str] = set()
    for s in definition.states:
        if s.name != state:
            continue
        for t in s.transitions:
            if t.event == event:
                if not t.roles:
                    return list(definition.roles)
                roles.update(t.roles)
        for task in s.tasks:
            if task.name == event:
                if not task.roles:
                    return list(definition.roles)
                roles.update(task.roles)
    return sorted(roles) or list(definition.roles)


@st.composite
def step(draw: st.DrawFn, runtime: FlowRuntime, case: Case) -> tuple[Any, ...]:
    """One step, drawn knowing the case: mostly an event its state takes, by a role allowed."""
    definition = runtime.definition
    kind = draw(st.sampled_from(["fire", "fire", "fire", "advance", "advance", "working"]))
    if kind == "advance":
        minutes = draw(st.one_of(st.integers(0, 90), st.integers(60, 72 * 60)))
        return ("advance", timedelta(minutes=minutes))
    if kind == "working":
        return ("working", draw(st.integers(1, 4)), draw(st.booleans()))
    fields = {f.name: f for f in definition.fields}
    possible = runtime.events(case)
    if possible and draw(st.integers(0, 3)) > 0:
        event = draw(st.sampled_from(possible))
        role = draw(st.sampled_from(roles_for(definition, case.state, event)))
    else:
        event = draw(st.sampled_from(event_names(definition)))
        role = draw(st.sampled_from([None, "stranger", *definition.roles]))
    data: dict[str, Any] = {}
    for name in event_params(definition).get(event, []):
        if draw(st.integers(0, 4)) > 0:
            data[name] = draw(value_for(fields[name], definition.roles))
    if fields and draw(st.integers(0, 9)) == 0:  # now and then a field the event does not take
        name = draw(st.sampled_from(sorted(fields)))
        data[name] = draw(value_for(fields[name], definition.roles, wrong=False))
    return ("fire", event, role, data or None)


# ------------------------------------------------------------------ invariants


def check_valid(runtime: FlowRuntime, case: Case, now: datetime) -> None:
    states = {s.name: s for s in runtime.definition.states}
    assert case.state in states
    validated = runtime.schema.validate_all(case.fields)
    assert validated == case.fields
    assert set(case.fields) == {f.name for f in runtime.definition.fields}
    for armed in case.timers.values():
        assert armed.due > now, f"{armed.key} due {armed.due} has not fired by {now}"
    if states[case.state].final:
        assert case.timers == {}
        assert case.closed_at is not None
    assert [r.seq for r in case.audit] == list(range(1, len(case.audit) + 1))


FLOWS = _params()


@pytest.mark.parametrize("path", FLOWS)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_runs_keep_cases_valid_and_replayable(path: Path, data: st.DataObject) -> None:
    definition, calendars = _load(path)
    start = data.draw(
        st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 20)).map(
            lambda t: datetime.combine(t.date(), time(t.hour, t.minute), SH)
        ),
        label="start",
    )
    engine = Engine(calendars, SimulatedClock(start))
    for hook in definition.hooks:
        engine.register_hook(hook, lambda *args: None)
    runtime = engine.load(definition)
    steps: list[Step] = []
    deliver = engine._after

    def spy(s: Step) -> None:
        steps.append(s)
        deliver(s)

    engine._after = spy  # type: ignore[method-assign]

    opening = data.draw(open_data(definition), label="case")
    try:
        case = engine.open(definition.name, opening, "opener", None)
    except FlowdeskError:
        assert engine.cases == {}
        return
    check_valid(runtime, case, engine.clock.now())

    for _ in range(data.draw(st.integers(0, 14), label="number of steps")):
        action = data.draw(step(runtime, case), label="step")
        now = engine.clock.now()
        if action[0] == "fire":
            _, event, role, payload = action
            before = case.snapshot()
            try:
                engine.fire(case.id, event, "actor", role, payload)
            except FlowdeskError:
                assert case.snapshot() == before, f"refused `{event}` changed the case"
        elif action[0] == "advance":
            engine.advance(now + action[1])
        else:
            _, n, whole_days = action
            cal = runtime.calendar
            to = (
                cal.add_working_days(now, n)
                if whole_days
                else cal.add_working_time(now, timedelta(hours=n))
            )
            engine.advance(max(to, now))
        check_valid(runtime, case, engine.clock.now())

    for s in steps:
        assert s.records, "every step leaves a trace in the audit log"
        armed_at = s.records[0].at
        for armed in s.armed:
            assert armed.due >= armed_at, f"{armed.key} armed at {armed_at} for {armed.due}"

    replayed = engine.replay(case.id)
    assert replayed.snapshot() == case.snapshot()


def test_flow_discovery_finds_the_acceptance_flows() -> None:
    if not ACCEPTANCE.is_dir():
        pytest.skip(f"{ACCEPTANCE} is not available")
    names = {p.name for p in _flow_files()}
    assert {"sla_demo.flow", "tables_demo.flow", "tasks_demo.flow", "timers_demo.flow"} <= names


def test_value_strategies_make_valid_values() -> None:
    """The generators used above produce values the schema takes (so runs go somewhere)."""
    fields = (
        FieldDef(name="t", type="text"),
        FieldDef(name="i", type="int"),
        FieldDef(name="d", type="decimal"),
        FieldDef(name="b", type="bool"),
        FieldDef(name="day", type="date"),
        FieldDef(name="at", type="datetime"),
        FieldDef(name="dur", type="duration"),
        FieldDef(name="c", type="choice", choices=("x", "y")),
    )
    definition = FlowDefinition(name="f", roles=("r",), fields=fields, states=())
    from engine.fields import FieldSchema

    schema = FieldSchema(definition, SH)

    @settings(max_examples=30, deadline=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        for f in fields:
            value = data.draw(value_for(f, ("r",), wrong=False))
            schema.validate_some({f.name: value})

    check()
    assert schema.validate_some({"d": Decimal("1.50")}) == {"d": Decimal("1.50")}
    assert schema.validate_some({"at": "2026-03-02 09:00"}) == {"at": sh(2026, 3, 2, 9, 0)}


@pytest.mark.parametrize("path", FLOWS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_opening_data_is_validated_as_the_model_would(path: Path, data: st.DataObject) -> None:
    """`validate_all` skips pydantic when every value already fits: it must give the very
    same fields (same values, same order) or the same problems as the model."""
    definition, calendars = _load(path)
    runtime = Engine(calendars, SimulatedClock(sh(2026, 3, 2))).load(definition)
    sent: dict[str, Any] = {}
    for f in runtime.definition.fields:
        if f.required or data.draw(st.booleans()):
            sent[f.name] = data.draw(value_for(f, runtime.definition.roles))
    if data.draw(st.booleans()):
        sent[data.draw(st.sampled_from(["nosuch", "备注x"]))] = "x"
    if sent and data.draw(st.integers(0, 4)) == 0:
        del sent[data.draw(st.sampled_from(sorted(sent)))]
    schema = runtime.schema
    try:
        expected: Any = list(schema.validate_with_model(sent).items())
    except FlowdeskError as exc:
        expected = exc
    try:
        got: Any = list(schema.validate_all(sent).items())
    except FlowdeskError as exc:
        got = exc
    if isinstance(expected, Exception):
        assert type(got) is type(expected) and str(got) == str(expected)
    else:
        assert got == expected
