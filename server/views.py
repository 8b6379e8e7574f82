"""What a person sees of a case, as plain data: the API returns it as JSON and the console
renders it. Labels come from the flow; durations and dates are said in the reader's
language; the actions are the events this person may fire now, with typed parameters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.case import AuditRecord, Case, SlaClock
from engine.definition import FieldDef, FlowDefinition
from engine.i18n import localize, msg
from engine.i18n.formats import format_datetime, format_duration
from engine.runtime import FlowRuntime
from server.users import Person

STATUS = {
    "pending": msg("pending"),
    "running": msg("running"),
    "paused": msg("paused"),
    "met": msg("met"),
    "breached": msg("breached"),
}
URGENT = timedelta(hours=2)
SOON = timedelta(days=1)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def state_label(definition: FlowDefinition, state: str) -> str:
    found = next((s for s in definition.states if s.name == state), None)
    return found.label or state if found is not None else state


def time_left(clock: SlaClock, now: datetime) -> timedelta | None:
    """Time until the SLA breaches: to its deadline while running, what is left of its
    budget while paused; None once met or breached or before it starts."""
    if clock.status == "running" and clock.deadline is not None:
        return clock.deadline - now
    if clock.status == "paused":
        return timedelta(seconds=clock.budget - clock.used)
    return None


def band(left: timedelta | None, breached: bool) -> str:
    """The queue's colour band: breached, under 2 h, under a day, later, or none."""
    if breached:
        return "breached"
    if left is None:
        return "none"
    if left <= timedelta(0):
        return "breached"
    return "urgent" if left < URGENT else "soon" if left < SOON else "later"


def sla_views(
    definition: FlowDefinition, case: Case, now: datetime, language: str
) -> list[dict[str, Any]]:
    labels = {s.name: s.label or s.name for s in definition.slas}
    out = []
    for name, clock in case.slas.items():
        left = time_left(clock, now)
        out.append(
            {
                "name": name,
                "label": labels.get(name, name),
                "status": clock.status,
                "status_text": localize(STATUS[clock.status], language),
                "deadline": _iso(clock.deadline),
                "deadline_text": format_datetime(clock.deadline, language)
                if clock.deadline
                else None,
                "seconds_left": None if left is None else round(left.total_seconds()),
                "left_text": None if left is None else format_duration(left, language),
                "band": band(left, clock.status == "breached"),
            }
        )
    return out


def next_deadline(case: Case, now: datetime) -> tuple[timedelta | None, bool]:
    """The time to the case's next SLA breach (None: no clock running) and whether one
    has breached already: what the queue sorts by."""
    lefts = [x for c in case.slas.values() if (x := time_left(c, now)) is not None]
    breached = any(c.status == "breached" for c in case.slas.values())
    return (min(lefts) if lefts else None), breached


def field_view(f: FieldDef) -> dict[str, Any]:
    return {
        "name": f.name,
        "label": f.label or f.name,
        "type": f.type,
        "choices": list(f.choices),
        "optional": f.optional,
    }


def actions(runtime: FlowRuntime, case: Case, person: Person) -> list[dict[str, Any]]:
    """The events the person may fire now, in each role they may fire it in."""
    if case.closed:
        return []
    by_name = {f.name: f for f in runtime.definition.fields}
    found: dict[str, dict[str, Any]] = {}
    for role in person.roles:
        if role not in runtime.roles:
            continue
        for offer in runtime.offers(case, person.id, role):
            seen = found.get(offer.event)
            if seen is not None:
                seen["roles"].append(role)
                continue
            params = []
            for name, optional in offer.params:
                definition = by_name.get(name)
                shown = (
                    field_view(definition)
                    if definition
                    else {"name": name, "label": name, "type": "text", "choices": []}
                )
                params.append({**shown, "optional": optional})
            found[offer.event] = {
                "event": offer.event,
                "kind": offer.kind,
                "label": offer.label,
                "roles": [role],
                "params": params,
            }
    return list(found.values())


def record_view(r: AuditRecord, language: str) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "at": r.at.isoformat(),
        "at_text": format_datetime(r.at, language),
        "actor": r.actor,
        "role": r.role,
        "kind": r.kind,
        "what": r.what,
        "before": r.before,
        "after": r.after,
        "data": {k: _plain(v) for k, v in (r.data or {}).items()},
    }


def case_view(
    runtime: FlowRuntime,
    case: Case,
    version: int,
    person: Person,
    owner: str | None,
    now: datetime,
    language: str,
) -> dict[str, Any]:
    """Everything the API's case resource holds."""
    definition = runtime.definition
    tasks = {t.name: t for s in definition.states for t in s.tasks}
    left, breached = next_deadline(case, now)
    return {
        "id": case.id,
        "flow": case.flow,
        "flow_label": definition.label or case.flow,
        "flow_version": case.version,
        "version": version,
        "state": case.state,
        "state_label": state_label(definition, case.state),
        "closed": case.closed,
        "opened_at": case.opened_at.isoformat(),
        "owner": owner,
        "assignee": case.assignee,
        "fields": [
            {**field_view(f), "value": _plain(case.fields.get(f.name))} for f in definition.fields
        ],
        "tasks": [
            {"name": n, "label": tasks[n].label if n in tasks else None, "status": s}
            for n, s in case.tasks.items()
        ],
        "callbacks": [
            {
                "label": c.label,
                "role": c.role,
                "opened_at": _iso(c.opened_at),
                "due": _iso(c.due),
                "done_at": _iso(c.done_at),
            }
            for c in case.callbacks
        ],
        "timers": [
            {"key": a.key, "due": a.due.isoformat(), "due_text": format_datetime(a.due, language)}
            for a in sorted(case.timers.values(), key=lambda a: (a.due, a.order))
        ],
        "slas": sla_views(definition, case, now, language),
        "next_breach_seconds": None if left is None else round(left.total_seconds()),
        "band": band(left, breached),
        "escalations": [
            {"level": e.level, "role": e.role, "reason": e.reason, "at": e.at.isoformat()}
            for e in case.escalations
        ],
        "actions": actions(runtime, case, person),
    }
