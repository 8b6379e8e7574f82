"""A running case: its state, fields, clocks, timers, tasks, callbacks and audit log.

Cases are plain slotted objects (small and fast: a case sits in memory by the hundred
thousand in the simulator). Only `engine.runtime` changes them, inside a step that is rolled
back whole if anything fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, SupportsIndex, overload

SlaStatus = Literal["pending", "running", "paused", "met", "breached"]


class AuditRecord(NamedTuple):
    """One line of the append-only log: when, who (and role), what, and the state change.

    Records of kind `opened`, `event` and `timer` are the inputs; replaying them rebuilds
    the case. The others (`action`, `note`, `sla`, …) say what those inputs did. Immutable,
    like the log itself (and a tuple, so the garbage collector need not track it).
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


_as_record = tuple.__new__  # a plain tuple viewed as an AuditRecord, without copying


class AuditLog(list[AuditRecord]):
    """A case's append-only audit log, read as `AuditRecord`s.

    The runtime stores records as plain tuples: CPython's collector stops tracking an exact
    tuple of atomic values, but never a NamedTuple subclass, and with many live cases every
    tracked record adds to the full collections. Reading (iteration, indexing, slicing)
    gives `AuditRecord`s as usual.
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[AuditRecord]:
        for item in super().__iter__():
            yield _as_record(AuditRecord, item)

    @overload
    def __getitem__(self, index: SupportsIndex) -> AuditRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[AuditRecord]: ...
    def __getitem__(self, index: SupportsIndex | slice) -> AuditRecord | list[AuditRecord]:
        if isinstance(index, slice):
            return [_as_record(AuditRecord, item) for item in super().__getitem__(index)]
        return _as_record(AuditRecord, super().__getitem__(index))


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
    """An outgoing message to a role; `kind` is `notify` or `escalation`."""

    case_id: str
    role: str
    message: str
    at: datetime
    kind: str = "notify"


@dataclass(slots=True)
class Case:
    """One running instance of a flow."""

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
    escalations: tuple[Escalation, ...] = ()  # tuples: shared when empty, replaced on change
    tasks: dict[str, str] = field(default_factory=dict)  # name -> open | done | overdue
    slas: dict[str, SlaClock] = field(default_factory=dict)
    callbacks: tuple[Callback, ...] = ()
    timers: dict[str, Armed] = field(default_factory=dict)
    notified: tuple[str, ...] = ()  # roles, in order, one per notification
    audit: list[AuditRecord] = field(default_factory=AuditLog)  # always an AuditLog
    closed_at: datetime | None = None

    def __post_init__(self) -> None:
        if type(self.audit) is not AuditLog:  # a list from a store or a caller
            self.audit = AuditLog(self.audit)

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def snapshot(self) -> dict[str, Any]:
        """Everything about the case as plain data (for comparison, replay checks and JSON)."""
        from dataclasses import asdict

        return asdict(self)
