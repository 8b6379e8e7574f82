"""The second compile stage: a state's definition into the plan the runtime runs
(transitions with guards and actions, timers, tasks), an SLA's into its clock plan, and
which events may take the fast path."""

from __future__ import annotations

from datetime import time

from engine import definition as d
from engine.calendar import wall_rule
from engine.definition import CALLBACK_DONE
from engine.runtime.actions import Actions
from engine.runtime.context import _run_all
from engine.runtime.plans import (
    Run,
    _adder,
    _Sla,
    _State,
    _Task,
    _Timer,
    _Transition,
    _Warning,
)


class Compile(Actions):
    """State and SLA definitions compiled into plans."""

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
