"""首问负责制: every case has an owner person — the first person who acts on it, or who
claims it — until it is handed over. Ownership is the server's (the engine knows roles, not
people); every claim and hand-over is also a `note` in the case's own audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from engine.i18n import msg
from engine.service import Service
from server import tables as t

_o = t.case_owners


def owner_of(service: Service, case_id: str) -> str | None:
    with service.store.read() as conn:
        found = conn.execute(select(_o.c.person).where(_o.c.case_id == case_id)).scalar()
    return None if found is None else str(found)


def owners_of(service: Service, case_ids: list[str]) -> dict[str, str]:
    """The owners of many cases at once (for a queue)."""
    found: dict[str, str] = {}
    with service.store.read() as conn:
        for start in range(0, len(case_ids), 500):
            chunk = case_ids[start : start + 500]
            rows = conn.execute(select(_o.c.case_id, _o.c.person).where(_o.c.case_id.in_(chunk)))
            found.update({r.case_id: r.person for r in rows})
    return found


def cases_owned_by(service: Service, person: str) -> set[str]:
    with service.store.read() as conn:
        return {r[0] for r in conn.execute(select(_o.c.case_id).where(_o.c.person == person))}


def _set(service: Service, case_id: str, person: str) -> None:
    since = datetime.now(UTC).isoformat(timespec="seconds")
    with service.store.write() as conn:
        if conn.execute(select(_o.c.person).where(_o.c.case_id == case_id)).first() is None:
            conn.execute(insert(_o).values(case_id=case_id, person=person, since=since))
        else:
            conn.execute(
                update(_o).where(_o.c.case_id == case_id).values(person=person, since=since)
            )


def first_touch(service: Service, case_id: str, person: str) -> None:
    """After a person acted on a case: they own it if nobody did."""
    if owner_of(service, case_id) is None:
        _set(service, case_id, person)


def hand_over(
    service: Service, case_id: str, by: str, role: str | None, to: str, previous: str | None
) -> None:
    """Move the case to `to` (a claim when `to` is `by` and nobody owned it), audited."""
    if previous is None and to == by:
        what = msg("claimed by {person} (首问负责)", person=to)
    else:
        what = msg(
            "handed over from {before} to {after} by {by}", before=previous or "—", after=to, by=by
        )
    service.note(case_id, what, by, role, {"owner": to, "previous_owner": previous})
    _set(service, case_id, to)
