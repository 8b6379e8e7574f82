"""The KPI report of a period of the real store, in the layout of `flow simulate`'s report,
with the forecast of the same period beside it when the flow has a load profile: forecast
against actual, KPI by KPI, and the manual's targets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from engine.i18n import msg
from engine.i18n.formats import format_duration
from engine.loader import SHIPPED
from engine.loadsim import Report, build_report, flatten, load_profile, simulate
from engine.loadsim.actuals import actual_result
from engine.loadsim.html import render_html
from engine.loadsim.profile import Profile
from engine.runtime import FlowRuntime
from engine.service import Service
from engine.store import schema as s
from server import authz
from server.app import Server
from server.deps import ServerDep, VisitorDep
from server.gate import Visitor
from server.problems import Problem

MAX_DAYS = 366
MAX_CASES = 20_000  # read for one report: a longer period is refused with what to do


@dataclass(frozen=True)
class KpiReports:
    actual: Report
    forecast: Report | None
    rows: list[tuple[str, Any, Any]]  # (kpi, actual, forecast) for the comparison


def profile_of(service: Service, runtime: FlowRuntime) -> Profile | None:
    """The flow's load profile (`profiles/FLOW.yaml` beside the flows, else the shipped)."""
    name = runtime.definition.name
    for base in (service.folder, SHIPPED):
        path = base / "profiles" / f"{name}.yaml"
        if path.is_file():
            return load_profile(path)
    return None


def period(start: date, end: date, runtime: FlowRuntime) -> tuple[datetime, datetime]:
    """[start, end] as instants in the flow's calendar's zone (end inclusive)."""
    if end < start or (end - start).days >= MAX_DAYS:
        raise Problem(
            422,
            "invalid_period",
            msg("a report covers 1 to {n} days, from `from` to `to`", n=MAX_DAYS),
            field="to",
        )
    tz = runtime.calendar.tz
    return datetime.combine(start, time(), tz), datetime.combine(
        end + timedelta(days=1), time(), tz
    )


def _cases_opened(service: Service, flow: str, begin: datetime, end: datetime) -> list[Any]:
    c = s.cases.c
    with service.store.read() as conn:
        rows = conn.execute(select(c.id, c.opened_at).where(c.flow == flow)).all()
    wanted = [r.id for r in rows if begin <= datetime.fromisoformat(r.opened_at) < end]
    if len(wanted) > MAX_CASES:
        raise Problem(
            413,
            "too_large",
            msg(
                "{n:,} cases were opened in that period; a report reads at most "
                "{most:,}: choose a shorter one",
                n=len(wanted),
                most=MAX_CASES,
            ),
        )
    return [service.get(case_id) for case_id in wanted]


KEY_FIGURES = (
    "totals.opened",
    "totals.closed",
    "totals.open_at_end",
    "escalations.rate_pct",
    "callbacks.rate_pct",
    "callbacks.on_time_pct",
    "repeat.rate_pct",
    "satisfaction.pct",
    "time_to_close_h.mean",
    "time_to_close_h.p90",
)


def kpi_reports(
    service: Service, runtime: FlowRuntime, start: date, end: date, forecast: bool = True
) -> KpiReports:
    begin, until = period(start, end, runtime)
    found = profile_of(service, runtime)
    profile = found or Profile()
    cases = _cases_opened(service, runtime.definition.name, begin, until)
    actual = build_report(actual_result(runtime, profile, cases, begin, until))
    actual["source"] = "store"
    predicted = None
    if found is not None and forecast:
        days = (until - begin).days
        volume = max(1, round(profile.cases * days / profile.days))
        calendars = service.calendars
        predicted = build_report(
            simulate(runtime.definition, calendars, profile, cases=volume, days=days, start=start)
        )
    slas = [f"sla.{x.name}.met_pct" for x in runtime.definition.slas]
    wanted = [*KEY_FIGURES[:3], *slas, *KEY_FIGURES[3:]]
    targets = [t["kpi"] for t in actual.get("targets", [])]
    a = flatten({k: v for k, v in actual.items() if k != "daily"})
    f = flatten({k: v for k, v in predicted.items() if k != "daily"}) if predicted else {}
    rows = [(k, a.get(k), f.get(k)) for k in dict.fromkeys([*wanted, *targets])]
    return KpiReports(actual, predicted, rows)


# ---------------------------------------------------------------- routes
router = APIRouter()


def _flow_and_period(
    server: Server, visitor: Visitor, flow: str | None, start: date | None, end: date | None
) -> tuple[FlowRuntime, date, date]:
    from server.api import runtime_for

    visible = [
        n
        for n in sorted(server.service.flows)
        if authz.may_see(visitor.person, server.service.registry.for_new_case(n))
    ]
    name = flow or (visible[0] if visible else None)
    if name is None:
        raise Problem(403, "forbidden", msg("you hold no role in any flow"))
    runtime = runtime_for(server, name)
    authz.require_seeing(visitor.person, runtime)
    today = server.service.clock.now().astimezone(runtime.calendar.tz).date()
    return runtime, start or today.replace(day=1), end or today


@router.get("/api/reports/{flow}", tags=["api"])
def report_json(
    flow: str,
    server: ServerDep,
    visitor: VisitorDep,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """The KPI report of the cases opened from `from` to `to` (inclusive; default: this month
    so far), and the forecast of the same period when the flow has a load profile."""
    runtime, first, last = _flow_and_period(server, visitor, flow, start, end)
    found = kpi_reports(server.service, runtime, first, last)
    return {"actual": found.actual, "forecast": found.forecast}


@router.get("/reports", include_in_schema=False)
def report_page(
    request: Request,
    server: ServerDep,
    visitor: VisitorDep,
    flow: str | None = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    from server.console import page

    runtime, first, last = _flow_and_period(server, visitor, flow, start, end)
    found = kpi_reports(server.service, runtime, first, last)
    flows = [
        server.service.registry.for_new_case(n).definition for n in sorted(server.service.flows)
    ]
    visible = [d for d in flows if not set(d.roles).isdisjoint(visitor.person.roles)]
    shown = [(kpi, _shown(kpi, a), _shown(kpi, f)) for kpi, a, f in found.rows]
    return page(
        server,
        request,
        "report.html",
        visitor,
        flows=visible,
        flow=runtime.definition,
        start=first,
        end=last,
        rows=shown,
        reports=found,
    )


@router.get("/reports/{which}.html", include_in_schema=False)
def report_html(
    which: str,
    server: ServerDep,
    visitor: VisitorDep,
    flow: str | None = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """The whole report page, actual or forecast, as `flow simulate --html` draws it."""
    runtime, first, last = _flow_and_period(server, visitor, flow, start, end)
    found = kpi_reports(server.service, runtime, first, last, forecast=which == "forecast")
    chosen = found.actual if which == "actual" else found.forecast if which == "forecast" else None
    if chosen is None:
        raise Problem(404, "not_found", msg("there is no such page or resource"))
    return HTMLResponse(render_html(chosen))


def _shown(kpi: str, value: Any) -> str:
    """A figure as people read it: hours as durations (`2天3小时`), rates with a %."""
    if value is None:
        return "—"
    if kpi.endswith("_h.mean") or kpi.endswith("_h.p90") or kpi.endswith("_h.p50"):
        return format_duration(timedelta(hours=float(value)))
    if kpi.endswith("pct"):
        return f"{value:g}%"
    return str(value)
