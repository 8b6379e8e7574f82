"""The abstract syntax tree of a `.flow` file: frozen nodes, each carrying its source span.

The transformer builds it from lark's parse tree; the checker reads it; the compiler turns it
into the engine's transition table. Nothing here knows about lark or the runtime.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal as Lit
from typing import TypeVar

from dsl.source import Span, quick_init


@dataclass(frozen=True, slots=True)
class Name:
    """An identifier as written, with where it was written (for carets and did-you-mean)."""

    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Text:
    """A double-quoted string, unescaped; may hold `{field}` placeholders."""

    value: str
    span: Span


DurationUnit = Lit["m", "h", "d", "w", "working_hours", "working_days"]


@dataclass(frozen=True, slots=True)
class Duration:
    """`30m`, `24小时`, `2 working days`: an amount and a unit, and the text as written."""

    amount: Decimal
    unit: DurationUnit
    text: str
    span: Span

    @property
    def working(self) -> bool:
        return self.unit in ("working_hours", "working_days")


# ---------------------------------------------------------------- expressions

LiteralType = Lit["int", "decimal", "bool", "null", "text", "date", "datetime"]


@dataclass(frozen=True, slots=True)
class Literal:
    value: object
    type: LiteralType
    span: Span


@dataclass(frozen=True, slots=True)
class DurationLiteral:
    duration: Duration
    span: Span


@dataclass(frozen=True, slots=True)
class Ref:
    """A bare name in an expression: a field, `now`, `state` or `id`."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """A decision-table call, `department_for(category)`."""

    func: Name
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: Lit["not", "-"]
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / == != < <= > >= and or in "not in"
    left: Expr
    right: Expr
    span: Span
    op_span: Span


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class IsSet:
    operand: Expr
    negated: bool
    span: Span


Expr = Literal | DurationLiteral | Ref | Call | Unary | Binary | ListExpr | IsSet


# ---------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Set:
    field: Name
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Notify:
    targets: tuple[Expr, ...]
    message: Text
    span: Span


@dataclass(frozen=True, slots=True)
class Assign:
    target: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Escalate:
    role: Name
    reason: Text | None
    span: Span


@dataclass(frozen=True, slots=True)
class Callback:
    label: Text
    role: Name
    within: Duration | None
    span: Span


@dataclass(frozen=True, slots=True)
class Record:
    text: Text
    span: Span


@dataclass(frozen=True, slots=True)
class Emit:
    event: Name
    span: Span


@dataclass(frozen=True, slots=True)
class HookCall:
    name: Name
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    """`if CONDITION:` actions, and `else:` actions (a Flowdesk addition)."""

    condition: Expr
    then: tuple[Action, ...]
    otherwise: tuple[Action, ...]
    span: Span


Action = Set | Notify | Assign | Escalate | Callback | Record | Emit | HookCall | If


# ---------------------------------------------------------------- state members


@dataclass(frozen=True, slots=True)
class Param:
    name: Name
    optional: bool


@dataclass(frozen=True, slots=True)
class Transition:
    """`on EVENT(PARAMS) when GUARD -> TARGET by ROLES: actions` (target None: internal)."""

    event: Name
    params: tuple[Param, ...]
    guard: Expr | None
    target: Name | None
    roles: tuple[Name, ...]
    actions: tuple[Action, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Automatic:
    """`when EXPR -> TARGET`, or `when all tasks done -> TARGET` (guard None)."""

    guard: Expr | None
    target: Name
    span: Span


WallRuleKind = Lit["day", "working_day", "weekday", "month_day", "working_day_of_month"]


@dataclass(frozen=True, slots=True)
class WallClock:
    """`every day|working day|monday|month on day N|quarter on working day N … at HH:MM`."""

    rule: WallRuleKind
    weekday: int | None
    month_day: int | None  # day N; for `working_day_of_month`, the N-th (-1: the last)
    shift: int  # -1/+1: a day N that is not a working day moves to the one before/after
    quarterly: bool  # `every quarter on …`: January, April, July and October only
    hour: int
    minute: int
    span: Span


TimerKind = Lit["after", "every", "wall", "at"]


@dataclass(frozen=True, slots=True)
class Timer:
    kind: TimerKind
    duration: Duration | None
    max_times: int | None
    wall: WallClock | None
    at: Expr | None
    target: Name | None
    actions: tuple[Action, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Task:
    name: Name
    label: Text | None
    roles: tuple[Name, ...]
    after: Name | None  # `after TASK`: done only once that task of the state is done
    within: Duration | None
    overdue: tuple[Action, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Hook:
    """An `enter:` or `exit:` block."""

    kind: Lit["enter", "exit"]
    actions: tuple[Action, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Wait:
    """`wait "reason"`: the state is a deliberate wait, nobody is to chase it (an addition)."""

    reason: Text
    span: Span


StateMember = Hook | Transition | Automatic | Timer | Task | Wait
M = TypeVar("M", Hook, Transition, Automatic, Timer, Task, Wait)


@dataclass(frozen=True, slots=True)
class State:
    name: Name
    label: Text | None
    final: bool
    members: tuple[StateMember, ...]
    span: Span

    def of(self, kind: type[M]) -> tuple[M, ...]:
        """The members of one kind, in file order."""
        return tuple([m for m in self.members if isinstance(m, kind)])


# ---------------------------------------------------------------- flow-level declarations


@dataclass(frozen=True, slots=True)
class Field:
    name: Name
    type: Name
    choices: tuple[Name, ...]
    optional: bool
    default: Expr | None
    label: Text | None
    span: Span


@dataclass(frozen=True, slots=True)
class SlaWarning:
    percent: Decimal | None
    before: Duration | None
    actions: tuple[Action, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Sla:
    name: Name
    label: Text | None
    within: Duration
    start: Name
    until: tuple[Name, ...]
    pause: tuple[Name, ...]
    warnings: tuple[SlaWarning, ...]
    breach: tuple[Action, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Pattern:
    """One column of a table row: `_`, or literals separated by `|`."""

    alternatives: tuple[Literal, ...]
    span: Span

    @property
    def wildcard(self) -> bool:
        return not self.alternatives


@dataclass(frozen=True, slots=True)
class TableRow:
    patterns: tuple[Pattern, ...]  # empty for `else`
    result: Expr
    is_else: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Table:
    name: Name
    params: tuple[Name, ...]
    label: Text | None
    rows: tuple[TableRow, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Header:
    """`flow NAME "label"`, `version N` or `calendar NAME` — one line each."""

    keyword: Lit["flow", "version", "calendar"]
    name: Name | None
    label: Text | None
    number: int | None
    span: Span


CATCH_UP = ("latest", "all", "none")  # after downtime: the latest missed once, each, none


@dataclass(frozen=True, slots=True)
class Schedule:
    """`schedule NAME "label" every … at HH:MM:` with what it does (an addition): open a case
    of the flow, and/or send a summary of its open cases to roles."""

    name: Name
    label: Text | None
    wall: WallClock
    opens: bool
    summary_to: tuple[Name, ...]
    summary_title: Text | None
    catch_up: str  # one of CATCH_UP
    span: Span


@dataclass(frozen=True, slots=True)
class Flow:
    headers: tuple[Header, ...]
    roles: tuple[Name, ...]
    fields: tuple[Field, ...]
    states: tuple[State, ...]
    slas: tuple[Sla, ...]
    tables: tuple[Table, ...]
    openers: tuple[Name, ...]  # `opened by ROLE, …`: who may open a case (empty: anyone)
    schedules: tuple[Schedule, ...]
    keys: tuple[Name, ...]  # `keys: unit, phone`: fields that relate the flow's cases

    def header(self, keyword: str) -> Header | None:
        """The first header line of a kind (the checker reports repeats)."""
        return next((h for h in self.headers if h.keyword == keyword), None)


# The parser builds these by the ten thousand: each gets an __init__ filling its slots directly.
for _node in list(globals().values()):
    if isinstance(_node, type) and dataclasses.is_dataclass(_node) and _node.__module__ == __name__:
        quick_init(_node)
del _node
