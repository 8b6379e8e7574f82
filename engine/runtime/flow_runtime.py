"""The pure runtime: (compiled flow, case, event or due timer, now) → the case's next state
and the step's effects.

No wall-clock reads and no I/O: time comes in as `now`, effects go out as data in `Step`.
The simulator, the tests and the live service all run cases through this one module.

A step is all-or-nothing: what it may change is saved first, and if anything fails (a
refused event, a table with no row, an automatic-transition loop) it is put back, so the
case is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from engine import definition as d
from engine.calendar import Calendar
from engine.case import (
    SLA_STATUS_AT,
    Armed,
    Case,
    Row,
    data_row,
    row_of,
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
    ExpressionCompiler,
    Scope,
    TableFn,
    Values,
    add_duration,
    compile_table,
)
from engine.fields import FieldSchema, check_names, check_shape
from engine.functions import FlowInfo, SlaInfo
from engine.i18n import msg
from engine.limits import MAX_NAME_CHARS as _NAME
from engine.runtime.compile import Compile
from engine.runtime.context import _Ctx, _lateness
from engine.runtime.plans import (
    _NO_VALUES,
    MAX_AUTOMATIC_STEPS,
    Offer,
    Run,
    Step,
    _new_tuple,
    _takes,
    _Task,
    _Timer,
    _Transition,
)
from engine.runtime.slas import Slas


class FlowRuntime(Compile, Slas):
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
