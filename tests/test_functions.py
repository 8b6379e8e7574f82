"""The language's built-in functions (`hour`, `is_working_day`, `sla_status`, …) and the
other Flowdesk additions to expressions and actions: `if` blocks and `by FIELD`.

Each is checked against an oracle computed here in Python, on the office calendar."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import CALENDARS, make_harness, sh
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import RoleNotAllowed
from engine.functions import FUNCTIONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"
OFFICE = CALENDARS["office"]

MOMENTS = """
flow moments
calendar office
roles: agent
fields:
    t: datetime
    h: int?
    m: int?
    wd: int?
    dd: int?
    mm: int?
    d: date?
    working: bool?
    open: bool?
    first: date?
    last: date?
state s:
    enter:
        set h = hour(t)
        set m = minute(t)
        set wd = weekday(t)
        set dd = day(t)
        set mm = month(t)
        set d = date_of(t)
        set working = is_working_day(t)
        set open = is_working_time(t)
        set first = first_working_day(t)
        set last = last_working_day(t)
    on done -> end by agent
    after 1d -> end
final end
"""


def test_the_functions_table_in_the_docs_is_the_registry() -> None:
    text = DOC.read_text(encoding="utf-8").split("### Functions", 1)[1].split("##", 1)[0]
    rows = re.findall(r"^\| `(\w+)\((\w+)\)` \| (.*) \|$", text, re.M)
    names = {"sla": "SLA", "moment": "DATE_TIME", "window": "DURATION"}
    assert rows == [(f.name, names[f.params[0]], f.summary) for f in FUNCTIONS.values()]


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31, 23, 59)),
)
def test_functions_of_a_moment_read_it_on_the_flow_calendar(local: datetime) -> None:
    t = local.replace(second=0, microsecond=0, tzinfo=OFFICE.tz)
    h = make_harness(MOMENTS)
    fields = h.open({"t": t}).fields
    days = [d for d in _month(t.date()) if OFFICE.is_working_day(d)]
    assert (fields["h"], fields["m"], fields["wd"]) == (t.hour, t.minute, t.isoweekday())
    assert (fields["dd"], fields["mm"], fields["d"]) == (t.day, t.month, t.date())
    assert fields["working"] == OFFICE.is_working_day(t.date())
    assert fields["open"] == OFFICE.is_open(t)
    assert (fields["first"], fields["last"]) == (days[0], days[-1])


def _month(first: date) -> list[date]:
    first = first.replace(day=1)
    days = [first]
    while (following := days[-1] + timedelta(days=1)).month == first.month:
        days.append(following)
    return days


def test_a_date_time_in_another_zone_is_read_in_the_calendar_zone() -> None:
    from datetime import UTC

    h = make_harness(MOMENTS)
    fields = h.open({"t": datetime(2026, 10, 8, 23, 30, tzinfo=UTC)}).fields  # Fri 07:30 CST
    assert (fields["h"], fields["wd"], fields["working"]) == (7, 5, True)


SLA = """
flow slas
calendar office
roles: agent
fields:
    left: duration?
    status: text?
sla reply within 4 working hours from open until done pause in waiting
state open:
    on look by agent:
        set left = time_left(reply)
        set status = sla_status(reply)
    on wait -> waiting by agent
    on finish -> done by agent
    after 3 working days -> done
state waiting:
    on look by agent:
        set left = time_left(reply)
        set status = sla_status(reply)
    on back -> open by agent
    after 3 working days -> done
final done
"""


def test_time_left_and_status_follow_the_sla_clock() -> None:
    h = make_harness(SLA)  # Mon 09:00; 4 working hours, lunch 12:00-13:00
    case = h.open()
    h.advance(sh(2026, 3, 2, 11, 0))
    h.fire(case, "look", "agent")
    assert (case.fields["left"], case.fields["status"]) == (timedelta(hours=2), "running")
    h.fire(case, "wait", "agent")
    h.advance(sh(2026, 3, 3, 9, 0))  # paused: the clock does not run
    h.fire(case, "look", "agent")
    assert (case.fields["left"], case.fields["status"]) == (timedelta(hours=2), "paused")
    h.fire(case, "back", "agent")
    h.advance(sh(2026, 3, 3, 11, 30))  # 09:00-11:00 uses the 2 h left: breached at 11:00
    h.fire(case, "look", "agent")
    assert (case.fields["left"], case.fields["status"]) == (timedelta(0), "breached")


def test_time_left_is_not_set_before_the_clock_starts() -> None:
    text = SLA.replace("from open until", "from waiting until")
    h = make_harness(text)
    case = h.open()
    h.fire(case, "look", "agent")
    assert case.fields["left"] is None and case.fields["status"] == "pending"


IF_AND_OWNER = """
flow owner
roles: agent, lead
fields:
    owner: text?
    n: int = 0
state new:
    on take(owner) -> working by agent:
        if n > 1:
            record "big"
            if n > 5: record "huge"
            else: record "not huge"
        else: record "small"
    after 1h -> working
state working:
    on finish -> done by owner, lead
    after 1d -> done
final done
"""


@pytest.mark.parametrize(
    ("n", "records"),
    [(0, ["small"]), (2, ["big", "not huge"]), (9, ["big", "huge"])],
)
def test_if_blocks_run_the_branch_whose_condition_holds(n: int, records: list[str]) -> None:
    h = make_harness(IF_AND_OWNER)
    case = h.open({"n": n})
    h.fire(case, "take", "agent", {"owner": "张三"})
    assert [r.what for r in case.audit if r.kind == "note"] == records


def test_by_field_lets_the_person_or_role_it_names_and_nobody_else() -> None:
    h = make_harness(IF_AND_OWNER)
    case = h.open()
    h.fire(case, "take", "agent", {"owner": "张三"})
    before = case.snapshot()
    with pytest.raises(RoleNotAllowed, match=r"lead, whoever `owner` names \(张三\)"):
        h.engine.fire(case.id, "finish", "李四", "agent")
    assert case.snapshot() == before
    h.engine.fire(case.id, "finish", "张三", "agent")
    assert case.state == "done"


def test_by_field_names_a_role_too_and_an_empty_field_lets_nobody_in() -> None:
    h = make_harness(IF_AND_OWNER.replace("after 1h -> working", "on skip -> working"))
    case = h.open()
    h.fire(case, "skip")
    with pytest.raises(RoleNotAllowed, match=r"whoever `owner` names \(not set\)"):
        h.engine.fire(case.id, "finish", None, "agent")
    case.fields["owner"] = "agent"  # a role's name in the field: that role may
    h.engine.fire(case.id, "finish", None, "agent")
    assert case.state == "done"
