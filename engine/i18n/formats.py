"""Dates, times and durations as the reader's language writes them.

English keeps the compact forms the tools have always printed (`2026-10-09 16:00`,
`2d 3h`); Chinese uses Babel's locale data (`2026年10月9日 16:00`, `2天3小时`). `Moment`
carries a date or time inside a message, so it too is said at the edge.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from babel.dates import format_skeleton
from babel.units import format_unit

from engine.i18n import current_language

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))
_SHORT = {"day": "d", "hour": "h", "minute": "m"}


def format_date(day: date, language: str | None = None) -> str:
    """`2026-10-09` / `2026年10月9日`."""
    if (language or current_language()) == "en":
        return day.isoformat()[:10]
    return format_skeleton("yMMMd", day, locale=language or current_language())


def format_datetime(moment: datetime, language: str | None = None) -> str:
    """`2026-10-09 16:00` / `2026年10月9日 16:00` (in the moment's own zone)."""
    clock = f"{moment.hour:02d}:{moment.minute:02d}"
    return f"{format_date(moment.date(), language)} {clock}"


def format_duration(span: timedelta, language: str | None = None) -> str:
    """`2d 3h` / `2天3小时`: days, hours and minutes, leaving out the zero ones
    (`0m` / `0分钟` for less than a minute); a negative span gets a minus sign."""
    chosen = language or current_language()
    seconds = int(abs(span.total_seconds()))
    parts = []
    for unit, size in _UNITS:
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append((amount, unit))
    if not parts:
        parts = [(0, "minute")]
    sign = "-" if span < timedelta(0) else ""
    if chosen == "en":
        return sign + " ".join(f"{n}{_SHORT[u]}" for n, u in parts)
    said = [format_unit(n, f"duration-{u}", length="narrow", locale=chosen) for n, u in parts]
    return sign + "".join(s.replace(" ", "") for s in said)


class Moment(str):
    """A date or date-time inside a message: ISO-like in English, the language's own form
    at the edge."""

    __slots__ = ("value",)
    value: date

    def __new__(cls, value: date) -> Moment:
        english = format_datetime(value, "en") if isinstance(value, datetime) else None
        self = super().__new__(cls, english or format_date(value, "en"))
        self.value = value
        return self

    def localize(self, language: str) -> str:
        if isinstance(self.value, datetime):
            return format_datetime(self.value, language)
        return format_date(self.value, language)

    def __reduce__(self) -> tuple[object, ...]:
        return (Moment, (self.value,))
