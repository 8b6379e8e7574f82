"""The JSON API (`/api/…`, OpenAPI at /docs): flows, cases, events, history, search and
ownership. Each route checks who is knocking (`VisitorDep`) and what they may do (`authz`),
calls the service once and returns plain data; errors are problem details (`problems`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from dsl.graph import to_mermaid
from engine.errors import UnknownFlow
from engine.i18n import msg
from engine.runtime import FlowRuntime
from server import authz, idempotency, owners
from server.actions import fire_as, open_as
from server.app import Server, dumps
from server.deps import ServerDep, VisitorDep, check_csrf, reply_language
from server.gate import Visitor
from server.problems import Problem, forbidden
from server.search import MAX_PAGE
from server.search import Query as CaseQuery
from server.search import search as find_cases
from server.views import case_view, record_view, state_label

router = APIRouter(prefix="/api", tags=["api"])
Data = dict[str, Any]


class OpenCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow: str = Field(max_length=200)
    data: Data = Field(default_factory=dict)
    role: str | None = Field(default=None, max_length=200)


class FireEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: str = Field(max_length=200)
    data: Data = Field(default_factory=dict)
    role: str | None = Field(default=None, max_length=200)
    expected_version: int | None = Field(default=None, ge=0)


class HandOver(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(max_length=64)
    role: str | None = Field(default=None, max_length=200)


def runtime_for(server: Server, flow: str) -> FlowRuntime:
    try:
        return server.service.registry.for_new_case(flow)
    except UnknownFlow:
        raise Problem(
            404, "unknown_flow", msg("no flow `{flow}`", flow=flow), field="flow"
        ) from None


def now_of(server: Server) -> datetime:
    return server.service.clock.now()


def read_case(server: Server, visitor: Visitor, case_id: str) -> Data:
    case, version = server.service.read(case_id)
    runtime = server.service.runtime_of(case)
    authz.require_seeing(visitor.person, runtime)
    owner = owners.owner_of(server.service, case_id)
    return case_view(
        runtime, case, version, visitor.person, owner, now_of(server), reply_language()
    )


async def idempotent(
    request: Request, visitor: Visitor, key: str | None, run: Callable[[], tuple[int, Data]]
) -> JSONResponse:
    """Run a change once per Idempotency-Key; a retry gets the first answer back."""
    from starlette.concurrency import run_in_threadpool

    server: Server = request.app.state.server
    check_csrf(visitor, request.headers.get("x-csrf-token"))
    if key is None:
        status, body = await run_in_threadpool(run)
        return JSONResponse(body, status_code=status)
    store, person = server.service.store, visitor.person.id
    digest = idempotency.request_hash(request.method, request.url.path, await request.body())
    first = await run_in_threadpool(idempotency.reserve, store, person, key, digest)
    if first is not None:
        return JSONResponse(
            json.loads(first[1]), status_code=first[0], headers={"Idempotent-Replayed": "true"}
        )
    try:
        status, body = await run_in_threadpool(run)
    except Exception:
        # refused (nothing was written) or failed: free the key, so a retry runs again
        await run_in_threadpool(idempotency.remember, store, person, key, 500, "")
        raise
    await run_in_threadpool(idempotency.remember, store, person, key, status, dumps(body))
    return JSONResponse(body, status_code=status)


# ---------------------------------------------------------------- routes
@router.get("/me")
def me(visitor: VisitorDep) -> Data:
    """The person knocking and the roles they hold."""
    p = visitor.person
    return {"id": p.id, "name": p.name, "roles": list(p.roles)}


@router.get("/flows")
def flows(server: ServerDep, visitor: VisitorDep) -> list[Data]:
    """The flows this person holds a role in, with their states and who may open a case."""
    out = []
    for name in sorted(server.service.flows):
        runtime = server.service.registry.for_new_case(name)
        if not authz.may_see(visitor.person, runtime):
            continue
        d = runtime.definition
        openers = d.openers or tuple(sorted(d.roles))
        out.append(
            {
                "name": d.name,
                "label": d.label or d.name,
                "version": d.version,
                "roles": list(d.roles),
                "openers": list(openers),
                "may_open": any(r in openers for r in visitor.person.roles),
                "states": [
                    {"name": s.name, "label": s.label or s.name, "final": s.final} for s in d.states
                ],
                "fields": [
                    {
                        "name": f.name,
                        "label": f.label or f.name,
                        "type": f.type,
                        "choices": list(f.choices),
                        "required": f.required,
                    }
                    for f in d.fields
                ],
            }
        )
    return out


@router.get("/flows/{flow}/diagram", response_class=PlainTextResponse)
def diagram(flow: str, server: ServerDep, visitor: VisitorDep) -> str:
    """The flow as a Mermaid stateDiagram-v2 (what `flow graph` prints)."""
    runtime = runtime_for(server, flow)
    authz.require_seeing(visitor.person, runtime)
    return to_mermaid(runtime.definition)


@router.post("/cases", status_code=201)
async def open_case(
    body: OpenCase,
    request: Request,
    server: ServerDep,
    visitor: VisitorDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Open a case of a flow with its data, in one of the caller's roles that may."""

    def run() -> tuple[int, Data]:
        runtime = runtime_for(server, body.flow)
        case = open_as(server, visitor.person, runtime, body.data, body.role)
        return 201, read_case(server, visitor, case.id)

    return await idempotent(request, visitor, idempotency_key, run)


@router.get("/cases/{case_id}")
def get_case(case_id: str, server: ServerDep, visitor: VisitorDep) -> Data:
    """The case: state, fields, tasks, callbacks, timers, SLA clocks with the time left, and
    the events this caller may fire now with their parameters."""
    return read_case(server, visitor, case_id)


@router.post("/cases/{case_id}/events")
async def fire(
    case_id: str,
    body: FireEvent,
    request: Request,
    server: ServerDep,
    visitor: VisitorDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Fire an event with its data; with `expected_version`, a case changed since is 409."""

    def run() -> tuple[int, Data]:
        steps = fire_as(server, visitor.person, case_id, body.event, body.data, body.role,
                        body.expected_version)  # fmt: skip
        language = reply_language()
        return 200, {
            "records": [record_view(r, language) for s in steps for r in s.records],
            "case": read_case(server, visitor, case_id),
        }

    return await idempotent(request, visitor, idempotency_key, run)


@router.get("/cases/{case_id}/history")
def history(case_id: str, server: ServerDep, visitor: VisitorDep) -> list[Data]:
    """The case's audit log, oldest first: who, in which role, did what, when."""
    case = server.service.get(case_id)
    authz.require_seeing(visitor.person, server.service.runtime_of(case))
    language = reply_language()
    return [record_view(r, language) for r in case.audit]


@router.post("/cases/{case_id}/owner")
async def hand_over(
    case_id: str, body: HandOver, request: Request, server: ServerDep, visitor: VisitorDep
) -> JSONResponse:
    """Claim a case nobody owns (`to` = yourself) or hand yours over to someone."""

    def run() -> tuple[int, Data]:
        change_owner(server, visitor, case_id, body.to, body.role)
        return 200, read_case(server, visitor, case_id)

    return await idempotent(request, visitor, None, run)


def change_owner(server: Server, visitor: Visitor, case_id: str, to: str, role: str | None) -> None:
    case = server.service.get(case_id)
    runtime = server.service.runtime_of(case)
    authz.require_seeing(visitor.person, runtime)
    target = server.directory.get(to)
    if target is None or not authz.may_see(target, runtime):
        raise Problem(
            422,
            "unknown_person",
            msg("`{to}` is not a person who works on flow `{flow}`", to=to, flow=case.flow),
            field="to",
        )
    previous = owners.owner_of(server.service, case_id)
    if not authz.may_hand_over(visitor.person, case, previous):
        raise forbidden(
            msg(
                "only the owner ({owner}) or a supervisor it was escalated to "
                "may hand this case over",
                owner=previous,
            )
        )
    acting = (
        role
        if role in visitor.person.roles
        else next((r for r in visitor.person.roles if r in runtime.roles), None)
    )
    owners.hand_over(server.service, case_id, visitor.person.id, acting, to, previous)


@router.get("/cases")
def search(
    server: ServerDep,
    visitor: VisitorDep,
    flow: str | None = None,
    state: str | None = None,
    include_closed: bool = False,
    role: str | None = None,
    owner: str | None = None,
    breaching_within_hours: Annotated[float | None, Query(ge=0, le=24 * 366)] = None,
    breached: bool = False,
    overdue_tasks: bool = False,
    text: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=600)] = None,
) -> Data:
    """Cases the caller may see, newest first, filtered; `next_cursor` fetches the next
    page (keyset pagination: stable while cases are added)."""
    within = None if breaching_within_hours is None else timedelta(hours=breaching_within_hours)
    query = CaseQuery(
        flow,
        state,
        not include_closed,
        role,
        owner,
        within,
        breached,
        overdue_tasks,
        text,
        limit,
        cursor,
    )
    now = now_of(server)
    cases, next_cursor = find_cases(server.service, visitor.person, query, now)
    owned = owners.owners_of(server.service, [c.id for c in cases])
    items = []
    for case in cases:
        runtime = server.service.runtime_of(case)
        items.append(
            {
                "id": case.id,
                "flow": case.flow,
                "state": case.state,
                "state_label": state_label(runtime.definition, case.state),
                "closed": case.closed,
                "opened_at": case.opened_at.isoformat(),
                "owner": owned.get(case.id),
            }
        )
    return {"items": items, "next_cursor": next_cursor, "as_of": now.astimezone(UTC).isoformat()}
