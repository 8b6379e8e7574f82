"""Semantic checks (placeholder until the checker lands)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from dsl import ast
from dsl.diagnostics import Diagnostic


def check(
    flow: ast.Flow,
    calendars: Mapping[str, date | None] | None = None,
    today: date | None = None,
) -> list[Diagnostic]:
    """Every semantic problem of a parsed flow, as diagnostics."""
    return []
