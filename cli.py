"""`flow`: check, format, compile, draw and simulate `.flow` files.

Exit codes: 0 fine (warnings allowed), 1 problems found (errors, failed expectations,
unformatted files with --check), 2 input that cannot be read or run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from dsl.diagnostics import render_concise, render_full, summary, to_json
from dsl.frontend import FrontendResult, compile_file
from engine.coverage import FlowCoverage

EXIT_OK, EXIT_PROBLEMS, EXIT_INVALID = 0, 1, 2

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _calendar_names(flow: Path, explicit: Path | None) -> dict[str, date | None] | None:
    """Known calendars and their official-data end, as the checker wants them."""
    from engine.calendar import CalendarError
    from engine.loader import calendars_for

    try:
        return {n: c.official_data_until for n, c in calendars_for(flow, explicit).items()}
    except CalendarError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return None


# ---------------------------------------------------------------- check
def cmd_check(args: argparse.Namespace) -> int:
    status = EXIT_OK
    results: list[FrontendResult] = []
    for name in args.files:
        path = Path(name)
        calendars = _calendar_names(path, args.calendars)
        if calendars is None:
            status = EXIT_INVALID
            continue
        result = compile_file(path, calendars=calendars)
        results.append(result)
        if any(d.code == "cannot-read" for d in result.diagnostics):
            status = EXIT_INVALID
        elif result.errors and status == EXIT_OK:
            status = EXIT_PROBLEMS
    if args.format == "json":
        items = [to_json(d, r.source.path) for r in results for d in r.diagnostics]
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return status
    for r in results:
        if args.format == "concise":
            sys.stdout.write(render_concise(r.diagnostics, r.source.path))
        elif r.diagnostics:
            sys.stdout.write(render_full(r.diagnostics, r.source) + "\n")
    every = [d for r in results for d in r.diagnostics]
    if args.format == "full":
        verdict = "[red]✗[/]" if status else "[green]✓[/]"
        out.print(f"{verdict} {len(results)} file(s) checked: {summary(every)}")
    return status


# ---------------------------------------------------------------- fmt
def cmd_fmt(args: argparse.Namespace) -> int:
    from dsl.formatter import FormatError, format_source

    status = EXIT_OK
    for name in args.files:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            err.print(f"[red]error:[/] {escape(name)}: cannot read the file: {escape(str(exc))}")
            status = EXIT_INVALID
            continue
        try:
            formatted = format_source(text, name)
        except FormatError as exc:
            sys.stderr.write(exc.rendered)
            status = max(status, EXIT_PROBLEMS)
            continue
        if formatted == text:
            continue
        if args.check:
            out.print(f"would reformat {escape(name)}")
            status = max(status, EXIT_PROBLEMS)
        else:
            path.write_text(formatted, encoding="utf-8")
            out.print(f"reformatted {escape(name)}")
    return status


# ---------------------------------------------------------------- compile / graph
def _load_definition(name: str, calendars: Path | None) -> tuple[int, FrontendResult]:
    path = Path(name)
    result = compile_file(path, calendars=_calendar_names(path, calendars))
    if result.definition is None:
        sys.stderr.write(render_full(result.errors, result.source))
        bad_read = any(d.code == "cannot-read" for d in result.diagnostics)
        return (EXIT_INVALID if bad_read else EXIT_PROBLEMS), result
    return EXIT_OK, result


def cmd_compile(args: argparse.Namespace) -> int:
    status, result = _load_definition(args.file, args.calendars)
    if result.definition is not None:
        print(result.definition.model_dump_json(indent=2))
    return status


def cmd_graph(args: argparse.Namespace) -> int:
    from dsl.graph import GraphvizMissing, to_dot, to_mermaid, to_svg

    status, result = _load_definition(args.file, args.calendars)
    if result.definition is None:
        return status
    if args.format == "mermaid":
        text = to_mermaid(result.definition)
    elif args.format == "dot":
        text = to_dot(result.definition)
    else:
        try:
            text = to_svg(result.definition)
        except GraphvizMissing as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            return EXIT_INVALID
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        out.print(f"wrote {escape(args.output)}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


# ---------------------------------------------------------------- simulate
def _scenario_files(target: Path) -> list[Path]:
    if target.is_dir():
        return sorted(p for p in target.rglob("*.yaml") if p.name != "calendars.yaml")
    return [target]


def cmd_simulate(args: argparse.Namespace) -> int:
    from engine.scenario import ScenarioError, run_scenario, summarize

    if not args.scenario:
        err.print("[red]error:[/] give a scenario: flow simulate --scenario FILE|DIR")
        return EXIT_INVALID
    target = Path(args.scenario)
    if not target.exists():
        err.print(f"[red]error:[/] {escape(str(target))}: no such file or folder")
        return EXIT_INVALID
    status = EXIT_OK
    reports = []
    passed = failed = invalid = 0
    coverage: dict[str, FlowCoverage] = {}
    files = _scenario_files(target)
    for path in files:
        try:
            result = run_scenario(path, args.calendars)
        except ScenarioError as exc:
            err.print(f"[red]invalid[/] {escape(str(exc))}")
            status, invalid = EXIT_INVALID, invalid + 1
            continue
        passed, failed = passed + result.passed, failed + (not result.passed)
        if args.coverage and result.case is not None and result.engine is not None:
            definition = result.engine.runtime_of(result.case).definition
            key = f"{definition.name}@{definition.content_hash}"
            coverage.setdefault(key, FlowCoverage(definition)).add(result.case.audit)
        if not result.passed and status == EXIT_OK:
            status = EXIT_PROBLEMS
        if args.json:
            assert result.case is not None
            reports.append(
                {
                    "scenario": str(path),
                    "passed": result.passed,
                    "failures": result.failures,
                    "case": summarize(result.case),
                }
            )
            continue
        _print_timeline(result, args.quiet)
    if args.json:
        document: object = reports
        if args.coverage:
            document = {"scenarios": reports, "coverage": [c.to_json() for c in coverage.values()]}
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return status
    if len(files) > 1:
        out.print(f"{len(files)} scenarios: {passed} passed, {failed} failed, {invalid} invalid")
    if args.coverage:
        _print_coverage(list(coverage.values()))
    return status


def _print_coverage(flows: list[FlowCoverage]) -> None:
    from rich.table import Table

    from engine.coverage import CATEGORIES

    table = Table(title="scenario coverage", title_justify="left")
    table.add_column("flow", no_wrap=True)
    for category in CATEGORIES:
        table.add_column(category.replace("sla ", "SLA "), justify="right", no_wrap=True)
    for flow in sorted(flows, key=lambda f: f.definition.name):
        cells = []
        for hit, total in flow.counts().values():
            percent = f"{100 * hit // total}%" if total else "—"
            style = "green" if hit == total else "yellow"
            cells.append(f"[{style}]{percent} ({hit}/{total})[/]" if total else "—")
        table.add_row(flow.definition.name, *cells)
    out.print(table)
    for flow in flows:
        for item in flow.missed():
            out.print(
                f"  [yellow]not exercised[/] {escape(flow.definition.name)}: {escape(item.label)}"
            )


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


def _print_timeline(result: object, quiet: bool) -> None:
    from engine.expressions import format_value
    from engine.scenario import ScenarioResult

    assert isinstance(result, ScenarioResult)
    mark = "[green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
    out.print(f"{mark} {escape(str(result.path))} [dim]({escape(result.flow)})[/]")
    if quiet and result.passed:
        return
    for event in result.timeline:
        style = _STYLE.get(event.kind, "")
        text = escape(event.text)
        out.print(
            f"  [dim]{format_value(event.at)}[/]  " + (f"[{style}]{text}[/]" if style else text)
        )
    for failure in result.failures:
        out.print(f"  [bold red]✗ {escape(failure)}[/]")


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flow",
        description="Check, format, compile, draw and simulate Flowdesk `.flow` files.",
        epilog="Language reference: docs/language.md. "
        "Exit codes: 0 ok, 1 problems found, 2 invalid input.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def calendars_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--calendars",
            type=Path,
            metavar="FILE",
            help="calendars.yaml to use (default: beside the flow, else the shipped one)",
        )

    p = sub.add_parser("check", help="report errors and warnings in flow files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--format",
        choices=["full", "concise", "json"],
        default="full",
        help="full: with source and caret (default); concise: one line each; json",
    )
    calendars_option(p)
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("fmt", help="rewrite flow files in the canonical layout")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a file is not formatted (for CI)",
    )
    p.set_defaults(run=cmd_fmt)

    p = sub.add_parser("compile", help="print the compiled transition table")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="as JSON (the only format; the default)")
    calendars_option(p)
    p.set_defaults(run=cmd_compile)

    p = sub.add_parser("graph", help="draw a flow as a Mermaid, Graphviz dot or SVG diagram")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=["mermaid", "dot", "svg"], default="mermaid")
    p.add_argument("-o", "--output", metavar="FILE", help="write to a file instead of stdout")
    calendars_option(p)
    p.set_defaults(run=cmd_graph)

    p = sub.add_parser("simulate", help="run scenario files (§11) in virtual time")
    p.add_argument("--scenario", metavar="FILE|DIR", help="a scenario file, or a folder of them")
    p.add_argument("--json", action="store_true", help="machine-readable results")
    p.add_argument("-q", "--quiet", action="store_true", help="no timeline for passing scenarios")
    p.add_argument(
        "--coverage",
        action="store_true",
        help="report which transitions, timers, SLA warnings/breaches and "
        "task-overdue branches the scenarios exercised, per flow",
    )
    calendars_option(p)
    p.set_defaults(run=cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
