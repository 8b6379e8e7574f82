"""`flow calendar import NOTICE.txt`: the State Council's yearly notice read into a calendar.

The 2025 and 2026 notices (tests/notices/, as published) must give exactly the holidays and
make-up working days of the holiday package for those years; an import keeps the calendar
file's comments, moves the end of official data to the notice's year, and a line that
cannot be read is refused with its number, the file unchanged.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import chinese_calendar
import pytest
from conftest import ROOT, refused, sh
from conftest import run_cli as flow
from hypothesis import given
from hypothesis import strategies as st

from engine.calendar import CalendarError
from engine.calendar_file import add_days, load_calendars, parse_calendars
from engine.holiday_notice import NoticeError, parse_notice
from engine.limits import visible

NOTICES = Path(__file__).parent / "notices"
SHIPPED = ROOT / "workflows" / "calendars.yaml"


@pytest.mark.parametrize("year", [2025, 2026])
def test_a_published_notice_gives_the_holiday_packages_days(year: int) -> None:
    notice = parse_notice((NOTICES / f"{year}.txt").read_text(encoding="utf-8"))
    assert notice.year == year
    assert notice.days_off == sorted(d for d in chinese_calendar.holidays if d.year == year)
    assert notice.workdays == sorted(
        d for d in chinese_calendar.workdays if d.year == year and d.weekday() >= 5
    )


def test_names_and_lines_are_kept() -> None:
    notice = parse_notice((NOTICES / "2026.txt").read_text(encoding="utf-8"))
    assert [(h.line, h.name) for h in notice.holidays][:2] == [(3, "元旦"), (4, "春节")]
    spring = notice.holidays[1]
    assert (spring.days_off[0], spring.days_off[-1]) == (date(2026, 2, 15), date(2026, 2, 23))
    assert spring.workdays == [date(2026, 2, 14), date(2026, 2, 28)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("二、春节：2月15日至23日放假，2月14日上班。", None),
        ("二、春节：春节期间放假调休，共9天。", "line 2: cannot read the days off of `春节`"),
        ("二、春节：2月30日至3月2日放假。", "line 2: 2月30日 is not a date of 2027"),
        ("二、春节：2月15日至3月30日放假。", "is not a holiday"),
        ("二、春节：2月15日至23日放假，另行安排上班。", "cannot read the make-up working days"),
    ],
)
def test_a_line_it_cannot_read_is_refused_with_its_number(line: str, message: str | None) -> None:
    text = f"国务院办公厅关于2027年部分节假日安排的通知\n{line}\n"
    if message is None:
        assert parse_notice(text).days_off[0] == date(2027, 2, 15)
        return
    with pytest.raises(NoticeError, match=message):
        parse_notice(text)


def test_without_a_title_the_year_must_be_given() -> None:
    with pytest.raises(NoticeError, match="give --year"):
        parse_notice("一、元旦：1月1日放假1天。\n")
    assert parse_notice("一、元旦：1月1日放假1天。\n", year=2027).days_off == [date(2027, 1, 1)]


@given(st.text(max_size=300))
def test_any_text_is_read_or_refused_with_a_line(text: str) -> None:
    try:
        parse_notice(text, year=2027)
    except NoticeError as exc:
        assert exc.line >= 1


def test_import_writes_the_days_keeps_comments_and_moves_the_end_of_official_data(
    tmp_path: Path,
) -> None:
    calendars = tmp_path / "calendars.yaml"
    shutil.copy(SHIPPED, calendars)
    notice = tmp_path / "2027.txt"  # the 2026 days moved to 2027: a notice of that shape
    notice.write_text((NOTICES / "2026.txt").read_text(encoding="utf-8").replace("2026", "2027"))
    before = calendars.read_text(encoding="utf-8")
    said = refused(flow("calendar", "import", notice, "--calendars", calendars), 0, "春节")
    assert "would add (dry run" in said and calendars.read_text(encoding="utf-8") == before
    said = refused(flow("calendar", "import", notice, "--calendars", calendars, "--apply"), 0)
    assert "added: 33 days to extra_holidays, 6 to extra_workdays of `office`" in said
    after = calendars.read_text(encoding="utf-8")
    kept = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert all(line in after.splitlines() for line in kept)
    office = load_calendars(calendars)["office"]
    assert office.official_data_until == date(2027, 12, 31)
    assert not office.is_working_day(date(2027, 2, 16))  # 春节
    assert office.is_working_day(date(2027, 2, 14))  # a Sunday, 上班
    assert not office.is_estimated(date(2027, 6, 1))
    # importing again changes nothing
    refused(flow("calendar", "import", notice, "--calendars", calendars, "--apply"), 0)
    assert calendars.read_text(encoding="utf-8") == after
    # and `flow check` no longer warns that the official data ends
    check = flow("check", "--calendars", calendars, ROOT / "workflows" / "repair.flow")
    assert "official holiday data" not in check.stdout


def test_a_bad_notice_or_calendar_changes_nothing(tmp_path: Path) -> None:
    calendars = tmp_path / "calendars.yaml"
    shutil.copy(SHIPPED, calendars)
    before = calendars.read_text(encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_text("国务院办公厅关于2027年部分节假日安排的通知\n一、元旦：放假。\n")
    refused(flow("calendar", "import", bad, "--calendars", calendars, "--apply"), 2,
            "bad.txt: line 2: cannot read the days off of `元旦`")  # fmt: skip
    good = NOTICES / "2026.txt"
    refused(flow("calendar", "import", good, "--calendars", calendars, "--calendar", "nosuch",
                 "--apply"), 2, "no calendar `nosuch`")  # fmt: skip
    assert calendars.read_text(encoding="utf-8") == before


def test_a_day_already_listed_the_other_way_is_refused() -> None:
    text = "office:\n  holidays: CN\n  extra_workdays: [2027-01-01]\n"
    with pytest.raises(CalendarError, match="both list 2027-01-01"):
        add_days(text, "office", [date(2027, 1, 1)], [], 2027)
    added = add_days("office:\n  holidays: CN\n", "office", [date(2027, 1, 1)], [], 2027)
    assert "extra_holidays: [2027-01-01]" in added
    assert parse_calendars(added)["office"].official_data_until == date(2027, 12, 31)
    assert visible(added) == added


def test_an_imported_year_counts_as_official_in_deadlines() -> None:
    calendars = parse_calendars(
        "office:\n  hours: ['08:00-17:00']\n  holidays: CN\n"
        "  extra_holidays: [2027-01-01]\n  notices: [2027]\n"
    )
    office = calendars["office"]
    # Thu 2026-12-31 + 2 working days: Fri 2027-01-01 is the imported holiday → Tue 01-05
    assert office.add_working_days(sh(2026, 12, 31, 16, 0), 2) == sh(2027, 1, 5, 16, 0)
