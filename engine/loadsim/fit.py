"""Whether a load profile fits its flow: every problem a run would only show as stuck or
missing cases (an unknown state, event, role or field; values the flow refuses), named
before the run, and notes on the states the profile leaves to timers."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dsl.diagnostics import did_you_mean
from engine.calendar import Calendar
from engine.definition import CALLBACK_DONE, FlowDefinition
from engine.errors import InvalidData
from engine.fields import FieldSchema, elapsed
from engine.limits import clip
from engine.loadsim.behaviour import values_of
from engine.loadsim.profile import Profile, ProfileError


def check_profile(
    definition: FlowDefinition, schema: FieldSchema, profile: Profile, work: Calendar,
    start: datetime,
) -> list[str]:  # fmt: skip
    """Notes on the fit (states left to timers); ProfileError listing every problem."""
    states = {s.name: s for s in definition.states}
    roles = set(definition.roles)
    fields = {f.name for f in definition.fields}
    problems: list[str] = []
    for name in profile.states:
        if name not in states:
            problems.append(f"states.{name}: the flow has no state `{name}`")
        elif states[name].final:
            problems.append(f"states.{name}: `{name}` is final; nothing happens there")
    events = flow_events(definition)
    for name, branches in profile.states.items():
        for branch in branches:
            for action in branch.steps:
                if action.event not in events:
                    problems.append(
                        f"states.{name}: `{clip(action.event)}` is not an event of the flow"
                        + (f" ({close})" if (close := did_you_mean(action.event, events)) else "")
                    )
                by = action.by
                if by and by.startswith("$") and by[1:] not in fields:
                    problems.append(f"states.{name}: `by: {by}` names no field of the flow")
                elif by and not by.startswith("$") and by not in roles:
                    problems.append(f"states.{name}: `by: {by}` is not a role of the flow")
    for role in profile.staff:
        if role not in roles:
            problems.append(f"staff.{role}: not a role of the flow")
    for name in [*profile.report.exclude, *profile.report.reopen_states]:
        if name not in states:
            problems.append(f"report: the flow has no state `{name}`")
    for name in profile.fields:
        if name not in fields:
            problems.append(f"fields.{name}: not a field of the flow")
    for name in profile.repeats:
        if name not in definition.keys:
            keys = ", ".join(definition.keys) or "none"
            problems.append(f"repeats.{name}: not one of the flow's `keys:` ({keys})")
    if elapsed(profile.report.repeat_window) is None:
        problems.append(f"report.repeat_window: `{profile.report.repeat_window}` is "
                        "not an elapsed duration such as 30d")  # fmt: skip
    problems += _refused_values("fields", profile.fields, schema, work, start)
    for name, branches in profile.states.items():
        for branch in branches:
            for action in branch.steps:
                problems += _refused_values(f"states.{name}", action.data, schema, work, start)
    if problems:
        raise ProfileError("the profile does not fit the flow:\n  " + "\n  ".join(problems))
    notes = []
    for s in definition.states:
        if not s.final and s.name not in profile.states and not s.automatic:
            if s.timers and any(t.target for t in s.timers):
                continue
            notes.append(
                f"state `{s.name}` has no behaviour in the profile: cases there wait "
                "for a timer or stay open"
            )
    return notes


def _refused_values(
    where: str, specs: Mapping[str, Any], schema: FieldSchema, work: Calendar, now: datetime
) -> list[str]:
    """Values the profile would send that the flow refuses (a text too long, a number for a
    text, a bad choice), found by drawing a few up front: refused at every open or event,
    they would only show as a quiet gap in the report."""
    rng = random.Random(0)
    problems = []
    for name, make in values_of({k: v for k, v in specs.items() if k in schema.fields},
                                rng, work):  # fmt: skip
        for n in (1, 2, 3):
            try:
                schema.validate_some({name: make(n, now)})
            except InvalidData as exc:
                problems.append(f"{where}: {name}: {exc.problems[name]}")
                break
    return problems


def flow_events(definition: FlowDefinition) -> set[str]:
    """Every event some state of the flow takes: transitions, tasks, callback_done."""
    events = {CALLBACK_DONE}
    for state in definition.states:
        events.update(t.event for t in state.transitions)
        events.update(task.name for task in state.tasks)
    return events
