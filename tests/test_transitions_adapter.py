"""The `transitions` adapter against our runtime: same flows, same random events, same states.

A differential test (Hypothesis): each flow is run by `FlowRuntime` and by the
`transitions.Machine` the adapter makes of it; after every event both must be in the same
state and agree on whether the event was refused. No time passes, so timers never fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transitions import MachineError

from dsl.frontend import compile_source
from dsl.source import Source
from engine import definition as d
from engine.adapters.transitions_adapter import (
    AUTOMATIC_TRIGGER,
    FlowModel,
    SharedMachine,
    shared_of,
    static_machine,
    to_machine,
)
from engine.calendar import Calendar
from engine.calendar_file import load_calendars
from engine.clock import SimulatedClock
from engine.errors import (
    EventRefused,
    FlowRuntimeError,
    InvalidData,
    NoGuardHolds,
    RoleNotAllowed,
    UnknownEvent,
)
from engine.runtime import FlowRuntime

ACCEPTANCE = Path("/work/shared/acceptance")
SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 6, 9, 0, tzinfo=SH)

# A complaint-like flow: 8 states, 12 `on` transitions, 2 guards (neither has a fallback,
# so both can refuse), one internal transition and two finals.
COMPLAINT = """\
flow complaint_lite "投诉（简）"

roles: 客服专员, 工程部, 主管

fields:
    category: choice(fee, facility, security) "类别"
    major: bool = false
    score: int = 0
    remark: text?

state received "已受理":
    on dispatch -> handling by 客服专员
    on assess(major) when major -> gm_review by 客服专员
    on cancel -> cancelled by 客服专员

state handling "处理中":
    on visit -> visiting by 工程部
    on reply -> replied by 工程部
    on note(remark) by 工程部, 客服专员

state visiting "上门":
    on reply -> replied by 工程部
    on suspend -> waiting by 工程部

state waiting "等待业主":
    on resume -> handling by 客服专员

state gm_review "总经理审阅":
    on approve -> handling by 主管

state replied "已答复":
    on rate(score) when score >= 3 -> closed by 客服专员
    on reopen -> handling by 客服专员

final closed "已结案"

final cancelled "已撤销"
"""

# Automatic transitions chained and guarded by event data, to exercise `settle`.
AUTOMATIC = """\
flow auto_chain

roles: 客服

fields:
    level: int = 0

state a:
    when level >= 1 -> b
    on raise_level(level) by 客服

state b:
    when level >= 2 -> c
    on raise_level(level) by 客服
    on back -> a by 客服

state c:
    on finish -> done by 客服
    on back -> a by 客服

final done
"""


def _compile(name: str, text: str) -> d.FlowDefinition:
    result = compile_source(Source(name, text))
    assert result.definition is not None, [str(x) for x in result.diagnostics]
    return result.definition


def _without_tasks(defn: d.FlowDefinition) -> d.FlowDefinition:
    """The flow with its tasks (and `when all tasks done`) removed: tasks are ours only."""
    states = tuple(
        s.model_copy(
            update={"tasks": (), "automatic": tuple(a for a in s.automatic if not a.all_tasks_done)}
        )
        for s in defn.states
    )
    return defn.model_copy(update={"states": states})


@cache
def _calendars() -> dict[str, Calendar]:
    return load_calendars(ACCEPTANCE / "calendars.yaml")


@dataclass(frozen=True)
class Subject:
    """One flow under test, in both forms."""

    definition: d.FlowDefinition
    runtime: FlowRuntime
    shared: SharedMachine
    events: tuple[str, ...]
    set_by_actions: frozenset[str]  # fields our actions may change (the adapter runs none)


@cache
def _subject(name: str) -> Subject:
    if name == "complaint_lite":
        defn = _compile(name, COMPLAINT)
    elif name == "auto_chain":
        defn = _compile(name, AUTOMATIC)
    else:
        defn = _compile(name, (ACCEPTANCE / f"{name}.flow").read_text(encoding="utf-8"))
    defn = _without_tasks(defn)
    calendar = _calendars()[defn.calendar]
    events = tuple(sorted({t.event for s in defn.states for t in s.transitions}))
    actions = [a for s in defn.states for t in s.transitions for a in t.actions]
    actions += [a for s in defn.states for a in (*s.enter, *s.exit)]
    set_fields = frozenset(a.field for a in actions if isinstance(a, d.SetField))
    return Subject(
        defn,
        FlowRuntime(defn, calendar),
        static_machine(defn, calendar, SimulatedClock(NOW)),
        events,
        set_fields,
    )


def _value(field: d.FieldDef) -> st.SearchStrategy[Any]:
    base: st.SearchStrategy[Any]
    if field.type == "choice":
        base = st.sampled_from(field.choices)
    elif field.type == "bool":
        base = st.booleans()
    elif field.type == "int":
        base = st.integers(min_value=0, max_value=5)
    elif field.type == "text":
        base = st.sampled_from(["好", "问题已修复", "x"])
    else:
        raise AssertionError(f"no strategy for field type {field.type}")
    return st.none() | base if field.optional else base


def _open_data(defn: d.FlowDefinition) -> st.SearchStrategy[dict[str, Any]]:
    required = {f.name: _value(f) for f in defn.fields if f.required}
    optional = {f.name: _value(f) for f in defn.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


FLOWS = ["tables_demo", "sla_demo", "tasks_demo", "complaint_lite", "auto_chain"]


@pytest.mark.parametrize("flow", FLOWS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_states_as_our_runtime(flow: str, data: st.DataObject) -> None:
    subject = _subject(flow)
    defn, runtime, shared = subject.definition, subject.runtime, subject.shared
    fields = {f.name: f for f in defn.fields}

    opened = data.draw(_open_data(defn), label="case")
    case = runtime.open("c-1", opened, None, None, NOW).case
    model = shared.attach(FlowModel("c-1"), opened)
    assert model.state == case.state

    for _ in range(data.draw(st.integers(min_value=1, max_value=25), label="steps")):
        event = data.draw(st.sampled_from(subject.events), label="event")
        here = runtime.states[case.state].by_event.get(event, [])
        allowed = sorted({r for t in here for r in t.roles})
        role = data.draw(
            st.sampled_from(allowed) if allowed and data.draw(st.integers(0, 9)) else
            st.sampled_from(defn.roles),
            label="role",
        )  # fmt: skip
        params = sorted({p.name for s in defn.states for t in s.transitions if t.event == event
                         for p in t.params})  # fmt: skip
        event_data = data.draw(
            st.fixed_dictionaries({}, optional={p: _value(fields[p]) for p in params}),
            label="data",
        )

        ours: type[Exception] | None = None
        try:
            runtime.fire(case, event, "someone", role, event_data, NOW)
        except EventRefused as exc:
            ours = type(exc)
        try:
            taken: bool | None = shared.fire(model, event, role, event_data)
        except MachineError:
            taken = None

        if ours is UnknownEvent:
            assert taken is None, f"{event} in {case.state}: ours unknown, transitions took it"
        elif ours in (NoGuardHolds, RoleNotAllowed, InvalidData):
            assert taken is False, f"{event} in {case.state}: ours refused ({ours}), got {taken}"
        else:
            assert ours is None, f"unexpected refusal {ours}"
            assert taken is True, f"{event} by {role} with {event_data}: ours took it, not theirs"
        assert model.state == case.state
        compared = [k for k in case.fields if k not in subject.set_by_actions]
        assert {k: model.fields.get(k) for k in compared} == {k: case.fields[k] for k in compared}


# ---------------------------------------------------------------- the adapter alone


def test_states_finals_and_internal_transitions() -> None:
    defn = _subject("complaint_lite").definition
    machine = to_machine(defn)
    assert list(machine.states) == [s.name for s in defn.states]
    assert {n for n, s in machine.states.items() if s.final} == {"closed", "cancelled"}
    notes = machine.events["note"].transitions["handling"]
    assert [t.dest for t in notes] == [None]
    assert AUTOMATIC_TRIGGER not in machine.events  # this flow has no `when … ->`


def test_model_gets_trigger_methods_and_fields() -> None:
    model = FlowModel("c-9", {"category": "fee", "major": False, "score": 0})
    machine = to_machine(_subject("complaint_lite").definition, model)
    assert machine.initial == "received" and model.state == "received"
    assert model.assess(role="客服专员", data={"major": False}) is False  # type: ignore[attr-defined]
    assert model.fields["major"] is False
    assert model.assess(role="客服专员", data={"major": True}) is True  # type: ignore[attr-defined]
    assert model.state == "gm_review" and model.fields["major"] is True
    with pytest.raises(MachineError):
        model.reply(role="工程部")  # type: ignore[attr-defined]
    assert model.state == "gm_review"
    assert shared_of(machine).definition.name == "complaint_lite"


def test_on_final_runs_on_reaching_a_final_state() -> None:
    reached: list[str] = []
    model = FlowModel("c-1", {"category": "fee"})
    machine = to_machine(_subject("complaint_lite").definition, model)
    machine.on_final = [lambda event: reached.append(event.state.name)]
    assert model.cancel(role="客服专员") is True  # type: ignore[attr-defined]
    assert reached == ["cancelled"]


def test_refusals() -> None:
    shared = _subject("complaint_lite").shared
    model = shared.attach(FlowModel("c-2"), {"category": "facility"})
    assert shared.fire(model, "dispatch", role="工程部") is False  # role not allowed
    assert shared.fire(model, "dispatch", role=None) is False  # no role, `by` given
    assert shared.fire(model, "assess", role="客服专员") is False  # required param missing
    assert shared.fire(model, "assess", role="客服专员", data={"score": 1}) is False  # not a param
    with pytest.raises(InvalidData):
        shared.fire(model, "assess", role="客服专员", data={"major": "perhaps"})
    with pytest.raises(MachineError):
        shared.fire(model, "approve", role="主管")  # not possible in `received`
    with pytest.raises(MachineError):
        shared.fire(model, "no_such_event")
    with pytest.raises(MachineError):
        shared.fire(model, AUTOMATIC_TRIGGER)  # reserved, not an event of the flow
    assert model.state == "received" and model.fields["major"] is False


def test_automatic_transitions_chain_after_events_and_on_attach() -> None:
    shared = _subject("auto_chain").shared
    model = shared.attach(FlowModel("c-3"), {"level": 2})
    assert model.state == "c"  # a → b → c at once
    model = shared.attach(FlowModel("c-4"), {})
    assert model.state == "a"
    assert shared.fire(model, "raise_level", role="客服", data={"level": 1}) is True
    assert model.state == "b"
    assert shared.fire(model, "raise_level", role="客服", data={"level": 5}) is True
    assert model.state == "c"
    assert shared.fire(model, "back", role="客服") is True
    assert model.state == "c"  # back to a, whose `when` holds again: a → b → c


def test_automatic_loop_is_an_error() -> None:
    loop = _compile(
        "loop",
        "flow loop\nroles: r\nfields:\n    go: bool = false\n"
        "state a:\n    when go -> b\n    on start(go) by r\n"
        "state b:\n    when go -> a\n    on stop -> done by r\nfinal done\n",
    )
    shared = static_machine(loop)
    model = shared.attach(FlowModel("c-5"), {})
    with pytest.raises(FlowRuntimeError, match="automatic transitions"):
        shared.fire(model, "start", role="r", data={"go": True})


def test_guards_read_now_from_the_given_clock() -> None:
    flow = _compile(
        "timed",
        "flow timed\nroles: r\nfields:\n    due: datetime\n"
        "state open:\n    on close when now >= due -> done by r\nfinal done\n",
    )
    clock = SimulatedClock(NOW)
    shared = static_machine(flow, clock=clock)
    model = shared.attach(FlowModel("c-6"), {"due": "2026-03-06 10:00"})
    assert shared.fire(model, "close", role="r") is False
    clock.advance_to(datetime(2026, 3, 6, 10, 0, tzinfo=SH))
    assert shared.fire(model, "close", role="r") is True
    assert model.state == "done"


def test_tables_in_guards_run_in_our_evaluator() -> None:
    defn = _subject("tables_demo").definition
    shared = static_machine(defn)
    model = shared.attach(FlowModel("c-7"), {"category": "fee", "major": True})
    assert model.state == "gm_review"  # `when major -> gm_review` on entry
    assert shared.fire(model, "handle", role="客服") is False
    assert shared.fire(model, "handle", role="总经理") is True
    assert model.state == "closed"
