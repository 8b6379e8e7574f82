"""The supervisor's view of the store: open cases by flow and state, today's SLA breaches and
escalations, and the backlog by the day cases were opened — limited to the flows the
person holds a role in."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from engine.service import Service
from engine.store import schema as s
from server.authz import may_see
from server.users import Person

RECENT_RECORDS = 2_000  # of breaches and escalations, newest first, read for "today"


@dataclass
class Overview:
    flows: dict[str, Any] = field(default_factory=dict)  # name -> definition
    open_by_state: dict[tuple[str, str], int] = field(default_factory=dict)
    today: list[dict[str, Any]] = field(default_factory=list)  # breaches and escalations
    backlog: dict[str, int] = field(default_factory=dict)  # day opened -> still open


def zone_of(service: Service) -> ZoneInfo:
    """The zone "today" is counted in: the first working calendar's (they share one)."""
    for name, calendar in sorted(service.calendars.items()):
        if name != "always":
            return calendar.tz
    return ZoneInfo("UTC")


def overview(service: Service, person: Person, now: datetime) -> Overview:
    seen = Overview()
    for name in sorted(service.flows):
        runtime = service.registry.for_new_case(name)
        if may_see(person, runtime):
            seen.flows[name] = runtime.definition
    if not seen.flows:
        return seen
    c, a = s.cases.c, s.audit.c
    zone = zone_of(service)
    today = now.astimezone(zone).date()
    with service.store.read() as conn:
        counts = conn.execute(
            select(c.flow, c.state, func.count())
            .where(c.closed.is_(False), c.flow.in_(list(seen.flows)))
            .group_by(c.flow, c.state)
        ).all()
        opened = conn.execute(
            select(c.opened_at).where(c.closed.is_(False), c.flow.in_(list(seen.flows)))
        ).scalars()
        backlog = Counter(
            datetime.fromisoformat(o).astimezone(zone).date().isoformat() for o in opened
        )
        recent = conn.execute(
            select(a.case_id, a.at, a.kind, a.what, c.flow)
            .join(s.cases, c.id == a.case_id)
            .where(
                c.flow.in_(list(seen.flows)),
                or_(a.kind == "escalate", (a.kind == "sla") & a.what.like("%: breached")),
            )
            .order_by(a.recorded_at.desc())
            .limit(RECENT_RECORDS)
        ).all()
    seen.open_by_state = {(f, st): n for f, st, n in counts}
    seen.backlog = dict(sorted(backlog.items(), reverse=True))
    for row in recent:
        at = datetime.fromisoformat(row.at).astimezone(zone)
        if at.date() == today:
            seen.today.append(
                {
                    "case_id": row.case_id,
                    "flow": row.flow,
                    "at": at,
                    "kind": row.kind,
                    "what": row.what,
                }
            )
    seen.today.sort(key=lambda r: r["at"], reverse=True)
    return seen
