"""The compiled flow: a frozen, JSON-serialisable transition table the runtime executes.

`dsl.compiler` produces it from a checked `.flow` file; the engine never sees source text.
It carries a schema version (bumped on incompatible change) and a content hash (which
ignores line numbers, so reformatting a file does not change it).
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

ValueType = Literal[
    "text", "int", "decimal", "bool", "date", "datetime", "duration", "choice", "null"
]
JsonScalar = str | int | float | bool | None


# `{field}` in a message: the one pattern the checker reads and the runtime renders with.
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# The built-in event that closes a callback (回访) task; flows may give it an `on` line.
# the `opened` audit record of a case a schedule opened (replay reads the schedule's name)
OPENED_BY_SCHEDULE = "case opened by schedule "
CALLBACK_DONE = "callback_done"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Duration(Frozen):
    """An amount of time: elapsed seconds, open seconds on the calendar, or working days."""

    unit: Literal["seconds", "working_seconds", "working_days"]
    amount: int
    text: str = ""

    @property
    def working(self) -> bool:
        return self.unit != "seconds"


# ---------------------------------------------------------------- expressions


class Lit(Frozen):
    """A literal; dates, date-times and decimals are ISO / decimal strings with their type."""

    op: Literal["lit"] = "lit"
    type: ValueType
    value: JsonScalar


class DurationLit(Frozen):
    op: Literal["duration"] = "duration"
    duration: Duration


class Var(Frozen):
    """A field, or one of `now`, `state`, `id`."""

    op: Literal["var"] = "var"
    name: str


class TableCall(Frozen):
    op: Literal["table"] = "table"
    table: str
    args: tuple[Expr, ...]


class FuncCall(Frozen):
    """A built-in function (engine/functions.py); an SLA argument is a `Var` naming it."""

    op: Literal["func"] = "func"
    func: str
    args: tuple[Expr, ...]


class Not(Frozen):
    op: Literal["not"] = "not"
    arg: Expr


class Neg(Frozen):
    op: Literal["neg"] = "neg"
    arg: Expr


class BinOp(Frozen):
    op: Literal["+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or", "in", "not in"]
    left: Expr
    right: Expr


class IsSet(Frozen):
    op: Literal["is set", "is not set"]
    arg: Expr


class ListOf(Frozen):
    op: Literal["list"] = "list"
    items: tuple[Expr, ...]


Expr = Annotated[
    Lit | DurationLit | Var | TableCall | FuncCall | Not | Neg | BinOp | IsSet | ListOf,
    Field(discriminator="op"),
]


# ---------------------------------------------------------------- actions


class SetField(Frozen):
    kind: Literal["set"] = "set"
    field: str
    value: Expr
    line: int = 0


class Notify(Frozen):
    """Targets are expressions: a role is a text literal; a field or table call names one."""

    kind: Literal["notify"] = "notify"
    targets: tuple[Expr, ...]
    message: str
    line: int = 0


class Assign(Frozen):
    kind: Literal["assign"] = "assign"
    target: Expr
    line: int = 0


class Escalate(Frozen):
    kind: Literal["escalate"] = "escalate"
    role: str
    reason: str | None = None
    line: int = 0


class OpenCallback(Frozen):
    kind: Literal["callback"] = "callback"
    label: str
    role: str
    within: Duration | None = None
    line: int = 0


class Record(Frozen):
    kind: Literal["record"] = "record"
    text: str
    line: int = 0


class Emit(Frozen):
    kind: Literal["emit"] = "emit"
    event: str
    line: int = 0


class CallHook(Frozen):
    kind: Literal["call"] = "call"
    hook: str
    args: tuple[Expr, ...] = ()
    line: int = 0


class IfAction(Frozen):
    """`if CONDITION:` actions `else:` actions (a Flowdesk addition)."""

    kind: Literal["if"] = "if"
    condition: Expr
    then: tuple[Action, ...]
    otherwise: tuple[Action, ...] = ()
    line: int = 0


Action = Annotated[
    SetField | Notify | Assign | Escalate | OpenCallback | Record | Emit | CallHook | IfAction,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- the table


class FieldDef(Frozen):
    name: str
    type: ValueType
    choices: tuple[str, ...] = ()
    optional: bool = False
    default: JsonScalar = None
    has_default: bool = False
    label: str | None = None

    @property
    def required(self) -> bool:
        return not self.optional and not self.has_default


class Param(Frozen):
    name: str
    optional: bool = False


class TransitionDef(Frozen):
    """`on EVENT`: tried in file order; `target` None means internal (the state is not left)."""

    event: str
    params: tuple[Param, ...] = ()
    guard: Expr | None = None
    target: str | None = None
    roles: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    # `by FIELD`: fields whose value names the role or the person who may fire it (首问负责制)
    holders: tuple[str, ...] = ()
    line: int = 0


class AutomaticDef(Frozen):
    """`when GUARD -> TARGET`; `all_tasks_done` for `when all tasks done`."""

    guard: Expr | None = None
    all_tasks_done: bool = False
    target: str
    line: int = 0


class WallRule(Frozen):
    """A wall-clock rule; `month_day` is day N, or for `working_day_of_month` the N-th
    working day (-1: the last)."""

    rule: Literal["day", "working_day", "weekday", "month_day", "working_day_of_month"]
    weekday: int | None = None
    month_day: int | None = None
    hour: int
    minute: int
    shift: int = 0  # -1/+1: a day N that is not a working day moves to the one before/after
    quarterly: bool = False


class TimerDef(Frozen):
    """A timer armed on entering its state; `id` is `STATE#N`, N its place in file order."""

    id: str
    kind: Literal["after", "every", "wall", "at"]
    duration: Duration | None = None
    max_times: int | None = None
    wall: WallRule | None = None
    at: Expr | None = None
    target: str | None = None
    actions: tuple[Action, ...] = ()
    line: int = 0


class TaskDef(Frozen):
    name: str
    label: str | None = None
    roles: tuple[str, ...] = ()
    within: Duration | None = None
    overdue: tuple[Action, ...] = ()
    after_task: str | None = None  # `after TASK`: done only once that task is done
    line: int = 0


class StateDef(Frozen):
    name: str
    label: str | None = None
    final: bool = False
    enter: tuple[Action, ...] = ()
    exit: tuple[Action, ...] = ()
    transitions: tuple[TransitionDef, ...] = ()
    automatic: tuple[AutomaticDef, ...] = ()
    timers: tuple[TimerDef, ...] = ()
    tasks: tuple[TaskDef, ...] = ()
    line: int = 0


class SlaWarningDef(Frozen):
    """`warn at P%` (percent) or `warn D before` (before)."""

    percent: float | None = None
    before: Duration | None = None
    actions: tuple[Action, ...] = ()
    line: int = 0


class SlaDef(Frozen):
    name: str
    label: str | None = None
    within: Duration
    start: str
    stop: tuple[str, ...]
    pause: tuple[str, ...] = ()
    warnings: tuple[SlaWarningDef, ...] = ()
    breach: tuple[Action, ...] = ()
    line: int = 0


class TableRowDef(Frozen):
    """One row: per input column the accepted literals (None = `_`); `else` rows have none."""

    patterns: tuple[tuple[Lit, ...] | None, ...] = ()
    result: Expr
    is_else: bool = False
    line: int = 0


class TableDef(Frozen):
    name: str
    params: tuple[str, ...]
    label: str | None = None
    rows: tuple[TableRowDef, ...]
    line: int = 0


class ScheduleDef(Frozen):
    """`schedule NAME every … at HH:MM:` — a duty of the flow on the calendar, not of a case:
    open a case, and/or send a summary of the flow's open cases to roles."""

    name: str
    label: str | None = None
    wall: WallRule
    opens: bool = False
    summary_to: tuple[str, ...] = ()
    summary_title: str | None = None
    catch_up: Literal["latest", "all", "none"] = "latest"
    line: int = 0


class FlowDefinition(Frozen):
    """Everything the runtime needs to run cases of one flow version."""

    schema_version: int = SCHEMA_VERSION
    name: str
    label: str | None = None
    version: int = 1
    calendar: str = "always"
    roles: tuple[str, ...]
    fields: tuple[FieldDef, ...]
    states: tuple[StateDef, ...]
    slas: tuple[SlaDef, ...] = ()
    tables: tuple[TableDef, ...] = ()
    hooks: tuple[str, ...] = ()
    # `opened by`: the roles that may open a case; empty: any caller (a role, if given, must
    # be one of `roles`)
    openers: tuple[str, ...] = ()
    schedules: tuple[ScheduleDef, ...] = ()
    keys: tuple[str, ...] = ()  # `keys:` fields relating the flow's cases (correlation)
    # The calendar's own entry, when a service pins it (`pinned_to`): part of the content
    # hash, so a case keeps the calendar it started with when calendars.yaml changes.
    calendar_spec: dict[str, Any] | None = None
    content_hash: str = ""

    @property
    def initial(self) -> str:
        return self.states[0].name

    def state(self, name: str) -> StateDef:
        """The state called `name` (KeyError if there is none)."""
        for state in self.states:
            if state.name == name:
                return state
        raise KeyError(name)

    def pinned_to(self, calendar_spec: dict[str, Any]) -> FlowDefinition:
        """This flow bound to one version of its calendar (a new content hash)."""
        return self.model_copy(update={"calendar_spec": calendar_spec}).with_hash()

    def with_hash(self) -> FlowDefinition:
        """A copy carrying the hash of its content (line numbers excluded)."""
        return self.model_copy(update={"content_hash": content_hash(self)})


_LINE = re.compile(rb',"line":\d+')
# keys added to the table after version 1, left out of the hash while empty: a flow that
# does not use them hashes as it did before they existed (so its stored cases stay on it)
_ADDED_EMPTY = re.compile(
    rb',"(?:(?:openers|holders|schedules|keys)":\[\]|shift":0|quarterly":false|after_task":null)'
)


def content_hash(definition: FlowDefinition) -> str:
    """sha256 of the table's meaning: same flow reformatted or moved around lines, same hash.

    `line` is the last field of every model that has one, so in the JSON it always follows a
    comma; user texts cannot contain an unescaped `"`, so the pattern cannot match inside them.
    """
    # each node by its own class's serializer (`serialize_as_any`), not by trying the
    # members of its union in turn: the same text, in two thirds of the time
    encoded = definition.__pydantic_serializer__.to_json(
        definition, exclude={"content_hash"}, serialize_as_any=True
    )
    return "sha256:" + hashlib.sha256(_ADDED_EMPTY.sub(b"", _LINE.sub(b"", encoded))).hexdigest()


_RECURSIVE = (
    *(TableCall, FuncCall, Not, Neg, BinOp, IsSet, ListOf),
    *(SetField, Notify, Assign, CallHook, IfAction),
)
for _model in (*_RECURSIVE, TransitionDef, AutomaticDef, TimerDef, SlaDef, TableRowDef):
    _model.model_rebuild()
