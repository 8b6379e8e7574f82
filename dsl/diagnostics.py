"""Diagnostics as data, and the three ways to render them (full, concise, JSON).

Every check produces `Diagnostic` values; only the edge (the CLI) turns them into text.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dsl.rules import BY_NAME, Severity, severity_of
from dsl.source import Source, Span, display_width
from engine.i18n import localize, msg, msgn
from engine.limits import visible

_HELP, _RULE = msg("help"), msg("rule")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a flow file: a stable kebab-case code, where, what, and what to do."""

    code: str
    severity: Severity
    message: str
    span: Span
    help: str | None = None
    path: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def rule(self) -> str:
        """The rule's stable code, `FD201` (`code` is its name, `unknown-state`)."""
        return BY_NAME[self.code].code


class NodeProblem(Exception):
    """A token that parsed but means nothing valid (or passes a limit); carries its diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def problem(code: str, message: str, span: Span, help: str | None = None) -> Diagnostic:
    """A diagnostic of the rule named `code`, with the severity the rule has (dsl/rules.py)."""
    return Diagnostic(code, severity_of(code), message, span, help)


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """A `did you mean `x`?` hint when `name` is close to one of `known`."""
    candidates = list(known)
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not matches and len(name) >= 2:  # 主官 for 主管: one character off in a short name
        matches = [k for k in candidates if len(k) == len(name) and _one_apart(k, name)][:1]
    return msg("did you mean `{name}`?", name=matches[0]) if matches else None


def _one_apart(a: str, b: str) -> bool:
    return sum(x != y for x, y in zip(a, b, strict=True)) == 1


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.path, d.span.line, d.span.column, d.code)


def render_full(diagnostics: Sequence[Diagnostic], source: Source) -> str:
    """The rich form: `FILE:LINE:COL: error: message`, the source line, a caret, `help:`.
    The message and help are in the reader's language; `error`/`warning` stay as they are
    in every language (the language contract's format: editors and scripts match on it)."""
    blocks = []
    for d in sorted(diagnostics, key=sort_key):
        line_text = source.line(d.span.line).replace("\t", " ")
        gutter = str(d.span.line)
        pad = " " * len(gutter)
        start = d.span.column - 1
        end = d.span.end_column - 1 if d.span.end_line == d.span.line else len(line_text)
        before, underlined, after = _window(line_text, start, max(end, start))
        carets = "^" * max(display_width(underlined), 1)
        head = f"{visible(source.path)}:{d.span.line}:{d.span.column}: {d.severity.value}: "
        parts = [head + visible(localize(d.message))]
        if source.lines:  # no source to show when the file could not even be read
            parts += [
                f"{pad} |",
                f"{gutter} | {before}{underlined}{after}",
                f"{pad} | {' ' * display_width(before)}{carets}",
            ]
        if d.help:
            parts.append(f"{pad} = {localize(_HELP)}: {visible(localize(d.help))}")
        parts.append(f"{pad} = {localize(_RULE)}: {d.rule} {d.code}")
        blocks.append("\n".join(parts))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


_LONG_LINE = 160  # characters: a longer source line is shown cut around the problem
_CONTEXT = 60  # characters shown either side of the underlined part of a long line


def _window(line: str, start: int, end: int) -> tuple[str, str, str]:
    """The line around the underlined part `line[start:end]`, as (before, underlined, after),
    cut with `…` when it is long and with invisible characters made visible (they would
    throw the caret off, or print raw control codes)."""
    before, underlined, after = line[:start], line[start:end], line[end:]
    if len(line) <= _LONG_LINE:
        return visible(before), visible(underlined), visible(after)
    if len(before) > _CONTEXT:
        before = "…" + before[-_CONTEXT:]
    if len(underlined) > 2 * _CONTEXT:
        underlined = underlined[: 2 * _CONTEXT] + "…"
    if len(after) > _CONTEXT:
        after = after[:_CONTEXT] + "…"
    return visible(before), visible(underlined), visible(after)


def render_concise(diagnostics: Sequence[Diagnostic], path: str) -> str:
    """One line per problem, `FILE:LINE:COL: severity[code]: message`, for editors and grep."""
    return "".join(
        f"{visible(path)}:{d.span.line}:{d.span.column}: {d.severity.value}[{d.code}]: "
        f"{visible(localize(d.message))}\n"
        for d in sorted(diagnostics, key=sort_key)
    )


def to_json(d: Diagnostic, path: str) -> dict[str, object]:
    """A diagnostic as a plain JSON object (stable keys, for tools)."""
    return {
        "path": path,
        "code": d.code,
        "rule": d.rule,
        "severity": d.severity.value,
        "message": localize(d.message),
        "help": None if d.help is None else localize(d.help),
        "line": d.span.line,
        "column": d.span.column,
        "end_line": d.span.end_line,
        "end_column": d.span.end_column,
    }


def render_json(diagnostics: Sequence[Diagnostic], path: str) -> str:
    """All diagnostics of one file as a JSON array."""
    items = [to_json(d, path) for d in sorted(diagnostics, key=sort_key)]
    return json.dumps(items, ensure_ascii=False, indent=2)


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    """`2 errors, 1 warning` — the closing line of a check run."""
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    return msg(
        "{errors}, {warnings}",
        errors=msgn("{count} error", "{count} errors", errors),
        warnings=msgn("{count} warning", "{count} warnings", warnings),
    )
