"""Schedules, the pure part: when a flow's duties fall due, what a catch-up fires after
downtime, and the summary text sent to a role. No I/O: the in-memory Engine (scenarios,
load simulation) and the durable Service share it.

An occurrence is named by its schedule and its due instant; each happens once. After
downtime, the policy decides what is fired late: `latest` (the default) fires the latest
missed occurrence once, `all` fires each missed one in order (at most `MAX_CATCH_UP`), `none`
fires none of them. An occurrence less than `grace` late is on time and always fires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime, time, timedelta
from typing import NamedTuple

from engine.calendar import Calendar, wall_rule
from engine.case import SLA_STATUS_AT, Case, Notification, SlaClock
from engine.definition import FlowDefinition, ScheduleDef
from engine.functions import time_left
from engine.i18n import Listing, localize, msg, tr
from engine.i18n.formats import format_datetime, format_duration

MAX_CATCH_UP = 1000  # occurrences of one schedule fired by `catch up all` after an outage
MAX_ID = 240  # a notification id's length in the outbox
MAX_LISTED = 20  # cases named in one summary line; the rest are counted


class Occurrence(NamedTuple):
    """One occurrence of a schedule that happened: the case it opened, if any."""

    flow: str
    schedule: str
    due: datetime
    late: bool = False
    case_id: str | None = None


class CatchUp(NamedTuple):
    """What to fire now (each due instant with whether it is late) and the next due after."""

    fire: list[tuple[datetime, bool]]
    skipped: int
    next_due: datetime


def following(calendar: Calendar, schedule: ScheduleDef) -> Callable[[datetime], datetime]:
    """`after -> the schedule's first occurrence strictly after it`, on the calendar."""
    w = schedule.wall
    at = time(w.hour, w.minute)
    rule = wall_rule(w.rule, w.weekday, w.month_day, w.shift, w.quarterly)
    return lambda after: calendar.next_wall_time(after, at, rule)


def catch_up(
    next_due: datetime,
    now: datetime,
    after: Callable[[datetime], datetime],
    policy: str,
    grace: timedelta,
) -> CatchUp:
    """The occurrences from `next_due` up to `now` that fire, by `policy`."""
    due: list[datetime] = []
    at = next_due
    while at <= now and len(due) <= MAX_CATCH_UP:
        due.append(at)
        at = after(at)
    if at <= now:  # more than the bound (years of daily occurrences): the rest are skipped,
        at = after(now)  # `latest` then fires the last one counted, not the very latest
    on_time = [d for d in due if now - d <= grace]
    missed = [d for d in due if now - d > grace]
    if policy == "all":
        chosen = missed[:MAX_CATCH_UP]
    elif policy == "latest" and missed and not on_time:
        chosen = missed[-1:]
    else:
        chosen = []
    fire = [(d, True) for d in chosen] + [(d, False) for d in on_time]
    return CatchUp(fire, len(due) - len(fire), at)


def summary_text(
    definition: FlowDefinition,
    calendar: Calendar,
    schedule: ScheduleDef,
    cases: Iterable[Case],
    now: datetime,
) -> str:
    """One summary of the flow's open cases: how many in each state, the overdue tasks, and
    the SLA clocks breached or with less than a quarter of their time left — written in the
    service's language (FLOWDESK_LANG or the locale), as the staff who receive it read it."""
    labels = {s.name: s.label or s.name for s in definition.states}
    working = {s.name: s.within.working for s in definition.slas}
    by_state: dict[str, int] = {}
    overdue: list[str] = []
    breached: list[str] = []
    at_risk: list[str] = []
    count = 0
    for case in cases:  # rows, not NamedTuples: a summary may read thousands of cases
        count += 1
        by_state[case.state] = by_state.get(case.state, 0) + 1
        if case.tasks:
            overdue += [f"{case.id} {t}" for t, status in case.tasks.items() if status == "overdue"]
        for row in case.sla_rows:
            status, name = row[SLA_STATUS_AT], row[0]
            if status == "breached":
                breached.append(f"{case.id} {name}")
            elif status in ("running", "paused") and name in working:
                clock = SlaClock(*row)
                left = time_left(clock, now, working[name], calendar)
                if left.total_seconds() < clock.budget / 4:
                    said = tr("{left} left", left=format_duration(left))
                    at_risk.append(f"{case.id} {name} ({said})")
    title = schedule.summary_title or schedule.label or schedule.name
    lines = [tr("{title} — {at}: {count} open", title=title, at=format_datetime(now), count=count)]
    if by_state:
        order = [s.name for s in definition.states]
        states = sorted(by_state, key=lambda s: order.index(s) if s in order else len(order))
        counted = Listing(f"{labels.get(s, s)} {by_state[s]}" for s in states)
        lines.append(tr("by state: {counted}", counted=counted))
    for heading, items in ((msg("overdue tasks"), overdue), (msg("SLA breached"), breached),
                           (msg("SLA at risk"), at_risk)):  # fmt: skip
        if items:
            lines.append(tr("{heading} ({count}): {items}", heading=heading, count=len(items),
                            items=_listed(items)))  # fmt: skip
    return "\n".join(lines)


def summaries(flow: str, schedule: ScheduleDef, text: str, due: datetime) -> list[Notification]:
    """A summary as one notification to each role, each with a stable id."""
    out = []
    for role in schedule.summary_to:
        key = f"{flow}/{schedule.name}@{due.isoformat()}/{role}"
        if len(key) > MAX_ID:
            key = "S:" + hashlib.sha256(key.encode()).hexdigest()
        out.append(Notification("", role, text, due, "summary", key))
    return out


def _listed(items: list[str]) -> str:
    shown = Listing(items[:MAX_LISTED])
    if len(items) <= MAX_LISTED:
        return localize(shown)
    return tr("{shown} … and {count} more", shown=shown, count=len(items) - MAX_LISTED)
