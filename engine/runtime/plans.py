"""The compiled pieces of a flow the runtime runs on (transitions, timers, tasks, states,
SLAs), what a step returns (`Step`), and what the runtime's parts read of each other."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from engine import definition as d
from engine.calendar import Calendar, WallRule
from engine.case import (
    Armed,
    AuditRecord,
    Case,
    Notification,
    Row,
    record_of,
    views,
)
from engine.expressions import (
    Evaluator,
    ExpressionCompiler,
)
from engine.fields import FieldSchema
from engine.functions import FlowInfo
from engine.i18n import msg

if TYPE_CHECKING:
    from engine.runtime.context import _Ctx

MAX_AUTOMATIC_STEPS = 100
MAX_MISSED_PERIODS = 10_000  # periods of one `every` timer skipped by counting, then jumped
_new_tuple = tuple.__new__
_MISSING = object()
_NO_VALUES: dict[str, Any] = {}  # an event without data (never changed)


class Step(NamedTuple):
    """What one step did: the case (changed in place) and its effects, as data.

    Effects are kept as rows (see `engine.case.Row`: a simulation may hold thousands of
    steps at once, and rows cost the garbage collector nothing) and read as NamedTuples
    through `notifications`, `armed` and `records`.
    """

    case: Case
    notification_rows: tuple[Row, ...] = ()
    hook_calls: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    armed_rows: tuple[Row, ...] = ()  # the very rows the case now holds in `timer_rows`
    cancelled: tuple[str, ...] = ()
    record_rows: tuple[Row, ...] = ()

    @property
    def notifications(self) -> tuple[Notification, ...]:
        """Messages to deliver, in order."""
        return views(Notification, self.notification_rows)

    @property
    def armed(self) -> tuple[Armed, ...]:
        """Timers armed (or re-armed) by the step."""
        return views(Armed, self.armed_rows)

    @property
    def records(self) -> tuple[AuditRecord, ...]:
        """The audit records the step appended."""
        return tuple(record_of(row) for row in self.record_rows)


class Offer(NamedTuple):
    """An event a caller may fire now: its name, what it is (`event`, `task` done, or a
    `callback` answered), its parameters (name, optional) and a label when it has one."""

    event: str
    kind: str
    params: tuple[tuple[str, bool], ...] = ()
    label: str | None = None


# ---------------------------------------------------------------- compiled pieces

Run = Callable[["_Ctx"], None]


@dataclass(slots=True)
class _Transition:
    event: str
    params: dict[str, bool]  # name -> optional
    guard: Evaluator | None
    target: str | None
    roles: frozenset[str]
    actions: tuple[Run, ...]
    line: int
    holders: tuple[str, ...] = ()  # `by FIELD`: fields naming the role or person allowed

    def allows(self, case: Case, actor: str | None, role: str | None) -> bool:
        """Whether this caller may fire the line: its `by` roles, or the role or person a
        `by FIELD` names (anyone, without `by`)."""
        if not self.roles and not self.holders:
            return True
        if role in self.roles:
            return True
        fields = case.fields
        return any(
            (held := fields.get(f)) is not None and held in (role, actor) for f in self.holders
        )

    def who(self, case: Case) -> list[str]:
        """Who may fire the line, for a refusal's message."""
        held = [
            msg("whoever `{f}` names ({value})", f=f, value=case.fields.get(f) or "not set")
            for f in self.holders
        ]
        return [*sorted(self.roles), *held]


@dataclass(slots=True)
class _Timer:
    key: str
    definition: d.TimerDef
    at: Evaluator | None
    wall: tuple[time, WallRule] | None
    actions: tuple[Run, ...]
    after: Callable[[datetime], datetime] | None  # `after`/`every`: start -> due


@dataclass(slots=True)
class _Task:
    definition: d.TaskDef
    roles: frozenset[str]
    overdue: tuple[Run, ...]


@dataclass(slots=True)
class _State:
    name: str
    final: bool
    enter: tuple[Run, ...]
    exit: tuple[Run, ...]
    by_event: dict[str, list[_Transition]]
    automatic: list[tuple[Evaluator | None, str, int]]  # guard (None: all tasks done), target
    timers: list[_Timer]
    tasks: dict[str, _Task]
    # SLAs whose clock may change on entering this state; True: only if it is paused (a
    # state outside the SLA's pause list resumes it)
    slas: list[tuple[_Sla, bool]]
    follows_data: bool = False  # has `at EXPR` timers, re-armed when the data they read changes
    exit_keys: frozenset[str] = frozenset()  # its timers' and tasks' timer keys, ended on exit
    # (event, role) -> the transitions that role may take: filled as events come
    allowed: dict[tuple[str, str | None], list[_Transition]] = field(default_factory=dict)


@dataclass(slots=True)
class _Warning:
    key: str
    percent: float | None
    before: d.Duration | None
    actions: tuple[Run, ...]
    line: int


@dataclass(slots=True)
class _Sla:
    definition: d.SlaDef
    working: bool
    warnings: list[_Warning]
    breach: tuple[Run, ...]
    breach_key: str
    timer_keys: frozenset[str]  # its warnings' and breach's


class Parts:
    """What every part of the runtime (actions, timers, SLAs, dispatch) reads of the
    compiled flow; `FlowRuntime.__init__` fills it."""

    definition: d.FlowDefinition
    calendar: Calendar
    schema: FieldSchema
    roles: frozenset[str]
    hooks: Mapping[str, Callable[..., Any]]
    states: dict[str, _State]
    slas: list[_Sla]
    timers: dict[str, _Timer]
    _exprs: ExpressionCompiler
    _info: FlowInfo
    _tasks: dict[str, tuple[_State, _Task]]
    _warnings: dict[str, tuple[_Sla, _Warning, int]]
    _breaches: dict[str, _Sla]


def _adder(calendar: Calendar, duration: d.Duration) -> Callable[[datetime], datetime]:
    """`start -> start + duration` on the calendar (what `add_duration` does), with the
    unit's case settled once."""
    if duration.unit == "working_days":
        days = int(duration.amount)
        return lambda start: calendar.add_working_days(start, days)
    step = timedelta(seconds=duration.amount)
    if duration.unit == "working_seconds":
        return lambda start: calendar.add_working_time(start, step)
    return lambda start: start + step


def _takes(t: _Transition, values: Mapping[str, Any]) -> bool:
    """Whether the `on` line declares exactly the given data (all its required parameters,
    nothing else)."""
    params = t.params
    for k in values:
        if k not in params:
            return False
    for p, optional in params.items():  # noqa: SIM110 (a loop: no generator per event)
        if not optional and values.get(p) is None:  # null is not a value for a required one
            return False
    return True


def _names_in(e: Any) -> set[str]:
    """The names (fields, `now`, …) an expression reads."""
    if isinstance(e, d.Var):
        return {e.name}
    if isinstance(e, tuple):
        return set().union(*(_names_in(x) for x in e))
    if isinstance(e, d.Frozen):
        return set().union(*(_names_in(getattr(e, f)) for f in type(e).model_fields))
    return set()
