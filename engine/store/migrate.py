"""Moving open cases to another version of their flow: the plan, its readable diff, the policy.

A case keeps the flow version it started with; `Service.migrate` moves the open cases of a
flow to a chosen version when their current state still exists there. Per case the plan
says what changes for *that case* (its current state's transitions, timers and tasks, the
fields), and how its pending timers are re-based:

- a timer the target version defines identically is kept, due time unchanged;
- an `after`/`every` timer whose duration changed is re-based on the time the case entered
  its state: due = entered_at + the new duration (on the flow's calendar); already past →
  it fires at the next tick, marked late;
- a timer the target version no longer has is cancelled;
- a timer the target version adds (or an `at`/wall-clock one it changed) is not armed now:
  it starts the next time the state is entered;
- task and SLA timers are kept as they are.

A case is blocked (stays where it is) when its state does not exist in the target version,
or the target version requires a field the case has no value for.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from engine.case import Armed, Case
from engine.definition import FlowDefinition, StateDef, TimerDef
from engine.expressions import add_duration
from engine.runtime import FlowRuntime


@dataclass(frozen=True, slots=True)
class CaseMigration:
    """What moving one case to the target version would change, or why it cannot move."""

    case_id: str
    state: str
    from_version: int
    to_version: int
    blocked: str | None = None
    changes: list[str] = field(default_factory=list)
    timers: dict[str, Armed] = field(default_factory=dict)  # the case's timers afterwards
    new_fields: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        """The plan as text: one header line, then one line per change."""
        head = f"{self.case_id} (state `{self.state}`): version {self.from_version} → "
        head += f"{self.to_version}"
        if self.blocked:
            return f"{head}: stays — {self.blocked}"
        lines = [head] + [f"    {c}" for c in self.changes or ["nothing changes for this case"]]
        return "\n".join(lines)


def _transitions(state: StateDef) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in state.transitions:
        target = f"-> {t.target}" if t.target else "(stays)"
        roles = f" by {', '.join(t.roles)}" if t.roles else ""
        out.setdefault(t.event, f"on {t.event} {target}{roles}")
    return out


def _timer_text(t: TimerDef) -> str:
    length = t.duration.text if t.duration else "?"
    if t.kind in ("after", "every"):
        when = f"{t.kind} {length}"
    elif t.kind == "wall":
        when = "at a wall-clock time"
    else:
        when = "at a date-time from the case"
    return when + (f" -> {t.target}" if t.target else "")


def _same_timer(a: TimerDef, b: TimerDef) -> bool:
    strip = {"line"}
    return a.model_dump(exclude=strip) == b.model_dump(exclude=strip)


def plan(case: Case, old: FlowDefinition, target: FlowRuntime) -> CaseMigration:
    """The migration of one case from `old` to the `target` runtime's flow (nothing changes)."""
    new = target.definition
    base = CaseMigration(case.id, case.state, old.version, new.version)
    new_states = {s.name: s for s in new.states}
    old_states = {s.name: s for s in old.states}
    if case.state not in new_states:
        return replace(
            base, blocked=f"state `{case.state}` does not exist in version {new.version}"
        )
    changes: list[str] = []
    new_fields: dict[str, Any] = {}
    for f in new.fields:
        if f.name in case.fields:
            continue
        if f.required:
            return replace(
                base,
                blocked=f"version {new.version} requires field `{f.name}`, "
                "which the case has no value for",
            )
        value = target.schema.validate_some({f.name: f.default}) if f.has_default else {}
        new_fields[f.name] = value.get(f.name)
        changes.append(f"field `{f.name}` added = {new_fields[f.name]!r}")
    gone = {f.name for f in old.fields} - {f.name for f in new.fields}
    changes += [f"field `{n}` no longer in the flow (its value is kept)" for n in sorted(gone)]
    before, after = old_states[case.state], new_states[case.state]
    old_t, new_t = _transitions(before), _transitions(after)
    for event in sorted(old_t.keys() | new_t.keys()):
        if old_t.get(event) != new_t.get(event):
            if event in old_t:
                changes.append(f"- {old_t[event]}")
            if event in new_t:
                changes.append(f"+ {new_t[event]}")
    old_tasks = {t.name for t in before.tasks}
    new_tasks = {t.name for t in after.tasks}
    changes += [f"+ task {n} (opens on the next entry)" for n in sorted(new_tasks - old_tasks)]
    changes += [f"- task {n}" for n in sorted(old_tasks - new_tasks)]
    timers = dict(case.timers)
    old_defs = {f"T:{t.id}": t for t in before.timers}
    new_defs = {f"T:{t.id}": t for t in after.timers}
    for key in sorted(old_defs.keys() | new_defs.keys()):
        o, n = old_defs.get(key), new_defs.get(key)
        armed = timers.get(key)
        if o is not None and n is not None and _same_timer(o, n):
            continue
        if n is None:
            assert o is not None
            if armed is not None:
                del timers[key]
                changes.append(f"- timer {_timer_text(o)}: cancelled (was due {armed.due})")
            else:
                changes.append(f"- timer {_timer_text(o)}")
            continue
        if o is None or armed is None or n.kind not in ("after", "every") or n.duration is None:
            if armed is not None:
                del timers[key]
            dropped = " (the old one is cancelled)" if armed else ""
            changes.append(
                f"+ timer {_timer_text(n)}: armed on the next entry into `{case.state}`{dropped}"
            )
            continue
        due = add_duration(target.calendar, case.entered_at, n.duration)
        timers[key] = armed._replace(due=due, order=n.line)
        changes.append(
            f"~ timer {_timer_text(o)} → {_timer_text(n)}: due {armed.due} → {due} "
            "(re-based on the state's entry)"
        )
    return replace(base, changes=changes, timers=timers, new_fields=new_fields)
