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
from typing import TYPE_CHECKING

from rich.console import Console

from dsl.diagnostics import Diagnostic, render_concise, render_full, summary, to_json
from dsl.frontend import FrontendResult, compile_file
from engine import limits
from engine.coverage import FlowCoverage
from engine.i18n import (
    UnknownLanguage,
    choose_language,
    error_line,
    language,
    localize,
    safe,
    tr,
    trn,
)
from engine.i18n.argparse_words import argparse_in_language, take_lang_option

if TYPE_CHECKING:
    pass

EXIT_OK, EXIT_PROBLEMS, EXIT_INVALID = 0, 1, 2

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _calendar_names(flow: Path, explicit: Path | None) -> dict[str, date | None] | None:
    """Known calendars and their official-data end, as the checker wants them."""
    from engine.calendar import CalendarError
    from engine.loader import calendars_for, known_calendars

    try:
        return known_calendars(calendars_for(flow, explicit))
    except CalendarError as exc:
        _error(safe(exc))
        return None


def _error(text: str) -> None:
    """`error: …` on stderr, in the reader's language (`text` already safe for rich)."""
    err.print(error_line(text))


class NothingToCheck(Exception):
    """A folder named on the command line holds no `.flow` file."""


def _flow_files(names: Sequence[str]) -> list[str]:
    """The files named, with each folder replaced by the `.flow` files in it (sorted); a
    folder without any is an error, not a silent success."""
    files: list[str] = []
    for name in names:
        path = Path(name)
        if not path.is_dir():
            files.append(name)
            continue
        found = sorted(str(p) for p in path.rglob("*.flow"))
        if not found:
            raise NothingToCheck(tr("{name}: no .flow files in this folder", name=name))
        files += found
    return files


# ---------------------------------------------------------------- check
def cmd_check(args: argparse.Namespace) -> int:
    from dsl.config import ConfigError, find_config
    from dsl.rules import explain, find

    if args.explain:
        rule = find(args.explain)
        if rule is None:
            _error(tr("no rule `{rule}`; the rules are listed in docs/rules.md",
                      rule=safe(args.explain)))  # fmt: skip
            return EXIT_INVALID
        sys.stdout.write(explain(rule))
        return EXIT_OK
    if not args.files:
        _error(tr("give the flow files or folders to check, or --explain RULE"))
        return EXIT_INVALID
    status = EXIT_OK
    results: list[tuple[FrontendResult, list[Diagnostic]]] = []
    for name in _flow_files(args.files):
        path = Path(name)
        calendars = _calendar_names(path, args.calendars)
        try:
            choice = find_config(path).narrowed(args.select, args.ignore)
        except ConfigError as exc:
            _error(safe(exc))
            return EXIT_INVALID
        if calendars is None:
            status = EXIT_INVALID
            continue
        result = compile_file(path, calendars=calendars)
        shown = choice.apply(result.diagnostics)
        results.append((result, shown))
        if any(d.code == "cannot-read" for d in shown):
            status = EXIT_INVALID
        elif any(d.is_error for d in shown) and status == EXIT_OK:
            status = EXIT_PROBLEMS
    if args.format == "json":
        items = [to_json(d, r.source.path) for r, shown in results for d in shown]
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return status
    for r, shown in results:
        if args.format == "concise":
            sys.stdout.write(render_concise(shown, r.source.path))
        elif shown:
            sys.stdout.write(render_full(shown, r.source) + "\n")
    every = [d for _, shown in results for d in shown]
    if args.format == "full":
        verdict = "[red]✗[/]" if status else "[green]✓[/]"
        checked = trn("{count} file checked", "{count} files checked", len(results))
        out.print(
            f"{verdict} " + tr("{checked}: {summary}", checked=checked, summary=summary(every))
        )
    return status


def _rule_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# ---------------------------------------------------------------- fmt
def cmd_fmt(args: argparse.Namespace) -> int:
    from dsl.formatter import FormatError, format_source

    status = EXIT_OK
    for name in _flow_files(args.files):
        path = Path(name)
        try:
            text = limits.read_text(path, tr("flow file"))
        except (OSError, UnicodeDecodeError, limits.LimitExceeded) as exc:
            _error(
                tr(
                    "{name}: cannot read the file: {exc}",
                    name=safe(name),
                    exc=safe(exc),
                )
            )
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
            out.print(tr("would reformat {name}", name=safe(name)))
            status = max(status, EXIT_PROBLEMS)
        else:
            path.write_text(formatted, encoding="utf-8")
            out.print(tr("reformatted {name}", name=safe(name)))
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
            _error(safe(exc))
            return EXIT_INVALID
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        out.print(tr("wrote {path}", path=safe(args.output)))
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
    from engine.scenario_output import print_coverage, print_timeline

    if args.flow and args.scenario:
        _error(tr("give either FLOW (a load simulation) or --scenario, not both"))
        return EXIT_INVALID
    if args.flow or (args.profile and not args.scenario):
        from engine.loadsim.command import run_command

        return run_command(args, out, err)
    if not args.scenario:
        _error(
            tr(
                "give a flow to load-simulate (flow simulate FLOW "
                "--cases N …) or a scenario: flow simulate --scenario FILE|DIR"
            )
        )
        return EXIT_INVALID
    target = Path(args.scenario)
    if not target.exists():
        _error(tr("{target}: no such file or folder", target=safe(str(target))))
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
            err.print("[red]{}[/] {}".format(tr("invalid"), safe(exc)))
            status, invalid = EXIT_INVALID, invalid + 1
            continue
        passed, failed = passed + result.passed, failed + (not result.passed)
        if args.coverage and result.case is not None and result.engine is not None:
            definition = result.engine.runtime_of(result.case).definition
            key = f"{definition.name}@{definition.content_hash}"
            flow_coverage = coverage.setdefault(key, FlowCoverage(definition))
            for case in result.engine.cases.values():  # those its schedules opened too
                flow_coverage.add(case.audit)
            flow_coverage.add_schedules(o.schedule for o in result.engine.occurrences)
        if not result.passed and status == EXIT_OK:
            status = EXIT_PROBLEMS
        if args.json:
            assert result.case is not None
            reports.append(
                {
                    "scenario": str(path),
                    "passed": result.passed,
                    "failures": [localize(f) for f in result.failures],
                    "case": summarize(result.case),
                }
            )
            continue
        print_timeline(out, result, args.quiet)
    if args.json:
        document: object = reports
        if args.coverage:
            document = {"scenarios": reports, "coverage": [c.to_json() for c in coverage.values()]}
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return status
    if len(files) > 1:
        out.print(
            trn(
                "{count} scenario: {passed} passed, {failed} failed, {invalid} invalid",
                "{count} scenarios: {passed} passed, {failed} failed, {invalid} invalid",
                len(files),
                passed=passed,
                failed=failed,
                invalid=invalid,
            )
        )
    if args.coverage:
        print_coverage(out, list(coverage.values()))
    return status


# ---------------------------------------------------------------- worker / cases (the store)
def cmd_worker(args: argparse.Namespace) -> int:
    """Run the live scheduler on a store until SIGTERM/SIGINT."""
    from engine.errors import FlowdeskError
    from engine.scheduling.worker import run_worker

    try:
        return run_worker(args)
    except FlowdeskError as exc:
        _error(safe(exc))
        return EXIT_INVALID


def cmd_cases(args: argparse.Namespace) -> int:
    """List the cases of a store, or show one with its history (engine/store/commands.py)."""
    from engine.store.commands import show_cases

    return show_cases(args, out, err)


def cmd_schedules(args: argparse.Namespace) -> int:
    """`flow schedules [list|pause|resume FLOW NAME]` (engine/scheduling/schedule_command.py)."""
    from engine.errors import FlowdeskError
    from engine.scheduling.schedule_command import lines

    try:
        for line in lines(args):
            out.print(safe(line))
    except FlowdeskError as exc:
        _error(safe(exc))
        return EXIT_INVALID
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    """Show, or do, the move of a flow's open cases (engine/store/commands.py)."""
    from engine.store.commands import migrate_cases

    return migrate_cases(args, out, err)


# ---------------------------------------------------------------- calendar import
def cmd_calendar_import(args: argparse.Namespace) -> int:
    """Add a State Council holiday notice to a calendar (engine/calendar_command.py)."""
    from engine.calendar_command import import_notice

    return import_notice(args, out, err)


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flow",
        description=tr("Check, format, compile, draw and simulate Flowdesk `.flow` files."),
        epilog=tr(
            "Language reference: docs/language.md. Exit codes: 0 ok, 1 problems "
            "found, 2 invalid input."
        ),
    )
    parser.add_argument(
        "--lang",
        metavar="LANG",
        help=tr("language of messages and reports: en or zh_CN (default: FLOWDESK_LANG, "
                "then the locale)"),
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def calendars_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--calendars",
            type=Path,
            metavar="FILE",
            help=tr("calendars.yaml to use (default: beside the flow, else the shipped one)"),
        )

    p = sub.add_parser("check", help=tr("report errors and warnings in flow files"))
    p.add_argument("files", nargs="*", metavar="FILE|DIR")
    p.add_argument("--explain", metavar="RULE",
                   help=tr("explain a rule (a code like FD201 or a name like unknown-state), "
                           "with a bad and a good example"))  # fmt: skip
    p.add_argument(
        "--select",
        type=_rule_list,
        default=[],
        metavar="RULES",
        help=tr(
            "report only these rules: codes, code prefixes (FD5) or names, "
            "comma-separated (default: flowdesk.toml or [tool.flowdesk])"
        ),
    )
    p.add_argument(
        "--ignore",
        type=_rule_list,
        default=[],
        metavar="RULES",
        help=tr("do not report these rules (warnings only: an error stays)"),
    )
    p.add_argument(
        "--format",
        choices=["full", "concise", "json"],
        default="full",
        help=tr("full: with source and caret (default); concise: one line each; json"),
    )
    calendars_option(p)
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("fmt", help=tr("rewrite flow files in the canonical layout"))
    p.add_argument("files", nargs="+", metavar="FILE|DIR")
    p.add_argument(
        "--check",
        action="store_true",
        help=tr("change nothing; exit 1 if a file is not formatted (for CI)"),
    )
    p.set_defaults(run=cmd_fmt)

    p = sub.add_parser("compile", help=tr("print the compiled transition table"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help=tr("as JSON (the only format; the default)"))
    calendars_option(p)
    p.set_defaults(run=cmd_compile)

    p = sub.add_parser("graph", help=tr("draw a flow as a Mermaid, Graphviz dot or SVG diagram"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=["mermaid", "dot", "svg"], default="mermaid")
    p.add_argument("-o", "--output", metavar="FILE", help=tr("write to a file instead of stdout"))
    calendars_option(p)
    p.set_defaults(run=cmd_graph)

    p = sub.add_parser(
        "simulate",
        help=tr("load-simulate a flow (KPI report), or run scenario files (§11), in virtual time"),
    )
    p.add_argument(
        "flow",
        nargs="?",
        metavar="FLOW",
        help=tr(
            "a shipped flow's name or a .flow file: run a load simulation of it "
            "(with a profile: --profile, else profiles/FLOW.yaml); not with "
            "--scenario"
        ),
    )
    p.add_argument(
        "--scenario", metavar="FILE|DIR", help=tr("a scenario file, or a folder of them")
    )
    p.add_argument("--json", action="store_true", help=tr("machine-readable results"))
    p.add_argument(
        "--cases", type=int, metavar="N", help=tr("load: cases arriving (default: the profile's)")
    )
    p.add_argument(
        "--days",
        type=int,
        metavar="D",
        help=tr("load: days they arrive over (default: profile's)"),
    )
    p.add_argument(
        "--seed", type=int, metavar="S", help=tr("load: random seed; same seed, same report")
    )
    p.add_argument("--profile", metavar="P.yaml", help=tr("load: the load profile to use"))
    p.add_argument(
        "--start",
        type=date.fromisoformat,
        metavar="DATE",
        help=tr("load: first day of the period, e.g. 2026-03-02"),
    )
    p.add_argument("--html", metavar="FILE", help=tr("load: also write the report as an HTML page"))
    p.add_argument(
        "--keep-cases",
        action="store_true",
        help=tr("load: keep every case (memory grows with N) and list them in --json"),
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=tr(
            "load: processes running the run's shards side by side (default: one "
            "per core for runs of 20,000 cases or more); never changes the numbers"
        ),
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help=tr("no timeline for passing scenarios")
    )
    p.add_argument(
        "--coverage",
        action="store_true",
        help=tr(
            "report which transitions, timers, SLA warnings/breaches and "
            "task-overdue branches the scenarios exercised, per flow"
        ),
    )
    calendars_option(p)
    p.set_defaults(run=cmd_simulate)
    from engine.scheduling.options import build_parser as worker_options

    p = sub.add_parser("worker", help=tr("run the live scheduler: fire due timers, deliver outbox"))
    worker_options(p)
    p.set_defaults(run=cmd_worker)

    p = sub.add_parser("cases", help=tr("list the cases of a store, or show one with its history"))
    p.add_argument("case_id", nargs="?", metavar="CASE", help=tr("show this case and its history"))
    p.add_argument(
        "--db", required=True, metavar="URL", help=tr("sqlite:///FILE or a PostgreSQL URL")
    )
    p.add_argument("--flow", help=tr("only cases of this flow"))
    p.add_argument("--state", help=tr("only cases in this state"))
    p.add_argument("--open", action="store_true", help=tr("only open cases"))
    p.add_argument("--limit", type=int, default=100, help=tr("at most this many (default 100)"))
    p.add_argument("--json", action="store_true", help=tr("machine-readable output"))
    calendars_option(p)
    p.set_defaults(run=cmd_cases)

    from engine.scheduling.schedule_command import add_parser as schedules_parser

    schedules_parser(sub, cmd_schedules)

    p = sub.add_parser("calendar", help=tr("calendar files: import the yearly holiday notice"))
    calendar_sub = p.add_subparsers(dest="calendar_command", required=True, metavar="ACTION")
    p = calendar_sub.add_parser(
        "import",
        help=tr("add a State Council holiday notice (放假调休通知) to a calendar"),
        description=tr(
            "Reads the notice's numbered lines (元旦, 春节, 清明节, 劳动节, 端午节, 中秋节, "
            "国庆节: days off 放假 and make-up working days 上班), shows what it adds to the "
            "calendar's extra_holidays / extra_workdays, and writes it with "
            "--apply (comments and layout of the file are kept). A line it cannot "
            "read is refused with its number."
        ),
    )
    p.add_argument("notice", metavar="NOTICE.txt", help=tr("the notice's text, as published"))
    p.add_argument(
        "--calendar", default="office", help=tr("the calendar to add to (default office)")
    )
    p.add_argument(
        "--calendars",
        type=Path,
        metavar="FILE",
        help=tr("the calendar file (default: the shipped workflows/calendars.yaml)"),
    )
    p.add_argument("--year", type=int, help=tr("the notice's year, when its text has no title"))
    p.add_argument("--apply", action="store_true", help=tr("write the file (without: only show)"))
    p.set_defaults(run=cmd_calendar_import)

    from server.commands import add_parsers as server_parsers

    server_parsers(sub)
    from studio.commands import add_parsers as studio_parsers

    studio_parsers(sub)

    p = sub.add_parser(
        "migrate",
        help=tr(
            "move the open cases of a flow to another version (shows the change; --apply does it)"
        ),
        description=tr(
            "Cases whose state still exists move; their timers are re-based by the "
            "policy in engine/store/migrate.py. Without --apply nothing is written."
        ),
    )
    p.add_argument("flow", metavar="FLOW")
    p.add_argument("--to", type=int, required=True, metavar="VERSION")
    p.add_argument(
        "--db", required=True, metavar="URL", help=tr("sqlite:///FILE or a PostgreSQL URL")
    )
    p.add_argument(
        "--workflows", required=True, metavar="DIR", help=tr("the folder of *.flow files")
    )
    p.add_argument("--apply", action="store_true", help=tr("do it (without: only show the change)"))
    calendars_option(p)
    p.set_defaults(run=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `flow` in the language `--lang`, FLOWDESK_LANG or the locale asks for."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        chosen = choose_language(take_lang_option(words))
    except UnknownLanguage as exc:
        _error(safe(exc))
        return EXIT_INVALID
    with language(chosen), argparse_in_language():
        args = build_parser().parse_args(words)
        try:
            code: int = args.run(args)
        except NothingToCheck as exc:
            _error(safe(exc))
            return EXIT_INVALID
        return code


if __name__ == "__main__":
    sys.exit(main())
