"""A compiled flow as a `transitions.Machine`, for teams already on that library.

What is mapped:
- every state becomes a `transitions` state; final states get `final=True`
  (so the machine's `on_final` callbacks run on entering them);
- every `on EVENT` becomes one transition whose trigger is the event's name, tried in
  file order like ours; `on EVENT` without `-> TARGET` becomes an internal transition
  (`dest=None`: the state is not left);
- `by ROLE, …`, the event's parameters and `when GUARD` become the transition's one
  condition. The guard runs in our own safe evaluator (`engine.expressions`, no `eval`)
  over the model's `fields` dict, with the event's data laid over it as ours does;
- the machine is built with `send_event=True`: call a trigger as
  `model.EVENT(role="客服", data={"category": "fee"})` (`actor="张三"` too, for a line
  `by FIELD` whose field names a person). Data is validated against the
  flow's field types first (`engine.errors.InvalidData` if it does not fit) and is
  written into `model.fields` only when a transition is taken;
- automatic `when GUARD -> TARGET` transitions become transitions of the reserved trigger
  `AUTOMATIC_TRIGGER`; the adapter fires it after every transition (an `after_state_change`
  callback) and on `SharedMachine.attach`, until no guard holds, as ours does. More than
  `MAX_AUTOMATIC_STEPS` in a row raise `FlowRuntimeError`; unlike ours, the model is then
  left where the loop got to (`transitions` does not roll back).

What is ours only and NOT mapped (a `transitions` machine cannot express it without our
runtime): timers (`after`, `every`, `at`), SLAs, tasks (and so `when all tasks done`),
callbacks, schedules, related cases (`keys:`, so `earlier_cases` finds none), and every
action (`set`, `notify`, `assign`, `escalate`, `record`, `emit`, `call`, `if`) — only the
event's own data changes `model.fields`. Refusals differ in form:
an event not possible in the current state raises `transitions.MachineError` (ours:
`UnknownEvent`); a role not allowed, a missing required parameter or no guard holding
make the trigger return False (ours: `RoleNotAllowed`, `InvalidData`, `NoGuardHolds`).

`Machine.add_model` costs O(number of models) per model (it was measured at ~590 µs a
case at 100k cases); `SharedMachine` is the static-machine pattern instead: one machine
with no models, each model holds only its `state` and `fields`, and events go through
`SharedMachine.fire`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from transitions import EventData, Machine, MachineError

from engine import definition as d
from engine.calendar import Calendar
from engine.clock import Clock, SystemClock
from engine.errors import FlowRuntimeError
from engine.expressions import (
    Evaluator,
    ExpressionCompiler,
    Scope,
    TableFn,
    Values,
    compile_table,
)
from engine.fields import FieldSchema
from engine.runtime import MAX_AUTOMATIC_STEPS

AUTOMATIC_TRIGGER = "flowdesk:when"  # not a flow identifier, so it cannot clash with an event
_EMPTY: dict[str, Any] = {}
_NO_NOW = datetime.min.replace(tzinfo=UTC)  # `now` of a guard that does not read it

M = TypeVar("M")


class FlowModel:
    """A ready-made model: its `state`, the `fields` guards read, and the case `id`."""

    def __init__(self, id: str = "", fields: dict[str, Any] | None = None) -> None:
        self.id = id
        self.fields: dict[str, Any] = {} if fields is None else fields
        self.state = ""


class _Condition:
    """One `on` line's condition: allowed role, data fitting its parameters, then its guard."""

    __slots__ = ("clock", "guard", "holders", "params", "required", "roles")

    def __init__(self, t: d.TransitionDef, guard: Evaluator | None, clock: Clock | None) -> None:
        self.roles = frozenset(t.roles)
        self.holders = t.holders  # `by FIELD`: the role or the `actor` the field names
        self.params = frozenset(p.name for p in t.params)
        self.required = frozenset(p.name for p in t.params if not p.optional)
        self.guard = guard
        self.clock = clock  # None: the guard does not read `now`

    def __call__(self, event: EventData) -> bool:
        """Whether this transition may be taken for the event being processed."""
        kwargs = event.kwargs
        role = kwargs.get("role")
        if (self.roles or self.holders) and role not in self.roles:
            fields: Mapping[str, Any] = getattr(event.model, "fields", _EMPTY)
            callers = {role, kwargs.get("actor")} - {None}
            if not any(fields.get(f) in callers for f in self.holders):
                return False
        data: Mapping[str, Any] = kwargs.get("data") or _EMPTY
        if not data.keys() <= self.params:
            return False
        for name in self.required:  # given, and not null
            if data.get(name) is None:
                return False
        if self.guard is None:
            return True
        return bool(self.guard(_scope(event.model, data, self.clock)))


class _Automatic:
    """An automatic `when GUARD` as a condition (no role, no data)."""

    __slots__ = ("clock", "guard")

    def __init__(self, guard: Evaluator, clock: Clock | None) -> None:
        self.guard = guard
        self.clock = clock

    def __call__(self, event: EventData) -> bool:
        """Whether the automatic transition's guard holds for the model."""
        return bool(self.guard(_scope(event.model, _EMPTY, self.clock)))


def _scope(model: object, data: Mapping[str, Any], clock: Clock | None) -> Scope:
    fields: Mapping[str, Any] = getattr(model, "fields", _EMPTY)
    if data:
        fields = {**fields, **data}
    now = clock.now() if clock is not None else _NO_NOW
    return Values(fields, now, getattr(model, "state", ""), str(getattr(model, "id", "")))


def _reads_now(e: d.Expr) -> bool:
    """Whether an expression mentions `now` (only then is the clock read)."""
    if isinstance(e, d.Var):
        return e.name == "now"
    if isinstance(e, d.TableCall | d.ListOf):
        items = e.args if isinstance(e, d.TableCall) else e.items
        return any(_reads_now(x) for x in items)
    if isinstance(e, d.Not | d.Neg | d.IsSet):
        return _reads_now(e.arg)
    if isinstance(e, d.BinOp):
        return _reads_now(e.left) or _reads_now(e.right)
    return False


class SharedMachine:
    """The static-machine pattern: one `transitions.Machine`, many models holding only state."""

    def __init__(
        self,
        definition: d.FlowDefinition,
        calendar: Calendar | None = None,
        clock: Clock | None = None,
    ) -> None:
        calendar = calendar or Calendar.always()
        clock = clock or SystemClock(calendar.tz)
        self.definition = definition
        self.schema = FieldSchema(definition, calendar.tz)
        tables: dict[str, TableFn] = {}
        exprs = ExpressionCompiler(calendar, tables)
        for table in definition.tables:
            tables[table.name] = compile_table(table, exprs)

        def compiled(e: d.Expr | None, line: int) -> tuple[Evaluator | None, Clock | None]:
            if e is None:
                return None, None
            return exprs.compile(e, line), clock if _reads_now(e) else None

        self._automatic_states: set[str] = set()
        self._settling: set[int] = set()
        self.machine = Machine(
            model=None,
            states=[{"name": s.name, "final": s.final} for s in definition.states],
            initial=definition.initial,
            auto_transitions=False,
            send_event=True,
            name=definition.name,
            prepare_event=[self._validate],
        )
        for state in definition.states:
            for t in state.transitions:
                condition = _Condition(t, *compiled(t.guard, t.line))
                self.machine.add_transition(
                    t.event,
                    state.name,
                    t.target,
                    conditions=[condition],
                    before=[_apply_data] if t.params else None,
                )
            for a in state.automatic:
                if a.all_tasks_done or a.guard is None:
                    continue  # tasks are ours only
                guard, now = compiled(a.guard, a.line)
                assert guard is not None
                self.machine.add_transition(
                    AUTOMATIC_TRIGGER, state.name, a.target, conditions=[_Automatic(guard, now)]
                )
                self._automatic_states.add(state.name)
        if self._automatic_states:
            self.machine.after_state_change = [self._after_change]
        self._events = {
            name: event for name, event in self.machine.events.items() if name != AUTOMATIC_TRIGGER
        }

    def attach(self, model: M, data: Mapping[str, Any] | None = None) -> M:
        """Put `model` in the initial state with validated `data` as its fields (no add_model)."""
        if data is not None or not hasattr(model, "fields"):
            setattr(model, "fields", self.schema.validate_all(data or {}))  # noqa: B010
        setattr(model, "state", self.definition.initial)  # noqa: B010
        self.settle(model)
        return model

    def fire(
        self,
        model: object,
        event: str,
        role: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> bool:
        """Trigger `event` on `model`; False if refused, MachineError if not possible here."""
        found = self._events.get(event)
        if found is None:
            raise MachineError(f"{self.definition.name}: no event named `{event}` in this flow")
        return found.trigger(model, role=role, data=dict(data) if data else _EMPTY)

    def settle(self, model: object) -> int:
        """Take automatic `when` transitions until none holds; how many were taken."""
        if not self._automatic_states or id(model) in self._settling:
            return 0
        self._settling.add(id(model))
        try:
            automatic = self.machine.events[AUTOMATIC_TRIGGER]
            taken = 0
            while getattr(model, "state", None) in self._automatic_states and automatic.trigger(
                model
            ):
                taken += 1
                if taken > MAX_AUTOMATIC_STEPS:
                    raise FlowRuntimeError(
                        f"more than {MAX_AUTOMATIC_STEPS} automatic transitions in one go "
                        f"(a `when` loop around state `{getattr(model, 'state', '?')}`)"
                    )
            return taken
        finally:
            self._settling.discard(id(model))

    def _validate(self, event: EventData) -> None:
        data = event.kwargs.get("data")
        if data:
            event.kwargs["data"] = self.schema.validate_some(data)

    def _after_change(self, event: EventData) -> None:
        self.settle(event.model)


def _apply_data(event: EventData) -> None:
    """Write the event's (validated) data into the model's fields: the transition is taken."""
    data = event.kwargs.get("data")
    if data:
        fields: dict[str, Any] | None = getattr(event.model, "fields", None)
        if fields is None:
            fields = {}
            setattr(event.model, "fields", fields)  # noqa: B010
        fields.update(data)


def static_machine(
    definition: d.FlowDefinition,
    calendar: Calendar | None = None,
    clock: Clock | None = None,
) -> SharedMachine:
    """A machine without models, driven through `attach` and `fire` (no per-model setup)."""
    return SharedMachine(definition, calendar, clock)


def to_machine(
    defn: d.FlowDefinition,
    model: object | None = None,
    *,
    calendar: Calendar | None = None,
    clock: Clock | None = None,
) -> Machine:
    """The flow as a `transitions.Machine`, with `model` (if given) added in the initial state.

    `calendar` (default: `always`) serves working-time arithmetic and date literals in
    guards; `clock` (default: the system clock in the calendar's zone) gives `now`.
    The model gets one method per event (`model.dispatch(role=…, data={…})`) and a
    `fields` dict if it has none; automatic transitions of the initial state are taken
    at once. Models added later with `add_model` are settled at their first transition.
    """
    shared = SharedMachine(defn, calendar, clock)
    machine = shared.machine
    if model is not None:
        if not hasattr(model, "fields"):
            setattr(model, "fields", {})  # noqa: B010
        machine.add_model(model)
        shared.settle(model)
    setattr(machine, "flowdesk", shared)  # noqa: B010 - the adapter behind it, for `shared_of`
    return machine


def shared_of(machine: Machine) -> SharedMachine:
    """The `SharedMachine` behind a machine made by `to_machine`."""
    shared = getattr(machine, "flowdesk", None)
    if not isinstance(shared, SharedMachine):
        raise TypeError("this machine was not made by engine.adapters.transitions_adapter")
    return shared


__all__ = [
    "AUTOMATIC_TRIGGER",
    "FlowModel",
    "SharedMachine",
    "shared_of",
    "static_machine",
    "to_machine",
]
