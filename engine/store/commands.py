"""`flow cases` and `flow migrate`: look into a store's cases, and move them to a new
version of their flow. The CLI hands over its arguments and its two consoles."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from engine.errors import FlowdeskError
from engine.i18n import error_line, safe, tr, trn

EXIT_OK, EXIT_INVALID = 0, 2


def show_cases(args: argparse.Namespace, out: Console, err: Console) -> int:
    """List the cases of a store, or show one with its history."""
    from sqlalchemy.engine import make_url

    from engine.store import Store

    url = make_url(args.db)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        where = safe(url.database or "(memory)")
        err.print(error_line(tr("no store at {value}", value=where)))
        return EXIT_INVALID
    try:
        store = Store(args.db)
    except FlowdeskError as exc:
        err.print(error_line(safe(exc)))
        return EXIT_INVALID
    if args.case_id is None:
        rows = store.list_cases(args.flow, args.state, args.open, args.limit)
        if args.json:
            from dataclasses import asdict

            print(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2))
            return EXIT_OK
        for r in rows:
            status = (
                tr("closed")
                if r.closed
                else trn("{count} timer pending", "{count} timers pending", r.pending_timers)
            )
            records = trn("{count} record", "{count} records", r.audit_count)
            updated = tr("updated {at}", at=r.updated_at)
            out.print(f"{safe(r.id)}  {safe(r.flow)} v{r.flow_version}  "
                      f"[bold]{safe(r.state)}[/]  {status}  {records}  {updated}")  # fmt: skip
        counted = trn("{count} case", "{count} cases", len(rows))
        out.print(f"[dim]{counted}[/]")
        return EXIT_OK
    case = store.get(args.case_id)
    if case is None:
        missing = tr("no case with id `{case_id}` in the store", case_id=safe(args.case_id))
        err.print(error_line(missing))
        return EXIT_INVALID
    if args.json:
        from engine.store.serialize import encode

        print(json.dumps(encode(case.snapshot()), ensure_ascii=False, indent=2))
        return EXIT_OK
    bold = f"[bold]{safe(case.state)}[/]"
    state = tr("state {state}", state=bold)
    closed = "  " + tr("closed {at}", at=case.closed_at.isoformat()) if case.closed_at else ""
    out.print(f"[bold]{safe(case.id)}[/]  {safe(case.flow)} v{case.version}  {state}{closed}")
    for name, value in case.fields.items():
        if value is not None:
            out.print(f"  {safe(name)} = {safe(str(value))}")
    for armed in sorted(case.timers.values(), key=lambda a: (a.due, a.order)):
        out.print(tr("  timer {key} due {due}", key=safe(armed.key), due=armed.due.isoformat()))
    for rec in case.audit:
        role = f" ({rec.role})" if rec.role else ""
        who = " " + tr("by {actor}", actor=rec.actor) + role if rec.actor else ""
        moved = rec.before and rec.after and rec.before != rec.after
        move = f"  {rec.before} → {rec.after}" if moved else ""
        late = " [yellow]({})[/]".format(tr("late")) if rec.data and rec.data.get("late") else ""
        out.print(f"  {rec.seq:>3} {rec.at.isoformat()}  {rec.kind:<8} {safe(rec.what)}"
                  f"{safe(who)}{safe(move)}{late}")  # fmt: skip
    return EXIT_OK


def migrate_cases(args: argparse.Namespace, out: Console, err: Console) -> int:
    """`flow migrate FLOW --to V --db URL --workflows DIR [--apply]`: show (or do) the move."""
    from engine.service import Service

    try:
        service = Service(args.db, args.workflows, args.calendars)
        plans = service.migrate(args.flow, args.to, apply=args.apply, actor="flow migrate")
    except FlowdeskError as exc:
        err.print(error_line(safe(exc)))
        return EXIT_INVALID
    for p in plans:
        out.print(safe(p.render()))
    moved = sum(1 for p in plans if not p.blocked)
    if args.apply:
        said = trn("{count} case moved", "{count} cases moved", moved)
    else:
        said = trn("{count} case would move (dry run; --apply to do it)",
                   "{count} cases would move (dry run; --apply to do it)", moved)  # fmt: skip
    stay = trn("{count} stays", "{count} stay", len(plans) - moved)
    out.print(f"[dim]{said}; {stay}[/]")
    return EXIT_OK
