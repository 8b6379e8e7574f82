"""Finding cases: the API's search and the console's queue, over the store's cases table.

The table filters (flow, state, open) run in SQL; what needs the case itself (a role it waits
for, its owner, SLA clocks, overdue tasks, text) is checked on each row read. Pages are
keyset-paginated — newest first, the cursor is the last row's (opened_at, id) — and one
request reads at most `SCAN_LIMIT` rows, so a query that matches little still answers in
bounded time, with a cursor to go on from.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import and_, or_, select

from engine.case import Case, Row
from engine.i18n import msg
from engine.service import Service
from engine.store import schema as s
from engine.store.serialize import case_from_json
from server.authz import may_see
from server.owners import cases_owned_by
from server.problems import Problem
from server.users import Person
from server.views import next_deadline

SCAN_LIMIT = 2_000
MAX_PAGE = 200


@dataclass(frozen=True)
class Query:
    flow: str | None = None
    state: str | None = None
    open_only: bool = True
    role: str | None = None  # cases in which this role may fire something now
    owner: str | None = None
    breaching_within: timedelta | None = None
    breached: bool = False
    overdue_tasks: bool = False
    text: str | None = None
    limit: int = 50
    cursor: str | None = None


def encode_cursor(opened_at: str, case_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([opened_at, case_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        opened_at, case_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(opened_at, str) and isinstance(case_id, str):
            return opened_at, case_id
    except (ValueError, TypeError):
        pass
    raise Problem(422, "invalid_cursor", msg("not a cursor this server gave"), field="cursor")


def _rows(service: Service, query: Query) -> Iterator[tuple[str, str, Case]]:
    c = s.cases.c
    statement = select(c.id, c.opened_at, c.data, c.audit_count)
    if query.flow:
        statement = statement.where(c.flow == query.flow)
    if query.state:
        statement = statement.where(c.state == query.state)
    if query.open_only:
        statement = statement.where(c.closed.is_(False))
    if query.cursor:
        opened_at, case_id = decode_cursor(query.cursor)
        statement = statement.where(
            or_(c.opened_at < opened_at, and_(c.opened_at == opened_at, c.id < case_id))
        )
    statement = statement.order_by(c.opened_at.desc(), c.id.desc()).limit(SCAN_LIMIT)
    with service.store.read() as conn:
        rows = conn.execute(statement).all()
    for row in rows:
        placeholders = (cast(Row, None),) * int(row.audit_count)
        yield row.id, row.opened_at, case_from_json(row.data, placeholders)


def _matches(
    service: Service,
    case: Case,
    person: Person,
    query: Query,
    owned: set[str] | None,
    now: datetime,
) -> bool:
    runtime = service.runtime_of(case)
    if not may_see(person, runtime):
        return False
    if owned is not None and case.id not in owned:
        return False
    if query.role is not None and not runtime.offers(case, person.id, query.role):
        return False
    if query.breached or query.breaching_within is not None:
        left, breached = next_deadline(case, now)
        soon = (
            query.breaching_within is not None
            and left is not None
            and left <= query.breaching_within
        )
        if not (breached and query.breached) and not soon:
            return False
    if query.overdue_tasks and "overdue" not in case.tasks.values():
        return False
    if query.text:
        needle = query.text.casefold()
        haystack = [case.id, *(str(v) for v in case.fields.values() if v is not None)]
        if not any(needle in h.casefold() for h in haystack):
            return False
    return True


def search(
    service: Service, person: Person, query: Query, now: datetime
) -> tuple[list[Case], str | None]:
    """One page of matching cases the person may see, and the cursor of the next page
    (None at the end)."""
    owned = cases_owned_by(service, query.owner) if query.owner is not None else None
    found: list[Case] = []
    last: tuple[str, str] | None = None
    scanned = 0
    for case_id, opened_at, case in _rows(service, query):
        scanned += 1
        last = (opened_at, case_id)
        if _matches(service, case, person, query, owned, now):
            found.append(case)
            if len(found) == query.limit:
                return found, encode_cursor(*last)
    more = scanned == SCAN_LIMIT and last is not None
    return found, encode_cursor(*last) if more and last else None
