"""`flow schedules`: list a store's schedules, pause or resume one.

    flow schedules --db URL --workflows DIR                    # every schedule, its next time
    flow schedules pause FLOW NAME --db URL --workflows DIR    # its occurrences do not happen
    flow schedules resume FLOW NAME --db URL --workflows DIR   # from the next one after now

Occurrences missed while a schedule was paused are not caught up; those missed while no
worker ran are, by the schedule's `catch up` policy.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime, tzinfo


def add_parser(sub: argparse._SubParsersAction, run: Callable[[argparse.Namespace], int]) -> None:  # type: ignore[type-arg]
    """The `schedules` subcommand's options."""
    p = sub.add_parser(
        "schedules",
        help="list the flows' schedules in a store; pause or resume one",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", nargs="?", choices=["list", "pause", "resume"], default="list")
    p.add_argument("flow", nargs="?", metavar="FLOW")
    p.add_argument("name", nargs="?", metavar="NAME", help="the schedule's name in the flow")
    p.add_argument("--db", required=True, metavar="URL", help="sqlite:///FILE or a PostgreSQL URL")
    p.add_argument("--workflows", required=True, metavar="DIR", help="the folder of *.flow files")
    p.add_argument("--calendars", metavar="FILE", help="calendars.yaml (default: beside flows)")
    p.set_defaults(run=run)


def lines(args: argparse.Namespace) -> list[str]:
    """Do what the arguments ask; the lines to print (a FlowdeskError when it cannot)."""
    from engine.errors import StoreError
    from engine.service import Service

    service = Service(args.db, args.workflows, args.calendars)
    try:
        if args.action != "list":
            if not args.flow or not args.name:
                raise StoreError(f"`flow schedules {args.action}` needs FLOW and NAME")
            service.pause_schedule(args.flow, args.name, paused=args.action == "pause")
        out = []
        for state, count, last in service.schedule_listing():
            runtime = service.flows.get(state.flow)
            tz = runtime.calendar.tz if runtime is not None else None

            def shown(t: datetime, tz: tzinfo | None = tz) -> str:
                return t.astimezone(tz).strftime("%Y-%m-%d %H:%M %a")

            status = "paused" if state.paused else f"next {shown(state.next_due)}"
            when = f", last {shown(last)}" if last else ""
            out.append(f"{state.flow} {state.name}  {status}  ({count} happened{when})")
        return out or ["no schedules"]
    finally:
        service.close()
