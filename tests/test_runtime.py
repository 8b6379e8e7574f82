"""The runtime, one small flow per construct of flow-language.md §3–§8.

Every test drives an Engine on a SimulatedClock (Shanghai time) and asserts what a process
owner would see: states, fields, notifications with their times, escalations, SLA clocks,
tasks and the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from conftest import Harness, make_harness, sh

from engine.case import Case
from engine.errors import (
    FlowLoadError,
    FlowRuntimeError,
    InvalidData,
    NoGuardHolds,
    RoleNotAllowed,
    UnknownEvent,
)


def notes(case: Case) -> list[str]:
    return [r.what for r in case.audit if r.kind == "note"]


def refused(h: Harness, case: Case, event: str, role: str | None, data: dict | None = None):
    """Fire an event that must be refused; assert the case did not change; return the error."""
    before = case.snapshot()
    with pytest.raises(Exception) as info:
        h.fire(case, event, role, data)
    assert case.snapshot() == before
    return info.value


# ============================================================== §3 events and parameters

EVENTS = """
flow ev
roles: agent, lead
fields:
    n: int = 0
    remark: text?
    level: int?
    category: choice(fee, facility)
state open:
    on note(remark, level?) by agent:
        record "note {remark}/{level}"
    on move(n) when n > 5 -> big by agent, lead
    on move(n) when n > 0 -> small by agent
    on anyone -> small
final big
final small
"""


def test_required_and_optional_params_set_fields() -> None:
    h = make_harness(EVENTS)
    case = h.open({"category": "fee"})
    h.fire(case, "note", "agent", {"remark": "first"})
    assert case.fields["remark"] == "first"
    assert case.fields["level"] is None
    h.fire(case, "note", "agent", {"remark": "second", "level": 3})
    assert (case.fields["remark"], case.fields["level"]) == ("second", 3)
    assert notes(case) == ["note first/", "note second/3"]
    assert case.state == "open"


def test_missing_required_param_is_refused_and_named() -> None:
    h = make_harness(EVENTS)
    case = h.open({"category": "fee"})
    error = refused(h, case, "note", "agent", {"level": 2})
    assert isinstance(error, InvalidData)
    assert set(error.problems) == {"remark"}
    assert "remark" in str(error)


def test_an_event_may_set_no_other_field() -> None:
    h = make_harness(EVENTS)
    case = h.open({"category": "fee"})
    error = refused(h, case, "note", "agent", {"remark": "x", "category": "facility"})
    assert isinstance(error, InvalidData)
    assert set(error.problems) == {"category"}
    assert case.fields["category"] == "fee"


def test_param_of_wrong_type_is_refused() -> None:
    h = make_harness(EVENTS)
    case = h.open({"category": "fee"})
    error = refused(h, case, "note", "agent", {"remark": "x", "level": "high"})
    assert isinstance(error, InvalidData)
    assert set(error.problems) == {"level"}


def test_event_data_is_applied_before_when_and_discarded_when_refused() -> None:
    h = make_harness(EVENTS)
    case = h.open({"category": "fee"})
    # n = 0 at open; `when n > 5` reads the event's n, not the stored one
    error = refused(h, case, "move", "lead", {"n": 3})  # lead may only take the n > 5 line
    assert isinstance(error, NoGuardHolds)
    assert case.fields["n"] == 0
    h.fire(case, "move", "lead", {"n": 9})
    assert case.state == "big"
    assert case.fields["n"] == 9


def test_guards_are_tried_in_file_order() -> None:
    h = make_harness(EVENTS)
    case = h.open({"category": "fee"})
    h.fire(case, "move", "agent", {"n": 9})  # both `n > 5` and `n > 0` hold: the first wins
    assert case.state == "big"
    other = h.open({"category": "fee"})
    h.fire(other, "move", "agent", {"n": 2})
    assert other.state == "small"


def test_by_roles_are_enforced_and_no_by_means_anyone() -> None:
    h = make_harness(EVENTS)
    case = h.open({"category": "fee"})
    error = refused(h, case, "note", "lead", {"remark": "x"})
    assert isinstance(error, RoleNotAllowed)
    assert "agent" in str(error)
    error = refused(h, case, "note", None, {"remark": "x"})
    assert isinstance(error, RoleNotAllowed)
    h.fire(case, "anyone", None)
    assert case.state == "small"


def test_unknown_event_is_refused() -> None:
    h = make_harness(EVENTS)
    case = h.open({"category": "fee"})
    error = refused(h, case, "close", "agent")
    assert isinstance(error, UnknownEvent)
    assert "note" in str(error) and "move" in str(error)


# ============================================================== internal vs self-transition

LOOPS = """
flow loops
roles: agent
fields:
    remark: text?
    entries: int = 0
state working:
    enter: set entries = entries + 1
    exit: record "exit working"
    after 1h: notify agent "an hour in working"
    task check by agent
    on note(remark):
        record "noted {remark}"
    on restart -> working:
        record "restarting"
    on finish -> done
final done
"""


def test_internal_transition_keeps_state_and_does_not_rearm_timers() -> None:
    h = make_harness(LOOPS)
    case = h.open()
    due = case.timers["T:working#1"].due
    assert due == sh(2026, 3, 2, 10, 0)
    h.advance(sh(2026, 3, 2, 9, 40))
    h.fire(case, "note", "agent", {"remark": "call back"})
    assert case.state == "working"
    assert case.fields["entries"] == 1  # `enter` did not run again
    assert "exit working" not in notes(case)  # nor did `exit`
    assert case.timers["T:working#1"].due == due
    h.advance(sh(2026, 3, 2, 10, 0))
    assert [(n.at, n.role) for n in h.sent] == [(sh(2026, 3, 2, 10, 0), "agent")]


def test_self_transition_exits_reenters_rearms_timers_and_resets_tasks() -> None:
    h = make_harness(LOOPS)
    case = h.open()
    h.fire(case, "check", "agent")
    assert case.tasks == {"check": "done"}
    h.advance(sh(2026, 3, 2, 9, 40))
    h.fire(case, "restart", "agent")
    assert case.state == "working"
    assert case.fields["entries"] == 2
    assert case.tasks == {"check": "open"}
    assert case.timers["T:working#1"].due == sh(2026, 3, 2, 10, 40)
    h.advance(sh(2026, 3, 2, 10, 39))
    assert h.sent == []  # the 10:00 wake-up of the first entry is gone
    h.advance(sh(2026, 3, 2, 10, 40))
    assert [n.at for n in h.sent] == [sh(2026, 3, 2, 10, 40)]


def test_exit_then_transition_actions_then_enter() -> None:
    h = make_harness(
        """
        flow order
        roles: agent
        state a:
            exit: record "exit a"
            on go -> b:
                record "on go"
        state b:
            enter: record "enter b"
            on done -> end
        final end
        """
    )
    case = h.open()
    h.fire(case, "go", "agent")
    assert notes(case) == ["exit a", "on go", "enter b"]
    kinds = [r.kind for r in case.audit]
    assert kinds.index("event") < kinds.index("note")


# ============================================================== automatic `when`


AUTO = """
flow auto
roles: agent
fields:
    score: int = 0
    major: bool = false
state start:
    when major -> review
    when score >= 10 -> high
    when score >= 5 -> medium
    on rate(score) by agent
    on flag(major) by agent
    after 1h:
        set score = 7
    on done -> closed
state review:
    on done -> closed
state high:
    on done -> closed
state medium:
    on done -> closed
final closed
"""


def test_automatic_when_on_entry() -> None:
    h = make_harness(AUTO)
    case = h.open({"major": True})
    assert case.state == "review"
    assert [r.kind for r in case.audit][:2] == ["opened", "automatic"]


def test_automatic_when_after_a_data_change_in_file_order() -> None:
    h = make_harness(AUTO)
    case = h.open()
    assert case.state == "start"
    h.fire(case, "rate", "agent", {"score": 12})  # both score lines hold: the first wins
    assert case.state == "high"
    other = h.open()
    h.fire(other, "rate", "agent", {"score": 6})
    assert other.state == "medium"


def test_automatic_when_in_file_order_before_later_lines() -> None:
    h = make_harness(AUTO)
    case = h.open({"score": 0})
    h.fire(case, "flag", "agent", {"major": True})
    assert case.state == "review"


def test_automatic_when_after_a_timer() -> None:
    h = make_harness(AUTO)
    case = h.open()
    h.advance(sh(2026, 3, 2, 9, 59))
    assert case.state == "start"
    h.advance(sh(2026, 3, 2, 10, 0))
    assert case.state == "medium"
    automatic = [r for r in case.audit if r.kind == "automatic"]
    assert [(r.at, r.before, r.after) for r in automatic] == [
        (sh(2026, 3, 2, 10, 0), "start", "medium")
    ]


def test_automatic_when_after_an_event_entering_a_state() -> None:
    h = make_harness(
        """
        flow entry
        roles: agent
        fields:
            urgent: bool = true
        state a:
            on go -> b
        state b:
            when urgent -> c
            on done -> end
        state c:
            on done -> end
        final end
        """
    )
    case = h.open()
    h.fire(case, "go", "agent")
    assert case.state == "c"


LOOP = """
flow loop
roles: agent
fields:
    n: int = 0
state a:
    when n > 0 -> b
    on kick(n) by agent
    on stop -> end
state b:
    when n > 0 -> a
    on stop -> end
final end
"""


def test_more_than_100_automatic_steps_is_a_runtime_error_and_rolled_back() -> None:
    h = make_harness(LOOP)
    case = h.open()
    before = case.snapshot()
    with pytest.raises(FlowRuntimeError, match="100"):
        h.fire(case, "kick", "agent", {"n": 1})
    assert case.snapshot() == before
    assert case.state == "a" and case.fields["n"] == 0


def test_a_step_saves_every_case_attribute_it_may_change_in_order() -> None:
    """`_Ctx` spells `_SAVED` out (for speed): a new Case attribute is saved too."""
    from engine.runtime import _SAVED, _Ctx

    now = datetime(2026, 1, 5, 9, 0)
    case = Case("c", "f", 1, "h", "s", {}, now, now)
    markers = [object() for _ in _SAVED]
    for name, marker in zip(_SAVED, markers, strict=True):
        setattr(case, name, marker)
    saved = _Ctx(case, now, None, None).saved
    assert len(saved) == len(markers)
    assert all(a is b for a, b in zip(saved, markers, strict=True))


# ============================================================== §4 actions

ACTIONS = """
flow acts
roles: agent, lead, 工程部, 财务部
fields:
    category: choice(fee, facility)
    dept: text?
    name: text
    nick: text?
    count: int = 0
table owner_of(category):
    "fee" -> "财务部"
    "facility" -> "工程部"
state open:
    on set_nick_from_missing:
        set name = nick
    on bump:
        set count = count + 1
    on tell_role: notify agent, lead "case {id} for {name}"
    on tell_field(dept): notify dept "to the department"
    on tell_table: notify owner_of(category) "by table"
    on assign_it: assign to owner_of(category)
    on escalate_it: escalate to lead "too slow"
    on escalate_plain: escalate to 工程部
    on ask_callback: callback "回访" to agent within 2h
    on callback_done -> closed
    on log: record "count is {count}"
final closed
"""


def test_set_evaluates_and_stores() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "fee", "name": "张三"})
    h.fire(case, "bump", "agent")
    h.fire(case, "bump", "agent")
    assert case.fields["count"] == 2


def test_set_failing_type_validation_is_rolled_back() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "fee", "name": "张三"})
    before = case.snapshot()
    with pytest.raises(FlowRuntimeError, match="name"):
        h.fire(case, "set_nick_from_missing", "agent")  # `name` is required: null refused
    assert case.snapshot() == before


def test_notify_roles_with_message_placeholders() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "fee", "name": "张三"})
    h.fire(case, "tell_role", "agent")
    assert h.messages() == [
        ("agent", f"case {case.id} for 张三"),
        ("lead", f"case {case.id} for 张三"),
    ]
    assert case.notified == ("agent", "lead")
    assert all(n.at == sh(2026, 3, 2, 9, 0) and n.case_id == case.id for n in h.sent)


def test_notify_a_field_naming_a_role() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "fee", "name": "张三"})
    h.fire(case, "tell_field", "agent", {"dept": "工程部"})
    assert h.messages() == [("工程部", "to the department")]


def test_notify_a_table_call() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "facility", "name": "张三"})
    h.fire(case, "tell_table", "agent")
    assert h.messages() == [("工程部", "by table")]


def test_notify_a_field_that_is_not_a_role_is_a_runtime_error_rolled_back() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "fee", "name": "张三"})
    before = case.snapshot()
    with pytest.raises(FlowRuntimeError, match="保洁部"):
        h.fire(case, "tell_field", "agent", {"dept": "保洁部"})
    assert case.snapshot() == before
    assert case.fields["dept"] is None
    assert h.sent == []


def test_assign_to_sets_the_assignee() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "facility", "name": "张三"})
    assert case.assignee is None
    h.fire(case, "assign_it", "agent")
    assert case.assignee == "工程部"


def test_escalate_raises_level_records_and_notifies() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "fee", "name": "张三"})
    h.advance(sh(2026, 3, 2, 9, 30))
    h.fire(case, "escalate_it", "agent")
    h.fire(case, "escalate_plain", "agent")
    assert case.escalation_level == 2
    assert [(e.level, e.role, e.reason, e.at) for e in case.escalations] == [
        (1, "lead", "too slow", sh(2026, 3, 2, 9, 30)),
        (2, "工程部", None, sh(2026, 3, 2, 9, 30)),
    ]
    assert [(n.role, n.kind) for n in h.sent] == [("lead", "escalation"), ("工程部", "escalation")]
    assert h.sent[0].message == "too slow"
    escalate_records = [r.what for r in case.audit if r.kind == "escalate"]
    assert len(escalate_records) == 2 and escalate_records[0].endswith("too slow")


def test_callback_opened_and_closed_by_callback_done() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "fee", "name": "张三"})
    h.fire(case, "ask_callback", "agent")
    assert len(case.callbacks) == 1
    callback = case.callbacks[0]
    assert (callback.label, callback.role) == ("回访", "agent")
    assert callback.due == sh(2026, 3, 2, 11, 0)
    assert callback.done_at is None
    h.advance(sh(2026, 3, 2, 10, 15))
    h.fire(case, "callback_done", "agent")
    assert case.callbacks[0].done_at == sh(2026, 3, 2, 10, 15)
    assert case.state == "closed"


def test_record_adds_an_audit_note() -> None:
    h = make_harness(ACTIONS)
    case = h.open({"category": "fee", "name": "张三", "count": 4})
    h.fire(case, "log", "agent")
    assert notes(case) == ["count is 4"]


EMIT = """
flow emitting
roles: agent, lead
state a:
    on go -> b by agent:
        emit next
        record "after emit"
    on try_missing by agent:
        emit nothing_here
state b:
    enter: record "enter b"
    on next -> c by lead
state c:
    on done -> end
final end
"""


def test_emit_fires_after_the_step_completes() -> None:
    h = make_harness(EMIT)
    case = h.open()
    h.fire(case, "go", "agent")
    assert case.state == "c"  # `next` is allowed only to lead: an emitted event is the flow's
    events = [(r.what, r.before, r.after) for r in case.audit if r.kind == "event"]
    assert events == [("go", "a", "b"), ("next", "b", "c")]
    # the emitted event ran after the whole step, including b's `enter`
    whats = [r.what for r in case.audit]
    assert whats.index("enter b") < whats.index("next")
    assert whats.index("after emit") < whats.index("next")


def test_emit_of_an_event_the_state_does_not_take_is_noted_not_fatal() -> None:
    h = make_harness(EMIT)
    case = h.open()
    h.fire(case, "try_missing", "agent")
    assert case.state == "a"
    assert any("nothing_here" in n for n in notes(case))


HOOKS = """
flow hooked
roles: agent
fields:
    amount: int = 5
state a:
    on pay(amount) -> end:
        call charge(id, amount * 2, "CNY")
final end
"""


def test_call_runs_a_registered_hook_with_evaluated_args() -> None:
    seen: list[tuple] = []
    h = make_harness(HOOKS, hooks={"charge": lambda *args: seen.append(args)})
    case = h.open()
    h.fire(case, "pay", "agent", {"amount": 21})
    assert seen == [(case.id, 42, "CNY")]


def test_call_hook_not_run_when_the_step_is_refused() -> None:
    seen: list[tuple] = []
    h = make_harness(HOOKS, hooks={"charge": lambda *args: seen.append(args)})
    case = h.open()
    with pytest.raises(InvalidData):
        h.fire(case, "pay", "agent", {"amount": "lots"})
    assert seen == []


def test_loading_a_flow_calling_an_unregistered_hook_fails() -> None:
    with pytest.raises(FlowLoadError, match="charge"):
        make_harness(HOOKS)


# ============================================================== §5 timers


def delivered(h: Harness) -> list[tuple[datetime, str, str]]:
    return h.sent_at()


def test_after_elapsed_and_working_durations() -> None:
    h = make_harness(
        """
        flow afters
        calendar office
        roles: r1, r2, r3, r4
        state waiting:
            after 30m: notify r1 "30m"
            after 3 working hours: notify r2 "3wh"
            after 4工作小时: notify r3 "4wh"
            after 2 working days: notify r4 "2wd"
            on done -> end
        final end
        """,
        at=sh(2026, 3, 2, 9, 0),  # Monday
    )
    h.open()
    h.advance(sh(2026, 3, 6, 0, 0))
    assert delivered(h) == [
        (sh(2026, 3, 2, 9, 30), "r1", "30m"),
        (sh(2026, 3, 2, 12, 0), "r2", "3wh"),  # lands on the 12:00 close: stays there
        (sh(2026, 3, 2, 14, 0), "r3", "4wh"),  # 9-12, then one hour after lunch
        (sh(2026, 3, 4, 9, 0), "r4", "2wd"),
    ]


def test_after_working_time_across_national_day() -> None:
    h = make_harness(
        """
        flow national
        calendar office
        roles: r1, r2
        state waiting:
            after 2 working days: notify r1 "2wd"
            after 4 working hours: notify r2 "4wh"
            on done -> end
        final end
        """,
        at=sh(2026, 9, 30, 16, 0),
    )
    h.open()
    h.advance(sh(2026, 10, 12, 0, 0))
    # 16:00 + 4 working hours: 1h on Wed, then Thu 10-08 08:00 + 3h = 11:00
    assert delivered(h) == [
        (sh(2026, 10, 8, 11, 0), "r2", "4wh"),
        (sh(2026, 10, 9, 16, 0), "r1", "2wd"),
    ]


def test_after_with_target_moves_the_case() -> None:
    h = make_harness(
        """
        flow timeout
        roles: agent
        state waiting:
            after 48h -> overdue
            on done -> end
        state overdue:
            enter: notify agent "overdue"
            on done -> end
        final end
        """
    )
    case = h.open()
    h.advance(sh(2026, 3, 4, 8, 59))
    assert case.state == "waiting"
    h.advance(sh(2026, 3, 4, 9, 0))
    assert case.state == "overdue"
    assert delivered(h) == [(sh(2026, 3, 4, 9, 0), "agent", "overdue")]


def test_every_with_at_most_n_times() -> None:
    h = make_harness(
        """
        flow repeat
        roles: agent
        state waiting:
            every 1h at most 3 times: notify agent "again"
            on done -> end
        final end
        """
    )
    case = h.open()
    h.advance(sh(2026, 3, 3, 9, 0))
    assert [t for t, _, _ in delivered(h)] == [
        sh(2026, 3, 2, 10, 0),
        sh(2026, 3, 2, 11, 0),
        sh(2026, 3, 2, 12, 0),
    ]
    assert not case.timers


def test_every_without_bound_repeats_while_in_state() -> None:
    h = make_harness(
        """
        flow repeat
        calendar office
        roles: agent
        state waiting:
            every 1 working day: notify agent "again"
            on done -> end
        final end
        """,
        at=sh(2026, 3, 5, 10, 0),  # Thursday
    )
    case = h.open()
    h.advance(sh(2026, 3, 10, 12, 0))
    assert [t for t, _, _ in delivered(h)] == [
        sh(2026, 3, 6, 10, 0),
        sh(2026, 3, 9, 10, 0),  # the weekend is skipped
        sh(2026, 3, 10, 10, 0),
    ]
    h.fire(case, "done", "agent")
    h.advance(sh(2026, 3, 20, 12, 0))
    assert len(h.sent) == 3


def test_wall_clock_timers() -> None:
    h = make_harness(
        """
        flow walls
        calendar office
        roles: daily, working, monday, monthly
        state waiting:
            every day at 08:30: notify daily "d"
            every working day at 17:30: notify working "w"
            every monday at 09:00: notify monday "m"
            every month on day 15 at 10:00: notify monthly "n"
            on done -> end
        final end
        """,
        at=sh(2026, 3, 5, 9, 0),  # Thursday
    )
    h.open()
    h.advance(sh(2026, 4, 15, 12, 0))
    by_role: dict[str, list[datetime]] = {}
    for at, role, _ in delivered(h):
        by_role.setdefault(role, []).append(at)
    assert by_role["daily"][:4] == [
        sh(2026, 3, 6, 8, 30),
        sh(2026, 3, 7, 8, 30),
        sh(2026, 3, 8, 8, 30),
        sh(2026, 3, 9, 8, 30),
    ]
    assert len(by_role["daily"]) == 41  # Mar 6 … Apr 15
    assert by_role["working"][:3] == [
        sh(2026, 3, 5, 17, 30),
        sh(2026, 3, 6, 17, 30),
        sh(2026, 3, 9, 17, 30),  # not on Sat/Sun
    ]
    assert sh(2026, 4, 6, 17, 30) not in by_role["working"]  # Qingming holiday (Apr 4-6)
    assert by_role["monday"] == [sh(2026, 3, d, 9, 0) for d in (9, 16, 23, 30)] + [
        sh(2026, 4, d, 9, 0) for d in (6, 13)
    ]
    assert by_role["monthly"] == [sh(2026, 3, 15, 10, 0), sh(2026, 4, 15, 10, 0)]


AT = """
flow visits
roles: agent, 维护员
fields:
    appointment: datetime?
state waiting:
    at appointment - 10m: notify 维护员 "10分钟后上门"
    on done -> end
final end
"""


def test_at_expression_fires_at_the_given_time() -> None:
    h = make_harness(AT)
    case = h.open({"appointment": "2026-03-02 15:00"})
    assert case.timers["T:waiting#1"].due == sh(2026, 3, 2, 14, 50)
    h.advance(sh(2026, 3, 2, 14, 49))
    assert h.sent == []
    h.advance(sh(2026, 3, 2, 14, 50))
    assert delivered(h) == [(sh(2026, 3, 2, 14, 50), "维护员", "10分钟后上门")]


def test_at_already_past_fires_at_once() -> None:
    h = make_harness(AT)
    case = h.open({"appointment": "2026-03-01 08:00"})
    assert delivered(h) == [(sh(2026, 3, 2, 9, 0), "维护员", "10分钟后上门")]
    assert not case.timers


def test_at_on_an_unset_field_is_not_armed() -> None:
    h = make_harness(AT)
    case = h.open()
    assert case.timers == {}
    h.advance(sh(2026, 4, 1))
    assert h.sent == []


def test_same_instant_timers_fire_in_file_order() -> None:
    h = make_harness(
        """
        flow ties
        roles: zeta, alpha, mid
        fields:
            when_at: datetime?
        state waiting:
            after 1h: notify zeta "first"
            at when_at: notify mid "second"
            after 60m: notify alpha "third"
            on done -> end
        final end
        """
    )
    h.open({"when_at": "2026-03-02 10:00"})
    h.advance(sh(2026, 3, 2, 11, 0))
    assert delivered(h) == [
        (sh(2026, 3, 2, 10, 0), "zeta", "first"),
        (sh(2026, 3, 2, 10, 0), "mid", "second"),
        (sh(2026, 3, 2, 10, 0), "alpha", "third"),
    ]


def test_timers_are_cancelled_on_leaving_the_state() -> None:
    h = make_harness(
        """
        flow leave
        roles: agent
        state waiting:
            after 1h: notify agent "too late"
            every 10m: notify agent "poll"
            on go -> next
        state next:
            on done -> end
        final end
        """
    )
    case = h.open()
    h.advance(sh(2026, 3, 2, 9, 15))
    h.fire(case, "go", "agent")
    assert case.timers == {}
    h.advance(sh(2026, 3, 3, 9, 0))
    assert delivered(h) == [(sh(2026, 3, 2, 9, 10), "agent", "poll")]


def test_catch_up_fires_due_timers_in_due_order_at_their_due_times() -> None:
    h = make_harness(
        """
        flow catchup
        calendar office
        roles: a, b, c
        state waiting:
            after 2 working days: notify a "2wd"
            every 4h at most 2 times: notify b "poll"
            after 1 working hours: notify c "1wh"
            on done -> end
        final end
        """,
        at=sh(2026, 3, 6, 16, 30),  # Friday afternoon
    )
    case = h.open()
    h.advance(sh(2026, 3, 20, 0, 0))  # one jump, far past everything
    expected = [
        (sh(2026, 3, 6, 20, 30), "b", "poll"),
        (sh(2026, 3, 7, 0, 30), "b", "poll"),
        (sh(2026, 3, 9, 8, 30), "c", "1wh"),  # 30 min on Friday, 30 min on Monday
        (sh(2026, 3, 10, 16, 30), "a", "2wd"),
    ]
    assert delivered(h) == expected
    timers = [r for r in case.audit if r.kind == "timer"]
    assert [r.at for r in timers] == [t for t, _, _ in expected]
    assert all(r.data is None for r in timers)  # on time: `at` is the due time


def test_estimated_deadline_note_for_a_2027_deadline_on_a_cn_calendar() -> None:
    text = """
        flow newyear
        calendar office
        roles: agent
        state waiting:
            after 1 working day: notify agent "due"
            on done -> end
        final end
        """
    # Dec 31 is an extra holiday; 2027 is past the official data: Jan 1 2027 is a guess
    h = make_harness(text, at=sh(2026, 12, 30, 10, 0))
    case = h.open()
    assert case.timers["T:waiting#1"].due == sh(2027, 1, 1, 10, 0)
    assert case.timers["T:waiting#1"].estimated
    estimated = [n for n in notes(case) if "estimated" in n]
    assert len(estimated) == 1 and "2027" in estimated[0]
    # a deadline inside the official data gets no such note
    h2 = make_harness(text, at=sh(2026, 12, 1, 10, 0))
    case2 = h2.open()
    assert not case2.timers["T:waiting#1"].estimated
    assert not any("estimated" in n for n in notes(case2))


# ============================================================== §6 SLAs

SLA_REPLY = """
flow slas
calendar office
roles: agent, boss
sla reply "答复" within 4 working hours from open until answered, closed:
    warn at 75%: notify boss "75% used"
    warn 2h before: notify agent "2h left"
    breach: escalate to boss "reply late"
state new:
    on start -> open by agent
state open:
    on answer -> answered by agent
    on close -> closed
state answered:
    on close -> closed
final closed
"""


def test_sla_starts_on_first_entry_to_from_state() -> None:
    h = make_harness(SLA_REPLY)
    case = h.open()
    assert "reply" not in case.slas or case.slas["reply"].status == "pending"
    h.advance(sh(2026, 3, 2, 10, 0))
    h.fire(case, "start", "agent")
    clock = case.slas["reply"]
    assert clock.status == "running"
    assert clock.started_at == sh(2026, 3, 2, 10, 0)
    assert clock.deadline == sh(2026, 3, 2, 15, 0)  # 10-12 and 13-15


def test_sla_stops_on_until_and_is_met() -> None:
    h = make_harness(SLA_REPLY)
    case = h.open()
    h.advance(sh(2026, 3, 2, 10, 0))
    h.fire(case, "start", "agent")
    h.advance(sh(2026, 3, 2, 11, 0))
    h.fire(case, "answer", "agent")
    assert case.slas["reply"].status == "met"
    assert case.slas["reply"].ended_at == sh(2026, 3, 2, 11, 0)
    h.advance(sh(2026, 3, 5, 0, 0))
    assert h.sent == [] and case.escalations == ()
    assert case.slas["reply"].status == "met"


def test_sla_warnings_and_breach_at_working_times() -> None:
    h = make_harness(SLA_REPLY)
    case = h.open()
    h.advance(sh(2026, 3, 2, 10, 0))
    h.fire(case, "start", "agent")
    h.advance(sh(2026, 3, 3, 0, 0))
    assert delivered(h) == [
        (sh(2026, 3, 2, 12, 0), "agent", "2h left"),  # 2 working hours before 15:00
        (sh(2026, 3, 2, 14, 0), "boss", "75% used"),  # 3 of 4 working hours
        (sh(2026, 3, 2, 15, 0), "boss", "reply late"),
    ]
    assert case.slas["reply"].status == "breached"
    assert [e.role for e in case.escalations] == ["boss"]
    h.fire(case, "answer", "agent")
    assert case.slas["reply"].status == "breached"  # stays breached


def test_sla_paused_time_does_not_count_in_working_time() -> None:
    h = make_harness(
        """
        flow paused
        calendar office
        roles: agent, boss
        sla solve within 2 working days from open until done pause in waiting:
            warn at 50%: notify agent "half"
            breach: escalate to boss "late"
        state open:
            on wait -> waiting
            on finish -> done
        state waiting:
            on resume -> open
        final done
        """,
        at=sh(2026, 3, 2, 14, 0),  # Monday
    )
    case = h.open()
    # 2 working days = 16 open hours; deadline Wed 14:00 without pause
    assert case.slas["solve"].deadline == sh(2026, 3, 4, 14, 0)
    h.advance(sh(2026, 3, 2, 16, 0))  # 2h used
    h.fire(case, "wait", "agent")
    assert case.slas["solve"].status == "paused"
    h.advance(sh(2026, 3, 4, 16, 0))  # far past the unpaused deadline: nothing fires
    assert h.sent == [] and case.slas["solve"].status == "paused"
    h.fire(case, "resume", "agent")  # Wed 16:00; 14 open hours remain
    clock = case.slas["solve"]
    assert clock.status == "running"
    # Wed 16-17 (1h), Thu 8h, Fri 08-12 (4h) + 13:00-14:00 (1h) = 14h
    assert clock.deadline == sh(2026, 3, 6, 14, 0)
    h.advance(sh(2026, 3, 7, 0, 0))
    assert delivered(h) == [
        (sh(2026, 3, 5, 14, 0), "agent", "half"),  # 8h: Mon 2 + Wed 1 + Thu 08-12, 13-14
        (sh(2026, 3, 6, 14, 0), "boss", "late"),
    ]


def test_elapsed_and_working_slas_differ() -> None:
    h = make_harness(
        """
        flow clocks
        calendar office
        roles: agent
        sla elapsed within 24h from open until done:
            warn 2h before: notify agent "elapsed 2h left"
            breach: notify agent "elapsed breached"
        sla business within 8 working hours from open until done:
            warn 1 working day before: notify agent "never: whole budget"
            breach: notify agent "business breached"
        sla days within 3 working days from open until done:
            warn 1 working day before: notify agent "days 1 left"
        state open:
            on finish -> done
        final done
        """,
        at=sh(2026, 3, 6, 10, 0),  # Friday
    )
    case = h.open()
    assert case.slas["elapsed"].deadline == sh(2026, 3, 7, 10, 0)
    assert case.slas["business"].deadline == sh(2026, 3, 9, 10, 0)
    assert case.slas["days"].deadline == sh(2026, 3, 11, 10, 0)
    h.advance(sh(2026, 3, 11, 9, 59))
    assert delivered(h) == [
        (sh(2026, 3, 6, 10, 0), "agent", "never: whole budget"),
        (sh(2026, 3, 7, 8, 0), "agent", "elapsed 2h left"),
        (sh(2026, 3, 7, 10, 0), "agent", "elapsed breached"),
        (sh(2026, 3, 9, 10, 0), "agent", "business breached"),
        (sh(2026, 3, 10, 10, 0), "agent", "days 1 left"),
    ]
    assert {k: v.status for k, v in case.slas.items()} == {
        "elapsed": "breached",
        "business": "breached",
        "days": "running",
    }
    h.advance(sh(2026, 3, 11, 10, 0))
    assert case.slas["days"].status == "breached"


# ============================================================== §7 tasks

TASKS = """
flow tasks
calendar office
roles: eng, rel, boss
state prep:
    task inspection "设施检查" by eng within 1 working day:
        overdue: escalate to boss "验房超期"
    task documents "签收文件" by rel
    task anyone_task
    when all tasks done -> ready
    on restart -> prep by boss
state ready:
    on finish -> done by rel
final done
"""


def test_task_completed_by_its_role_and_refused_to_others() -> None:
    h = make_harness(TASKS, at=sh(2026, 3, 2, 10, 0))
    case = h.open()
    assert case.tasks == {"inspection": "open", "documents": "open", "anyone_task": "open"}
    error = refused(h, case, "documents", "eng")
    assert isinstance(error, RoleNotAllowed)
    h.fire(case, "documents", "rel")
    assert case.tasks["documents"] == "done"
    error = refused(h, case, "documents", "rel")  # done once: no longer possible
    assert isinstance(error, UnknownEvent)
    h.fire(case, "anyone_task", None)
    assert case.state == "prep"
    h.fire(case, "inspection", "eng")
    assert case.state == "ready"


def test_task_overdue_at_the_right_time_runs_its_actions() -> None:
    h = make_harness(TASKS, at=sh(2026, 3, 2, 10, 0))
    case = h.open()
    h.advance(sh(2026, 3, 3, 9, 59))
    assert case.tasks["inspection"] == "open" and case.escalations == ()
    h.advance(sh(2026, 3, 3, 10, 1))
    assert case.tasks["inspection"] == "overdue"
    assert [(e.role, e.reason, e.at) for e in case.escalations] == [
        ("boss", "验房超期", sh(2026, 3, 3, 10, 0))
    ]
    # an overdue task can still be done, and counts as done
    h.fire(case, "inspection", "eng")
    h.fire(case, "documents", "rel")
    h.fire(case, "anyone_task", "rel")
    assert case.state == "ready"


def test_done_task_is_not_overdue() -> None:
    h = make_harness(TASKS, at=sh(2026, 3, 2, 10, 0))
    case = h.open()
    h.fire(case, "inspection", "eng")
    h.advance(sh(2026, 3, 10))
    assert case.tasks["inspection"] == "done" and case.escalations == ()


def test_tasks_reset_on_reentry() -> None:
    h = make_harness(TASKS, at=sh(2026, 3, 2, 10, 0))
    case = h.open()
    h.fire(case, "documents", "rel")
    h.fire(case, "inspection", "eng")
    h.advance(sh(2026, 3, 2, 15, 0))
    h.fire(case, "restart", "boss")
    assert case.tasks == {"inspection": "open", "documents": "open", "anyone_task": "open"}
    h.advance(sh(2026, 3, 3, 14, 59))
    assert case.escalations == ()
    h.advance(sh(2026, 3, 3, 15, 0))  # 1 working day after the re-entry
    assert [e.at for e in case.escalations] == [sh(2026, 3, 3, 15, 0)]


def test_task_takes_no_data() -> None:
    h = make_harness(TASKS, at=sh(2026, 3, 2, 10, 0))
    case = h.open()
    error = refused(h, case, "documents", "rel", {"x": 1})
    assert isinstance(error, InvalidData)


# ============================================================== §8 expressions and tables

EXPR = """
flow exprs
roles: agent, 财务部, 工程部, 安保部, 业主服务主管
fields:
    a: int = 7
    b: int = 2
    price: decimal = 2.5
    label: text = "x"
    t: datetime?
    category: choice(fee, facility, security, cleaning, attitude)
    major: bool = false
    i1: int?
    i2: int?
    d1: decimal?
    b1: bool?
    b2: bool?
    b3: bool?
    b4: bool?
    b5: bool?
    b6: bool?
    t1: datetime?
    t2: datetime?
    t3: datetime?
    s1: text?
    s2: text?
    s3: text?
    s4: text?
table department_for(category):
    "fee" -> "财务部"
    "facility" -> "工程部"
    "security" | "cleaning" -> "安保部"
    else -> "业主服务主管"
table priority(category, major):
    "facility", true -> "急"
    "fee" | "facility", _ -> "普通"
    _, true -> "高"
table strict(category):
    "fee" -> "yes"
state open:
    on calc:
        set i1 = a + b * 3
        set i2 = (a - b) * 2 - a
        set d1 = price * 2 + 1
        set b1 = a > b and not (b >= a)
        set b2 = a == 7 or b == 100
        set b3 = label in ["x", "y"]
        set b4 = label != "x"
        set b5 = t is set
        set b6 = t is not set
        set s1 = state
        set s2 = id
        set s3 = department_for(category)
        set s4 = priority(category, major)
    on times(t):
        set t1 = t + 90m
        set t2 = t - 1d
        set t3 = now + 2 working days
    on strict_check:
        set s1 = strict(category)
    on go when a * b >= 14 and category in ["fee", "facility"] -> done
final done
"""


def test_arithmetic_comparisons_logic_membership_and_names() -> None:
    h = make_harness(EXPR)
    case = h.open({"category": "fee"})
    h.fire(case, "calc", "agent")
    f = case.fields
    assert f["i1"] == 13
    assert f["i2"] == 3
    assert f["d1"] == Decimal("6.0")
    assert (f["b1"], f["b2"], f["b3"], f["b4"]) == (True, True, True, False)
    assert (f["b5"], f["b6"]) == (False, True)
    assert f["s1"] == "open"
    assert f["s2"] == case.id


def test_date_time_plus_minus_duration_and_now() -> None:
    h = make_harness(EXPR, at=sh(2026, 3, 6, 16, 30), calendars=None)
    case = h.open({"category": "fee"})
    h.fire(case, "times", "agent", {"t": "2026-03-10 23:00"})
    assert case.fields["t1"] == sh(2026, 3, 11, 0, 30)
    assert case.fields["t2"] == sh(2026, 3, 9, 23, 0)
    # flow calendar `always`: working days are plain days
    assert case.fields["t3"] == sh(2026, 3, 8, 16, 30)


def test_now_plus_working_days_on_the_flow_calendar() -> None:
    h = make_harness(
        EXPR.replace("flow exprs", "flow exprs\ncalendar office"), at=sh(2026, 9, 30, 16)
    )
    case = h.open({"category": "fee"})
    h.fire(case, "times", "agent", {"t": "2026-09-30 16:00"})
    assert case.fields["t3"] == sh(2026, 10, 9, 16, 0)


@pytest.mark.parametrize(
    ("category", "major", "department", "priority"),
    [
        ("fee", False, "财务部", "普通"),
        ("facility", False, "工程部", "普通"),
        ("facility", True, "工程部", "急"),
        ("security", False, "安保部", None),
        ("cleaning", True, "安保部", "高"),
        ("attitude", False, "业主服务主管", None),
    ],
)
def test_decision_tables(category: str, major: bool, department: str, priority: str | None) -> None:
    h = make_harness(EXPR)
    case = h.open({"category": category, "major": major})
    if priority is None:  # `priority` has no else and no matching row
        before = case.snapshot()
        with pytest.raises(FlowRuntimeError, match="priority"):
            h.fire(case, "calc", "agent")
        assert case.snapshot() == before
        return
    h.fire(case, "calc", "agent")
    assert case.fields["s3"] == department
    assert case.fields["s4"] == priority


def test_table_without_else_finding_no_row_is_a_runtime_error_rolled_back() -> None:
    h = make_harness(EXPR)
    case = h.open({"category": "facility"})
    before = case.snapshot()
    with pytest.raises(FlowRuntimeError, match="strict"):
        h.fire(case, "strict_check", "agent")
    assert case.snapshot() == before
    ok = h.open({"category": "fee"})
    h.fire(ok, "strict_check", "agent")
    assert ok.fields["s1"] == "yes"


def test_guard_expression_with_arithmetic_and_in() -> None:
    h = make_harness(EXPR)
    case = h.open({"category": "security"})
    assert isinstance(refused(h, case, "go", "agent"), NoGuardHolds)
    case = h.open({"category": "facility"})
    h.fire(case, "go", "agent")
    assert case.state == "done"


def test_table_results_may_read_fields_and_now() -> None:
    h = make_harness(
        """
        flow tablenow
        roles: agent
        fields:
            category: choice(fee, other)
            name: text
            due: datetime?
            greeting: text?
        table due_for(category):
            "fee" -> now + 2h
            else -> now + 1d
        table greeting_for(category):
            "fee" -> "dear " + name
            else -> "hello"
        state open:
            enter:
                set due = due_for(category)
                set greeting = greeting_for(category)
            on done -> end
        final end
        """,
        at=sh(2026, 3, 2, 9, 0),
    )
    case = h.open({"category": "fee", "name": "张三"})
    assert case.fields["due"] == sh(2026, 3, 2, 11, 0)
    assert case.fields["greeting"] == "dear 张三"
    assert h.open({"category": "other", "name": "x"}).fields["due"] == sh(2026, 3, 3, 9, 0)


def test_elapsed_duration_field_arithmetic() -> None:
    h = make_harness(
        """
        flow durs
        roles: agent
        fields:
            wait: duration?
            start: datetime?
            finish: datetime?
        state open:
            on plan(start, wait):
                set finish = start + wait
            on done -> end
        final end
        """
    )
    case = h.open()
    h.fire(case, "plan", "agent", {"start": "2026-03-02 10:00", "wait": timedelta(hours=5)})
    assert case.fields["finish"] == sh(2026, 3, 2, 15, 0)


PER_LINE = """
flow per_line
roles: agent
fields:
    reason: text?
    fee: decimal?
state open:
    after 1h -> closed
    on settle(fee?) when true -> paid by agent
    on settle(reason) -> waived by agent
state paid:
    after 1h -> closed
state waived:
    after 1h -> closed
final closed
"""


def test_each_on_line_takes_only_the_data_it_declares() -> None:
    h = make_harness(PER_LINE)
    waived = h.open({})
    h.fire(waived, "settle", "agent", {"reason": "goodwill"})  # line 1 does not take `reason`
    assert (waived.state, waived.fields["reason"], waived.fields["fee"]) == (
        "waived",
        "goodwill",
        None,
    )
    paid = h.open({})
    h.fire(paid, "settle", "agent", {"fee": "80"})
    assert paid.state == "paid" and paid.fields["reason"] is None
    both = h.open({})
    error = refused(h, both, "settle", "agent", {"fee": "80", "reason": "x"})
    assert isinstance(error, InvalidData) and {"fee", "reason"} <= set(error.problems)
    assert both.state == "open"


def test_table_answers_stay_the_same_when_asked_again_with_other_number_types() -> None:
    # a table remembers which row each input picked: 1, 1.0 and 1.00 are the same number
    # there (one row), while a different number still gets its own row
    h = make_harness(
        """
        flow tablememo
        roles: agent
        fields:
            amount: decimal
            size: text?
        table size_of(amount):
            1 -> "one"
            2.5 -> "two and a half"
            else -> "other"
        state open:
            enter: set size = size_of(amount)
            on done -> end
        final end
        """
    )
    inputs = [1, Decimal("1.00"), 2.5, 3, "1", 1, Decimal("2.50"), 3]
    sizes = [h.open({"amount": a}).fields["size"] for a in inputs]
    assert sizes == ["one", "one", "two and a half", "other", "one", "one", "two and a half",
                     "other"]  # fmt: skip
