"""The `flow`, `version` and `calendar` lines: present once, valid, calendar known."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from dsl import ast
from dsl.checks.walk import hint_or, keyword_span, listed
from dsl.diagnostics import Diagnostic, problem
from dsl.source import Span
from engine.i18n import msg
from engine.i18n.formats import Moment

DATA_ENDING_DAYS = 60

# ================================================================ headers


def header_pass(
    flow: ast.Flow, calendars: Mapping[str, date | None] | None, today: date | None
) -> list[Diagnostic]:
    """The `flow`, `version` and `calendar` lines: present once, valid, calendar known."""
    out: list[Diagnostic] = []
    if flow.header("flow") is None:
        out.append(
            problem(
                "missing-flow-header",
                msg("the file does not start with `flow NAME`"),
                Span.point(1, 1),
                msg('add a first line like `flow complaint "业主投诉处理"` (a name, then a label)'),
            )
        )
    first: dict[str, ast.Header] = {}
    for h in flow.headers:
        earlier = first.setdefault(h.keyword, h)
        if earlier is not h:
            out.append(
                problem(
                    "duplicate-header",
                    msg(
                        "`{keyword}` is given twice (first on line {line})",
                        keyword=h.keyword,
                        line=earlier.span.line,
                    ),
                    keyword_span(h.span, h.keyword),
                    msg("keep one `{keyword}` line and delete the other", keyword=h.keyword),
                )
            )
    version = flow.header("version")
    if version is not None and version.number is not None and version.number < 1:
        out.append(
            problem(
                "invalid-version",
                msg("version {number} is not a version number", number=version.number),
                keyword_span(version.span, "version"),
                msg("versions count from 1: write `version 1`, `version 2`, …"),
            )
        )
    return out + _calendar_checks(flow, calendars, today)


def _calendar_checks(
    flow: ast.Flow, calendars: Mapping[str, date | None] | None, today: date | None
) -> list[Diagnostic]:
    header = flow.header("calendar")
    if header is None or header.name is None or calendars is None:
        return []
    name = header.name
    if name.value not in calendars:
        if name.value == "always":
            return []
        known = sorted({*calendars, "always"})
        return [
            problem(
                "unknown-calendar",
                msg("unknown calendar `{name}`", name=name.value),
                name.span,
                hint_or(
                    name.value,
                    known,
                    msg(
                        "use one of {known}, or add `{name}:` to calendars.yaml",
                        known=listed(known),
                        name=name.value,
                    ),
                ),
            )
        ]
    ends = calendars[name.value]
    if ends is None:
        return []
    return _data_ending(name, ends, today or date.today())


def _data_ending(name: ast.Name, ends: date, today: date) -> list[Diagnostic]:
    advice = msg(
        "import the State Council's holiday notice for the next year with "
        "`flow calendar import NOTICE.txt` (it fills "
        "extra_holidays/extra_workdays), or upgrade the holiday package"
    )
    if ends < today:
        return [
            problem(
                "calendar-data-ending",
                msg(
                    "the official holiday data of calendar `{name}` ended on {ends}, "
                    "before today ({today})",
                    name=name.value,
                    ends=Moment(ends),
                    today=Moment(today),
                ),
                name.span,
                msg(
                    "working-day deadlines are now estimated from weekdays; {advice}", advice=advice
                ),
            )
        ]
    if (ends - today).days <= DATA_ENDING_DAYS:
        return [
            problem(
                "calendar-data-ending",
                msg(
                    "the official holiday data of calendar `{name}` ends on {ends}",
                    name=name.value,
                    ends=Moment(ends),
                ),
                name.span,
                msg(
                    "after that date working-day deadlines are estimated from weekdays; {advice}",
                    advice=advice,
                ),
            )
        ]
    return []
