"""Reading the YAML files a user writes (calendars, scenarios, load profiles), with errors
that name the file, the line and the column, in the caller's own error type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml(
    path: Path, what: str, error: type[Exception], loader: type[yaml.SafeLoader] = yaml.SafeLoader
) -> Any:
    """The parsed document of `path`, or `error` saying `PATH[:LINE:COL]: …` what went wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"{path}: cannot read the {what}: {problem}") from None
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        reason = getattr(problem, "problem", None) or str(problem)
        raise error(f"{path}{where}: not valid YAML: {reason}") from None
