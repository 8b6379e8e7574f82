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
from typing import TYPE_CHECKING

from engine.i18n import msg, tr
from engine.i18n.formats import Moment

if TYPE_CHECKING:  # the CLI builds its parser from here: nothing heavy at import
    from engine.service import Service
    from engine.store.schedules import ScheduleState


def add_parser(sub: argparse._SubParsersAction, run: Callable[[argparse.Namespace], int]) -> None:  # type: ignore[type-arg]
    """The `schedules` subcommand's options."""
    p = sub.add_parser(
        "schedules",
        help=tr("list the flows' schedules in a store; pause or resume one"),
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", nargs="?", choices=["list", "pause", "resume"], default="list")
    p.add_argument("flow", nargs="?", metavar="FLOW")
    p.add_argument("name", nargs="?", metavar="NAME", help=tr("the schedule's name in the flow"))
    p.add_argument(
        "--db", required=True, metavar="URL", help=tr("sqlite:///FILE or a PostgreSQL URL")
    )
    p.add_argument(
        "--workflows", required=True, metavar="DIR", help=tr("the folder of *.flow files")
    )
    p.add_argument("--calendars", metavar="FILE", help=tr("calendars.yaml (default: beside flows)"))
    p.set_defaults(run=run)


def lines(args: argparse.Namespace) -> list[str]:
    """Do what the arguments ask; the lines to print (a FlowdeskError when it cannot)."""
    from engine.errors import StoreError
    from engine.service import Service

    service = Service(args.db, args.workflows, args.calendars)
    try:
        if args.action != "list":
            if not args.flow or not args.name:
                raise StoreError(
                    msg("`flow schedules {action}` needs FLOW and NAME", action=args.action)
                )
            pause(service, args.flow, args.name, paused=args.action == "pause")
        out = []
        for state, count, last in listing(service):
            runtime = service.flows.get(state.flow)
            tz = runtime.calendar.tz if runtime is not None else None

            def shown(t: datetime, tz: tzinfo | None = tz) -> str:
                return Moment(t.astimezone(tz))

            status = msg("paused") if state.paused else msg("next {at}", at=shown(state.next_due))
            when = msg(", last {at}", at=shown(last)) if last else ""
            out.append(msg("{flow} {name}  {status}  ({count} happened{when})", flow=state.flow,
                           name=state.name, status=status, count=count, when=when))  # fmt: skip
        return out or [msg("no schedules")]
    finally:
        service.close()


def pause(service: Service, flow: str, name: str, paused: bool = True) -> None:
    """Pause a schedule (its occurrences do not happen), or resume it from now on
    (occurrences missed while paused are not caught up)."""
    from dsl.diagnostics import did_you_mean
    from engine.errors import StoreError
    from engine.i18n import Listing
    from engine.schedules import following
    from engine.store import schedules as stored_schedules

    runtime = service.registry.for_new_case(flow)
    schedule = next((x for x in runtime.definition.schedules if x.name == name), None)
    if schedule is None:
        names = [x.name for x in runtime.definition.schedules]
        hint = did_you_mean(name, names) or msg(
            "its schedules: {names}", names=Listing(names) if names else msg("none")
        )
        raise StoreError(
            msg(
                "flow `{flow}` has no schedule `{name}`; {hint}",
                flow=flow,
                name=name,
                hint=hint,
            )
        )
    next_due = following(runtime.calendar, schedule)(service.clock.now())
    with service.store.write() as conn:
        if stored_schedules.state(conn, flow, name) is None:
            stored_schedules.start(conn, flow, name, next_due)
        stored_schedules.set_paused(conn, flow, name, paused, next_due)


def listing(service: Service) -> list[tuple[ScheduleState, int, datetime | None]]:
    """Every schedule the store knows: its next occurrence, whether paused, how many
    occurrences happened and the last one's due time."""
    from engine.schedules import following
    from engine.store import schedules as stored_schedules

    now = service.clock.now()
    with service.store.write() as conn:  # a schedule no worker has seen yet starts after now
        for flow, runtime in service.flows.items():
            for x in runtime.definition.schedules:
                if stored_schedules.state(conn, flow, x.name) is None:
                    stored_schedules.start(conn, flow, x.name, following(runtime.calendar, x)(now))
        return stored_schedules.listing(conn)


# ------------------------------------------------------------ versions
