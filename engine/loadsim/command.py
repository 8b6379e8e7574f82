"""`flow simulate FLOW …`: resolve the flow, calendars and profile, run, print or write."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from engine.calendar import CalendarError
from engine.errors import FlowLoadError
from engine.i18n import error_line, safe, tr
from engine.loader import calendars_for, compile_flow_file, find_flow
from engine.loadsim import build_report, find_profile, load_profile, render_text, simulate
from engine.loadsim.html import render_html
from engine.loadsim.profile import Profile, ProfileError
from engine.loadsim.simulator import Progress as ProgressFn

EXIT_OK, EXIT_INVALID = 0, 2
PROGRESS_FROM = 5000  # cases: below this a run takes well under a second


def run_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run the load simulation the command line asks for; the exit code."""
    try:
        profile_path = Path(args.profile) if args.profile else None
        profile = load_profile(profile_path) if profile_path else None
        flow_name = args.flow or (profile.flow if profile else None)
        if not flow_name:
            err.print(error_line(tr("give a flow: flow simulate FLOW [--profile P.yaml]")))
            return EXIT_INVALID
        flow_path = Path(flow_name)
        if not flow_path.is_file():
            base = profile_path.parent if profile_path else Path.cwd()
            flow_path = find_flow(flow_name, base)
        calendars = calendars_for(flow_path, args.calendars)
        definition = compile_flow_file(flow_path, calendars)
        if profile is None:
            found = find_profile(flow_path, definition.name)
            if found is None:
                said = tr("no load profile for flow `{flow}`: write one (see "
                          "workflows/profiles/complaint.yaml) and pass --profile",
                          flow=escape(definition.name))  # fmt: skip
                err.print(error_line(said))
                return EXIT_INVALID
            profile = load_profile(found)
        if args.workers is not None and args.workers < 1:
            err.print(error_line(tr("--workers must be 1 or more")))
            return EXIT_INVALID
        cases = args.cases if args.cases is not None else profile.cases
        show = not args.json and cases >= PROGRESS_FROM and err.is_terminal
        began = time.perf_counter()
        with _progress(err, show, profile, args.days) as progress:
            result = simulate(
                definition, calendars, profile, cases=cases, days=args.days, seed=args.seed,
                start=args.start, keep_cases=args.keep_cases, progress=progress,
                workers=args.workers,
            )  # fmt: skip
        wall = time.perf_counter() - began
    except (ProfileError, FlowLoadError, CalendarError) as exc:
        err.print(error_line(safe(exc)))
        return EXIT_INVALID
    report = build_report(result)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        render_text(report, out)
        steps = report["events"]["steps"]
        err.print(
            "[dim]{}[/]".format(
                tr(
                    "{steps:,} steps in {wall:.2f} s ({rate:,.0f} events/s)",
                    steps=steps,
                    wall=wall,
                    rate=steps / max(wall, 1e-9),
                )
            )
        )
    if args.html:
        Path(args.html).write_text(render_html(report), encoding="utf-8")
        err.print(tr("wrote {path}", path=escape(str(args.html))))
    return EXIT_OK


@contextmanager
def _progress(
    err: Console, show: bool, profile: Profile, days: int | None
) -> Iterator[ProgressFn | None]:
    """A rich progress bar over simulated days, on stderr (nothing when not shown)."""
    if not show:
        yield None
        return
    total = (days if days is not None else profile.days) + profile.drain_days
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("simulate", total=total)

        def update(done: int, _total: int) -> None:
            bar.update(task, completed=done)

        yield update
