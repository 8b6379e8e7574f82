"""Playing a case of the text in the editor: by hand, or by a scenario file of the folder.

A play is a scenario (engine/scenario.py) whose flow is the editor's text rather than a
file: the browser keeps the list of steps (fire an event as a role, let time pass) and
sends it whole each time, so every answer is a fresh, deterministic replay on a simulated
clock — undo is dropping the last step, and nothing is stored anywhere.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine import limits
from engine.clock import SystemClock
from engine.definition import FlowDefinition
from engine.i18n import localize, msg, msgn
from engine.i18n.formats import format_datetime
from engine.scenario import (
    Scenario,
    ScenarioError,
    ScenarioResult,
    ScenarioStep,
    engine_for,
    load_scenario,
    play,
)
from engine.yamlfile import validation_problems
from server.problems import Problem, said
from server.users import Person
from server.views import case_view
from studio.folder import Folder

MAX_PLAY_STEPS = 500


class Edited(BaseModel):
    """The editor's text of one flow of the folder."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    text: str = Field(max_length=limits.MAX_FILE_BYTES)


class PlayRequest(Edited):
    """A case played by hand: who opens it with what, then the steps so far."""

    start: datetime | None = None  # default: the start of the current hour
    role: str | None = Field(default=None, max_length=limits.MAX_NAME_CHARS)
    case: dict[str, Any] = Field(default_factory=dict, max_length=limits.MAX_DATA_KEYS)
    steps: list[ScenarioStep] = Field(default_factory=list, max_length=MAX_PLAY_STEPS)


class ScenarioRun(Edited):
    """A scenario file of the folder, run against the editor's text."""

    scenario: str = Field(max_length=400)


def compiled(folder: Folder, edited: Edited) -> FlowDefinition:
    """The editor's text as a flow table, or Problem when it has errors."""
    result = folder.check(edited.name, edited.text)
    if result.definition is None or result.errors:
        raise Problem(
            422,
            "flow_has_errors",
            msgn(
                "the flow has {count} error; fix it to play a case",
                "the flow has {count} errors; fix them to play a case",
                len(result.errors),
            ),
        )
    return result.definition


def play_by_hand(folder: Folder, request: PlayRequest, language: str) -> dict[str, Any]:
    definition = compiled(folder, request)
    start = request.start or _this_hour(folder, definition)
    try:
        scenario = Scenario(
            flow=definition.name,
            start=start,
            case=request.case,
            role=request.role,
            steps=request.steps,
        )
    except ValidationError as exc:
        raise Problem(422, "invalid_play", validation_problems(exc)) from None
    return _run(folder, definition, scenario, Path(request.name), language)


def run_scenario_file(folder: Folder, request: ScenarioRun, language: str) -> dict[str, Any]:
    definition = compiled(folder, request)
    path = folder.scenario_path(request.scenario)
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        raise Problem(422, "bad_scenario", said(exc)) from None
    if scenario.flow.removesuffix(".flow") not in {definition.name, request.name[:-5]}:
        raise Problem(
            422,
            "other_flow",
            msg(
                "{scenario} plays flow `{flow}`, not this one",
                scenario=request.scenario,
                flow=scenario.flow,
            ),
        )
    return _run(folder, definition, scenario, Path(request.scenario), language)


def _this_hour(folder: Folder, definition: FlowDefinition) -> datetime:
    """Where a case played by hand starts: the current hour, in the flow's calendar."""
    calendar = folder.calendars.get(definition.calendar)
    now = SystemClock(calendar.tz if calendar else None).now()
    return now.replace(minute=0, second=0, microsecond=0)


def _run(
    folder: Folder, definition: FlowDefinition, scenario: Scenario, path: Path, language: str
) -> dict[str, Any]:
    try:
        engine = engine_for(scenario, definition, folder.calendars, path)
        result = play(scenario, engine, path)
    except ScenarioError as exc:
        raise Problem(422, "cannot_play", said(exc)) from None
    return view(result, language)


def view(result: ScenarioResult, language: str) -> dict[str, Any]:
    """What the studio shows of a played case: the case as the console shows it (with the
    events every role of the flow may fire now), its timeline, and the failed checks."""
    assert result.case is not None and result.engine is not None
    case, engine = result.case, result.engine
    runtime = engine.runtime_of(case)
    everyone = Person(id="studio", name="studio", roles=runtime.definition.roles)
    now = engine.clock.now()
    shown = case_view(runtime, case, len(case.audit), everyone, None, now, language)
    return {
        **shown,
        "now": now.isoformat(),
        "now_text": format_datetime(now, language),
        "roles": list(runtime.definition.roles),
        "timeline": [
            {
                "at": format_datetime(e.at, language),
                "text": localize(e.text, language),
                "kind": e.kind,
            }
            for e in result.timeline
        ],
        "failures": [localize(f, language) for f in result.failures],
        "passed": result.passed,
    }
