"""`flow calendar import NOTICE.txt`: read the State Council's yearly holiday notice
(放假调休通知) and add its days off and make-up working days to a calendar of
calendars.yaml, showing the change first (written with --apply)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from engine import limits
from engine.i18n import error_line, safe, tr, trn

EXIT_OK, EXIT_INVALID = 0, 2


def import_notice(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Read a State Council holiday notice and add its days to a calendar of calendars.yaml."""
    from engine.calendar_file import add_days
    from engine.errors import FlowdeskError
    from engine.holiday_notice import parse_notice
    from engine.loader import SHIPPED

    target = args.calendars or SHIPPED / "calendars.yaml"
    try:
        notice = parse_notice(limits.read_text(Path(args.notice), tr("notice")), args.year)
        text = limits.read_text(target, tr("calendar file"))
        updated = add_days(text, args.calendar, notice.days_off, notice.workdays, notice.year,
                           str(target))  # fmt: skip
    except (FlowdeskError, OSError, UnicodeDecodeError, limits.LimitExceeded) as exc:
        where = f"{args.notice}: " if type(exc).__name__ == "NoticeError" else ""
        err.print(error_line(safe(where) + safe(exc)))
        return EXIT_INVALID
    out.print(f"{notice.year}年 ({safe(args.notice)}):")
    for h in notice.holidays:
        off = f"{h.days_off[0]} – {h.days_off[-1]}" if len(h.days_off) > 1 else f"{h.days_off[0]}"
        days = ", ".join(map(str, h.workdays))
        work = tr("; make-up working days 上班 {days}", days=days) if h.workdays else ""
        off_days = trn("{count} day", "{count} days", len(h.days_off))
        said = tr("line {line}: {name}: off 放假 {off} ({days})", line=h.line, name=safe(h.name),
                  off=off, days=off_days)  # fmt: skip
        out.print(f"  {said}{work}")
    counts = {"days_off": len(notice.days_off), "workdays": len(notice.workdays),
              "calendar": safe(args.calendar), "target": safe(target)}  # fmt: skip
    if args.apply:
        said = tr("added: {days_off} days to extra_holidays, {workdays} to extra_workdays of "
                  "`{calendar}` in {target}", **counts)  # fmt: skip
    else:
        said = tr("would add (dry run; --apply writes it): {days_off} days to extra_holidays, "
                  "{workdays} to extra_workdays of `{calendar}` in {target}", **counts)  # fmt: skip
    out.print(said)
    if args.apply and updated != text:
        target.write_text(updated, encoding="utf-8")
    return EXIT_OK
