"""Case ↔ JSON: every value keeps its type through the database and back.

Plain JSON values pass through; the others are tagged one-key objects:
`{"$dt": ISO with zone}`, `{"$date": ISO}`, `{"$time": ISO}`, `{"$dec": "1.50"}` (Decimal as
a string, so no precision is lost), `{"$td": seconds}`, `{"$tuple": [...]}`. A mapping that
itself has a single `$…` key is wrapped as `{"$map": {...}}` so it cannot be mistaken for a tag.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from engine.case import (
    Armed,
    Callback,
    Case,
    Escalation,
    Row,
    SlaClock,
    plain,
)

_TAGS = frozenset({"$dt", "$date", "$time", "$dec", "$td", "$tuple", "$map"})


class SerializationError(ValueError):
    """A value that cannot be stored faithfully (a naive datetime, an unknown type)."""


def encode(value: Any) -> Any:
    """A JSON-ready form of `value` that `decode` turns back into an equal value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise SerializationError(f"naive datetime {value.isoformat()} cannot be stored")
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SerializationError(f"mapping key {k!r} is not a string")
            out[k] = encode(v)
        if len(out) == 1 and next(iter(out)) in _TAGS:
            return {"$map": out}
        return out
    raise SerializationError(f"cannot store a value of type {type(value).__name__}: {value!r}")


def decode(value: Any) -> Any:
    """The inverse of `encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        tag, inner = next(iter(value.items()))
        if tag == "$dt":
            return datetime.fromisoformat(inner)
        if tag == "$date":
            return date.fromisoformat(inner)
        if tag == "$time":
            return time.fromisoformat(inner)
        if tag == "$dec":
            return Decimal(inner)
        if tag == "$td":
            return timedelta(seconds=inner)
        if tag == "$tuple":
            return tuple(decode(v) for v in inner)
        if tag == "$map":
            return {k: decode(v) for k, v in inner.items()}
    return {k: decode(v) for k, v in value.items()}


_CONTAINERS = (list, tuple, dict)


def _tagged(value: Any) -> Any:
    """`encode` of a value the C encoder cannot write; a zoned date-time, by far the most
    common, without the walk through every other type first."""
    if type(value) is datetime and value.utcoffset() is not None:
        return {"$dt": value.isoformat()}
    return encode(value)


# the C encoder calls `_tagged` only for the values JSON lacks (dates, decimals, …)
_encode_json = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_tagged, check_circular=False
).encode


def dumps(value: Any) -> str:
    """`encode` then compact JSON (non-ASCII kept readable). Every step writes mappings
    (a case, audit data), so a mapping has only its containers encoded in Python and its
    scalars left to the C encoder: the same text, in a fraction of the time."""
    if type(value) is dict:
        return _encode_json(_containers_encoded(value))
    return _encode_json(encode(value))


def _containers_encoded(mapping: dict[str, Any]) -> dict[str, Any]:
    """`encode` of a mapping, except for the scalar values (the C encoder's `default`)."""
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        if type(k) is not str:
            raise SerializationError(f"mapping key {k!r} is not a string")
        out[k] = encode(v) if isinstance(v, _CONTAINERS) else v
    if len(out) == 1 and next(iter(out)) in _TAGS:
        return {"$map": out}
    return out


def loads(text: str | None) -> Any:
    """Parse JSON written by `dumps` back into typed values."""
    return None if text is None else decode(json.loads(text))


def to_us(t: datetime) -> int:
    """Microseconds since the Unix epoch (an exact, sortable integer for indexes)."""
    delta = t.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """The UTC datetime of `to_us`."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


# ---------------------------------------------------------------- cases
# A case is written on every step, so its JSON is built straight from its rows, leaving
# the scalars to the C encoder as `dumps` does. Its output is exactly the generic
# `encode` of `case_to_row(case)` (tests/test_store.py checks that).


def _rows(names: tuple[str, ...], rows: tuple[Row, ...]) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in rows]


def case_to_row(case: Case) -> dict[str, Any]:
    """Everything about a case except its audit log (stored row by row elsewhere)."""
    return {
        "id": case.id,
        "flow": case.flow,
        "version": case.version,
        "flow_hash": case.flow_hash,
        "state": case.state,
        "fields": case.fields,
        "opened_at": case.opened_at,
        "entered_at": case.entered_at,
        "assignee": case.assignee,
        "escalation_level": case.escalation_level,
        "entries": case.entries,
        "escalations": _rows(Escalation._fields, case.escalation_rows),
        "tasks": case.tasks,
        "slas": {row[0]: dict(zip(SlaClock._fields, row, strict=True)) for row in case.sla_rows},
        "callbacks": _rows(Callback._fields, case.callback_rows),
        "timers": {row[0]: dict(zip(Armed._fields, row, strict=True)) for row in case.timer_rows},
        "notified": case.notified,
        "closed_at": case.closed_at,
    }


def case_to_json(case: Case) -> str:
    """The case (without its audit log) as one JSON document: `dumps(case_to_row(case))`."""
    row = case_to_row(case)
    row["fields"] = _containers_encoded(case.fields)
    row["tasks"] = encode(case.tasks)
    row["notified"] = {"$tuple": list(case.notified)}
    return _encode_json(row)


def _untag(d: dict[str, Any]) -> Any:
    """`decode` of one mapping whose values are decoded already (a `json` object hook)."""
    if len(d) == 1:
        tag, inner = next(iter(d.items()))
        if tag == "$dt":
            return datetime.fromisoformat(inner)
        if tag == "$tuple":
            return tuple(inner)
        if tag in _TAGS:
            return decode(d)
    return d


_load_case = json.JSONDecoder(object_hook=_untag).decode


def case_from_json(text: str, audit: tuple[Row, ...]) -> Case:
    """Rebuild a case from `case_to_json` output and its audit rows (see `audit_row`)."""
    # a `$map` wraps a mapping whose one key looks like a tag: the hook would untag the
    # inside first, so such a (rare) document takes the slower walk from the outside in
    d = loads(text) if '"$map"' in text else _load_case(text)
    return Case(
        id=d["id"],
        flow=d["flow"],
        version=d["version"],
        flow_hash=d["flow_hash"],
        state=d["state"],
        fields=d["fields"],
        opened_at=d["opened_at"],
        entered_at=d["entered_at"],
        assignee=d["assignee"],
        escalation_level=d["escalation_level"],
        entries=d["entries"],
        escalation_rows=tuple(plain(Escalation(**e)) for e in d["escalations"]),
        tasks=d["tasks"],
        sla_rows=tuple(plain(SlaClock(**v)) for v in d["slas"].values()),
        callback_rows=tuple(plain(Callback(**c)) for c in d["callbacks"]),
        timer_rows=tuple(plain(Armed(**v)) for v in d["timers"].values()),
        notified=tuple(d["notified"]),
        audit_rows=audit,
        closed_at=d["closed_at"],
    )
