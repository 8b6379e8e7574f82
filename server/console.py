"""The staff console: server-rendered pages that work without JavaScript — log in, my queue
sorted by the next SLA breach, a case with a form per allowed event, the supervisor's view
and the webhooks' dead letters. Forms post back here; every post carries the session's CSRF
token; every page asks `authz` what the person may see and do."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from engine.errors import FlowdeskError
from engine.i18n import LANGUAGES, current_language, localize, tr
from engine.runtime import FlowRuntime
from server import authz, owners
from server.actions import fire_as, open_as
from server.api import change_owner, runtime_for
from server.app import LANG_COOKIE, Server
from server.deps import ServerDep, VisitorDep, check_csrf
from server.diagram import layout
from server.gate import COOKIE, LockedOut, Visitor
from server.problems import Problem, from_engine, said
from server.search import Query, search
from server.supervision import overview
from server.views import case_view, next_deadline, record_view, state_label

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "flowdesk_login_csrf"
QUEUE_LIMIT = 300


def page(
    server: Server,
    request: Request,
    name: str,
    visitor: Visitor | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    response = server.templates.TemplateResponse(
        request,
        name,
        {
            "me": visitor.person if visitor else None,
            "csrf": visitor.csrf if visitor else None,
            "lang": current_language(),
            "languages": LANGUAGES,
            **context,
        },
        status_code=status,
    )
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, request.query_params["lang"], samesite="lax")
    return response


def back_to(path: str, flash: str | None = None, error: bool = False) -> RedirectResponse:
    """303 to a page of ours, with a one-line message for it to show."""
    if flash:
        path += ("&" if "?" in path else "?") + ("error=" if error else "done=") + quote(flash)
    return RedirectResponse(path, status_code=303)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/queue"


# ---------------------------------------------------------------- log in and out
@router.get("/login")
def login_page(request: Request, server: ServerDep) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = page(
        server,
        request,
        "login.html",
        None,
        login_csrf=token,
        next=_safe_next(request.query_params.get("next")),
        error=None,
    )
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, samesite="strict", secure=server.settings.secure_cookies
    )
    return response


@router.post("/login")
async def log_in(request: Request, server: ServerDep) -> Response:
    form = await request.form()
    person_id, password = str(form.get("id", ""))[:64], str(form.get("password", ""))[:1000]
    target = _safe_next(str(form.get("next", "")))
    given, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF, "")
    if not expected or not secrets.compare_digest(given, expected):
        raise Problem(403, "csrf", tr("this form has expired; reload the page and try again"))
    from starlette.concurrency import run_in_threadpool

    try:
        found = await run_in_threadpool(server.gate.log_in, person_id, password)
    except LockedOut:
        error = tr(
            "too many wrong passwords: this account is locked for a while; try later "
            "or ask an administrator"
        )
        return page(
            server,
            request,
            "login.html",
            None,
            status=429,
            login_csrf=expected,
            next=target,
            error=error,
        )
    if found is None:
        return page(
            server,
            request,
            "login.html",
            None,
            status=401,
            login_csrf=expected,
            next=target,
            error=tr("wrong user id or password"),
        )
    _person, cookie = found
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=server.settings.secure_cookies,
        max_age=server.gate.session_us // 1_000_000,
    )
    response.delete_cookie(LOGIN_CSRF)
    return response


@router.post("/logout")
async def log_out(request: Request, server: ServerDep, visitor: VisitorDep) -> Response:
    await posted(request, visitor)
    server.gate.log_out(visitor)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


# ---------------------------------------------------------------- the queue
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue")
def queue(request: Request, server: ServerDep, visitor: VisitorDep) -> HTMLResponse:
    """Cases waiting for one of my roles or owned by me, the next SLA breach first."""
    now = server.service.clock.now()
    person = visitor.person
    cases, _ = search(server.service, person, Query(limit=QUEUE_LIMIT), now)
    owned = owners.owners_of(server.service, [c.id for c in cases])
    rows = []
    for case in cases:
        runtime = server.service.runtime_of(case)
        view = case_view(runtime, case, 0, person, owned.get(case.id), now, current_language())
        if not view["actions"] and owned.get(case.id) != person.id:
            continue
        left, breached = next_deadline(case, now)
        rows.append((not breached, left if left is not None else timedelta.max, view))
    rows.sort(key=lambda r: (r[0], r[1]))
    flows = [server.service.registry.for_new_case(n).definition for n in server.service.flows]
    openable = sorted(
        (d for d in flows if any(r in (d.openers or d.roles) for r in person.roles)),
        key=lambda d: d.name,
    )
    return page(
        server,
        request,
        "queue.html",
        visitor,
        rows=[r[2] for r in rows],
        openable=openable,
        now=now,
    )


# ---------------------------------------------------------------- a case
@router.get("/cases/{case_id}")
def case_page(
    case_id: str, request: Request, server: ServerDep, visitor: VisitorDep
) -> HTMLResponse:
    case, version = server.service.read(case_id)
    runtime = server.service.runtime_of(case)
    authz.require_seeing(visitor.person, runtime)
    owner = owners.owner_of(server.service, case_id)
    now = server.service.clock.now()
    language = current_language()
    view = case_view(runtime, case, version, visitor.person, owner, now, language)
    history = [record_view(r, language) for r in case.audit]
    colleagues = sorted(
        (
            p
            for p in server.directory.people.values()
            if not p.disabled and authz.may_see(p, runtime)
        ),
        key=lambda p: p.id,
    )
    return page(
        server,
        request,
        "case.html",
        visitor,
        case=view,
        history=history,
        drawing=layout(runtime.definition, case.state),
        colleagues=colleagues,
        may_hand_over=authz.may_hand_over(visitor.person, case, owner),
        done=request.query_params.get("done"),
        error=request.query_params.get("error"),
    )


def reading(form: FormData) -> Callable[[FlowRuntime, list[dict[str, Any]]], dict[str, Any]]:
    """The data of an event (or a new case) from a form's `p.NAME` fields: empty ones left
    out; a datetime picker's local time read in the flow's calendar's zone."""

    def data(runtime: FlowRuntime, params: list[dict[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for p in params:
            raw = form.get("p." + p["name"])
            if raw is None or str(raw).strip() == "":
                continue
            value: Any = str(raw).strip()
            if p["type"] == "datetime":
                try:
                    parsed = datetime.fromisoformat(value)
                    value = parsed if parsed.tzinfo else parsed.replace(tzinfo=runtime.calendar.tz)
                except ValueError:
                    pass  # the engine names the field and what it wants
            found[p["name"]] = value
        return found

    return data


async def posted(request: Request, visitor: Visitor) -> FormData:
    """A console form, after its CSRF check."""
    form = await request.form()
    check_csrf(visitor, str(form.get("csrf", "")))
    return form


@router.post("/cases/{case_id}/fire")
async def fire_form(
    case_id: str, request: Request, server: ServerDep, visitor: VisitorDep
) -> Response:
    form = await posted(request, visitor)
    event, role = str(form.get("event", ""))[:200], str(form.get("role", "")) or None
    version = str(form.get("expected_version", ""))
    here = f"/cases/{quote(case_id)}"
    from starlette.concurrency import run_in_threadpool

    seen, _ = server.service.read(case_id)
    authz.require_seeing(visitor.person, server.service.runtime_of(seen))  # else 403, no flash

    def run() -> None:
        expected = int(version) if version.isdigit() else None
        fire_as(server, visitor.person, case_id, event, reading(form), role, expected)

    try:
        await run_in_threadpool(run)
    except (FlowdeskError, Problem) as exc:
        problem = exc if isinstance(exc, Problem) else from_engine(exc)
        if problem is None or problem.status in (401,):
            raise
        return back_to(here, localize(problem.detail, current_language()), error=True)
    return back_to(here, tr("done: {event}", event=event))


@router.post("/cases/{case_id}/owner")
async def owner_form(
    case_id: str, request: Request, server: ServerDep, visitor: VisitorDep
) -> Response:
    form = await posted(request, visitor)
    to = str(form.get("to", ""))[:64] or visitor.person.id
    here = f"/cases/{quote(case_id)}"
    try:
        change_owner(server, visitor, case_id, to, None)
    except Problem as problem:
        return back_to(here, localize(problem.detail, current_language()), error=True)
    return back_to(here, tr("owner: {person}", person=to))


# ---------------------------------------------------------------- opening a case
@router.get("/flows/{flow}/open")
def open_page(flow: str, request: Request, server: ServerDep, visitor: VisitorDep) -> HTMLResponse:
    runtime = runtime_for(server, flow)
    role = authz.opening_role(visitor.person, runtime, None)
    fields = list(runtime.definition.fields)
    return page(
        server,
        request,
        "open.html",
        visitor,
        flow=runtime.definition,
        role=role,
        fields=fields,
        error=request.query_params.get("error"),
    )


@router.post("/flows/{flow}/open")
async def open_form(
    flow: str, request: Request, server: ServerDep, visitor: VisitorDep
) -> Response:
    form = await posted(request, visitor)
    runtime = runtime_for(server, flow)
    try:
        case = open_as(server, visitor.person, runtime, reading(form))
    except FlowdeskError as exc:
        problem = from_engine(exc) or Problem(400, "refused", said(exc))
        return back_to(
            f"/flows/{quote(flow)}/open", localize(problem.detail, current_language()), error=True
        )
    return back_to(f"/cases/{quote(case.id)}", tr("case opened"))


# ---------------------------------------------------------------- supervisor, dead letters
@router.get("/supervisor")
def supervisor(request: Request, server: ServerDep, visitor: VisitorDep) -> HTMLResponse:
    """Open cases by flow and state, today's breaches and escalations, the backlog by day."""
    seen = overview(server.service, visitor.person, server.service.clock.now())
    return page(server, request, "supervisor.html", visitor, seen=seen, state_label=state_label)


@router.get("/webhooks")
def dead_letters(request: Request, server: ServerDep, visitor: VisitorDep) -> HTMLResponse:
    hooks = server.settings.webhooks
    mine = [
        d
        for d in (hooks.dead() if hooks else [])
        if d["payload"].get("role") in visitor.person.roles
    ]  # what they were sent to
    return page(
        server,
        request,
        "webhooks.html",
        visitor,
        configured=hooks is not None,
        dead=mine,
        done=request.query_params.get("done"),
        error=request.query_params.get("error"),
    )


@router.post("/webhooks/resend")
async def resend(request: Request, server: ServerDep, visitor: VisitorDep) -> Response:
    form = await posted(request, visitor)
    hooks = server.settings.webhooks
    delivery = str(form.get("id", ""))[:300]
    mine = {
        d["id"]
        for d in (hooks.dead() if hooks else [])
        if d["payload"].get("role") in visitor.person.roles
    }
    if hooks is None or delivery not in mine or not hooks.resend(delivery):
        return back_to("/webhooks", tr("nothing to re-send"), error=True)
    return back_to("/webhooks", tr("queued again: {id}", id=delivery))
