"""Loading flows and calendars from disk: the one place the engine meets the `.flow` front-end."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

from engine.calendar import Calendar, CalendarError
from engine.calendar_file import load_calendars
from engine.definition import FlowDefinition
from engine.errors import FlowLoadError
from engine.i18n import msg
from engine.limits import clip

SHIPPED = Path(__file__).resolve().parent.parent / "workflows"


def calendars_for(flow_path: Path, explicit: Path | None = None) -> dict[str, Calendar]:
    """`--calendars`, else `calendars.yaml` beside the flow, else the shipped one (§11). A
    calendar file named explicitly must exist (CalendarError)."""
    if explicit is not None and not explicit.is_file():
        raise CalendarError(msg("{path}: no such calendar file", path=explicit))
    for candidate in (explicit, flow_path.parent / "calendars.yaml", SHIPPED / "calendars.yaml"):
        if candidate is not None and candidate.is_file():
            return load_calendars(candidate)
    return {"always": Calendar.always()}


def known_calendars(calendars: Mapping[str, Calendar]) -> dict[str, date | None]:
    """What the front-end checks a flow's `calendar` against: each calendar's name and the
    last day its official holiday data covers."""
    return {name: c.official_data_until for name, c in calendars.items()}


def compile_flow_file(path: Path, calendars: dict[str, Calendar]) -> FlowDefinition:
    """Compile a `.flow` file, or raise FlowLoadError carrying the rendered diagnostics."""
    from dsl.diagnostics import render_full
    from dsl.frontend import compile_file

    result = compile_file(path, calendars=known_calendars(calendars))
    if result.definition is None or result.errors:
        raise FlowLoadError(render_full(result.errors, result.source).rstrip())
    return result.definition


def find_flow(name_or_path: str, base: Path) -> Path:
    """A scenario's `flow:`: a `.flow` file relative to `base` (`.flow` may be left off), or
    the name of a shipped flow. Nothing but a `.flow` file is ever read for it."""
    name = name_or_path if name_or_path.endswith(".flow") else f"{name_or_path}.flow"
    for candidate in (base / name, SHIPPED / name):
        if candidate.is_file():
            return candidate
    raise FlowLoadError(
        f"flow `{clip(name_or_path)}` not found: no file {clip(name)} beside {base} nor among "
        f"the shipped flows in {SHIPPED}"
    )
