"""Scenario files (§11): replay a case step by step in virtual time and check expectations.

`load_scenario` validates the YAML into a `Scenario`; `run_scenario` drives an `Engine` on a
`SimulatedClock` and returns a `ScenarioResult` (timeline entries and failed expectations)
that the CLI renders. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine import definition as d
from engine import limits
from engine.calendar import Calendar
from engine.case import Case
from engine.clock import SimulatedClock
from engine.engine import Engine
from engine.errors import FlowdeskError
from engine.expressions import add_duration, format_value
from engine.i18n import msg
from engine.i18n.formats import Moment
from engine.loader import calendars_for, compile_flow_file, find_flow
from engine.schedules import Occurrence
from engine.yamlfile import read_yaml, validation_problems


class ScenarioError(Exception):
    """The scenario or its flow is invalid (exit code 2)."""


def parse_duration(text: str) -> d.Duration:
    """A scenario's `after:`/`wait:` duration, read with the flow language's own units."""
    from dsl.compiler import compile_duration
    from dsl.parser import parse_duration as parse

    return compile_duration(parse(text))


def _instant(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.strptime(value.strip().replace("T", " "), "%Y-%m-%d %H:%M")
        except ValueError:
            pass
    return value


def _in_years(value: datetime | None) -> datetime | None:
    if value is not None and not limits.MIN_YEAR <= value.year <= limits.MAX_YEAR:
        raise ValueError(
            msg(
                "the year {year} is outside {MIN_YEAR}–{MAX_YEAR} (limit year-range)",
                year=value.year,
                MIN_YEAR=limits.MIN_YEAR,
                MAX_YEAR=limits.MAX_YEAR,
            )
        )
    return value


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str | None = None
    fields: dict[str, Any] | None = None
    escalations: int | list[str] | None = None
    sla: dict[str, str] | None = None
    notified: list[str] | None = None
    notifications: int | None = None
    assignee: str | None = None
    callbacks: dict[str, int] | None = None
    schedules: dict[str, int] | None = None  # occurrences so far, by schedule (an addition)
    open_cases: int | None = None  # open cases of the flow, the scenario's own included


class ScenarioStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: str | None = None
    wait: str | None = None
    at: datetime | None = None
    fire: str | None = None
    by: str | None = None
    actor: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    expect: Expect | None = None
    error: bool = False

    _instant = field_validator("at", mode="before")(_instant)
    _in_years = field_validator("at")(_in_years)

    @field_validator("after", "wait", mode="before")
    @classmethod
    def _duration_text(cls, value: Any) -> Any:
        if value is not None:
            parse_duration(str(value))
            return str(value)
        return value


class EarlierCase(BaseModel):
    """A case of the same flow opened before the scenario's own (an addition): what
    `earlier_cases`/`last_case` find by the flow's `keys:`."""

    model_config = ConfigDict(extra="forbid")
    at: datetime
    case: dict[str, Any] = Field(default_factory=dict)
    role: str | None = None

    _instant = field_validator("at", mode="before")(_instant)
    _in_years = field_validator("at")(_in_years)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow: str
    start: datetime
    case: dict[str, Any] = Field(default_factory=dict)
    role: str | None = None  # who opens the case
    earlier: list[EarlierCase] = Field(default_factory=list, max_length=1000)
    steps: list[ScenarioStep] = Field(default_factory=list)
    name: str | None = None

    _instant = field_validator("start", mode="before")(_instant)
    _in_years = field_validator("start")(_in_years)


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; ScenarioError says what is wrong and where."""
    raw = read_yaml(path, "scenario", ScenarioError)
    if not isinstance(raw, dict):
        raise ScenarioError(
            msg("{path}: a scenario is a mapping with `flow`, `start` and `steps`", path=path)
        )
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(
            msg("{path}: invalid scenario:\n{exc}", path=path, exc=validation_problems(exc))
        ) from None


@dataclass
class Event:
    """One line of the timeline."""

    at: datetime
    text: str
    kind: str  # open | event | timer | notify | escalate | state | error | expect | fail


@dataclass
class ScenarioResult:
    path: Path
    flow: str
    timeline: list[Event] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    case: Case | None = None
    engine: Engine | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def prepare(path: Path, calendars: Path | None = None) -> tuple[Scenario, Engine]:
    """Load a scenario and an engine holding its flow, on a simulated clock at `start`."""
    scenario = load_scenario(path)
    try:
        flow_path = find_flow(scenario.flow, path.parent)
        loaded = calendars_for(flow_path, calendars)
        definition = compile_flow_file(flow_path, loaded)
    except FlowdeskError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    except Exception as exc:  # a calendar file problem
        raise ScenarioError(f"{path}: {exc}") from None
    return scenario, engine_for(scenario, definition, loaded, path)


def engine_for(
    scenario: Scenario, definition: d.FlowDefinition, loaded: dict[str, Calendar], path: Path
) -> Engine:
    """An engine holding `definition` on a simulated clock at the scenario's first moment
    (the studio plays a case of the text in its editor this way, not of a file)."""
    calendar = loaded.get(definition.calendar, Calendar.always())
    start = scenario.start
    if start.tzinfo is None:
        start = start.replace(tzinfo=calendar.tz)
    for number, earlier in enumerate(scenario.earlier, 1):
        if earlier.at.tzinfo is None:
            earlier.at = earlier.at.replace(tzinfo=calendar.tz)
        if earlier.at > start:
            raise ScenarioError(
                msg(
                    "{path}: earlier case {number}: `at: {at}` is after the scenario's "
                    "start {start}",
                    path=path,
                    number=number,
                    at=Moment(earlier.at),
                    start=Moment(start),
                )
            )
    first = min([start, *(e.at for e in scenario.earlier)])
    engine = Engine(loaded, SimulatedClock(first))
    # hooks a scenario cannot provide are recorded, not run
    for hook in definition.hooks:
        engine.register_hook(hook, lambda *args: None)
    engine.load(definition)
    return engine


def run_scenario(path: Path, calendars: Path | None = None) -> ScenarioResult:
    """Run every step of a scenario file; raises ScenarioError when it cannot run at all."""
    scenario, engine = prepare(path, calendars)
    return play(scenario, engine, path)


def play(scenario: Scenario, engine: Engine, path: Path) -> ScenarioResult:
    """Run a scenario's steps on an engine from `engine_for`; `path` names it in errors."""
    flow = next(iter(engine.flows))
    runtime = engine.flows[flow]
    tz = runtime.calendar.tz
    result = ScenarioResult(path, flow, engine=engine)
    now = engine.clock.now
    try:
        for earlier in sorted(scenario.earlier, key=lambda e: e.at):
            engine.advance(earlier.at)
            engine.open(flow, earlier.case, earlier.role, earlier.role)
        engine.advance(
            scenario.start if scenario.start.tzinfo else scenario.start.replace(tzinfo=tz)
        )
        case = engine.open(flow, scenario.case, scenario.role, scenario.role)
    except FlowdeskError as exc:
        raise ScenarioError(
            msg("{path}: the case cannot be opened: {exc}", path=path, exc=exc)
        ) from None
    result.case = case
    _log_records(result, case, 0)
    fired = 0  # timers fired so far (scenario-steps)
    for number, step in enumerate(scenario.steps, 1):
        seen = len(case.audit)
        target = None
        if step.after or step.wait:
            duration = parse_duration(step.after or step.wait or "")
            target = add_duration(runtime.calendar, now(), duration)
        if step.at is not None:
            target = step.at if step.at.tzinfo else step.at.replace(tzinfo=tz)
            if target < now():
                raise ScenarioError(
                    msg(
                        "{path}: step {number}: `at: {target}` is before the scenario's "
                        "current time {now}; time never goes backwards",
                        path=path,
                        number=number,
                        target=Moment(target),
                        now=Moment(now()),
                    )
                )
        if target is not None and target.year > limits.MAX_YEAR:
            raise ScenarioError(
                msg(
                    "{path}: step {number}: the clock would pass the year {MAX_YEAR} "
                    "(limit year-range)",
                    path=path,
                    number=number,
                    MAX_YEAR=limits.MAX_YEAR,
                )
            )
        if target is not None:
            happened, mark = len(engine.occurrences), len(result.timeline)
            fired = _advance(engine, target, fired, path, number)
            _log_records(result, case, seen)
            _log_occurrences(result, engine.occurrences[happened:])
            result.timeline[mark:] = sorted(result.timeline[mark:], key=lambda e: e.at)
            seen = len(case.audit)
        if step.fire:
            _fire(engine, result, case, step, number)
            _log_records(result, case, seen)
        if step.expect is not None:
            for problem in check_expectations(case, step.expect, engine):
                said = msg("step {number} ({at}): {problem}", number=number, at=Moment(now()),
                           problem=problem)  # fmt: skip
                result.failures.append(said)
                result.timeline.append(Event(now(), problem, "fail"))
    return result


_CHUNK = (timedelta(hours=1), timedelta(days=30))  # the clock's moves between two counts


def _advance(engine: Engine, target: datetime, fired: int, path: Path, number: int) -> int:
    """Move the clock to `target`, counting the timers fired so far (the total is returned),
    so repeating timers or schedules over decades end in an error, not a hang. The clock
    moves an hour at a time while things fire, twice as far after each quiet move."""
    chunk = _CHUNK[0]
    while engine.clock.now() < target:
        steps = len(engine.advance(min(target, engine.clock.now() + chunk)))
        fired += steps
        chunk = _CHUNK[0] if steps else min(chunk * 2, _CHUNK[1])
        if fired + len(engine.occurrences) > limits.MAX_SCENARIO_STEPS:
            raise ScenarioError(
                msg(
                    "{path}: step {number}: more than {MAX_SCENARIO_STEPS:,} timer firings "
                    "and schedule occurrences on the way (limit scenario-steps); move the "
                    "clock by less",
                    path=path,
                    number=number,
                    MAX_SCENARIO_STEPS=limits.MAX_SCENARIO_STEPS,
                )
            )
    return fired


def _fire(engine: Engine, result: ScenarioResult, case: Case, step: ScenarioStep,
          number: int) -> None:  # fmt: skip
    before = case.snapshot() if step.error else None  # only a refusal is compared
    actor = step.actor or step.by
    try:
        engine.fire(case.id, step.fire or "", actor, step.by, step.data)
    except FlowdeskError as exc:
        text = msg(
            "{fire} by {value} refused: {exc}", fire=step.fire, value=step.by or "—", exc=exc
        )
        result.timeline.append(Event(engine.clock.now(), text, "error"))
        if not step.error:
            result.failures.append(msg("step {number}: {problem}", number=number, problem=text))
        elif case.snapshot() != before:
            result.failures.append(
                msg("step {number}: the refused event changed the case", number=number)
            )
        return
    if step.error:
        result.failures.append(
            msg(
                "step {number}: `{fire}` by {value} was expected to be refused, but it "
                "was taken (now in state `{state}`)",
                number=number,
                fire=step.fire,
                value=step.by or "—",
                state=case.state,
            )
        )


# what each kind of audit record is called in a timeline
RECORD_KINDS = {
    "note": msg("note"),
    "notify": msg("notify"),
    "assign": msg("assign"),
    "escalate": msg("escalate"),
    "callback": msg("callback"),
    "sla": msg("SLA"),
    "task": msg("task"),
}


# what the runtime writes of an SLA clock (`reply: breached`), as a timeline says it
SLA_EVENTS = {
    "started": msg("started"),
    "met": msg("met"),
    "paused": msg("paused"),
    "resumed": msg("resumed"),
    "breached": msg("breached"),
    "warning": msg("warned"),
}


def _system_what(kind: str, what: str) -> str:
    """An audit record's text in the reader's language where Flowdesk wrote it (an SLA
    clock's change, a task gone overdue); the flow's own texts stay as written."""
    if kind == "sla":
        name, _, event = what.rpartition(": ")
        if event in SLA_EVENTS:
            return msg("{name}: {event}", name=name, event=SLA_EVENTS[event])
    if kind == "task" and what.startswith("overdue: "):
        return msg("overdue: {task}", task=what.removeprefix("overdue: "))
    return what


def _log_records(result: ScenarioResult, case: Case, start: int) -> None:
    for record in case.audit[start:]:
        moved = f" → {record.after}" if record.after != record.before else ""
        if record.kind in ("opened", "event"):
            what = msg("case opened") if record.what == "case opened" else record.what
            who = msg(" by {role}", role=record.role) if record.role else ""
            data = f" {record.data}" if record.data else ""
            text = msg("{what}{who}{data}{moved}", what=what, who=who, data=data,
                       moved=moved)  # fmt: skip
        elif record.kind == "timer":
            text = msg("timer {what}{moved}", what=record.what, moved=moved)
        elif record.kind == "automatic":
            text = msg("automatic {what}", what=record.what)
        else:
            kind = RECORD_KINDS.get(record.kind, record.kind)
            text = msg("{kind}: {what}", kind=kind, what=_system_what(record.kind, record.what))
        result.timeline.append(Event(record.at, text, record.kind))


def _log_occurrences(result: ScenarioResult, occurrences: list[Occurrence]) -> None:
    for o in sorted(occurrences, key=lambda o: o.due):
        did = msg("opened case {case_id}", case_id=o.case_id) if o.case_id else msg("summary sent")
        late = msg(" (late)") if o.late else ""
        text = msg("schedule {name}: {did}{late}", name=o.schedule, did=did, late=late)
        result.timeline.append(Event(o.due, text, "schedule"))


def check_expectations(case: Case, expect: Expect, engine: Engine | None = None) -> list[str]:
    """What differs between the case (and the engine's schedules) and an `expect:` block,
    one sentence per difference."""
    problems = []
    if engine is not None:
        problems += _schedule_expectations(case.flow, expect, engine)
    if expect.state is not None and case.state != expect.state:
        problems.append(
            msg("state is `{state}`, expected `{state2}`", state=case.state, state2=expect.state)
        )
    for name, wanted in (expect.fields or {}).items():
        if name not in case.fields:
            problems.append(msg("field `{name}` does not exist", name=name))
        elif not _same(case.fields[name], wanted):
            shown = format_value(case.fields[name]) or msg("(not set)")
            problems.append(
                msg(
                    "field `{name}` is {shown!r}, expected {wanted!r}",
                    name=name,
                    shown=shown,
                    wanted=wanted,
                )
            )
    if expect.escalations is not None:
        roles = [e.role for e in case.escalations]
        if isinstance(expect.escalations, int):
            if len(roles) != expect.escalations:
                problems.append(
                    msg(
                        "{roles} escalations {roles2}, expected {escalations}",
                        roles=len(roles),
                        roles2=roles,
                        escalations=expect.escalations,
                    )
                )
        elif roles != expect.escalations:
            problems.append(
                msg(
                    "escalations went to {roles}, expected {escalations}",
                    roles=roles,
                    escalations=expect.escalations,
                )
            )
    for name, wanted in (expect.sla or {}).items():
        clock = case.slas.get(name)
        status = clock.status if clock else "pending"
        if not (status == wanted or (wanted == "running" and status == "paused")):
            problems.append(
                msg(
                    "SLA `{name}` is {status}, expected {wanted}",
                    name=name,
                    status=status,
                    wanted=wanted,
                )
            )
    if expect.notified is not None:
        missing = [r for r in expect.notified if r not in case.notified]
        if missing:
            so_far = sorted(set(case.notified))
            problems.append(
                msg(
                    "not notified: {missing} (notified so far: {so_far})",
                    missing=missing,
                    so_far=so_far,
                )
            )
    if expect.notifications is not None and len(case.notified) != expect.notifications:
        problems.append(
            msg(
                "{notified} notifications, expected {notifications}",
                notified=len(case.notified),
                notifications=expect.notifications,
            )
        )
    if expect.assignee is not None and case.assignee != expect.assignee:
        problems.append(
            msg(
                "assignee is {assignee!r}, expected {assignee2!r}",
                assignee=case.assignee,
                assignee2=expect.assignee,
            )
        )
    if expect.callbacks is not None:
        actual = {"opened": len(case.callbacks),
                  "done": sum(c.done_at is not None for c in case.callbacks)}  # fmt: skip
        for key, wanted_count in expect.callbacks.items():
            if actual.get(key) != wanted_count:
                problems.append(
                    msg(
                        "callbacks {key}: {key2}, expected {wanted_count}",
                        key=key,
                        key2=actual.get(key),
                        wanted_count=wanted_count,
                    )
                )
    return problems


def _schedule_expectations(flow: str, expect: Expect, engine: Engine) -> list[str]:
    problems = []
    for name, wanted in (expect.schedules or {}).items():
        if (flow, name) not in engine.schedules:
            known = ", ".join(n for f, n in engine.schedules if f == flow) or "none"
            problems.append(
                msg(
                    "flow `{flow}` has no schedule `{name}` (its schedules: {known})",
                    flow=flow,
                    name=name,
                    known=known,
                )
            )
            continue
        count = sum(1 for o in engine.occurrences if o.flow == flow and o.schedule == name)
        if count != wanted:
            problems.append(
                msg(
                    "schedule `{name}` happened {count} time(s), expected {wanted}",
                    name=name,
                    count=count,
                    wanted=wanted,
                )
            )
    if expect.open_cases is not None:
        count = sum(1 for c in engine.cases.values() if c.flow == flow and c.closed_at is None)
        if count != expect.open_cases:
            problems.append(
                msg(
                    "{count} open case(s) of `{flow}`, expected {open_cases}",
                    count=count,
                    flow=flow,
                    open_cases=expect.open_cases,
                )
            )
    return problems


def _same(actual: Any, wanted: Any) -> bool:
    if actual == wanted:
        return True
    if isinstance(wanted, str | date) or isinstance(actual, datetime | date):
        return format_value(actual) == format_value(_instant(wanted))
    return False


def summarize(case: Case) -> Mapping[str, Any]:
    """The case's end state in a few keys, for `--json` output."""
    return {
        "state": case.state,
        "escalations": [e.role for e in case.escalations],
        "notifications": len(case.notified),
        "sla": {k: v.status for k, v in case.slas.items()},
        "assignee": case.assignee,
        "callbacks": {
            "opened": len(case.callbacks),
            "done": sum(c.done_at is not None for c in case.callbacks),
        },
    }
