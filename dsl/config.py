"""A project's choice of rules: which `flow check` reports, and how severely.

Read from `flowdesk.toml` (top-level keys) or the `[tool.flowdesk]` table of a
`pyproject.toml`, the nearest one found from the checked file's folder upwards:

    select = ["FD2", "FD4"]                # only these rules (codes, code prefixes, names)
    ignore = ["unused-table"]              # never these
    severity = { unused-field = "error" }  # a warning made an error, or "ignore"

A rule whose default is `error` stays an error and is always reported: the flow cannot
run with that problem, so hiding it would only hide why (naming one in `ignore` is refused;
a prefix like `FD5` narrows only its warnings). `flow check --select/--ignore` apply on top.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dsl.diagnostics import Diagnostic
from dsl.rules import BY_CODE, RULES, Rule, Severity, find
from engine.errors import FlowdeskError
from engine.i18n import msg

CONFIG_FILES = ("flowdesk.toml", "pyproject.toml")


class ConfigError(FlowdeskError):
    """A configuration that names no rule, or asks what a rule cannot be."""


@dataclass(frozen=True)
class RuleChoice:
    """The rules a project reports (their codes) and the severities it changed."""

    selected: frozenset[str] = frozenset(r.code for r in RULES)
    severity: dict[str, Severity] = field(default_factory=dict)
    source: str = ""

    def apply(self, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
        """The diagnostics of selected rules, each with the project's severity; errors are
        always reported (a selection narrows the warnings)."""
        out = []
        for d in diagnostics:
            code = d.rule
            if code not in self.selected and BY_CODE[code].severity is Severity.WARNING:
                continue
            wanted = self.severity.get(code)
            out.append(d if wanted is None else replace(d, severity=wanted))
        return out

    def narrowed(self, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> RuleChoice:
        """This choice with the command line's `--select` (replacing) and `--ignore`."""
        selected = _codes(select, "--select") if select else self.selected
        ignored = _codes(ignore, "--ignore", refuse_errors=True)
        return replace(self, selected=frozenset(selected - ignored))


def _codes(selectors: Iterable[str], where: str, refuse_errors: bool = False) -> set[str]:
    """The rule codes that selectors (codes, prefixes like `FD5`, names) stand for; with
    `refuse_errors`, naming an error rule itself is refused (a prefix may cover some)."""
    codes: set[str] = set()
    for selector in selectors:
        text = str(selector).strip()
        rule = find(text)
        if rule is not None and refuse_errors:
            _refuse_weaker(rule, where, "ignore")
        matched = {rule.code} if rule else {c for c in BY_CODE if c.startswith(text.upper())}
        if not text or not matched:
            raise ConfigError(
                msg(
                    "{where}: `{selector}` names no rule; see `flow check --explain "
                    "CODE` or docs/rules.md",
                    where=where,
                    selector=text,
                )
            )
        codes |= matched
    return codes


def choice_from(table: dict[str, Any], source: str) -> RuleChoice:
    """A `RuleChoice` from a configuration table (`source` names it in errors)."""
    unknown = sorted(set(table) - {"select", "ignore", "severity"})
    if unknown:
        raise ConfigError(msg("{source}: unknown key `{key}`; the keys are select, ignore and "
                              "severity", source=source, key=unknown[0]))  # fmt: skip
    select, ignore = _list(table, "select", source), _list(table, "ignore", source)
    chosen = _codes(select, f"{source}: select") if select else {r.code for r in RULES}
    chosen -= _codes(ignore, f"{source}: ignore", refuse_errors=True)
    severity: dict[str, Severity] = {}
    levels = table.get("severity", {})
    if not isinstance(levels, dict):
        raise ConfigError(msg("{source}: `severity` is a table, like severity = {{ unused-field "
                              "= \"error\" }}", source=source))  # fmt: skip
    for key, level in levels.items():
        (code,) = _codes([key], f"{source}: severity")
        rule = BY_CODE[code]
        if level == "ignore":
            _refuse_weaker(rule, source, str(level))
            chosen.discard(code)
        elif level in ("error", "warning"):
            if level == "warning":
                _refuse_weaker(rule, source, str(level))
            severity[code] = Severity(level)
        else:
            raise ConfigError(
                msg(
                    "{source}: severity of `{key}` is `{level}`; write error, warning or ignore",
                    source=source,
                    key=key,
                    level=level,
                )
            )
    return RuleChoice(frozenset(chosen), severity, source)


def _refuse_weaker(rule: Rule, source: str, level: str) -> None:
    if rule.severity is Severity.ERROR:
        raise ConfigError(msg("{source}: {code} {name} is an error — the flow cannot run with "
                              "it — so it cannot be made `{level}`", source=source,
                              code=rule.code, name=rule.name, level=level))  # fmt: skip


def _list(table: dict[str, Any], key: str, source: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(msg("{source}: `{key}` is a list of rule codes or names, like "
                              "[\"FD5\", \"unused-table\"]", source=source, key=key))  # fmt: skip
    return value


def editor_choice(start: Path | None) -> RuleChoice:
    """`find_config` for an editor (the language server, the studio): a broken configuration
    counts as none, since `flow check` reports it and typing must go on."""
    try:
        return find_config(start) if start else RuleChoice()
    except ConfigError:
        return RuleChoice()


def find_config(start: Path) -> RuleChoice:
    """The configuration nearest to `start` (a flow file or folder), or every rule at its
    default when there is none."""
    folder = start if start.is_dir() else start.parent
    for place in (folder.resolve(), *folder.resolve().parents):
        for name in CONFIG_FILES:
            path = place / name
            if not path.is_file():
                continue
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(msg("{path}: cannot read the configuration: {reason}",
                                      path=path, reason=exc)) from None  # fmt: skip
            if name == "pyproject.toml":
                table = data.get("tool", {}).get("flowdesk")
                if table is None:
                    continue
                return choice_from(table, f"{path} [tool.flowdesk]")
            return choice_from(data, str(path))
    return RuleChoice()
