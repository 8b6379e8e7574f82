"""Case correlation: cases of one flow that share a key value (`keys: unit, phone`).

`earlier_cases(30d)` and `last_case(30d)` ask the host's index of cases — which only the
host has: the in-memory Engine and the load simulation keep a `CaseIndex`, the durable
Service queries its store in the step's transaction. The host puts its index in `CURRENT`
around a step (`using`), so the runtime stays free of I/O and of the host.

A case is indexed under each key field's value as soon as a step leaves it set (a value it
later changes to stays indexed too: the case was raised about both).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Protocol

from engine.case import Case


class Related(Protocol):
    """An index of cases by key value, as a host keeps it."""

    def earlier(self, flow: str, values: Mapping[str, str], since: datetime, until: datetime,
                exclude: str) -> list[tuple[datetime, str]]:  # fmt: skip
        """(opened_at, case id) of the flow's cases, other than `exclude`, sharing any of
        `values` (key → value) and opened in [since, until], oldest first."""
        ...


CURRENT: ContextVar[Related | None] = ContextVar("flowdesk_related_cases", default=None)


@contextmanager
def using(index: Related | None) -> Iterator[None]:
    """Make `index` the one expressions ask during the steps run inside."""
    token = CURRENT.set(index)
    try:
        yield
    finally:
        CURRENT.reset(token)


def key_values(keys: Sequence[str], fields: Mapping[str, Any]) -> dict[str, str]:
    """The case's set key fields, each as text (what the index matches on)."""
    return {k: str(fields[k]) for k in keys if fields.get(k) is not None}


class CaseIndex:
    """An in-memory `Related`: (flow, key, value) → the cases raised about it."""

    def __init__(self) -> None:
        self._cases: dict[tuple[str, str, str], list[tuple[datetime, str]]] = {}
        self._indexed: set[tuple[str, str, str]] = set()  # (case id, key, value)

    def add(self, case: Case, keys: Sequence[str]) -> None:
        """Index the case under its current key values (each once)."""
        for key, value in key_values(keys, case.fields).items():
            if (case.id, key, value) not in self._indexed:
                self._indexed.add((case.id, key, value))
                self._cases.setdefault((case.flow, key, value), []).append(
                    (case.opened_at, case.id)
                )

    def earlier(self, flow: str, values: Mapping[str, str], since: datetime, until: datetime,
                exclude: str) -> list[tuple[datetime, str]]:  # fmt: skip
        found: dict[str, datetime] = {}
        for key, value in values.items():
            for at, case_id in self._cases.get((flow, key, value), ()):
                if case_id != exclude and since <= at <= until:
                    found[case_id] = at
        return sorted((at, case_id) for case_id, at in found.items())
