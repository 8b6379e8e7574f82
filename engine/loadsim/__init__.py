"""Load simulation and KPI reports: months of cases of a flow in seconds of virtual time.

`simulate(...)` runs a profile (workflows/profiles/*.yaml) against a compiled flow through
the pure runtime and returns a `SimResult`; `build_report` turns it into the KPI report
(JSON-ready), `render_text` / `render_html` present it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

from engine.calendar import Calendar
from engine.definition import FlowDefinition
from engine.loader import SHIPPED
from engine.loadsim.profile import Profile, ProfileError, load_profile, parse_profile
from engine.loadsim.report import Report, build_report, flatten, render_text
from engine.loadsim.shards import RunSettings, run_shards
from engine.loadsim.simulator import Progress, SimResult, Simulation
from engine.runtime import FlowRuntime

DEFAULT_START = date(2026, 3, 2)  # a Monday; a fixed default keeps runs reproducible

__all__ = [
    "DEFAULT_START",
    "Profile",
    "ProfileError",
    "Report",
    "SimResult",
    "Simulation",
    "build_report",
    "find_profile",
    "flatten",
    "load_profile",
    "parse_profile",
    "render_text",
    "simulate",
]


def simulate(
    definition: FlowDefinition,
    calendars: Mapping[str, Calendar],
    profile: Profile,
    *,
    cases: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    start: date | None = None,
    keep_cases: bool = False,
    progress: Progress | None = None,
    workers: int | None = 1,
) -> SimResult:
    """Run the profile on the flow; unset options come from the profile.

    `workers`: processes running the run's shards side by side (see `shards`); None picks
    one per core for long runs. It changes how fast a run is, never its numbers. Worker
    processes start a fresh interpreter, which imports your `__main__` module again: a
    script asking for workers needs the `if __name__ == "__main__":` guard.
    """
    calendar = calendars.get(definition.calendar)
    if calendar is None:
        raise ProfileError(f"the flow's calendar `{definition.calendar}` is not defined")
    settings = RunSettings(
        cases=cases if cases is not None else profile.cases,
        days=days if days is not None else profile.days,
        seed=seed if seed is not None else profile.seed,
        start=start or profile.start or DEFAULT_START,
        keep_cases=keep_cases,
    )
    runtime = FlowRuntime(definition, calendar)
    return run_shards(runtime, calendars, profile, settings, progress, workers)


def find_profile(flow_path: Path, name: str) -> Path | None:
    """`profiles/NAME.yaml` beside the flow, else the shipped one; None if neither exists."""
    for candidate in (flow_path.parent / "profiles" / f"{name}.yaml",
                      SHIPPED / "profiles" / f"{name}.yaml"):  # fmt: skip
        if candidate.is_file():
            return candidate
    return None
