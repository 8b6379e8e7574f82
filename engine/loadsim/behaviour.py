"""The profile's `states:` compiled for speed: per state, branches of ready-to-run actions.

Each delay becomes a closure `now -> due` (fixed ones precomputed), each action knows its
role (or the field naming it) and which of its data values are literals, so the simulator's
inner loop does no parsing and no dictionary look-ups into the profile.

The draws inline `random.Random`'s own formulas for `expovariate`, `lognormvariate`,
`uniform` and `choices(cum_weights=…)` (one Python call less per draw): same stream of
`random()` calls, same arithmetic, so a seed gives the very numbers the methods would.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from engine.calendar import Calendar
from engine.loadsim.profile import Action, Branch, Delay

Due = Callable[[datetime], datetime]
Seconds = Callable[[], float]
Value = Callable[[int, datetime], Any]  # (case number, now) -> a field value
_log, _exp = math.log, math.exp


@dataclass(frozen=True, slots=True)
class Act:
    """One action of a branch, compiled."""

    event: str
    role: str | None  # the role firing it (None: see role_field, or no role)
    role_field: str | None  # `by: $field`: the field whose value names the role
    wait: Due | None  # lead time before the work (None: none)
    delay: Due  # the work, for a role without a staff limit
    seconds: Seconds  # the work in seconds, for a staffed role (run on its calendar)
    data: tuple[tuple[str, Value], ...]  # (field, how to make its value)
    # the data when every value is a literal (copied per event: no call per value), else None
    literal: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A branch: its probability and its actions in order."""

    p: float
    acts: tuple[Act, ...]


def seconds_of(delay: Delay, rng: random.Random) -> Seconds:
    """A function drawing the delay in seconds."""
    if delay.dist == "fixed":
        assert delay.value is not None
        value = delay.value
        return lambda: value
    if delay.dist == "exponential":
        assert delay.mean is not None
        if delay.mean <= 0:
            return lambda: 0.0
        rate, rand = 1.0 / delay.mean, rng.random
        return lambda: -_log(1.0 - rand()) / rate  # rng.expovariate(rate)
    if delay.dist == "uniform":
        assert delay.min is not None and delay.max is not None
        low, span, rand = delay.min, delay.max - delay.min, rng.random
        return lambda: low + span * rand()  # rng.uniform(low, high)
    median = delay.median
    if median is None:  # given by its mean: median = mean / exp(sigma² / 2)
        assert delay.mean is not None
        median = delay.mean / math.exp(delay.sigma**2 / 2)
    if median <= 0:
        return lambda: 0.0
    mu, sigma, normal = math.log(median), delay.sigma, rng.normalvariate
    return lambda: _exp(normal(mu, sigma))  # rng.lognormvariate(mu, sigma)


def due_of(delay: Delay, rng: random.Random, work: Calendar) -> Due:
    """A function `now -> now + drawn delay` (open time of `work` when the delay is working)."""
    add = work.add_working_time
    if delay.dist == "fixed":
        assert delay.value is not None
        step = timedelta(seconds=round(delay.value))
        if delay.working:
            return lambda now: add(now, step)
        return lambda now: now + step
    draw = seconds_of(delay, rng)
    if delay.working:
        return lambda now: add(now, timedelta(seconds=round(draw())))
    return lambda now: now + timedelta(seconds=round(draw()))


def value_of(spec: Any, rng: random.Random, work: Calendar) -> Value:
    """A field spec (a literal, or one generator of profile.GENERATORS) as a function."""
    if not isinstance(spec, dict):
        return lambda n, now: spec
    kind, arg = next(iter(spec.items()))
    if kind == "choice":
        options = list(arg)
        if isinstance(arg, list):
            return lambda n, now: options[rng.randrange(len(options))]
        weights = list(accumulate(float(arg[k]) for k in options))
        total, last, rand = weights[-1] + 0.0, len(options) - 1, rng.random
        if not 0.0 < total < math.inf:  # let `choices` raise its error
            return lambda n, now: rng.choices(options, cum_weights=weights)[0]
        # rng.choices(options, cum_weights=weights)[0]
        return lambda n, now: options[bisect_right(weights, rand() * total, 0, last)]
    if kind == "bernoulli":
        p = float(arg)
        return lambda n, now: rng.random() < p
    if kind == "uniform":
        low, high = float(arg[0]), float(arg[1])
        return lambda n, now: round(rng.uniform(low, high), 2)
    if kind == "randint":
        first, last = int(arg[0]), int(arg[1])
        return lambda n, now: rng.randint(first, last)
    if kind == "after":
        due = due_of(Delay.model_validate(arg), rng, work)
        return lambda n, now: due(now)
    text = str(arg)
    return lambda n, now: text.format(n=n)


def values_of(
    specs: Mapping[str, Any], rng: random.Random, work: Calendar
) -> tuple[tuple[str, Value], ...]:
    """Field specs by name, compiled."""
    return tuple((name, value_of(spec, rng, work)) for name, spec in specs.items())


def compile_act(action: Action, rng: random.Random, work: Calendar) -> Act:
    """An action of the profile, compiled."""
    by = action.by
    field_name = by[1:] if by is not None and by.startswith("$") else None
    wait = action.wait
    no_wait = wait.dist == "fixed" and not wait.value and not wait.working
    generated = any(isinstance(spec, dict) for spec in action.data.values())
    return Act(
        event=action.event,
        role=None if field_name else by,
        role_field=field_name,
        wait=None if no_wait else due_of(wait, rng, work),
        delay=due_of(action.delay, rng, work),
        seconds=seconds_of(action.delay, rng),
        data=values_of(action.data, rng, work),
        literal=None if generated else dict(action.data),
    )


def compile_states(
    states: Mapping[str, list[Branch]], rng: random.Random, work: Calendar
) -> dict[str, tuple[Plan, ...]]:
    """Every state's branches, compiled."""
    return {
        name: tuple(Plan(b.p, tuple(compile_act(a, rng, work) for a in b.steps)) for b in branches)
        for name, branches in states.items()
    }


def role_of(act: Act, fields: Mapping[str, Any]) -> str | None:
    """The role firing the action for a case with these fields."""
    if act.role_field is None:
        return act.role
    value = fields.get(act.role_field)
    return None if value is None else str(value)
