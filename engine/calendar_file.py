"""The calendar file (calendars.yaml): reading it into `Calendar`s, with errors that name
the calendar and the key; and adding days to one of its calendars as a person would: the
file's comments, order and layout kept, only the one-line lists `extra_holidays`,
`extra_workdays` and `notices` of that calendar rewritten (or added after its last key).
The result is loaded again before it is returned, so a file that would not load is never
written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import yaml
from pydantic import ValidationError

from engine.calendar import Calendar, CalendarError, CalendarSpec
from engine.i18n import msg
from engine.limits import clip, shorten
from engine.yamlfile import BoundedLoader, parse_yaml, read_yaml

_KEYS = ("extra_holidays", "extra_workdays", "notices")


def add_days(
    text: str,
    calendar: str,
    holidays: Iterable[date],
    workdays: Iterable[date],
    notice_year: int,
    name: str = "calendars.yaml",
) -> str:
    """`text` with `holidays`, `workdays` and the notice's year merged into `calendar`'s
    lists; CalendarError when the calendar is missing, a list is not written on one line,
    or the result does not load (e.g. a day in both lists)."""
    lines = text.splitlines()
    header = re.compile(rf"{re.escape(calendar)}:\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        raise CalendarError(
            msg(
                "{name}: no calendar `{calendar}` at the start of a line",
                name=name,
                calendar=clip(calendar),
            )
        )
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"[^\s#]", lines[i])),
               len(lines))  # fmt: skip
    keys = [i for i in range(start + 1, end) if re.match(r"\s+\w+\s*:", lines[i])]
    if not keys:
        raise CalendarError(
            msg(
                "{name}: calendar `{calendar}` has no settings to add to",
                name=name,
                calendar=clip(calendar),
            )
        )
    indent = re.match(r"\s+", lines[keys[0]]).group()  # type: ignore[union-attr]
    additions = {"extra_holidays": holidays, "extra_workdays": workdays, "notices": [notice_year]}
    for key in _KEYS:
        found = [i for i in keys if re.match(rf"\s+{key}\s*:", lines[i])]
        if found:
            line = lines[found[0]]
            listed = re.match(rf"(\s+{key}\s*:\s*)\[(.*?)\](\s*(#.*)?)$", line)
            if listed is None:
                raise CalendarError(
                    msg(
                        "{name}:{value}: write `{key}` as a one-line list, like `{key}: "
                        "[2027-01-01, 2027-01-02]`, for days to be added to it",
                        name=name,
                        value=found[0] + 1,
                        key=key,
                    )
                )
            old = [v.strip() for v in listed.group(2).split(",") if v.strip()]
            lines[found[0]] = listed.group(1) + _list(old, additions[key]) + listed.group(3)
        else:
            at = keys[-1] + 1
            while at < end and lines[at].startswith(indent + " "):  # the last key's own block
                at += 1
            lines.insert(at, f"{indent}{key}: {_list([], additions[key])}")
            keys.append(at)
            end += 1
    result = "\n".join(lines) + "\n"
    _check_loads(result, name)
    return result


def _list(old: list[str], new: Iterable[object]) -> str:
    values = sorted(set(old) | {str(v) for v in new})
    return "[" + ", ".join(values) + "]"


def _check_loads(text: str, name: str) -> None:
    try:
        parse_calendars(text, name)
    except CalendarError as exc:
        raise CalendarError(msg("after adding the days: {exc}", exc=exc)) from None


# --- loading -------------------------------------------------------------------------------


class _Loader(BoundedLoader):
    """YAML loader that keeps dates as text, so that a bad date is reported with its field."""


def _date_as_text(loader: BoundedLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _date_as_text)


def load_calendars(path: str | Path) -> dict[str, Calendar]:
    """Read a calendar file (a mapping name -> settings, section 9); it always has `always`."""
    path = Path(path)
    return _calendars(read_yaml(path, msg("calendar file"), CalendarError, _Loader), path)


def parse_calendars(text: str, name: str = "calendars.yaml") -> dict[str, Calendar]:
    """`load_calendars` for text in hand (`name` stands for the file in messages)."""
    return _calendars(parse_yaml(text, name, CalendarError, _Loader), name)


def _calendars(data: object, path: str | Path) -> dict[str, Calendar]:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CalendarError(
            msg(
                "{path}: expected a mapping of calendar names to settings (like "
                "'office: {{hours: [\"08:00-12:00\"]}}'), got {name}",
                path=path,
                name=type(data).__name__,
            )
        )
    calendars = {"always": Calendar.always()}
    for name, settings in data.items():
        if not isinstance(settings, dict):
            raise CalendarError(
                msg(
                    "{path}: calendar {name!r}: expected a mapping of settings "
                    "({model_fields}), got {settings!r}",
                    path=path,
                    name=name,
                    model_fields=", ".join(CalendarSpec.model_fields),
                    settings=settings,
                )
            )
        try:
            spec = CalendarSpec.model_validate(settings)
        except ValidationError as error:
            raise CalendarError(f"{path}: calendar {name!r}: {_explain(error)}") from None
        calendars[str(name)] = Calendar.from_spec(str(name), spec)
    return calendars


def _explain(error: ValidationError) -> str:
    """Pydantic's errors in plain words, one clause per problem, naming the field."""
    clauses = []
    for problem in error.errors():
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in problem["loc"])
        where = where.lstrip(".")
        if problem["type"] == "extra_forbidden":
            allowed = ", ".join(CalendarSpec.model_fields)
            clauses.append(
                msg(
                    "unknown key {where!r}; the allowed keys are {allowed}",
                    where=where,
                    allowed=allowed,
                )
            )
            continue
        if problem["type"] == "value_error":
            message = str(problem.get("ctx", {}).get("error", problem["msg"]))
        else:
            message = f"{problem['msg']}, got {shorten(problem['input'])}"
        clauses.append(f"{where}: {message}" if where else message)
    return "; ".join(clauses)
