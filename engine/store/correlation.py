"""Case correlation in the store: the `case_keys` index (flow, key, value → cases), read and
written in the step's own transaction, so `earlier_cases` sees exactly the committed cases
and a case is findable as soon as the step that set its key commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, insert, or_, select

from engine.case import Case
from engine.correlation import key_values
from engine.store import schema as s
from engine.store.serialize import from_us, to_us

MAX_RELATED = 10_000  # related cases one lookup returns (the newest are kept)


class StoreIndex:
    """A `correlation.Related` over one transaction's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def earlier(self, flow: str, values: Mapping[str, str], since: datetime, until: datetime,
                exclude: str) -> list[tuple[datetime, str]]:  # fmt: skip
        k = s.case_keys.c
        matches = or_(*[(k.key == key) & (k.value == value) for key, value in values.items()])
        query = (
            select(k.case_id, k.opened_us)
            .where(
                k.flow == flow,
                matches,
                k.opened_us.between(to_us(since), to_us(until)),
                k.case_id != exclude,
            )
            .order_by(k.opened_us.desc())
            .limit(MAX_RELATED)
        )
        found = {case_id: int(us) for case_id, us in self.conn.execute(query)}
        return sorted((from_us(us), case_id) for case_id, us in found.items())


def index_case(conn: Connection, case: Case, keys: Sequence[str]) -> None:
    """Record the case under the key values it has now (each pair once)."""
    values = key_values(keys, case.fields)
    if not values:
        return
    k = s.case_keys.c
    known = {
        (key, value)
        for key, value in conn.execute(select(k.key, k.value).where(k.case_id == case.id))
    }
    rows = [
        {
            "case_id": case.id,
            "flow": case.flow,
            "key": key,
            "value": value,
            "opened_us": to_us(case.opened_at),
        }
        for key, value in values.items()
        if (key, value) not in known
    ]
    if rows:
        conn.execute(insert(s.case_keys), rows)
