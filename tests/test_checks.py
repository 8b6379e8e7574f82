"""Focused tests of `dsl.checks`: each rule fires where it should and stays quiet where not."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import ast
from dsl.checks import check
from dsl.diagnostics import Diagnostic, render_full
from dsl.frontend import parse_source
from dsl.rules import BY_NAME
from dsl.source import Source, Span

OFFICE: dict[str, date | None] = {"office": None, "always": None}


def diagnose(
    text: str, calendars: Mapping[str, date | None] | None = None, today: date | None = None
) -> list[Diagnostic]:
    """Parse (must succeed) and check a dedented flow text."""
    flow, problems = parse_source(Source("t.flow", textwrap.dedent(text)))
    assert flow is not None, problems
    return check(flow, calendars=calendars, today=today)


def codes(text: str, calendars: Mapping[str, date | None] | None = None) -> list[str]:
    return [d.code for d in diagnose(text, calendars)]


def of(text: str, code: str) -> list[Diagnostic]:
    return [d for d in diagnose(text) if d.code == code]


def at(d: Diagnostic) -> tuple[int, int]:
    return d.span.line, d.span.column


# A flow with no diagnostic at all; most tests change one thing in it.
BASE = """\
flow complaint "投诉"
calendar office
roles: 客服, 主管, 工程部
fields:
    category: choice(fee, facility) = "fee"
    count: int = 0
    remark: text?
sla reply within 24h from received until closed
state received:
    on dispatch -> handling by 客服:
        set count = count + 1
    on note(remark) by 客服: record "{remark}"
state handling:
    when category == "facility" -> closed
    on close -> closed by 工程部
final closed
"""


def variant(old: str, new: str, base: str = BASE) -> str:
    assert old in base
    return base.replace(old, new, 1)


def test_base_flow_is_clean() -> None:
    assert diagnose(BASE, calendars=OFFICE) == []


# ================================================================ headers


def test_missing_flow_header_points_at_1_1() -> None:
    [d] = of(variant('flow complaint "投诉"\n', ""), "missing-flow-header")
    assert d.is_error and at(d) == (1, 1)


def test_repeated_header_points_at_the_second_keyword() -> None:
    [d] = of(variant("calendar office\n", "calendar office\ncalendar office\n"), "duplicate-header")
    assert at(d) == (3, 1) and d.span.end_column == 9
    assert "first on line 2" in d.message


def test_version_zero() -> None:
    assert "invalid-version" in codes(variant("calendar office\n", "version 0\ncalendar office\n"))
    assert "invalid-version" not in codes(variant("calendar office\n", "version 3\n"))


def test_unknown_calendar_only_when_calendars_are_known() -> None:
    text = variant("calendar office", "calendar ofice")
    [d] = [x for x in diagnose(text, calendars=OFFICE) if x.code == "unknown-calendar"]
    assert at(d) == (2, 10) and d.help == "did you mean `office`?"
    assert "unknown-calendar" not in codes(text)  # calendars=None: no calendar check
    always = variant("calendar office", "calendar always")
    assert "unknown-calendar" not in codes(always, calendars={"office": None})


def test_calendar_data_ending() -> None:
    cal = {"office": date(2026, 12, 31)}
    [soon] = diagnose(BASE, calendars=cal, today=date(2026, 11, 15))
    assert soon.code == "calendar-data-ending" and not soon.is_error
    assert soon.message == "the official holiday data of calendar `office` ends on 2026-12-31"
    assert soon.help is not None and "extra_holidays" in soon.help
    assert "flow calendar import NOTICE.txt" in soon.help
    [past] = diagnose(BASE, calendars=cal, today=date(2027, 1, 5))
    assert "ended on 2026-12-31" in past.message and "2027-01-05" in past.message
    assert diagnose(BASE, calendars=cal, today=date(2026, 6, 1)) == []


def test_calendar_data_ending_defaults_to_today() -> None:
    cal = {"office": date.today() + timedelta(days=10)}
    assert [d.code for d in diagnose(BASE, calendars=cal)] == ["calendar-data-ending"]


# ================================================================ declarations


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("roles: 客服, 主管, 工程部", "roles: 客服, 主管, 工程部, 主管", "主管"),
        ("    remark: text?\n", "    remark: text?\n    count: int = 1\n", "count"),
        ("final closed\n", "final closed\nfinal closed\n", "closed"),
        ("choice(fee, facility)", "choice(fee, facility, fee)", "fee"),
        ("on note(remark)", "on note(remark, remark)", "remark"),
        (
            "sla reply within",
            "sla reply within 1h from received until closed\nsla reply within",
            "reply",
        ),
    ],
)
def test_duplicate_names_point_at_the_repeat(old: str, new: str, name: str) -> None:
    text = variant(old, new)
    [d] = of(text, "duplicate-name")
    line = textwrap.dedent(text).splitlines()[d.span.line - 1]
    assert line[d.span.column - 1 : d.span.end_column - 1] == name
    assert f"`{name}`" in d.message


def test_duplicate_tasks_tables_and_table_inputs() -> None:
    text = """\
    flow f
    roles: r
    fields:
        a: text?
    table t(a, a):
        _, _ -> 1
    table t(a):
        else -> 2
    state s:
        task k by r within 1h
        task k by r
        when all tasks done -> done
        enter: record "{a}"
    final done
    """
    found = of(text, "duplicate-name")
    assert [d.message.split(" is")[0] for d in found] == [
        "input `a` of table `t`",
        "table `t`",
        "task `k` in state `s`",
    ]


def test_second_enter_block() -> None:
    [d] = of(
        variant(
            "state received:\n", 'state received:\n    enter: record "a"\n    enter: record "b"\n'
        ),
        "duplicate-block",
    )
    assert at(d) == (11, 5)


def test_no_states_no_final_and_final_first() -> None:
    assert codes("flow f\nroles: r\n") == ["no-states"]
    no_final = "flow f\nroles: r\nstate a:\n    after 1h -> b\nstate b:\n    after 1h -> a\n"
    assert "no-final-state" in codes(no_final)
    final_first = "flow f\nfinal done\nstate a:\n    after 1h -> done\n"
    assert "initial-state-final" in codes(final_first)


def test_reserved_and_ambiguous_names() -> None:
    text = variant("    remark: text?\n", "    remark: text?\n    state: text?\n    客服: text?\n")
    found = {d.code: d for d in diagnose(text)}
    assert found["reserved-name"].is_error
    assert not found["ambiguous-name"].is_error


def test_unknown_field_type_suggests_the_close_one() -> None:
    [d] = of(variant("count: int = 0", "count: integer = 0"), "unknown-type")
    assert at(d) == (6, 12) and d.help == "did you mean `int`?"


def test_table_rows_need_one_column_per_input() -> None:
    text = """\
    flow f
    roles: r
    fields:
        a: text?
        b: bool = false
    table t(a, b):
        "x" -> 1
        "y", true -> 2
        else -> 3
    state s:
        after 1h: record "{a}"
        on go -> done by r:
            set a = "{t(a, b)}"
    final done
    """
    [d] = of(text, "table-row-width")
    assert at(d) == (7, 5) and "1 column" in d.message and "2 inputs (a, b)" in d.message


# ================================================================ references


def test_unknown_state_in_a_transition_points_at_the_name() -> None:
    [d] = of(variant("-> handling by 客服", "-> handlng by 客服"), "unknown-state")
    assert at(d) == (10, 20) and d.message == "unknown state `handlng`"
    assert d.help == "did you mean `handling`?"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('when category == "facility" -> closed', 'when category == "facility" -> clsed'),
        ("state received:\n", "state received:\n    after 1h -> nowhere\n"),
        ("from received until closed", "from recieved until closed"),
        ("from received until closed", "from received until closed pause in waiting"),
    ],
)
def test_unknown_states_everywhere(old: str, new: str) -> None:
    assert "unknown-state" in codes(variant(old, new))


def test_unknown_fields_in_set_expressions_and_placeholders() -> None:
    text = variant('record "{remark}"', 'record "a \\"{count}\\" {remrk} {id} {state} {now}"')
    [d] = of(text, "unknown-field")
    line = textwrap.dedent(text).splitlines()[d.span.line - 1]
    assert line[d.span.column - 1 : d.span.end_column - 1] == "remrk"
    assert d.help == "did you mean `remark`?"
    assert "unknown-field" in codes(variant("set count = count + 1", "set cont = count + 1"))
    assert "unknown-field" in codes(variant("count + 1", "cnt + 1"))


def test_unknown_event_param() -> None:
    [d] = of(variant("on note(remark)", "on note(remrk)"), "unknown-param")
    assert at(d) == (12, 13) and d.help == "did you mean `remark`?"


@pytest.mark.parametrize(
    "action",
    ["escalate to 经理", 'callback "回访" to 经理', 'notify 经理 "x"', "assign to 经理"],
)
def test_unknown_roles_in_actions(action: str) -> None:
    text = variant('record "{remark}"', action + ' \n        record "{remark}"')
    text = variant(
        "on note(remark) by 客服: " + action, "on note(remark) by 客服:\n        " + action, text
    )
    assert "unknown-role" in codes(text)


def test_unknown_roles_in_by_and_tasks() -> None:
    assert "unknown-role" in codes(variant("by 工程部", "by 工程"))
    task = variant("state handling:\n", "state handling:\n    task check by 工程 within 1h\n")
    [d] = of(task, "unknown-role")
    assert d.help == "did you mean `工程部`?"


def test_notify_targets_roles_or_text_fields() -> None:
    ok = variant("+ 1", '+ 1\n        notify remark, category, 主管 "x {remark}"')
    assert diagnose(ok) == []
    [d] = of(variant("+ 1", '+ 1\n        notify count "x"'), "type-mismatch")
    assert "int field" in d.message


def test_unknown_table_and_arity() -> None:
    table = 'table dept(category):\n    "fee" -> "主管"\n    else -> "客服"\n'
    text = variant("state received:\n", table + "state received:\n")
    ok = variant("+ 1", "+ 1\n        set remark = dept(category)", text)
    assert diagnose(ok) == []
    [unknown] = of(variant("= dept(", "= dep(", ok), "unknown-table")
    assert unknown.help == "did you mean `dept`?"
    [arity] = of(variant("dept(category)\n", "dept(category, count)\n", ok), "wrong-arity")
    assert "takes 1 input (category), but 2 are given" in arity.message


def test_mutually_recursive_tables_are_reported_not_looped() -> None:
    text = """\
    flow f
    roles: r
    fields:
        n: int = 0
    table a(n):
        else -> b(n)
    table b(n):
        else -> a(n)
    state s:
        after 1h: record "{n}"
        on go -> done by r: set n = a(n)
    final done
    """
    assert "recursive-table" in codes(text)


# ================================================================ types

TYPED = """\
flow f
roles: r
fields:
    t: text?
    n: int = 0
    d: decimal = 1.5
    b: bool = false
    day: date?
    at: datetime?
    dur: duration?
    c: choice(fee, facility) = "fee"
state s:
    after 1h: record "{t}{n}{d}{b}{day}{at}{dur}{c}"
    when EXPR -> done
    on go -> done by r
final done
"""


def typed(expr: str) -> list[str]:
    return [x for x in codes(TYPED.replace("EXPR", expr)) if x != "unused-field"]


@pytest.mark.parametrize(
    "expr",
    [
        "n + 1 > 2",
        "n + d > 1",
        "n / 2 > 1",
        "-n < 0",
        "at + 2h < now",
        "at + 2 working days < now",
        "now - at > 1h",
        "day + 1d == day",
        "day < now",
        'state == "s" and id != "1"',
        't + "x" == "y"',
        't < "m"',
        'c == "fee"',
        '"facility" != c',
        'c in ["fee", "facility"]',
        'c not in ["fee"]',
        "c == t",
        "t is set or at is not set",
        "not b",
        "b == true",
        "at == null",
        "c != null",
        "dur * 2 > 1h",
        "dur / 2 < dur",
    ],
)
def test_well_typed_expressions(expr: str) -> None:
    assert typed(expr) == []


@pytest.mark.parametrize(
    ("expr", "code"),
    [
        ("b + 1 > 0", "type-mismatch"),
        ('c == "feee"', "unknown-choice-value"),
        ('c in ["fee", "x"]', "unknown-choice-value"),
        ('n == "1"', "type-mismatch"),
        ("n", "type-mismatch"),
        ("b and n", "type-mismatch"),
        ("not n", "type-mismatch"),
        ("t < null", "type-mismatch"),
        ("b < true", "type-mismatch"),
        ('c < "fee"', "type-mismatch"),
        ("day + 2 working days == day", "type-mismatch"),
        ("at - 2 working days < now", "type-mismatch"),
        ("n in n", "type-mismatch"),
        ("dur * 1.5 > 1h", "type-mismatch"),
        ('-t == "x"', "type-mismatch"),
        ("at - day > 1h", "type-mismatch"),
        ("[1, 2]", "type-mismatch"),
        ("nope > 1", "unknown-field"),
        ('state == "ss"', "unknown-state"),
        ("state == 1", "type-mismatch"),
    ],
)
def test_ill_typed_expressions(expr: str, code: str) -> None:
    assert typed(expr) == [code]


def test_errors_do_not_cascade() -> None:
    assert typed("nope + 1 > 2 and nope2") == ["unknown-field", "unknown-field"]
    assert typed("b + 1 > 0 and b") == ["type-mismatch"]


def test_bool_plus_int_says_both_types_and_the_operator() -> None:
    text = TYPED.replace("EXPR", "b + 1 > 0")
    [d] = of(text, "type-mismatch")
    assert d.message == "cannot use `+` on `b` (bool) and `1` (int)"
    assert at(d) == (14, 12) and d.span.end_column == 13


def test_unknown_choice_value_message_is_exact() -> None:
    [d] = of(TYPED.replace("EXPR", 'c == "feee"'), "unknown-choice-value")
    assert d.message == '`"feee"` is not a value of `c` (fee, facility)'
    assert d.help == 'did you mean `"fee"`?'


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("set d = 1", None),
        ("set t = c", None),
        ("set c = t", None),
        ("set t = null", None),
        ("set at = now + 1h", None),
        ("set n = 1.5", "type-mismatch"),
        ('set c = "x"', "unknown-choice-value"),
        ("set n = null", "type-mismatch"),
        ("set dur = 2 working days", "type-mismatch"),
        ("set b = n", "type-mismatch"),
    ],
)
def test_set_must_fit_the_field(action: str, code: str | None) -> None:
    text = TYPED.replace("EXPR", "b").replace("on go -> done by r", f"on go -> done by r: {action}")
    assert typed_codes(text) == ([code] if code else [])


def typed_codes(text: str) -> list[str]:
    return [x for x in codes(text) if x != "unused-field"]


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("x: int = -1", None),
        ("x: text? = null", None),
        ("x: duration = 2h", None),
        ('x: int = "1"', "type-mismatch"),
        ('x: choice(a, b) = "z"', "unknown-choice-value"),
        ("x: datetime = now", "non-constant-default"),
        ("x: text = null", "type-mismatch"),
        ("x: choice(a, b) = a", "unknown-field"),
    ],
)
def test_field_defaults(field: str, code: str | None) -> None:
    text = f'flow f\nroles: r\nfields:\n    {field}\nstate s:\n    after 1h: record "{{x}}"\n'
    text += "    on go -> done by r\nfinal done\n"
    assert codes(text) == ([code] if code else [])


@pytest.mark.parametrize(("expr", "ok"), [("at - 10m", True), ("day", True), ("t", False)])
def test_at_timers_need_a_moment(expr: str, ok: bool) -> None:
    text = TYPED.replace("EXPR", "b").replace(
        "    after 1h:", f'    at {expr}: record "x"\n    after 1h:'
    )
    assert typed_codes(text) == ([] if ok else ["type-mismatch"])


TABLE = """\
flow f
roles: r, 客服
fields:
    c: choice(fee, facility) = "fee"
    n: int = 0
    t: text?
table tb(c):
    ROWS
state s:
    after 1h: record "{t}"
    on go -> done by r:
        ACTION
final done
"""


@pytest.mark.parametrize(
    ("rows", "action", "expected"),
    [
        ('"fee" -> "r"\n    else -> "客服"', 'notify tb(c) "x"', []),
        ('"fee" -> "r"\n    else -> 1', "set t = tb(c)", ["type-mismatch"]),
        ('"fee" -> "r"\n    else -> "x"', "set n = tb(c)", ["type-mismatch"]),
        ('"feee" -> "r"\n    else -> "x"', "set t = tb(c)", ["unknown-choice-value"]),
        ('"fee" -> "r"\n    else -> "x"', "set t = tb(n)", ["type-mismatch"]),
        ('"fee" -> "r"\n    else -> "经理"', 'notify tb(c) "x"', ["table-result-not-role"]),
        ('"fee" -> 1\n    else -> 2', 'notify tb(c) "x"', ["type-mismatch"]),
    ],
)
def test_table_types(rows: str, action: str, expected: list[str]) -> None:
    text = TABLE.replace("ROWS", rows).replace("ACTION", action)
    assert typed_codes(text) == expected


# ================================================================ the state graph


def test_dead_end_state_points_at_its_name() -> None:
    text = variant("final closed\n", 'state stuck:\n    enter: record "x"\nfinal closed\n')
    text = variant(
        "on close -> closed by 工程部",
        "on close -> closed by 工程部\n    on park -> stuck by 客服",
        text,
    )
    [d] = of(text, "dead-end-state")
    assert at(d) == (17, 7)
    assert d.message == "state `stuck` is not final and has no way out"
    assert d.help == (
        "add a transition (`on EVENT -> STATE`), a timer (`after 24h -> STATE`) or make it `final`"
    )
    assert "no-path-to-final" not in codes(text)


def test_self_and_internal_transitions_are_no_way_out() -> None:
    text = variant(
        "on close -> closed by 工程部", "on close by 工程部\n    on again -> handling by 工程部"
    )
    text = variant(
        'when category == "facility" -> closed', 'when category == "facility" -> handling', text
    )
    assert "dead-end-state" in codes(text)
    timer = variant("on close -> closed by 工程部", "after 1h -> closed")
    assert "dead-end-state" not in codes(timer)


def test_no_path_to_final_for_a_closed_loop() -> None:
    text = """\
    flow f
    roles: r
    state a:
        on go -> b by r
        on end -> done by r
    state b:
        after 1h -> c
    state c:
        on back -> b by r
    final done
    """
    found = of(text, "no-path-to-final")
    assert [at(d) for d in found] == [(6, 7), (8, 7)]


def test_no_path_is_not_reported_after_an_unknown_target() -> None:
    text = "flow f\nstate a:\n    on go -> b\nstate b:\n    on go -> nowhere\nfinal done\n"
    assert "no-path-to-final" not in codes(text)


def test_unreachable_states() -> None:
    text = variant("final closed\n", "state lost:\n    after 1h -> closed\nfinal closed\n")
    [d] = of(text, "unreachable-state")
    assert not d.is_error and "`lost`" in d.message
    reached = variant("state received:\n", "state received:\n    after 1h -> lost\n", text)
    assert "unreachable-state" not in codes(reached)


def test_overlapping_and_shadowed_transitions() -> None:
    both = variant(
        "on close -> closed by 工程部", "on close -> closed by 工程部\n    on close -> received"
    )
    [d] = of(both, "overlapping-transitions")
    assert at(d) == (16, 8) and "line 15" in d.message
    assert "shadowed-transition" not in codes(both)
    guarded_later = variant(
        "on close -> received", "on close when count > 1 -> received by 工程部", both
    )
    assert [x for x in codes(guarded_later) if "transition" in x] == ["shadowed-transition"]
    other_roles = variant("on close -> received", "on close -> received by 主管", both)
    assert [x for x in codes(other_roles) if "transition" in x] == []
    guarded_first = variant(
        "on close -> closed by 工程部", "on close when count > 1 -> closed by 工程部", both
    )
    assert [x for x in codes(guarded_first) if "transition" in x] == []


def test_final_states_take_only_enter() -> None:
    text = variant(
        "final closed\n", 'final closed:\n    enter: record "x"\n    on reopen -> received\n'
    )
    [d] = of(text, "final-state-member")
    assert at(d) == (18, 5) and d.span.end_column == 7
    assert "final-state-member" not in codes(
        variant("final closed\n", 'final closed:\n    enter: record "x"\n')
    )


def test_task_rules() -> None:
    no_tasks = variant("on close -> closed by 工程部", "when all tasks done -> closed")
    assert "tasks-done-without-tasks" in codes(no_tasks)
    with_task = variant(
        "when all tasks done", "task fix by 工程部 within 2h\n    when all tasks done", no_tasks
    )
    assert diagnose(with_task) == []
    clash = variant("when all tasks done", "on fix by 工程部\n    when all tasks done", with_task)
    [d] = of(clash, "task-event-clash")
    assert "`fix`" in d.message


# ================================================================ domain checks


def test_working_units_on_the_always_calendar() -> None:
    text = variant("calendar office\n", "").replace("within 24h", "within 2 working days")
    [d] = of(text, "working-on-always")
    assert d.message == "on the 24/7 calendar `always`, working time is elapsed time"
    assert d.help is not None and "calendar office" in d.help
    assert "working-on-always" not in codes(variant("within 24h", "within 2 working days"))


def test_unused_fields_and_tables() -> None:
    text = variant(
        "    remark: text?\n",
        "    remark: text?\n    phone: text?\n    name: text\n    note: text?\n",
    )
    text = variant("set count = count + 1", 'set count = count + 1\n        set note = "x"', text)
    assert [d.message for d in of(text, "unused-field")] == [
        "field `phone` is never used",
        "field `name` must be given when a case is opened, but nothing in the flow reads it",
    ]
    table = variant("state received:\n", "table t(category):\n    else -> 1\nstate received:\n")
    assert "unused-table" in codes(table)


def test_table_without_else_and_unreachable_rows() -> None:
    rows = '"fee" -> "r"\n    "facility" -> "客服"'
    assert "table-without-else" in typed_codes(
        TABLE.replace("ROWS", rows).replace("ACTION", "set t = tb(c)")
    )
    wild = '"fee" -> "r"\n    _ -> "客服"'
    assert typed_codes(TABLE.replace("ROWS", wild).replace("ACTION", "set t = tb(c)")) == []
    late = '_ -> "r"\n    "fee" -> "客服"'
    assert "unreachable-row" in typed_codes(
        TABLE.replace("ROWS", late).replace("ACTION", "set t = tb(c)")
    )


def test_unchased_states() -> None:
    no_sla = variant("sla reply within 24h from received until closed\n", "")
    assert [at(d) for d in of(no_sla, "unchased-state")] == [(8, 7), (12, 7)]
    timers = variant("state handling:\n", 'state handling:\n    after 2h: record "x"\n', no_sla)
    timers = variant(
        "state received:\n",
        "state received:\n    task t by 客服 within 1h\n    when all tasks done -> closed\n",
        timers,
    )
    assert of(timers, "unchased-state") == []
    paused = variant("until closed", "until closed pause in handling")
    assert [at(d) for d in of(paused, "unchased-state")] == [(13, 7)]
    stopped = variant("until closed", "until handling")
    assert [at(d) for d in of(stopped, "unchased-state")] == [(13, 7)]


def test_a_deliberate_wait_is_not_unchased() -> None:
    no_sla = variant("sla reply within 24h from received until closed\n", "")
    waits = variant("state handling:\n", 'state handling:\n    wait "预约"\n', no_sla)
    assert [at(d) for d in of(waits, "unchased-state")] == [(8, 7)]
    (d,) = of(no_sla, "unchased-state")[:1]
    assert 'wait "reason"' in d.help


def test_unbounded_escalation() -> None:
    every = variant("state handling:\n", "state handling:\n    every 1h: escalate to 主管\n")
    assert "unbounded-escalation" in codes(every)
    bounded = variant("every 1h:", "every 1h at most 3 times:", every)
    assert "unbounded-escalation" not in codes(bounded)
    loop = variant(
        "state handling:\n",
        "state handling:\n    enter: escalate to 主管\n    after 1h -> handling\n",
    )
    [d] = of(loop, "unbounded-escalation")
    assert "re-enters itself" in d.message
    quiet = variant("escalate to 主管", 'notify 主管 "x"', loop)
    assert "unbounded-escalation" not in codes(quiet)


def test_emitted_events() -> None:
    text = variant("set count = count + 1", "emit closee")
    [d] = of(text, "unknown-emitted-event")
    assert d.help == "did you mean `close`?"
    assert "unknown-emitted-event" not in codes(variant("closee", "close", text))


def test_warn_before() -> None:
    sla = (
        "sla reply within 4 working hours from received until closed:\n"
        '    warn 5h before: notify 主管 "x"\n'
    )
    text = variant("sla reply within 24h from received until closed\n", sla)
    [d] = of(text, "warn-before-too-long")
    assert d.is_error and "4 working hours" in d.message
    assert "warn-before-too-long" not in codes(variant("warn 5h", "warn 2h", text))
    days = variant("4 working hours", "2 working days", text)
    assert "warn-before-too-long" not in codes(
        days
    )  # hours against working days: calendar-dependent


def test_zero_interval() -> None:
    text = variant("state handling:\n", 'state handling:\n    every 0m: record "x"\n')
    assert "zero-interval" in codes(text)


# ================================================================ Chinese names, end to end

CHINESE = """\
flow 投诉 "业主投诉"
calendar office
roles: 客服, 工程部, 财务部
fields:
    类别: choice(费用, 设施) "投诉类别"
    部门: text?
    回复次数: int = 0
table 责任部门(类别):
    "费用" -> "财务部"
    else -> "工程部"
sla 答复 within 2 working days from 已受理 until 已结案
state 已受理 "已受理":
    enter:
        set 部门 = 责任部门(类别)
        notify 部门 "新投诉 {id}：{类别}"
    on 派单 -> 处理中 by 客服:
        assign to 部门
state 处理中:
    on 答复 -> 已结案 by 工程部, 财务部:
        set 回复次数 = 回复次数 + 1
    when 类别 == "设施" and 回复次数 > 2 -> 已结案
final 已结案
"""


def test_chinese_flow_is_clean() -> None:
    assert diagnose(CHINESE, calendars=OFFICE) == []


@pytest.mark.parametrize(
    ("old", "new", "name", "code"),
    [
        ("-> 处理中 by", "-> 处理种 by", "处理种", "unknown-state"),
        ('类别 == "设施"', '类别 == "设备"', '"设备"', "unknown-choice-value"),
        ("by 客服:", "by 客户:", "客户", "unknown-role"),
        ("= 责任部门(类别)", "= 责任部(类别)", "责任部", "unknown-table"),
        ("{类别}", "{类型}", "类型", "unknown-field"),
        ("set 回复次数 = 回复次数 + 1", "set 回复次数 = 部门 + 1", "+", "type-mismatch"),
    ],
)
def test_chinese_names_are_pointed_at_by_character_column(
    old: str, new: str, name: str, code: str
) -> None:
    text = variant(old, new, CHINESE)
    [d] = [x for x in diagnose(text, calendars=OFFICE) if x.is_error]
    assert d.code == code
    line = text.splitlines()[d.span.line - 1]
    assert line[d.span.column - 1 : d.span.end_column - 1] == name
    rendered = render_full([d], Source("t.flow", text))
    assert f"t.flow:{d.span.line}:{d.span.column}: error:" in rendered


def test_chinese_did_you_mean() -> None:
    [d] = of(variant("-> 处理中 by", "-> 处理 by", CHINESE), "unknown-state")
    assert d.help == "did you mean `处理中`?"


# ================================================================ totality


def test_hand_built_trees_never_raise() -> None:
    empty = ast.Flow((), (), (), (), (), (), (), (), ())
    assert [d.code for d in check(empty)] == ["missing-flow-header", "no-states"]
    span = Span(1, 1, 1, 2)
    bare_choice = ast.Field(
        ast.Name("c", span), ast.Name("choice", span), (), False, None, None, span
    )
    state = ast.State(ast.Name("s", span), None, False, (), span)
    flow = ast.Flow((), (), (bare_choice,), (state,), (), (), (), (), ())
    assert "dead-end-state" in {d.code for d in check(flow)}


def test_diagnostics_are_sorted_unique_known_and_helpful() -> None:
    text = (Path(__file__).parent / "golden" / "type-mismatch.flow").read_text(encoding="utf-8")
    found = diagnose(text)
    assert found == sorted(found, key=lambda d: (d.span.line, d.span.column, d.code, d.message))
    assert len(set(found)) == len(found)
    assert all(d.code in BY_NAME and d.help for d in found)


VALID_TEXT = (Path(__file__).parent / "golden" / "valid-complaint.flow").read_text(encoding="utf-8")
LINES = VALID_TEXT.splitlines()
NOISE = st.text(alphabet=st.sampled_from([*' \t:->"(){}[],.#?_=<!+*/|%\n\\', "a", "处", "1"]))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The valid flow with a few lines deleted, duplicated, swapped, garbled or cut off."""
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate"]))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(j, lines[i])
        elif kind == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "insert":
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + draw(NOISE) + lines[i][pos:]
        else:
            lines = [*lines[:i], lines[i][: draw(st.integers(0, len(lines[i])))]]
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_flows_never_make_the_checker_raise(text: str) -> None:
    source = Source("m.flow", text)
    flow, problems = parse_source(source)
    if flow is not None:
        problems = check(flow, calendars=OFFICE, today=date(2026, 3, 1))
    assert all(d.code and d.help for d in problems)
    render_full(problems, source)


def test_a_state_left_at_once_by_when_true_is_not_unchased() -> None:
    text = "flow never_waits\nroles: r\nstate sorting:\n    when true -> done\nfinal done\n"
    flow, problems = parse_source(Source("t.flow", text))
    assert flow is not None and problems == []
    assert "unchased-state" not in [d.code for d in check(flow)]


def test_help_lists_at_most_a_few_choices() -> None:
    states = "".join(f"state s{i}:\n    on go -> s{i + 1}\n" for i in range(20))
    text = f"flow many\nroles: r\n{states}state s20:\n    on go -> zzz\nfinal s21\n"
    flow, problems = parse_source(Source("t.flow", text))
    assert flow is not None and problems == []
    (unknown,) = [d for d in check(flow) if d.code == "unknown-state"]
    assert unknown.help is not None and "(22 in all)" in unknown.help
    assert unknown.help.split("one of")[1].count("`s") == 8


def test_did_you_mean_finds_one_character_off_in_short_chinese_names() -> None:
    from dsl.diagnostics import did_you_mean

    assert did_you_mean("主官", ["客服专员", "主管"]) == "did you mean `主管`?"
    assert did_you_mean("handlng", ["handling", "closed"]) == "did you mean `handling`?"
    assert did_you_mean("a", ["b"]) is None  # one letter alone suggests nothing
    assert did_you_mean("主官", ["总经理"]) is None
