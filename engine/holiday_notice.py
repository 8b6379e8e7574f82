"""The State Council's yearly holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知),
read into the days a calendar file lists: holidays (放假) and make-up working days (上班).

The bundled holiday data ends with the last year it knows; each autumn the notice for the
next year is published, and `flow calendar import NOTICE.txt` turns its numbered lines
into `extra_holidays` / `extra_workdays` of a calendar in calendars.yaml. Pure text in,
dates out: nothing here reads or writes files.

A holiday line looks like
    二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
A numbered line that names 放假 but cannot be read is refused with its line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from engine.errors import FlowdeskError
from engine.i18n import msg
from engine.limits import clip

_TITLE_YEAR = re.compile(r"关于\s*(\d{4})\s*年部分节假日安排")
_NUMBERED = re.compile(r"^\s*[一二三四五六七八九十]+\s*、\s*(?P<name>[^：:]+)[：:](?P<body>.*)$")
_ASIDE = re.compile(r"（[^）]*）|\([^)]*\)")  # （农历腊月二十八、周日）: weekday notes
_DAY = r"(?:(\d{1,2})\s*月\s*)?(\d{1,2})\s*日"
_RANGE = re.compile(rf"{_DAY}\s*(?:至\s*{_DAY}\s*)?放假")
_WORKDAYS = re.compile(rf"((?:{_DAY}\s*[、，,和及]?\s*)+)上班")
_ONE_DAY = re.compile(_DAY)


class NoticeError(FlowdeskError):
    """A notice line that cannot be read; `line` is its number (1-based)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(msg("line {line}: {message}", line=line, message=message))
        self.line = line


@dataclass
class Holiday:
    """One numbered line: its name (元旦, 春节 …), days off and make-up working days."""

    line: int
    name: str
    days_off: list[date]
    workdays: list[date]


@dataclass
class Notice:
    """A whole notice: its year and holiday lines."""

    year: int
    holidays: list[Holiday] = field(default_factory=list)

    @property
    def days_off(self) -> list[date]:
        return sorted({d for h in self.holidays for d in h.days_off})

    @property
    def workdays(self) -> list[date]:
        return sorted({d for h in self.holidays for d in h.workdays})


def parse_notice(text: str, year: int | None = None) -> Notice:
    """The holidays of a notice; `year` when the text has no title saying it."""
    title = _TITLE_YEAR.search(text)
    if year is None:
        if title is None:
            raise NoticeError(
                1, msg("no title `关于YYYY年部分节假日安排的通知` found; give --year")
            )
        year = int(title.group(1))
    notice = Notice(year)
    for number, raw in enumerate(text.splitlines(), 1):
        match = _NUMBERED.match(raw)
        if match is None or "放假" not in raw:
            continue
        notice.holidays.append(_holiday(number, match.group("name"), match.group("body"), year))
    if not notice.holidays:
        raise NoticeError(1, msg("no numbered holiday line (like `一、元旦：1月1日…放假…`) found"))
    return notice


def _holiday(number: int, name: str, body: str, year: int) -> Holiday:
    plain = _ASIDE.sub("", body)  # weekday notes hold 、 of their own
    off = _RANGE.search(plain)
    if off is None:
        raise NoticeError(number, msg("cannot read the days off of `{name}`: expected "
                                      "`M月D日至[M月]D日放假` or `M月D日放假`",
                                      name=clip(name.strip())))  # fmt: skip
    first_month, first_day, last_month, last_day = off.groups()
    if first_month is None:
        raise NoticeError(
            number, msg("`{name}`: the first day off has no month", name=clip(name.strip()))
        )
    start = _date(number, year, int(first_month), int(first_day))
    end = start
    if last_day is not None:
        end = _date(number, year, int(last_month or first_month), int(last_day))
    if not start <= end <= start + timedelta(days=15):
        raise NoticeError(
            number,
            msg(
                "`{name}`: {start} to {end} is not a holiday",
                name=clip(name.strip()),
                start=start,
                end=end,
            ),
        )
    days_off = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    workdays: list[date] = []
    listed = _WORKDAYS.search(plain, off.end())
    if listed is not None:
        month = None
        for m, d in _ONE_DAY.findall(listed.group(1)):
            month = int(m) if m else month
            if month is None:
                raise NoticeError(number, msg("a make-up working day has no month"))
            workdays.append(_date(number, year, month, int(d)))
    elif "上班" in plain:
        raise NoticeError(number, msg("`{name}`: cannot read the make-up working days "
                                      "(expected `M月D日（周X）、M月D日（周X）上班`)",
                                      name=clip(name.strip())))  # fmt: skip
    return Holiday(number, name.strip(), days_off, workdays)


def _date(number: int, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise NoticeError(
            number, msg("{month}月{day}日 is not a date of {year}", month=month, day=day, year=year)
        ) from None
