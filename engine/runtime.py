"""The pure runtime: (compiled flow, case, event or due timer, now) → the case's next state
and the step's effects.

No wall-clock reads and no I/O: time comes in as `now`, effects go out as data in `Step`.
The simulator, the tests and the live service all run cases through this one module.

A step is all-or-nothing: what it may change is saved first, and if anything fails (a
refused event, a table with no row, an automatic-transition loop) it is put back, so the
case is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime, time, timedelta
from typing import Any, NamedTuple

from engine import definition as d
from engine.calendar import Calendar, WallRule, wall_rule
from engine.case import (
    SLA_STATUS_AT,
    Armed,
    AuditRecord,
    Case,
    Notification,
    Row,
    data_row,
    record_of,
    row_of,
    views,
    with_row,
)
from engine.correlation import Related
from engine.definition import CALLBACK_DONE, OPENED_BY_SCHEDULE
from engine.errors import (
    EventRefused,
    FlowRuntimeError,
    InvalidData,
    NoGuardHolds,
    RoleNotAllowed,
    TaskNotReady,
    UnknownEvent,
)
from engine.expressions import (
    Evaluator,
    ExpressionCompiler,
    Scope,
    TableFn,
    Values,
    add_duration,
    compile_table,
    format_value,
)
from engine.fields import FieldSchema, check_names, check_shape
from engine.functions import FlowInfo, SlaInfo
from engine.i18n import msg
from engine.limits import MAX_NAME_CHARS as _NAME

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


class FlowRuntime:
    """One compiled flow ready to run cases: built once, shared by every case of the flow."""

    def __init__(self, definition: d.FlowDefinition, calendar: Calendar) -> None:
        self.definition = definition
        self.initial = definition.initial
        self.calendar = calendar
        self.schema = FieldSchema(definition, calendar.tz)
        self.roles = frozenset(definition.roles)
        self.hooks: Mapping[str, Callable[..., Any]] = {}
        tables: dict[str, TableFn] = {}
        slas = {s.name: SlaInfo(s.within.working) for s in definition.slas}
        self._info = FlowInfo(calendar, slas, definition.name, definition.keys)
        self._exprs = ExpressionCompiler(calendar, tables, self._info)
        for table in definition.tables:
            tables[table.name] = compile_table(table, self._exprs)
        self.slas = [self._compile_sla(s) for s in definition.slas]
        self.opening_schedules = frozenset(x.name for x in definition.schedules if x.opens)
        self.states = {s.name: self._compile_state(s) for s in definition.states}
        self.timers: dict[str, _Timer] = {t.key: t for s in self.states.values() for t in s.timers}
        self._warnings = {
            w.key: (sla, w, i) for sla in self.slas for i, w in enumerate(sla.warnings)
        }
        self._breaches = {sla.breach_key: sla for sla in self.slas}
        self._tasks = {
            f"K:{state.name}:{name}": (state, task)
            for state in self.states.values()
            for name, task in state.tasks.items()
        }
        self._plain = {
            (state.name, event): candidates
            for state in self.states.values()
            for event, candidates in state.by_event.items()
            if all(self._is_plain(state, t) for t in candidates)
        }

    def index_cases(self, index: Related) -> None:
        """The host's index of cases that `earlier_cases`/`last_case` ask (the in-memory
        engine's; a durable host gives one per transaction with `correlation.using`)."""
        self._info.index[0] = index

    # ------------------------------------------------------------ compile
    def _compile_state(self, s: d.StateDef) -> _State:
        by_event: dict[str, list[_Transition]] = {}
        for t in s.transitions:
            by_event.setdefault(t.event, []).append(
                _Transition(
                    t.event,
                    {p.name: p.optional for p in t.params},
                    self._exprs.compile(t.guard, t.line) if t.guard is not None else None,
                    t.target,
                    frozenset(t.roles),
                    self._actions(t.actions),
                    t.line,
                    t.holders,
                )
            )
        automatic = [
            (None if a.all_tasks_done else self._exprs.compile(a.guard, a.line), a.target, a.line)  # type: ignore[arg-type]
            for a in s.automatic
        ]
        timers = [
            _Timer(
                f"T:{t.id}",
                t,
                self._exprs.compile(t.at, t.line) if t.at is not None else None,
                (
                    time(t.wall.hour, t.wall.minute),
                    wall_rule(
                        t.wall.rule,
                        t.wall.weekday,
                        t.wall.month_day,
                        t.wall.shift,
                        t.wall.quarterly,
                    ),
                )
                if t.wall
                else None,
                self._actions(t.actions),
                _adder(self.calendar, t.duration)
                if t.kind in ("after", "every") and t.duration is not None
                else None,
            )
            for t in s.timers
        ]
        tasks = {t.name: _Task(t, frozenset(t.roles), self._actions(t.overdue)) for t in s.tasks}
        slas: list[tuple[_Sla, bool]] = []
        for sla in self.slas:
            sd = sla.definition
            moves = s.name == sd.start or s.name in sd.stop or s.name in sd.pause
            if moves or sd.pause:  # any state outside the pause list resumes a paused clock
                slas.append((sla, not moves))
        exit_keys = {t.key for t in timers} | {f"K:{s.name}:{name}" for name in tasks}
        return _State(s.name, s.final, self._actions(s.enter), self._actions(s.exit), by_event,
                      automatic, timers, tasks, slas, any(t.at is not None for t in timers),
                      frozenset(exit_keys))  # fmt: skip

    def _is_plain(self, source: _State, t: _Transition) -> bool:
        """A transition that only moves the case: nothing runs, arms, cancels or follows, so
        `fire` can take it without a journal (nothing can fail after its guard holds)."""
        if t.actions or t.params or t.holders or t.event == CALLBACK_DONE:
            return False
        if t.event in source.tasks:
            return False
        target = self.states[t.target or source.name]
        quiet = [
            not (s.enter or s.exit or s.timers or s.tasks or s.slas or s.automatic or s.final)
            for s in (source, target)
        ]
        return all(quiet)

    def _compile_sla(self, s: d.SlaDef) -> _Sla:
        warnings = [
            _Warning(f"S:{s.name}:w{i}", w.percent, w.before, self._actions(w.actions), w.line)
            for i, w in enumerate(s.warnings)
        ]
        breach_key = f"S:{s.name}:breach"
        keys = frozenset({breach_key, *(w.key for w in warnings)})
        return _Sla(s, s.within.working, warnings, self._actions(s.breach), breach_key, keys)

    def _actions(self, actions: tuple[d.Action, ...]) -> tuple[Run, ...]:
        return tuple(self._action(a) for a in actions)

    def _action(self, a: d.Action) -> Run:
        exprs, line = self._exprs, a.line
        if isinstance(a, d.SetField):
            value = exprs.compile(a.value, line)
            name = a.field
            return lambda ctx: self._set_field(ctx, name, value(ctx), line)
        if isinstance(a, d.Notify):
            targets = [self._target(t, line) for t in a.targets]
            message = exprs.message(a.message)
            return lambda ctx: self._notify(ctx, targets, message, line)
        if isinstance(a, d.Assign):
            target = exprs.compile(a.target, line)
            return lambda ctx: self._assign(ctx, target(ctx), line)
        if isinstance(a, d.Escalate):
            role, reason = a.role, exprs.message(a.reason) if a.reason else None
            return lambda ctx: self._escalate(ctx, role, reason(ctx) if reason else None)
        if isinstance(a, d.OpenCallback):
            label = exprs.message(a.label)
            callback = a
            return lambda ctx: self._open_callback(ctx, label(ctx), callback)
        if isinstance(a, d.Record):
            text = exprs.message(a.text)
            return lambda ctx: ctx.record("note", text(ctx))
        if isinstance(a, d.Emit):
            event = a.event
            return lambda ctx: ctx.emit(event)
        if isinstance(a, d.IfAction):
            condition = exprs.compile(a.condition, line)
            then, otherwise = self._actions(a.then), self._actions(a.otherwise)
            return lambda ctx: _run_all(ctx, then if condition(ctx) else otherwise)
        args = [exprs.compile(x, line) for x in a.args]
        hook = a.hook
        return lambda ctx: ctx.call(hook, tuple(x(ctx) for x in args))

    # ------------------------------------------------------------ actions
    def _set_field(self, ctx: _Ctx, name: str, value: Any, line: int) -> None:
        try:
            value = self.schema.validate_one(name, value)
        except InvalidData as exc:
            raise FlowRuntimeError(
                msg("`set {name}`: {problems}", name=name, problems=exc.problems[name]), line
            ) from None
        ctx.put(ctx.case.fields, name, value)

    def _role_of(self, value: Any, what: str, line: int) -> str:
        role = format_value(value)
        if role not in self.roles:
            shown = role or msg("(not set)")
            raise FlowRuntimeError(
                msg(
                    "{what}: `{shown}` is not a role of this flow ({roles})",
                    what=what,
                    shown=shown,
                    roles=", ".join(sorted(self.roles)),
                ),
                line,
            )
        return role

    def _target(self, target: d.Expr, line: int) -> str | Evaluator:
        """A `notify` target: the role itself when it is a literal role (the usual kind,
        checked once here), else its expression, checked when it is evaluated."""
        if isinstance(target, d.Lit):
            role = format_value(self._exprs.literal(target))
            if role in self.roles:
                return role
        return self._exprs.compile(target, line)

    def _notify(self, ctx: _Ctx, targets: list[str | Evaluator],
                message: Callable[[Scope], str], line: int) -> None:  # fmt: skip
        text = message(ctx)
        for target in targets:
            role = target if isinstance(target, str) else self._role_of(target(ctx), "notify", line)
            self._send(ctx, role, text, "notify")

    def _send(self, ctx: _Ctx, role: str, text: str, kind: str) -> None:
        # a Notification; its id names the `notify` record written next: stable everywhere
        seq = ctx.audit_mark + len(ctx.new_rows) + 1
        case_id = ctx.case.id
        ctx.notifications += ((case_id, role, text, ctx.now, kind, f"{case_id}#{seq}"),)
        ctx.case.notified += (role,)
        ctx.system("notify", f"{role}: {text}")

    def _assign(self, ctx: _Ctx, value: Any, line: int) -> None:
        assignee = format_value(value)
        if not assignee:
            raise FlowRuntimeError(msg("`assign to`: the value is not set"), line)
        ctx.case.assignee = assignee
        ctx.system("assign", assignee)

    def _escalate(self, ctx: _Ctx, role: str, reason: str | None) -> None:
        level = ctx.case.escalation_level + 1
        ctx.case.escalation_level = level
        ctx.case.escalation_rows += ((level, role, reason, ctx.now),)  # an Escalation, as a row
        ctx.record("escalate", f"level {level} → {role}" + (f": {reason}" if reason else ""),
                   actor=False)  # fmt: skip
        self._send(ctx, role, reason or f"{self.definition.label or self.definition.name} "
                   f"{ctx.case.id} 已升级", "escalation")  # fmt: skip

    def _open_callback(self, ctx: _Ctx, label: str, a: d.OpenCallback) -> None:
        due = add_duration(self.calendar, ctx.now, a.within) if a.within else None
        ctx.case.callback_rows += ((label, a.role, ctx.now, due, None),)  # a Callback, as a row
        ctx.system("callback", f"opened: {label} → {a.role}")

    # ------------------------------------------------------------ public steps
    def open(self, case_id: str, data: Mapping[str, Any], actor: str | None, role: str | None,
             now: datetime, schedule: str | None = None) -> Step:  # fmt: skip
        """A new case in the initial state (entry actions, timers and automatics run), if
        `role` may open one (`opened by`; without it any caller, but a role given must be
        one of the flow's) — or if one of the flow's own schedules opens it."""
        check_names(case_id=case_id, actor=actor, role=role)
        openers = self.definition.openers
        if schedule is not None:
            if schedule not in self.opening_schedules:
                said = msg("flow `{flow}` has no schedule `{schedule}` that opens cases",
                           flow=self.definition.name, schedule=schedule)  # fmt: skip
                raise FlowRuntimeError(said)
        elif role not in openers and (openers or (role is not None and role not in self.roles)):
            allowed = openers or sorted(self.roles)
            doing = msg("open a case of `{definition}`", definition=self.definition.name)
            raise RoleNotAllowed("open", role, allowed, doing)
        fields = self.schema.validate_all(check_shape(data))
        definition, initial = self.definition, self.initial
        case = Case(case_id, definition.name, definition.version, definition.content_hash,
                    initial, fields, now, now)  # fmt: skip
        ctx = _Ctx(case, now, actor, role)
        what = "case opened" if schedule is None else OPENED_BY_SCHEDULE + schedule
        ctx.record("opened", what, None, initial, data=data)
        self._enter(ctx, initial)
        self._settle(ctx)
        return ctx.finish()

    def fire(self, case: Case, event: str, actor: str | None, role: str | None,
             data: Mapping[str, Any] | None, now: datetime) -> Step:  # fmt: skip
        """Fire an event; raises an `EventRefused`/`FlowRuntimeError` and changes nothing if
        it cannot be taken."""
        if data is not None:
            check_shape(data)
        if (
            actor is not None
            and (type(actor) is not str or len(actor) > _NAME or not actor.isprintable())
        ) or (
            role is not None
            and (type(role) is not str or len(role) > _NAME or not role.isprintable())
        ):
            check_names(actor=actor, role=role)  # raises
        if not data and self._plain:
            plain = self._plain.get((case.state, event))
            if plain is not None:
                return self._fire_plain(case, plain, event, actor, role, now)
        ctx = _Ctx(case, now, actor, role)
        try:
            self._fire(ctx, event, data or _NO_VALUES, False)
            self._settle(ctx)
        except BaseException:
            ctx.rollback()
            raise
        return ctx.finish()

    def _fire_plain(self, case: Case, candidates: list[_Transition], event: str,
                    actor: str | None, role: str | None, now: datetime) -> Step:  # fmt: skip
        """`fire` for a plain transition: the same checks, state change and audit record."""
        scope = None
        tried: list[int] = []
        for t in candidates:
            if t.roles and role not in t.roles:
                continue
            if t.guard is not None:
                if scope is None:
                    scope = Values(case.fields, now, case.state, case.id, case.sla_rows)
                if not t.guard(scope):
                    tried.append(t.line)
                    continue
            before = target = case.state
            if t.target is not None:  # internal transitions leave the state as it is
                target = t.target
                case.state, case.entries, case.entered_at = target, case.entries + 1, now
            audit = case.audit_rows
            # no data: None, not {} (a tuple holding a dict is never untracked by the GC)
            record = (
                len(audit) + 1,
                now,
                actor,
                role,
                "event",
                event,
                before,
                target,
                None,
                t.line,
            )
            if type(audit) is list:
                audit.append(record)
            else:
                case.append_audit((record,))
            # tuple.__new__ directly: the hot path of every plain event (2x NamedTuple's __new__)
            return _new_tuple(Step, (case, (), (), (), (), (record,)))
        if not tried:
            raise RoleNotAllowed(event, role, sorted({r for t in candidates for r in t.roles}))
        raise NoGuardHolds(event, case.state, tried)

    def fire_timer(self, case: Case, key: str, now: datetime, late: bool = False,
                   fired_at: datetime | None = None) -> Step | None:  # fmt: skip
        """Fire a due timer of the case; None if it is no longer armed or not yet due.

        `fired_at` is when a late timer really fired: a repeating timer (`every …`) then
        skips the periods it missed up to that instant instead of firing once for each.
        """
        row = row_of(case.timer_rows, key)
        if row is None or row[1] > now:  # an `Armed`: (key, due, …)
            return None
        return self.fire_armed(case, row, now, late, fired_at)

    def fire_armed(self, case: Case, row: Row, now: datetime, late: bool = False,
                   fired_at: datetime | None = None) -> Step:  # fmt: skip
        """`fire_timer` for a due timer row that the case holds (the engine's heap keeps the
        very row, so it fires it without looking it up again)."""
        ctx = _Ctx(case, now, None, None)
        try:
            self._fire_timer(ctx, row, late, fired_at)
            self._settle(ctx)
        except BaseException:
            ctx.rollback()
            raise
        return ctx.finish()

    def drop_timer(self, case: Case, key: str, problem: str, now: datetime) -> Step:
        """Disarm a timer whose firing failed, noting why (so it does not fire forever)."""
        ctx = _Ctx(case, now, None, None)
        self._cancel(ctx, (key,))
        # `dropped`/`problem` make the note an input: replaying the log drops the timer too
        ctx.record("note", f"timer {key} failed and was dropped: {problem}", actor=False,
                   data={"dropped": key, "problem": problem})  # fmt: skip
        return ctx.finish()

    def next_due(self, case: Case) -> Armed | None:
        """The case's earliest pending timer (ties broken by file order)."""
        if not case.timers:
            return None
        return min(case.timers.values(), key=lambda a: (a.due, a.order))

    def events(self, case: Case) -> list[str]:
        """The events that could be fired in the case's current state."""
        state = self.states[case.state]
        names = list(state.by_event)
        names += [t for t, v in case.tasks.items() if v != "done" and t not in names]
        if any(c.done_at is None for c in case.callbacks) and CALLBACK_DONE not in names:
            names.append(CALLBACK_DONE)
        return names

    def offers(self, case: Case, actor: str | None, role: str | None) -> list[Offer]:
        """The events this caller may fire now and the data each takes: roles and `by FIELD`
        checked as `fire` checks them; guards are not (they may read the data given)."""
        state = self.states[case.state]
        found: list[Offer] = []
        for event, candidates in state.by_event.items():
            allowed = [t for t in candidates if t.allows(case, actor, role)]
            if not allowed:
                continue
            params: dict[str, bool] = {}  # name -> optional: required only if every line says so
            for t in allowed:
                for name, optional in t.params.items():
                    params[name] = params.get(name, False) or optional
            for name in {p for t in allowed for p in t.params}:
                if any(name not in t.params for t in allowed):
                    params[name] = True
            found.append(Offer(event, "event", tuple(params.items())))
        for name, status in case.tasks.items():
            task = state.tasks.get(name)
            if status == "done" or task is None or (task.roles and role not in task.roles):
                continue
            first = task.definition.after_task
            if first is None or case.tasks.get(first) == "done":
                found.append(Offer(name, "task", (), task.definition.label))
        mine = [c for c in case.callbacks if c.done_at is None and c.role == role]
        if mine and CALLBACK_DONE not in state.by_event:
            found.append(Offer(CALLBACK_DONE, "callback", (), mine[0].label))
        return found

    # ------------------------------------------------------------ events
    def _fire(self, ctx: _Ctx, event: str, data: Mapping[str, Any], system: bool) -> None:
        case = ctx.case
        state = self.states[case.state]
        candidates = state.by_event.get(event)
        if candidates is None:
            if event in state.tasks and case.tasks.get(event) != "done":
                self._complete_task(ctx, state.tasks[event], data, system)
                return
            if event == CALLBACK_DONE and not data and self._close_callback(ctx, system):
                ctx.record("event", event, case.state, case.state)
                return
            raise UnknownEvent(event, case.state, self.events(case))
        if not system:
            allowed = state.allowed.get((event, ctx.role))
            if allowed is None:
                allowed = [t for t in candidates if t.allows(case, ctx.actor, ctx.role)]
                cacheable = not any(t.holders for t in candidates)  # else it depends on the case
                if cacheable and (ctx.role is None or ctx.role in self.roles):  # bounded keys
                    state.allowed[(event, ctx.role)] = allowed
            if not allowed:
                who = sorted({w for t in candidates for w in t.who(case)})
                raise RoleNotAllowed(event, ctx.role, who)
            candidates = allowed
        values = self._event_data(event, candidates, data) if data else _NO_VALUES
        transition = self._choose(ctx, event, candidates, values)
        before = case.state
        if values:
            for name, value in values.items():
                ctx.put(case.fields, name, value)
        if event == CALLBACK_DONE:  # the line's `by`, if it has one, names who may close it
            self._close_callback(ctx, system or bool(transition.roles or transition.holders))
        rows = ctx.new_rows  # the event's record (ctx.record, inlined: every event has one)
        rows.append((ctx.audit_mark + len(rows) + 1, ctx.now, ctx.actor, ctx.role, "event",
                     event, before, transition.target or before, data_row(data),
                     transition.line))  # fmt: skip
        self._take(ctx, transition.actions, transition.target)

    def _event_data(self, event: str, candidates: list[_Transition],
                    data: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
        params: set[str] = set()
        for t in candidates:
            params.update(t.params)
        for k in data:
            if k not in params:
                break
        else:  # the common case: every key is a parameter, so only the values can be wrong
            return self.schema.validate_some(data)
        takes = ", ".join(sorted(params)) or msg("no data")
        problems = {k: msg("not a parameter of this event (`{event}` takes: {takes})",
                           event=event, takes=takes)
                    for k in data if k not in params}  # fmt: skip
        try:
            self.schema.validate_some({k: v for k, v in data.items() if k in params})
        except InvalidData as exc:  # name every bad field, not only the unknown ones
            problems.update(exc.problems)
        raise InvalidData(problems)

    def _choose(self, ctx: _Ctx, event: str, candidates: list[_Transition],
                values: dict[str, Any]) -> _Transition:  # fmt: skip
        if not values:  # the common case: no data, so the first line whose `when` holds
            for t in candidates:
                if t.params:
                    break  # lines with parameters: the full matching below
                if t.guard is None or t.guard(ctx):
                    return t
        scope: Scope | None = None if values else ctx  # guards see the event's data too
        guarded: list[int] = []  # lines whose data fitted but whose `when` did not hold
        for t in candidates:
            if not _takes(t, values):
                continue  # a line only takes the data it declares
            if t.guard is None:
                return t
            if scope is None:
                scope = Values({**ctx.case.fields, **values}, ctx.now, ctx.case.state, ctx.id,
                               ctx.case.sla_rows)  # fmt: skip
            if t.guard(scope):
                return t
            guarded.append(t.line)
        if guarded:
            raise NoGuardHolds(event, ctx.case.state, guarded)
        unfit: dict[str, str] = {}  # why each line refused the data
        for t in candidates:
            for p, optional in t.params.items():
                if not optional and values.get(p) is None:
                    given = msg(" and may not be null") if p in values else ""
                    unfit[p] = msg(
                        "required by `{event}` (line {line}){given}",
                        event=event,
                        line=t.line,
                        given=given,
                    )
            for k in values:
                if k not in t.params:
                    unfit[k] = msg(
                        "not a parameter of `{event}` on line {line}", event=event, line=t.line
                    )
        raise InvalidData(unfit)

    def _complete_task(self, ctx: _Ctx, task: _Task, data: Mapping[str, Any],
                       system: bool) -> None:  # fmt: skip
        name = task.definition.name
        if not system and task.roles and ctx.role not in task.roles:
            raise RoleNotAllowed(name, ctx.role, sorted(task.roles))
        if data:
            raise InvalidData({k: msg("task `{name}` takes no data", name=name) for k in data})
        first = task.definition.after_task
        if first is not None and ctx.case.tasks.get(first) != "done":
            raise TaskNotReady(name, first)
        ctx.put(ctx.case.tasks, name, "done")
        self._cancel(ctx, (f"K:{ctx.case.state}:{name}",))
        ctx.record("event", name, ctx.case.state, ctx.case.state)

    def _close_callback(self, ctx: _Ctx, allowed: bool) -> bool:
        """Close the oldest open callback addressed to the caller's role, or, when the caller
        is `allowed` already (by the `on callback_done … by` line, or the flow emitted the
        event), the oldest open one. False if none is open; RoleNotAllowed when the open
        ones are addressed to other roles."""
        rows = ctx.case.callback_rows
        chosen = None
        for index, row in enumerate(rows):
            label, role, opened_at, due, done_at = row  # a Callback
            if done_at is None and (role == ctx.role or (allowed and chosen is None)):
                chosen = index
                if role == ctx.role:
                    break
        if chosen is None:
            waiting = sorted({row[1] for row in rows if row[4] is None})
            if not waiting:
                return False
            doing = msg("close a callback (回访) addressed to another role")
            raise RoleNotAllowed(CALLBACK_DONE, ctx.role, waiting, doing)
        label, role, opened_at, due, _done = rows[chosen]
        done = (label, role, opened_at, due, ctx.now)
        ctx.case.callback_rows = (*rows[:chosen], done, *rows[chosen + 1 :])
        return True

    # ------------------------------------------------------------ moving between states
    def _take(self, ctx: _Ctx, actions: tuple[Run, ...], target: str | None) -> None:
        """Run a transition: exit (if leaving), its actions, then enter the target."""
        if target is not None:  # the exit, written here: a call less on every transition
            case = ctx.case
            state = self.states[case.state]
            for action in state.exit:
                action(ctx)
            if state.exit_keys:
                self._cancel(ctx, state.exit_keys)
            for name in state.tasks:
                ctx.drop(case.tasks, name)
        for action in actions:
            action(ctx)
        if target is not None:
            self._enter(ctx, target)

    def _enter(self, ctx: _Ctx, name: str) -> None:
        case = ctx.case
        state = self.states[name]
        case.state = ctx.state = name
        case.entries += 1
        case.entered_at = ctx.now
        for sla, resumes_only in state.slas:
            if resumes_only:
                row = row_of(case.sla_rows, sla.definition.name)
                if row is None or row[SLA_STATUS_AT] != "paused":
                    continue
            self._sla_on_entry(ctx, sla, name)
        if state.final:
            case.closed_at = ctx.now
            self._cancel(ctx, [row[0] for row in case.timer_rows])
        else:
            for timer in state.timers:
                self._arm_state_timer(ctx, timer, ctx.now, 0)
            for task in state.tasks.values():
                ctx.put(case.tasks, task.definition.name, "open")
                if task.definition.within is not None:
                    due = add_duration(self.calendar, ctx.now, task.definition.within)
                    self._arm(ctx, f"K:{name}:{task.definition.name}", due, task.definition.line)
        for action in state.enter:
            action(ctx)

    def _settle(self, ctx: _Ctx) -> None:
        """Automatic transitions, then emitted events, until nothing more happens."""
        states = self.states
        while True:
            state = states[ctx.case.state]
            if state.automatic or state.follows_data:
                self._run_automatics(ctx)
            if not ctx.emitted:
                return
            event, ctx.emitted = ctx.emitted[0], ctx.emitted[1:]
            try:
                self._fire(ctx, event, _NO_VALUES, True)
            except EventRefused as exc:
                ctx.system("note", f"emit {event}: {exc}")

    def _run_automatics(self, ctx: _Ctx) -> None:
        case = ctx.case
        while True:
            state = self.states[case.state]
            if state.final:
                return
            chosen, line = None, 0
            for guard, target, where in state.automatic:
                if guard is None:
                    holds = bool(case.tasks) and all(v == "done" for v in case.tasks.values())
                else:
                    holds = bool(guard(ctx))
                if holds:
                    chosen, line = target, where
                    break
            if chosen is None:
                if state.follows_data:
                    self._rearm_at_timers(ctx, state)
                return
            ctx.auto_steps += 1
            if ctx.auto_steps > MAX_AUTOMATIC_STEPS:
                raise FlowRuntimeError(
                    msg(
                        "more than {MAX_AUTOMATIC_STEPS} automatic transitions in one step (a "
                        "`when` loop around state `{state}`); nothing was changed",
                        MAX_AUTOMATIC_STEPS=MAX_AUTOMATIC_STEPS,
                        state=case.state,
                    )
                )
            before = case.state
            ctx.record("automatic", f"when → {chosen}", before, chosen, actor=False, line=line)
            self._take(ctx, (), chosen)

    # ------------------------------------------------------------ timers
    def _arm(self, ctx: _Ctx, key: str, due: datetime, order: int, count: int = 0) -> None:
        estimated = self.calendar.is_estimated(due.date())
        armed = (key, due, order, ctx.case.entries, count, estimated)  # an Armed, as a row
        ctx.case.timer_rows = with_row(ctx.case.timer_rows, armed)
        ctx.armed += (armed,)
        if estimated:
            ctx.record("note", f"deadline {format_value(due)} of {key} is estimated: no official "
                       f"holiday data for {due.year}", actor=False)  # fmt: skip

    def _cancel(self, ctx: _Ctx, keys: Collection[str]) -> None:
        """Disarm the case's timers of these keys (those armed)."""
        rows = ctx.case.timer_rows
        if not rows:
            return
        # loops, not comprehensions: a comprehension is a function call in Python 3.11
        kept: list[Row] = []
        gone: tuple[str, ...] = ()
        for row in rows:
            if row[0] in keys:
                gone += (row[0],)
            else:
                kept.append(row)
        if gone:
            ctx.cancelled += gone
            ctx.case.timer_rows = tuple(kept)

    def _arm_state_timer(self, ctx: _Ctx, timer: _Timer, start: datetime, count: int) -> None:
        t = timer.definition
        if t.max_times is not None and count >= t.max_times:
            return
        if timer.after is not None or t.kind == "wall":  # `after`, `every`
            due = self._next_period(timer, start)
        else:
            at = self._at_value(ctx, timer)
            if at is None:
                return
            due = at
        self._arm(ctx, timer.key, due, t.line, count)

    def _next_period(self, timer: _Timer, start: datetime) -> datetime:
        if timer.after is not None:
            return timer.after(start)
        assert timer.wall is not None
        return self.calendar.next_wall_time(start, *timer.wall)

    def _rearm_periodic(self, ctx: _Ctx, timer: _Timer, due: datetime, count: int,
                        fired_at: datetime | None) -> None:  # fmt: skip
        """Arm the next period of an `every` timer. After a late firing the periods missed
        up to `fired_at` are coalesced into it: one late firing, never a backlog."""
        start = due
        if fired_at is not None:
            missed = 0
            while (following := self._next_period(timer, start)) <= fired_at:
                start, missed = following, missed + 1
                if missed == MAX_MISSED_PERIODS:  # e.g. `every 1m` after months down
                    start = fired_at
                    break
            if missed:
                note = f"{timer.key}: {missed} missed period(s) while the engine was down " \
                       "were coalesced into this late firing"  # fmt: skip
                ctx.record("note", note, actor=False)
        self._arm_state_timer(ctx, timer, start, count)

    def _at_value(self, ctx: _Ctx, timer: _Timer) -> datetime | None:
        assert timer.at is not None
        try:
            value = timer.at(ctx)
        except FlowRuntimeError:
            # `at appointment - 10m` with `appointment` not set: not armed (not an error)
            fields = ctx.case.fields
            if any(n in fields and fields[n] is None for n in _names_in(timer.definition.at)):
                return None
            raise
        if value is None:
            return None
        if not isinstance(value, datetime):
            value = datetime.combine(value, time(), self.calendar.tz)
        return max(value, ctx.now)  # already past on entry: fires at once

    def _rearm_at_timers(self, ctx: _Ctx, state: _State) -> None:
        """`at EXPR` follows its data: re-arm when a step changed the date-time it names."""
        for timer in state.timers:
            if timer.at is None:
                continue
            armed = ctx.case.timer(timer.key)
            if armed is None or armed.count:
                continue
            due = self._at_value(ctx, timer)
            if due is None:
                self._cancel(ctx, (timer.key,))
            elif due != armed.due:
                self._arm(ctx, timer.key, due, armed.order)

    def _fire_timer(self, ctx: _Ctx, row: Row, late: bool, fired_at: datetime | None) -> None:
        key, due, _order, _token, count, _estimated = row  # an `Armed`
        suffix = " (late)" if late else ""
        case = ctx.case
        # it fires once: off the case's timers (as `_cancel` would, knowing it is there)
        kept: list[Row] = []
        for other in case.timer_rows:
            if other[0] != key:
                kept.append(other)
        case.timer_rows = tuple(kept)
        ctx.cancelled += (key,)
        timer = self.timers.get(key)  # a state's timer (else a task's or an SLA's)
        target = timer.definition.target if timer is not None else None
        ctx.record("timer", key, case.state, target or case.state,
                   data=_lateness(due, late, fired_at))  # fmt: skip
        if timer is not None:
            t = timer.definition
            if t.kind in ("every", "wall"):
                self._rearm_periodic(ctx, timer, due, count + 1, fired_at if late else None)
            self._take(ctx, timer.actions, t.target)
        elif key in self._tasks:
            _state, task = self._tasks[key]
            ctx.put(case.tasks, task.definition.name, "overdue")
            ctx.system("task", f"overdue: {task.definition.name}{suffix}")
            for action in task.overdue:
                action(ctx)
        else:
            self._fire_sla_timer(ctx, key)

    # ------------------------------------------------------------ SLAs
    def _measure(self, sla: _Sla, a: datetime, b: datetime) -> float:
        if sla.working:
            return self.calendar.working_time_between(a, b).total_seconds()
        return (b - a).total_seconds()

    def _after(self, sla: _Sla, start: datetime, seconds: float) -> datetime:
        if sla.working:
            return self.calendar.add_working_time(start, timedelta(seconds=seconds))
        return start + timedelta(seconds=seconds)

    def _seconds(self, sla: _Sla, duration: d.Duration, start: datetime) -> float:
        """A duration measured on the SLA's clock (working days become open seconds)."""
        if duration.unit == "working_days":
            end = self.calendar.add_working_days(start, duration.amount)
            return self.calendar.working_time_between(start, end).total_seconds()
        return float(duration.amount)

    # SLA clocks are handled as rows (see `SlaClock` for the order), unpacked and built
    # whole: a NamedTuple view costs 2.5x that, a `_replace`-like helper with keywords 8x.
    def _sla_on_entry(self, ctx: _Ctx, sla: _Sla, state: str) -> None:
        s = sla.definition
        clock = row_of(ctx.case.sla_rows, s.name)
        now = ctx.now
        if clock is None:
            if state != s.start:
                return
            budget = self._seconds(sla, s.within, now)
            ctx.system("sla", f"{s.name}: started")
            self._sla_arm(ctx, sla, (s.name, "running", now, budget, 0.0, now, None, None, 0))
            return
        name, status, started_at, budget, used, since, deadline, ended_at, warned = clock
        if status in ("met", "breached"):
            return
        if state in s.stop:
            if since:
                used += self._measure(sla, since, now)
            self._sla_disarm(ctx, sla)
            self._set_clock(ctx, (name, "met", started_at, budget, used, None, deadline, now,
                                  warned))  # fmt: skip
            ctx.system("sla", f"{name}: met")
        elif state in s.pause and status == "running":
            assert since is not None
            used += self._measure(sla, since, now)
            self._sla_disarm(ctx, sla)
            self._set_clock(ctx, (name, "paused", started_at, budget, used, None, None, ended_at,
                                  warned))  # fmt: skip
            ctx.system("sla", f"{name}: paused")
        elif state not in s.pause and status == "paused":
            self._sla_arm(ctx, sla, (name, "running", started_at, budget, used, now, deadline,
                                     ended_at, warned))  # fmt: skip
            ctx.system("sla", f"{name}: resumed")

    def _clock(self, case: Case, sla: _Sla) -> Row:
        clock = row_of(case.sla_rows, sla.definition.name)
        assert clock is not None, "an SLA timer is armed only while its clock runs"
        return clock

    def _set_clock(self, ctx: _Ctx, clock: Row) -> None:
        ctx.case.sla_rows = with_row(ctx.case.sla_rows, clock)

    def _sla_arm(self, ctx: _Ctx, sla: _Sla, clock: Row) -> None:
        """Arm a running clock's timers, and set its deadline."""
        name, status, started_at, budget, used, since, _, ended_at, warned = clock
        assert since is not None
        deadline = self._after(sla, since, budget - used)
        self._set_clock(ctx, (name, status, started_at, budget, used, since, deadline, ended_at,
                              warned))  # fmt: skip
        for i, warning in enumerate(sla.warnings):
            if warned & (1 << i):
                continue
            if warning.percent is not None:
                threshold = budget * warning.percent / 100
            else:
                assert warning.before is not None
                threshold = budget - self._seconds(sla, warning.before, since)
            due = self._after(sla, since, max(threshold - used, 0.0))
            self._arm(ctx, warning.key, due, warning.line)
        self._arm(ctx, sla.breach_key, deadline, sla.definition.line)

    def _sla_disarm(self, ctx: _Ctx, sla: _Sla) -> None:
        self._cancel(ctx, sla.timer_keys)

    def _fire_sla_timer(self, ctx: _Ctx, key: str) -> None:
        """An SLA's warning or breach (`_fire_timer` has taken it off and recorded it)."""
        case = ctx.case
        if key in self._breaches:
            sla = self._breaches[key]
            name, _, started_at, budget, used, since, deadline, _, warned = self._clock(case, sla)
            self._sla_disarm(ctx, sla)
            self._set_clock(ctx, (name, "breached", started_at, budget, used, since, deadline,
                                  ctx.now, warned))  # fmt: skip
            ctx.system("sla", f"{name}: breached")
            for action in sla.breach:
                action(ctx)
            return
        sla, warning, index = self._warnings[key]
        name, status, started_at, budget, used, since, deadline, ended_at, warned = self._clock(
            case, sla
        )
        self._set_clock(ctx, (name, status, started_at, budget, used, since, deadline, ended_at,
                              warned | (1 << index)))  # fmt: skip
        ctx.system("sla", f"{name}: warning")
        for action in warning.actions:
            action(ctx)


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


def _run_all(ctx: _Ctx, actions: tuple[Run, ...]) -> None:
    for action in actions:
        action(ctx)


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
