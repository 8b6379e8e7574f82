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
    the SLA clocks breached or with less than a quarter of their time left."""
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
                    at_risk.append(f"{case.id} {name} ({_hours(left)} left)")
    title = schedule.summary_title or schedule.label or schedule.name
    lines = [f"{title} — {now:%Y-%m-%d %H:%M}: {count} open"]
    if by_state:
        order = [s.name for s in definition.states]
        states = sorted(by_state, key=lambda s: order.index(s) if s in order else len(order))
        lines.append("by state: " + ", ".join(f"{labels.get(s, s)} {by_state[s]}" for s in states))
    for heading, items in (("overdue tasks", overdue), ("SLA breached", breached),
                           ("SLA at risk", at_risk)):  # fmt: skip
        if items:
            lines.append(f"{heading} ({len(items)}): {_listed(items)}")
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
    shown = ", ".join(items[:MAX_LISTED])
    return shown if len(items) <= MAX_LISTED else f"{shown} … and {len(items) - MAX_LISTED} more"


def _hours(left: timedelta) -> str:
    minutes = int(left.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"
