"""The load profile: how many cases arrive when, what people do in each state and how fast.

A profile is a YAML file (`workflows/profiles/*.yaml` documents every key in comments),
validated here into a `Profile`. Every problem is reported with the key it is about.
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine import limits
from engine.i18n import Listing, msg
from engine.limits import shorten
from engine.yamlfile import read_yaml, validation_problems

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)\s*$")
GENERATORS = ("choice", "bernoulli", "uniform", "randint", "after", "format")
# `format:` texts: `{n}` (the case number) with at most a simple spec, e.g. `C{n:06d}`
_FORMAT_FIELD = re.compile(r"\{n(?::[<>^]?[+ -]?#?0?\d{0,2}[,_]?[dxXob]?)?\}")
MAX_CASES, MAX_DAYS = 10_000_000, 3_660  # a run: ten million cases, ten years


class ProfileError(Exception):
    """A profile that cannot be used, explained with the key it is about."""


def parse_seconds(value: object) -> float:
    """`30m`, `2h`, `1.5d`, `1w`, `45s` (or 0) as seconds."""
    if value == 0:
        return 0.0
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            msg(
                "{value} is not a duration; write a number and a unit: 45s, 30m, 2h, 1.5d, 1w",
                value=shorten(value),
            )
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > limits.MAX_DURATION.total_seconds():
        raise ValueError(
            msg("{value} is longer than 100 years (limit duration)", value=shorten(value))
        )
    return seconds


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Delay(_Model):
    """A random duration; a bare string like `2h` is shorthand for `{dist: fixed, value: 2h}`."""

    dist: Literal["fixed", "exponential", "lognormal", "uniform"] = "fixed"
    value: float | None = None  # fixed
    mean: float | None = None  # exponential (lognormal: instead of median)
    median: float | None = None  # lognormal
    sigma: float = Field(0.5, ge=0, le=3)  # lognormal: spread of log(duration)
    min: float | None = None  # uniform
    max: float | None = None  # uniform
    working: bool = False  # count only the open time of the profile's work calendar

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str | int | float) and not isinstance(data, bool):
            return {"dist": "fixed", "value": data}
        return data

    @field_validator("value", "mean", "median", "min", "max", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        return None if value is None else parse_seconds(value)

    @model_validator(mode="after")
    def _complete(self) -> Delay:
        needs = {
            "fixed": ("value",),
            "exponential": ("mean",),
            "uniform": ("min", "max"),
        }.get(self.dist, ())
        missing = [k for k in needs if getattr(self, k) is None]
        if self.dist == "lognormal" and self.median is None and self.mean is None:
            missing.append(msg("median (or mean)"))
        if missing:
            raise ValueError(
                msg("a {dist} delay needs {missing}", dist=self.dist, missing=Listing(missing))
            )
        low, high = self.min, self.max
        if self.dist == "uniform" and low is not None and high is not None and low > high:
            raise ValueError(msg("uniform delay: min is greater than max"))
        return self


ZERO = Delay(dist="fixed", value=0.0)


class Action(_Model):
    """One event somebody fires: which, by whom, after how long, with what data."""

    event: str
    by: str | None = None  # a role, or `$field` for the role named by a field's value
    wait: Delay = ZERO  # lead time before the work starts (holds no staff)
    delay: Delay = ZERO  # the work itself (holds one member of a staffed role)
    data: dict[str, Any] = {}

    @field_validator("data")
    @classmethod
    def _generators(cls, data: dict[str, Any]) -> dict[str, Any]:
        for name, value in data.items():
            check_generator(value, f"data.{name}")
        return data


class Branch(_Model):
    """What may happen in a state: with probability `p`, these actions in order."""

    p: float = Field(1.0, ge=0, le=1)
    steps: list[Action]

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        if isinstance(data, dict) and "event" in data and "steps" not in data:
            data = dict(data)
            p = data.pop("p", 1.0)
            return {"p": p, "steps": [data]}
        return data


class Arrivals(_Model):
    """When new cases arrive: relative weights per hour of the day and per weekday."""

    hours: list[float] = [1.0] * 24  # the file may also give ranges: {"08-12": 4, …}
    weekdays: dict[str, float] = {d: 1.0 for d in WEEKDAYS}
    holiday: float | None = Field(None, ge=0)  # weight of a statutory holiday (a closed weekday)
    calendar: str | None = None  # whose holidays `holiday` means (default: the flow's)

    @field_validator("hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return hour_weights(value)
        if isinstance(value, list):
            try:
                return hour_weights([float(w) for w in value])
            except TypeError:
                raise ValueError(msg("hourly weights must be numbers")) from None
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = [k for k in value if k not in WEEKDAYS]
        if unknown:
            raise ValueError(
                msg(
                    "unknown weekday(s) {unknown}; use {WEEKDAYS}",
                    unknown=unknown,
                    WEEKDAYS=", ".join(WEEKDAYS),
                )
            )
        if not all(0 <= w < math.inf for w in value.values()):
            raise ValueError(msg("weights must be finite numbers, not negative"))
        if not any(value.values()):
            raise ValueError(msg("every weekday has weight 0: no case could arrive"))
        return {d: float(value.get(d, 0.0)) for d in WEEKDAYS}


class Staff(_Model):
    """How many people of a role work at once, and on which calendar."""

    capacity: int = Field(ge=1)
    calendar: str | None = None  # default: the profile's work calendar

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"capacity": data} if isinstance(data, int) else data


class Target(_Model):
    """A manual's target: a report figure (`kpi`, a dotted path) and its bound."""

    kpi: str
    label: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Target:
        if (self.min is None) == (self.max is None):
            raise ValueError(msg("target {kpi}: give exactly one of min, max", kpi=self.kpi))
        return self


class ReportSettings(_Model):
    """How the report reads the flow: which finals to leave out, which field means what."""

    exclude: list[str] = []  # final states whose cases the rates leave out (e.g. not a complaint)
    reopen_states: list[str] = []  # entering one of these reopens a case (default: any re-entry)
    repeat_field: str | None = None  # int field counting repeats (default: `repeat_count`)
    # with `keys:` and no repeat field: a case is a repeat when an earlier case shared a key
    # value and was opened within this window (a duration, e.g. 30d)
    repeat_window: str = "30d"
    satisfied_field: str | None = None  # bool field of the callback answer (default: `satisfied`)


class Profile(_Model):
    """A whole load profile (see workflows/profiles/complaint.yaml for every key explained)."""

    flow: str | None = None
    cases: int = Field(1000, ge=1, le=MAX_CASES)
    days: int = Field(30, ge=1, le=MAX_DAYS)
    seed: int = 1
    start: date | None = None
    drain_days: int = Field(14, ge=0, le=MAX_DAYS)
    work_calendar: str | None = None
    arrivals: Arrivals = Arrivals()
    fields: dict[str, Any] = {}
    # `keys:` field → probability that an arrival is about the same thing as an earlier case
    # (takes that field's value from one of the last cases); e.g. {unit: 0.02}
    repeats: dict[str, float] = {}
    states: dict[str, list[Branch]] = {}
    staff: dict[str, Staff] = {}
    report: ReportSettings = ReportSettings()
    targets: list[Target] = []

    @field_validator("repeats")
    @classmethod
    def _repeat_probabilities(cls, repeats: dict[str, float]) -> dict[str, float]:
        for name, p in repeats.items():
            if not 0 <= p <= 1:
                raise ValueError(
                    msg("repeats.{name}: a probability from 0 to 1, got {p}", name=name, p=p)
                )
        return repeats

    @field_validator("fields")
    @classmethod
    def _generators(cls, fields: dict[str, Any]) -> dict[str, Any]:
        for name, value in fields.items():
            check_generator(value, f"fields.{name}")
        return fields

    @field_validator("states", mode="before")
    @classmethod
    def _branch_lists(cls, states: Any) -> Any:
        if isinstance(states, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in states.items()}
        return states

    @field_validator("states")
    @classmethod
    def _probabilities(cls, states: dict[str, list[Branch]]) -> dict[str, list[Branch]]:
        for name, branches in states.items():
            total = sum(b.p for b in branches)
            if total > 1 + 1e-9:
                raise ValueError(
                    msg(
                        "state {name}: branch probabilities add up to {total:g} > 1",
                        name=name,
                        total=total,
                    )
                )
        return states


def hour_weights(value: list[float] | dict[str, float]) -> list[float]:
    """24 weights from a list, or from ranges like `{"08-12": 4, "13-17": 4}` (others 0)."""
    if isinstance(value, list):
        weights = [float(w) for w in value]
        if len(weights) != 24:
            raise ValueError(
                msg("give 24 hourly weights (00 to 23), not {weights}", weights=len(weights))
            )
    else:
        weights = [0.0] * 24
        for key, weight in value.items():
            match = re.fullmatch(r"\s*(\d{1,2})\s*(?:-\s*(\d{1,2}))?\s*", str(key))
            if match is None:
                raise ValueError(
                    msg("{key!r} is not an hour range like '08-12' or an hour like '9'", key=key)
                )
            first = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else first + 1
            if not 0 <= first < end <= 24:
                raise ValueError(msg("{key!r}: hours run from 00 to 24, start before end", key=key))
            for hour in range(first, end):
                weights[hour] = float(weight)
    if not all(0 <= w < math.inf for w in weights):
        raise ValueError(msg("weights must be finite numbers, not negative"))
    if not any(weights):
        raise ValueError(msg("every hour has weight 0: no case could arrive"))
    return weights


def check_generator(value: Any, where: str) -> None:
    """A field value is a literal or one generator mapping (`{choice: …}`, `{bernoulli: p}`, …)."""
    if not isinstance(value, dict):
        return
    keys = list(value)
    if len(keys) != 1 or keys[0] not in GENERATORS:
        raise ValueError(
            msg(
                "{where}: a mapping must be one generator: {GENERATORS} (got {keys})",
                where=where,
                GENERATORS=", ".join(GENERATORS),
                keys=keys,
            )
        )
    kind, arg = keys[0], value[keys[0]]
    if kind == "choice":
        ok = (
            isinstance(arg, dict)
            and arg
            and all(_number(w) and w >= 0 for w in arg.values())
            and 0 < sum(arg.values()) < math.inf
        ) or (isinstance(arg, list) and arg)
        if not ok:
            raise ValueError(
                msg(
                    "{where}: choice takes a list, or a mapping value → weight (finite, "
                    "not negative, not all 0)",
                    where=where,
                )
            )
    elif kind == "bernoulli":
        if not _number(arg) or not 0 <= arg <= 1:
            raise ValueError(msg("{where}: bernoulli takes a probability from 0 to 1", where=where))
    elif kind in ("uniform", "randint"):
        if not (isinstance(arg, list) and len(arg) == 2 and all(_number(x) for x in arg)):
            raise ValueError(msg("{where}: {kind} takes [low, high]", where=where, kind=kind))
    elif kind == "after":
        Delay.model_validate(arg)
    elif not isinstance(arg, str) or _FORMAT_FIELD.sub("", arg).count("{") + _FORMAT_FIELD.sub(
        "", arg
    ).count("}"):
        raise ValueError(
            msg(
                "{where}: format takes a text like 'C{{n:06d}}': `{{n}}` is the case "
                "number, with at most a short spec (width up to 99)",
                where=where,
            )
        )


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def load_profile(path: Path) -> Profile:
    """Read and validate a profile file, or raise ProfileError saying what is wrong and where."""
    raw = read_yaml(path, "profile", ProfileError)
    return parse_profile(raw or {}, str(path))


def parse_profile(raw: Any, name: str = "profile") -> Profile:
    """Validate already-parsed profile data (a dict)."""
    if not isinstance(raw, dict):
        raise ProfileError(
            msg("{name}: a profile is a mapping of keys (flow, arrivals, states, …)", name=name)
        )
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(
            msg("{name}: invalid profile:\n{exc}", name=name, exc=validation_problems(exc))
        ) from None
