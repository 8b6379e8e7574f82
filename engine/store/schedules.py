"""Schedules in the store: each schedule's next occurrence (and whether it is paused), the
occurrences that happened, and the open cases a summary reads.

An occurrence is claimed by inserting its row (flow, schedule, due): the primary key lets
exactly one worker do it, in the same transaction as what it does (the case it opens, the
summary it puts in the outbox), so an occurrence happens once or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.case import Case, Notification, Row
from engine.store import schema as s
from engine.store.serialize import case_from_json, from_us, to_us

MAX_SUMMARY_CASES = 10_000  # open cases one summary reads; more are counted, not read


class ScheduleState(NamedTuple):
    flow: str
    name: str
    next_due: datetime
    paused: bool


def state(conn: Connection, flow: str, name: str, lock: bool = False) -> ScheduleState | None:
    """A schedule's next occurrence; locked for update (PostgreSQL) while a worker fires it."""
    c = s.schedules.c
    query = select(c.next_due_us, c.paused).where(c.flow == flow, c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else ScheduleState(flow, name, from_us(int(row[0])), bool(row[1]))


def start(conn: Connection, flow: str, name: str, next_due: datetime) -> bool:
    """Record a schedule seen for the first time (False: another worker just did)."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(s.schedules).values(
                    flow=flow, name=name, next_due_us=to_us(next_due), paused=False
                )
            )
    except IntegrityError:
        return False
    return True


def plan(conn: Connection, flow: str, name: str, next_due: datetime) -> None:
    c = s.schedules.c
    conn.execute(
        update(s.schedules)
        .where(c.flow == flow, c.name == name)
        .values(next_due_us=to_us(next_due))
    )


def set_paused(conn: Connection, flow: str, name: str, paused: bool, next_due: datetime) -> bool:
    """Pause or resume (resuming plans the next occurrence after now); False if unknown."""
    c = s.schedules.c
    values: dict[str, object] = {"paused": paused}
    if not paused:
        values["next_due_us"] = to_us(next_due)
    result = conn.execute(update(s.schedules).where(c.flow == flow, c.name == name).values(values))
    return result.rowcount == 1


def next_planned(conn: Connection) -> datetime | None:
    """The earliest next occurrence of a schedule that is not paused."""
    c = s.schedules.c
    value = conn.execute(select(func.min(c.next_due_us)).where(c.paused.is_(False))).scalar()
    return None if value is None else from_us(int(value))


def listing(conn: Connection) -> list[tuple[ScheduleState, int, datetime | None]]:
    """Every schedule with how many occurrences happened and the last one's due time."""
    r = s.schedule_runs.c
    out = []
    for row in conn.execute(select(s.schedules).order_by(s.schedules.c.flow, s.schedules.c.name)):
        flow, name = row.flow, row.name
        runs = conn.execute(
            select(r.due_us).where(r.flow == flow, r.name == name).order_by(r.due_us.desc())
        ).all()
        last = from_us(int(runs[0][0])) if runs else None
        state = ScheduleState(flow, name, from_us(int(row.next_due_us)), bool(row.paused))
        out.append((state, len(runs), last))
    return out


def claim(conn: Connection, flow: str, name: str, due: datetime, late: bool, worker: str,
          wall_us: int) -> bool:  # fmt: skip
    """Claim one occurrence; False when it already happened (another worker fired it)."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(s.schedule_runs).values(
                    flow=flow,
                    name=name,
                    due_us=to_us(due),
                    fired_at=due.isoformat(),
                    fired_wall_us=wall_us,
                    late=late,
                    fired_by=worker,
                )
            )
    except IntegrityError:
        return False
    return True


def opened(conn: Connection, flow: str, name: str, due: datetime, case_id: str) -> None:
    """Note the case an occurrence opened."""
    r = s.schedule_runs.c
    conn.execute(
        update(s.schedule_runs)
        .where(r.flow == flow, r.name == name, r.due_us == to_us(due))
        .values(case_id=case_id)
    )


def open_cases(conn: Connection, flow: str) -> Iterator[Case]:
    """The open cases of a flow (without their audit logs), at most MAX_SUMMARY_CASES."""
    c = s.cases.c
    query = (
        select(c.data, c.audit_count)
        .where(c.flow == flow, c.closed.is_(False))
        .order_by(c.id)
        .limit(MAX_SUMMARY_CASES)
    )
    for data, count in conn.execute(query):
        yield case_from_json(data, (cast(Row, None),) * int(count))


def send(conn: Connection, notifications: list[Notification], wall_us: int) -> None:
    """Put a summary's notifications in the outbox (delivered like a step's)."""
    if notifications:
        conn.execute(
            insert(s.outbox),
            [
                {
                    "id": n.id,
                    "case_id": n.case_id,
                    "seq": 0,
                    "role": n.role,
                    "message": n.message,
                    "kind": n.kind,
                    "at": n.at.isoformat(),
                    "created_us": wall_us,
                    "attempts": 0,
                }
                for n in notifications
            ],
        )
