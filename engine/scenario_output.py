"""How `flow simulate --scenario` prints: each scenario's timeline in the reader's
language, and the coverage table of `--coverage`."""

from __future__ import annotations

from rich.console import Console

from engine.coverage import FlowCoverage
from engine.i18n import localize, safe, tr
from engine.scenario import ScenarioResult


def print_coverage(out: Console, flows: list[FlowCoverage]) -> None:
    """Per flow, how much of it the scenarios exercised, and what they did not."""
    from rich.table import Table

    from engine.coverage import CATEGORIES, CATEGORY_NAMES

    table = Table(title=tr("scenario coverage"), title_justify="left")
    table.add_column(tr("flow"), no_wrap=True)
    # a column only flows with schedules fill is left out when none has one
    shown = [
        c for c in CATEGORIES if c != "schedules" or any(f.definition.schedules for f in flows)
    ]
    for category in shown:
        table.add_column(localize(CATEGORY_NAMES[category]), justify="right", no_wrap=True)
    for flow in sorted(flows, key=lambda f: f.definition.name):
        cells = []
        counts = flow.counts()
        for hit, total in (counts[c] for c in shown):
            percent = f"{100 * hit // total}%" if total else "—"
            style = "green" if hit == total else "yellow"
            cells.append(f"[{style}]{percent} ({hit}/{total})[/]" if total else "—")
        table.add_row(flow.definition.name, *cells)
    out.print(table)
    for flow in flows:
        for item in flow.missed():
            name, label = safe(flow.definition.name), safe(item.label)
            out.print("  [yellow]{}[/] {}: {}".format(tr("not exercised"), name, label))


_STYLE = {
    "event": "bold",
    "opened": "bold",
    "timer": "cyan",
    "notify": "green",
    "escalate": "yellow",
    "error": "magenta",
    "fail": "bold red",
    "sla": "blue",
}


def print_timeline(out: Console, result: ScenarioResult, quiet: bool) -> None:
    """A scenario's verdict, its timeline (unless it passed and `quiet`), its failures."""
    from engine.i18n.formats import format_datetime

    mark = (
        "[green]{}[/]".format(tr("PASS")) if result.passed else "[bold red]{}[/]".format(tr("FAIL"))
    )
    out.print(f"{mark} {safe(str(result.path))} [dim]({safe(result.flow)})[/]")
    if quiet and result.passed:
        return
    for event in result.timeline:
        style = _STYLE.get(event.kind, "")
        text = safe(event.text)
        out.print(
            f"  [dim]{format_datetime(event.at)}[/]  " + (f"[{style}]{text}[/]" if style else text)
        )
    for failure in result.failures:
        out.print(f"  [bold red]✗ {safe(failure)}[/]")
