"""A running case: its state, fields, clocks, timers, tasks, callbacks and audit log.

Cases are plain slotted objects (small and fast: a case sits in memory by the hundred
thousand in the simulator). Only `engine.runtime` changes them, inside a step that is rolled
back whole if anything fails.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, NamedTuple, TypeVar, overload

SlaStatus = Literal["pending", "running", "paused", "met", "breached"]


class AuditRecord(NamedTuple):
    """One line of the append-only log: when, who (and role), what, and the state change.

    Records of kind `opened`, `event` and `timer` are the inputs; replaying them rebuilds
    the case. The others (`action`, `note`, `sla`, …) say what those inputs did. Immutable,
    like the log itself; the case stores it as a plain row (see `Row` and `audit_row`).
    """

    seq: int
    at: datetime
    actor: str | None
    role: str | None
    kind: str
    what: str
    before: str | None
    after: str | None
    data: dict[str, Any] | None = None
    line: int = 0  # the flow line that did it (which `on`/`when` was taken), for coverage


_view = tuple.__new__  # a plain tuple seen as a NamedTuple of the same fields, by reference

Row = tuple[Any, ...]
"""A record stored as a plain tuple. CPython's garbage collector stops tracking an exact
tuple of atomic values (strings, numbers, date-times, None) but never a NamedTuple, and
every object it tracks in the live cases adds to each full collection: with 100,000 cases
that was close to half the time of a step. So a case stores its records as rows and gives
them back as NamedTuple views."""


R = TypeVar("R", bound=tuple[Any, ...])


def views(kind: type[R], rows: Iterable[Row]) -> tuple[R, ...]:
    """Rows read as the NamedTuple `kind` (the values are not copied)."""
    return tuple([_view(kind, row) for row in rows])


def plain(record: tuple[Any, ...]) -> Row:
    """`record` (a NamedTuple) as a row: an exact tuple of the same values."""
    return tuple(record)


def record_of(row: Row) -> AuditRecord:
    """An audit row (see `AuditLog`) read as an `AuditRecord`."""
    data = row[8]
    if type(data) is tuple:  # stored as (key, value) pairs: see `audit_row`
        row = (*row[:8], dict(data), *row[9:])
    return _view(AuditRecord, row)


def audit_row(record: AuditRecord) -> Row:
    """An audit record as a case stores it: a row, its data as (key, value) pairs so that
    a row of atomic values holds no dict."""
    return (*record[:8], data_row(record.data), record.line)


def data_row(data: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...] | None:
    """An audit record's data as stored in a row: (key, value) pairs, None when empty."""
    return tuple(data.items()) if data else None


class AuditLog(Sequence[AuditRecord]):
    """A case's append-only audit log (a read-only view of its rows) as `AuditRecord`s."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Sequence[Row]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[AuditRecord]:
        for row in self._rows:
            yield record_of(row)

    @overload
    def __getitem__(self, index: int) -> AuditRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[AuditRecord]: ...
    def __getitem__(self, index: int | slice) -> AuditRecord | list[AuditRecord]:
        if isinstance(index, slice):
            return [record_of(row) for row in self._rows[index]]
        return record_of(self._rows[index])

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


class Armed(NamedTuple):
    """A pending timer of a case; `key` names it (`T:state#n`, `K:task`, `S:sla:…`)."""

    key: str
    due: datetime
    order: int  # the source line: same-instant timers fire in file order
    token: int  # the state entry that armed it, so a stale wake-up is recognised
    count: int = 0  # type: ignore[assignment]  # times fired; shadows tuple.count on purpose
    estimated: bool = False  # the deadline relies on guessed holiday data


class SlaClock(NamedTuple):
    """An SLA's clock: allowed time and time used, measured on the SLA's own clock."""

    name: str
    status: SlaStatus = "pending"
    started_at: datetime | None = None
    budget: float = 0.0  # seconds (elapsed or open time) allowed
    used: float = 0.0  # seconds used up to `since`
    since: datetime | None = None  # when the clock last resumed (running only)
    deadline: datetime | None = None
    ended_at: datetime | None = None
    warned: int = 0  # number of warnings fired


SLA_STATUS_AT = SlaClock._fields.index("status")  # where the status is in a clock's row


class Callback(NamedTuple):
    """A follow-up call (回访) opened by `callback`, closed by the event `callback_done`."""

    label: str
    role: str
    opened_at: datetime
    due: datetime | None
    done_at: datetime | None = None


class Escalation(NamedTuple):
    level: int
    role: str
    reason: str | None
    at: datetime


class Notification(NamedTuple):
    """An outgoing message to a role; `kind` is `notify` or `escalation`. `id` is stable
    (`CASE#SEQ`, the seq of its `notify` audit record): a receiver that gets it twice (the
    outbox delivers at least once) drops the second."""

    case_id: str
    role: str
    message: str
    at: datetime
    kind: str = "notify"
    id: str = ""


# Where a host delivers each notification (Engine.add_notifier, Service(notifier=…)).
Notifier = Callable[[Notification], None]


def row_of(rows: tuple[Row, ...], key: str) -> Row | None:
    """The row whose first value is `key` (a timer's key, an SLA's name), if any."""
    for row in rows:
        if row[0] == key:
            return row
    return None


def with_row(rows: tuple[Row, ...], row: Row) -> tuple[Row, ...]:
    """`rows` with `row` replacing the one of the same key in place, or added at the end."""
    key = row[0]
    for i, old in enumerate(rows):
        if old[0] == key:
            return (*rows[:i], row, *rows[i + 1 :])
    return (*rows, row)


@dataclass(slots=True)
class Case:
    """One running instance of a flow.

    Timers, SLA clocks, escalations, callbacks and the audit log are stored as tuples of
    rows (`*_rows`, see `Row`; a timer's or clock's row starts with its key), replaced
    whole on change: a list or dict would be walked, or tracked again, by the collector.
    Read them as `timers`, `slas`, `escalations`, `callbacks` and `audit`, or `timer(key)`
    and `sla(name)`.
    """

    id: str
    flow: str
    version: int
    flow_hash: str
    state: str
    fields: dict[str, Any]
    opened_at: datetime
    entered_at: datetime
    assignee: str | None = None
    escalation_level: int = 0
    entries: int = 0  # state entries so far (arms timers with a token)
    escalation_rows: tuple[Row, ...] = ()
    tasks: dict[str, str] = field(default_factory=dict)  # name -> open | done | overdue
    sla_rows: tuple[Row, ...] = ()
    callback_rows: tuple[Row, ...] = ()
    timer_rows: tuple[Row, ...] = ()
    notified: tuple[str, ...] = ()  # roles, in order, one per notification
    audit_rows: tuple[Row, ...] | list[Row] = ()  # read as `audit`; see `append_audit`
    closed_at: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def append_audit(self, rows: tuple[Row, ...]) -> None:
        """Append rows to the audit log. A new case's log is a tuple, which the collector
        stops tracking, so opening many cases stays cheap; from the case's next step on it
        is a list, as appending to a tuple would copy it every time."""
        log = self.audit_rows
        if type(log) is list:
            log.extend(rows)
        elif log:
            self.audit_rows = [*log, *rows]
        else:
            self.audit_rows = rows

    @property
    def audit(self) -> AuditLog:
        """The append-only audit log, oldest first."""
        return AuditLog(self.audit_rows)

    @property
    def timers(self) -> Mapping[str, Armed]:
        """Pending timers by key (a copy)."""
        return {row[0]: _view(Armed, row) for row in self.timer_rows}

    @property
    def slas(self) -> Mapping[str, SlaClock]:
        """SLA clocks by name, from the moment each one starts (a copy)."""
        return {row[0]: _view(SlaClock, row) for row in self.sla_rows}

    def timer(self, key: str) -> Armed | None:
        """The pending timer `key`, if armed."""
        row = row_of(self.timer_rows, key)
        return None if row is None else _view(Armed, row)

    def sla(self, name: str) -> SlaClock | None:
        """The clock of SLA `name`, once started."""
        row = row_of(self.sla_rows, name)
        return None if row is None else _view(SlaClock, row)

    @property
    def escalations(self) -> tuple[Escalation, ...]:
        """Escalations, oldest first."""
        return views(Escalation, self.escalation_rows)

    @property
    def callbacks(self) -> tuple[Callback, ...]:
        """Callbacks (回访), in the order they were opened."""
        return views(Callback, self.callback_rows)

    def snapshot(self) -> dict[str, Any]:
        """Everything about the case as plain data (for comparison, replay checks and JSON)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("escalation_rows", "callback_rows", "sla_rows", "timer_rows", "audit_rows"):
            del out[name]
        out["escalations"] = [e._asdict() for e in self.escalations]
        out["callbacks"] = [c._asdict() for c in self.callbacks]
        out["slas"] = {k: v._asdict() for k, v in self.slas.items()}
        out["timers"] = {k: v._asdict() for k, v in self.timers.items()}
        out["audit"] = list(self.audit)
        return copy.deepcopy(out)  # nothing shared with the live case
