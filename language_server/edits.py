"""Changes the language server proposes: renaming a name everywhere it stands, and the
quick fixes for a diagnostic — put in the name a did-you-mean proposes, declare a missing
role or field, chase a waiting state or mark it a deliberate wait. Pure: text in, edits out
(1-based spans; the server converts them to the client's units)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dsl.source import Span
from engine.i18n import msg
from language_server.symbols import Symbols

NAME = re.compile(r"[^\W\d]\w*")
KIND_NAMES = {"state": msg("state"), "field": msg("field"), "role": msg("role"),
              "table": msg("table"), "sla": msg("SLA"), "task": msg("task"),
              "schedule": msg("schedule")}  # fmt: skip


class CannotRename(ValueError):
    """A rename that would break the flow: not a name, or a name already taken."""


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace `span` (1-based; an empty span inserts) with `text`."""

    span: Span
    text: str


@dataclass(frozen=True, slots=True)
class Fix:
    """A quick fix: its title (a message) and its edits."""

    title: str
    edits: tuple[Edit, ...]


def rename(symbols: Symbols, line: int, column: int, new: str) -> list[Edit]:
    """Edits renaming the name at the position everywhere it stands (declaration, uses,
    `{placeholders}`); refused when `new` is not a name or is taken by one of its kind."""
    o = symbols.at(line, column)
    if o is None:
        return []
    if not NAME.fullmatch(new):
        raise CannotRename(msg("`{new}` is not a name: a letter (or 汉字) first, then letters, "
                               "digits or _", new=new))  # fmt: skip
    if new != o.name and new in symbols.names(o.kind):
        kind = KIND_NAMES.get(o.kind, o.kind)
        raise CannotRename(msg("a {kind} named `{new}` already exists", kind=kind, new=new))
    return [Edit(u.span, new) for u in symbols.uses(o.kind, o.name)]


def quick_fixes(symbols: Symbols | None, rule: str, subject: str, span: Span,
                replace: str | None) -> list[Fix]:  # fmt: skip
    """The fixes for one diagnostic: its rule, the text it underlines, where."""
    fixes = []
    if replace:
        fixes.append(Fix(msg("replace with `{name}`", name=replace), (Edit(span, replace),)))
    if symbols is None or not NAME.fullmatch(subject):
        return fixes
    if rule == "unknown-role":
        roles = [symbols.declaration("role", r) for r in symbols.names("role")]
        if roles and roles[-1] is not None:
            end = roles[-1].span
            at = _insertion(end.line, end.end_column)
            fixes.append(Fix(msg("add `{name}` to the `roles:` line", name=subject),
                             (Edit(at, f", {subject}"),)))  # fmt: skip
    elif rule == "unknown-field":
        fields = [symbols.declaration("field", f) for f in symbols.names("field")]
        if fields and fields[-1] is not None:
            at = _insertion(fields[-1].span.line + 1, 1)
            fixes.append(Fix(msg("declare the field `{name}: text?`", name=subject),
                             (Edit(at, f"    {subject}: text?\n"),)))  # fmt: skip
    elif rule == "unchased-state":
        at = _insertion(span.line + 1, 1)
        role = next(iter(symbols.names("role")), None)
        if role is not None:
            remind = f'    every 1 working day: notify {role} "{{id}}仍在{subject}，请跟进"\n'
            fixes.append(Fix(msg("remind {role} every working day", role=role),
                             (Edit(at, remind),)))  # fmt: skip
        fixes.append(Fix(msg("mark it a deliberate wait"),
                         (Edit(at, '    wait "原因：……"\n'),)))  # fmt: skip
    return fixes


def _insertion(line: int, column: int) -> Span:
    """An empty span: where an edit inserts its text."""
    return Span(line, column, line, column)
