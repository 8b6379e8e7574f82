"""The embedding API (`engine.engine.Engine`): what a host program sees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from conftest import CALENDARS, Harness, compile_flow, make_harness, sh

from engine.case import Case, Notification
from engine.clock import SimulatedClock, SystemClock
from engine.engine import Engine
from engine.errors import (
    EventRefused,
    FlowdeskError,
    FlowLoadError,
    FlowRuntimeError,
    InvalidData,
    NoGuardHolds,
    RoleNotAllowed,
    UnknownCase,
    UnknownEvent,
    UnknownFlow,
)

COMPLAINT = """
flow complaint "投诉"
roles: 客服, 主管, 工程部, 财务部
fields:
    category: choice(fee, facility)
    complainant: text
    phone: text?
    reply_count: int = 0
    nick: text?
    dept: text?
table department_for(category):
    "fee" -> "财务部"
table loop_guard(category):
    "fee" -> true
    else -> false
state received:
    enter: assign to 客服
    after 1h: notify 主管 "received an hour ago"
    on dispatch -> handling by 客服:
        notify department_for(category) "new case {id}"
    on broken -> handling by 客服:
        set complainant = nick
    on tell(dept) by 客服:
        notify dept "hello"
    on reply(reply_count) when reply_count > 0 by 客服, 主管
    on close -> closed by 客服
state handling:
    after 2h: escalate to 主管 "still open"
    on reply(reply_count) -> handling by 工程部
    on close -> closed by 客服, 主管
final closed
"""

GOOD = {"category": "fee", "complainant": "张三"}


@pytest.fixture
def h() -> Harness:
    return make_harness(COMPLAINT)


# ------------------------------------------------------------------ open / fire / get / history


def test_open_fire_get_history(h: Harness) -> None:
    case = h.engine.open("complaint", GOOD, "li", "客服")
    assert h.engine.get(case.id) is case
    assert case.state == "received"
    assert case.fields == {
        "category": "fee",
        "complainant": "张三",
        "phone": None,
        "reply_count": 0,
        "nick": None,
        "dept": None,
    }
    assert case.opened_at == sh(2026, 3, 2, 9, 0)
    assert case.assignee == "客服"
    h.advance(sh(2026, 3, 2, 9, 30))
    step = h.engine.fire(case.id, "dispatch", "li", "客服")
    assert step.case is case
    assert [(n.role, n.message) for n in step.notifications] == [("财务部", f"new case {case.id}")]
    assert h.engine.get(case.id).state == "handling"
    history = h.engine.history(case.id)
    assert [r.seq for r in history] == list(range(1, len(history) + 1))
    inputs = [
        (r.kind, r.what, r.actor, r.role, r.at) for r in history if r.kind in ("opened", "event")
    ]
    assert inputs == [
        ("opened", "case opened", "li", "客服", sh(2026, 3, 2, 9, 0)),
        ("event", "dispatch", "li", "客服", sh(2026, 3, 2, 9, 30)),
    ]
    history.clear()  # a copy: the case keeps its log
    assert h.engine.history(case.id)


def test_case_ids_are_distinct(h: Harness) -> None:
    ids = {h.open(GOOD).id for _ in range(5)}
    assert len(ids) == 5


def test_advance_fires_timers_and_moves_the_clock(h: Harness) -> None:
    case = h.open(GOOD)
    h.fire(case, "dispatch", "客服")
    steps = h.engine.advance(sh(2026, 3, 2, 12, 0))
    assert h.engine.clock.now() == sh(2026, 3, 2, 12, 0)
    assert len(steps) == 1
    assert case.escalations[0].at == sh(2026, 3, 2, 11, 0)
    assert h.engine.next_due() is None


def test_advance_needs_a_simulated_clock() -> None:
    engine = Engine(CALENDARS, SystemClock())
    with pytest.raises(TypeError):
        engine.advance(sh(2030, 1, 1))


def test_simulated_clock_refuses_to_go_backwards(h: Harness) -> None:
    case = h.open(GOOD)
    h.advance(sh(2026, 3, 2, 10, 0))
    with pytest.raises(ValueError, match="backwards"):
        h.advance(sh(2026, 3, 2, 9, 59))
    assert h.engine.clock.now() == sh(2026, 3, 2, 10, 0)
    assert case.state == "received"
    with pytest.raises(ValueError):
        SimulatedClock(datetime(2026, 3, 2, 9, 0))  # naive: refused


def test_notifiers_receive_every_notification_and_escalation(h: Harness) -> None:
    second: list[Notification] = []
    h.engine.add_notifier(second.append)
    case = h.open(GOOD)
    h.advance(sh(2026, 3, 2, 10, 30))  # the 1h reminder to 主管
    h.fire(case, "dispatch", "客服")  # 财务部
    h.advance(sh(2026, 3, 2, 13, 0))  # 12:30 escalation to 主管
    expected = [
        ("主管", "notify", sh(2026, 3, 2, 10, 0)),
        ("财务部", "notify", sh(2026, 3, 2, 10, 30)),
        ("主管", "escalation", sh(2026, 3, 2, 12, 30)),
    ]
    assert [(n.role, n.kind, n.at) for n in h.sent] == expected
    assert [(n.role, n.kind, n.at) for n in second] == expected
    assert case.notified == ("主管", "财务部", "主管")
    assert {n.case_id for n in second} == {case.id}


# ------------------------------------------------------------------ typed errors


def test_unknown_flow_lists_loaded_flows(h: Harness) -> None:
    h.engine.load(compile_flow("flow other\nroles: a\nstate s:\n    on go -> e\nfinal e\n"))
    with pytest.raises(UnknownFlow) as info:
        h.engine.open("complaints", GOOD)
    message = str(info.value)
    assert "complaints" in message and "complaint" in message and "other" in message


def test_unknown_event_lists_what_can_be_fired(h: Harness) -> None:
    case = h.open(GOOD)
    with pytest.raises(UnknownEvent) as info:
        h.fire(case, "reopen", "客服")
    assert set(info.value.allowed) == {"dispatch", "broken", "tell", "reply", "close"}
    for event in ("reopen", "received", "dispatch", "close"):
        assert event in str(info.value)


def test_role_not_allowed_lists_allowed_roles(h: Harness) -> None:
    case = h.open(GOOD)
    with pytest.raises(RoleNotAllowed) as info:
        h.fire(case, "reply", "工程部", {"reply_count": 1})
    assert set(info.value.allowed) == {"客服", "主管"}
    assert "工程部" in str(info.value) and "客服" in str(info.value) and "主管" in str(info.value)


def test_invalid_data_names_each_bad_field(h: Harness) -> None:
    with pytest.raises(InvalidData) as info:
        h.open({"category": "feee", "reply_count": "many", "phon": "123"})
    problems = info.value.problems
    assert set(problems) == {"category", "reply_count", "phon", "complainant"}
    assert "fee" in problems["category"] and "facility" in problems["category"]
    assert "phone" in problems["phon"]  # did you mean
    message = str(info.value)
    for name in problems:
        assert f"`{name}`" in message
    assert h.engine.cases == {}


def test_invalid_event_data_names_each_bad_field(h: Harness) -> None:
    case = h.open(GOOD)
    before = case.snapshot()
    with pytest.raises(InvalidData) as info:
        h.fire(case, "reply", "客服", {"reply_count": "two", "phone": "123", "colour": "red"})
    assert set(info.value.problems) == {"reply_count", "phone", "colour"}
    assert "reply_count" in info.value.problems["phone"]  # says what the event takes
    assert "whole number" in info.value.problems["reply_count"]
    assert case.snapshot() == before


def test_unknown_case(h: Harness) -> None:
    with pytest.raises(UnknownCase, match="nope"):
        h.engine.get("nope")
    with pytest.raises(UnknownCase):
        h.engine.fire("nope", "dispatch", "x", "客服")
    with pytest.raises(UnknownCase):
        h.engine.history("nope")


def test_errors_are_flowdesk_errors() -> None:
    for cls in (UnknownFlow, UnknownCase, UnknownEvent, RoleNotAllowed, NoGuardHolds, InvalidData):
        assert issubclass(cls, FlowdeskError)
    for cls in (UnknownEvent, RoleNotAllowed, NoGuardHolds, InvalidData):
        assert issubclass(cls, EventRefused)


# ------------------------------------------------------------------ refusals change nothing

REFUSALS: list[tuple[str, str, str | None, dict[str, Any] | None, type[Exception]]] = [
    ("unknown event", "reopen", "客服", None, UnknownEvent),
    ("role not allowed", "dispatch", "工程部", None, RoleNotAllowed),
    ("no role", "dispatch", None, None, RoleNotAllowed),
    ("no guard holds", "reply", "客服", {"reply_count": 0}, NoGuardHolds),
    ("bad type", "reply", "客服", {"reply_count": "two"}, InvalidData),
    ("not a param", "reply", "客服", {"reply_count": 1, "phone": "1"}, InvalidData),
    ("missing param", "reply", "客服", None, InvalidData),
    ("set fails", "broken", "客服", None, FlowRuntimeError),
    ("notify non-role", "tell", "客服", {"dept": "保安"}, FlowRuntimeError),
]


@pytest.mark.parametrize(
    ("event", "role", "data", "error"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_a_refused_event_leaves_the_case_exactly_as_it_was(
    h: Harness, event: str, role: str | None, data: dict[str, Any] | None, error: type[Exception]
) -> None:
    case = h.open(GOOD)
    h.advance(sh(2026, 3, 2, 9, 30))
    before = case.snapshot()
    history = len(h.engine.history(case.id))
    with pytest.raises(error) as info:
        h.engine.fire(case.id, event, "someone", role, data)
    assert str(info.value)
    assert case.snapshot() == before
    assert len(h.engine.history(case.id)) == history
    assert h.sent == []
    # the timers of the state it stayed in still fire, and only they
    h.advance(sh(2026, 3, 2, 12, 0))
    assert [(n.role, n.at) for n in h.sent] == [("主管", sh(2026, 3, 2, 10, 0))]
    assert case.state == "received"


def test_a_table_without_row_in_a_transition_is_refused_and_changes_nothing() -> None:
    h = make_harness(COMPLAINT)
    case = h.open({"category": "facility", "complainant": "李四"})
    before = case.snapshot()
    with pytest.raises(FlowRuntimeError, match="department_for"):
        h.fire(case, "dispatch", "客服")
    assert case.snapshot() == before


def test_an_automatic_loop_is_refused_and_changes_nothing() -> None:
    h = make_harness(
        """
        flow loop
        roles: a
        fields:
            n: int = 0
        state one:
            when n > 0 -> two
            on kick(n)
            on stop -> end
        state two:
            when n > 0 -> one
            on stop -> end
        final end
        """
    )
    case = h.open()
    before = case.snapshot()
    with pytest.raises(FlowRuntimeError, match="automatic"):
        h.fire(case, "kick", "a", {"n": 1})
    assert case.snapshot() == before


def test_a_refused_open_keeps_no_case(h: Harness) -> None:
    with pytest.raises(InvalidData):
        h.open({"category": "fee"})
    assert h.engine.cases == {}
    assert h.sent == []


# ------------------------------------------------------------------ timer failures


def test_a_failing_timer_is_dropped_with_a_note_and_the_rest_goes_on() -> None:
    h = make_harness(
        """
        flow failing
        roles: a
        fields:
            who: text?
        state waiting:
            after 1h: notify who "hi"
            after 2h: notify a "still here"
            on done -> end
        final end
        """
    )
    case = h.open({"who": "nobody"})
    h.advance(sh(2026, 3, 2, 12, 0))
    assert [(n.role, n.at) for n in h.sent] == [("a", sh(2026, 3, 2, 11, 0))]
    assert any("nobody" in r.what and r.kind == "note" for r in case.audit)
    assert case.timers == {}
    assert h.engine.replay(case.id).snapshot() == case.snapshot()


# ------------------------------------------------------------------ versions and hooks

V1 = """
flow repair
version 1
roles: a
state new:
    on go -> first
state first:
    on done -> end
final end
"""

V2 = """
flow repair
version 2
roles: a
state new:
    on go -> second
state second:
    on done -> end
final end
"""


def test_cases_keep_the_flow_version_they_started_with() -> None:
    h = make_harness(V1)
    old = h.open()
    h.engine.load(compile_flow(V2))
    new = h.open()
    assert (old.version, new.version) == (1, 2)
    h.fire(old, "go", "a")
    h.fire(new, "go", "a")
    assert (old.state, new.state) == ("first", "second")
    assert h.engine.runtime_of(old).definition.version == 1
    # loading the old version again does not make it serve new cases
    h.engine.load(compile_flow(V1))
    assert h.open().version == 2
    assert h.engine.replay(old.id).snapshot() == old.snapshot()


def test_hooks_must_be_registered_before_loading() -> None:
    text = """
        flow hooked
        roles: a
        fields:
            n: int = 1
        state s:
            on go -> end:
                call ping(n + 1, id)
        final end
        """
    definition = compile_flow(text)
    engine = Engine(CALENDARS, SimulatedClock(sh(2026, 3, 2, 9)))
    with pytest.raises(FlowLoadError, match="ping"):
        engine.load(definition)
    assert "hooked" not in engine.flows
    calls: list[tuple[Any, ...]] = []
    engine.register_hook("ping", lambda *args: calls.append(args))
    engine.load(definition)
    case = engine.open("hooked")
    engine.fire(case.id, "go", "x", "a")
    assert calls == [(2, case.id)]


def test_unknown_calendar_is_a_load_error() -> None:
    definition = compile_flow(
        "flow c\ncalendar office\nroles: a\nstate s:\n    on go -> e\nfinal e\n"
    )
    engine = Engine({}, SimulatedClock(sh(2026, 3, 2, 9)))
    with pytest.raises(FlowLoadError, match="office"):
        engine.load(definition)


# ------------------------------------------------------------------ replay


def test_replay_rebuilds_the_case_from_its_log() -> None:
    h = make_harness(
        """
        flow replayed
        calendar office
        roles: a, b
        fields:
            n: int = 0
        sla answer within 4 working hours from open until done:
            warn at 50%: notify b "half"
            breach: escalate to b "late"
        state open:
            every 1 working hour at most 3 times: notify a "poll {n}"
            on bump(n) by a:
                emit check
            on check when n > 2 -> review
            on check
            on finish -> done
        state review:
            task sign by b within 1 working day
            when all tasks done -> done
        final done
        """,
        at=sh(2026, 3, 6, 15, 0),
    )
    case = h.open()
    h.advance(sh(2026, 3, 6, 16, 30))
    h.fire(case, "bump", "a", {"n": 1})
    h.advance(sh(2026, 3, 9, 10, 0))
    h.fire(case, "bump", "a", {"n": 5})
    assert case.state == "review"
    h.advance(sh(2026, 3, 11))
    assert h.engine.replay(case.id).snapshot() == case.snapshot()
    h.fire(case, "sign", "b")
    assert case.state == "done"
    replayed = h.engine.replay(case.id)
    assert replayed is not case
    assert replayed.snapshot() == case.snapshot()


def test_engine_open_runs_past_at_timers_at_once() -> None:
    h = make_harness(
        """
        flow late
        roles: a
        fields:
            t: datetime
        state s:
            at t: notify a "now"
            on done -> end
        final end
        """
    )
    case: Case = h.open({"t": "2026-03-01 12:00"})
    assert [(n.role, n.at) for n in h.sent] == [("a", sh(2026, 3, 2, 9, 0))]
    assert h.engine.replay(case.id).snapshot() == case.snapshot()
