"""A step in progress (`_Ctx`): what it saved to undo itself, the effects it produced, and
what expressions see; the one writer of the audit rows a step adds (`record`, `system`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from engine.case import (
    Case,
    Row,
    data_row,
)
from engine.runtime.plans import _MISSING, Run, Step, _new_tuple

# ---------------------------------------------------------------- the step context


# What a step may change in a case besides its dicts and audit log: saved at the start of
# every step and put back if it fails. The dicts (`fields`, `tasks`) are journalled key by
# key instead, and the step's audit rows are only appended when it succeeds.
_SAVED = tuple(
    sorted(
        f.name
        for f in dataclass_fields(Case)
        if f.name
        not in {"id", "flow", "version", "flow_hash", "opened_at", "fields", "tasks", "audit_rows"}
    )
)


class _Ctx:
    """One step in progress: what it needs to undo it, the effects it produced, and what
    expressions see (it is their `Scope`)."""

    __slots__ = ("actor", "armed", "audit_mark", "auto_steps", "cancelled", "case", "emitted",
                 "fields", "hook_calls", "id", "journal", "new_rows", "notifications", "now",
                 "role", "saved", "state")  # fmt: skip

    def __init__(self, case: Case, now: datetime, actor: str | None, role: str | None) -> None:
        self.case = case
        self.now = now
        self.actor = actor
        self.role = role
        # the values of `_SAVED` in its order (a test holds it to it), read one by one here:
        # an `attrgetter` of these eleven names costs five times as much, a call more again
        self.saved = (case.assignee, case.callback_rows, case.closed_at, case.entered_at,
                      case.entries, case.escalation_level, case.escalation_rows, case.notified,
                      case.sla_rows, case.state, case.timer_rows)  # fmt: skip
        self.journal: list[tuple[dict[str, Any], str, Any]] = []  # (dict, key, old value)
        self.audit_mark = len(case.audit_rows)
        self.new_rows: list[Row] = []  # audit rows, appended to the case when the step ends
        # effects: tuples grown by `+=` (most steps add none or one, and Step takes them as is)
        self.notifications: tuple[Row, ...] = ()
        self.hook_calls: tuple[tuple[str, tuple[Any, ...]], ...] = ()
        self.armed: tuple[Row, ...] = ()
        self.cancelled: tuple[str, ...] = ()
        self.emitted: tuple[str, ...] = ()  # events raised by `emit`, fired after the step
        self.auto_steps = 0
        # what expressions see (a step context is their `Scope`)
        self.fields: Mapping[str, Any] = case.fields
        self.state = case.state
        self.id = case.id

    # journalled changes to the case's dicts -------------------------------------------
    @property
    def sla_rows(self) -> tuple[Row, ...]:
        """The case's SLA clocks as they stand in this step (what `sla_status` reads)."""
        return self.case.sla_rows

    def put(self, mapping: dict[str, Any], key: str, value: Any) -> None:
        self.journal.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def drop(self, mapping: dict[str, Any], key: str) -> Any:
        old = mapping.pop(key, _MISSING)
        if old is not _MISSING:
            self.journal.append((mapping, key, old))
        return old

    def record(self, kind: str, what: str, before: str | None = None, after: str | None = None,
               data: Mapping[str, Any] | None = None, actor: bool = True,
               line: int = 0) -> None:  # fmt: skip
        rows = self.new_rows
        who, role = (self.actor, self.role) if actor else (None, None)
        rows.append((self.audit_mark + len(rows) + 1, self.now, who, role, kind, what, before,
                     after, data_row(data), line))  # fmt: skip

    def system(self, kind: str, what: str) -> None:
        """An audit record the engine writes itself (no actor, no data): the frequent kind."""
        rows = self.new_rows
        rows.append((self.audit_mark + len(rows) + 1, self.now, None, None, kind, what, None,
                     None, None, 0))  # fmt: skip

    def rollback(self) -> None:
        """Undo every change of this step."""
        case = self.case
        for mapping, key, old in reversed(self.journal):
            if old is _MISSING:
                mapping.pop(key, None)
            else:
                mapping[key] = old
        for name, value in zip(_SAVED, self.saved, strict=True):
            setattr(case, name, value)

    def finish(self) -> Step:
        records = tuple(self.new_rows)
        self.case.append_audit(records)
        return _new_tuple(Step, (self.case, self.notifications, self.hook_calls, self.armed,
                                 self.cancelled, records))  # fmt: skip

    def emit(self, event: str) -> None:
        self.emitted += (event,)

    def call(self, hook: str, args: tuple[Any, ...]) -> None:
        self.hook_calls += ((hook, args),)


# ---------------------------------------------------------------- the runtime


def _run_all(ctx: _Ctx, actions: tuple[Run, ...]) -> None:
    for action in actions:
        action(ctx)


def _lateness(due: datetime, late: bool, fired_at: datetime | None) -> dict[str, Any] | None:
    """A timer record's data: only a late firing says when it was due (on time, `at` is it)
    and, when known, when it really fired (replay needs it to coalesce missed periods).

    None rather than a dict keeps the record a tuple of atomic values, which the GC untracks.
    """
    if not late:
        return None
    if fired_at is None:
        return {"due": due.isoformat(), "late": True}
    return {"due": due.isoformat(), "late": True, "fired_at": fired_at.isoformat()}
