"""The FastAPI application: wiring only. Routes live in `api` (JSON, for programs) and
`console` (HTML, for staff); who is knocking is decided by `gate`, what they may do by
`authz`; engine errors become problem details here, once, for every route."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import FlowdeskError
from engine.i18n import LANGUAGES, html_lang, language, localize, msg, normalize, tr
from engine.service import Service
from server import tables
from server.gate import Gate
from server.problems import Problem, from_engine, problem_body, said
from server.users import Directory
from server.webhooks import Webhooks

HERE = Path(__file__).parent
MAX_BODY_BYTES = 1024 * 1024
LANG_COOKIE = "flowdesk_lang"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Settings:
    language: str = "en"  # when neither the page nor the browser says
    max_body_bytes: int = MAX_BODY_BYTES
    secure_cookies: bool = False  # set behind HTTPS
    webhooks: Webhooks | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Server:
    """What every route needs, injected (FastAPI `Depends`) from `request.app.state.server`."""

    def __init__(self, service: Service, directory: Directory, settings: Settings) -> None:
        tables.ensure(service.store)
        self.service = service
        self.directory = directory
        self.settings = settings
        self.gate = Gate(service.store, directory)
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.globals.update(_=tr, html_lang=html_lang)


def request_language(scope: Scope, default: str) -> str:
    """`?lang=`, then the language cookie, then the browser's Accept-Language, then the
    server's default."""
    query = scope.get("query_string", b"").decode("latin-1")
    for part in query.split("&"):
        if part.startswith("lang=") and (chosen := normalize(part[5:])):
            return chosen
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    for cookie in headers.get("cookie", "").split(";"):
        name, _, value = cookie.strip().partition("=")
        if name == LANG_COOKIE and value in LANGUAGES:
            return str(value)
    for item in headers.get("accept-language", "").split(","):
        tag = item.split(";")[0].strip()
        if tag and (chosen := normalize(tag.replace("-", "_"))):
            return chosen
    return default


class Door:
    """ASGI middleware: each request in its reader's language, and bodies over the limit
    refused with 413 before any route reads them."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = request_language(scope, self.settings.language)
        limit = self.settings.max_body_bytes
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        too_large = Problem(413, "too_large", tr("the request body is over {n:,} bytes", n=limit))
        with language(chosen):
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                await _problem_response(too_large, chosen)(scope, receive, send)
                return
            seen = 0

            async def bounded() -> MutableMapping[str, Any]:
                nonlocal seen
                message = await receive()
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise Problem(413, too_large.code, too_large.detail)
                return message

            await self.app(scope, bounded, send)


_HTTP = {  # what Starlette itself refuses, said by us
    400: ("invalid_body", msg("the body is not valid JSON (or nests too deep)")),
    404: ("not_found", msg("there is no such page or resource")),
    405: ("method_not_allowed", msg("this method is not allowed here")),
}


def _problem_response(problem: Problem, chosen: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return JSONResponse(
        problem_body(problem, chosen),
        status_code=problem.status,
        media_type="application/problem+json",
        headers=headers,
    )


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def render_problem(request: Request, problem: Problem) -> Response:
    """A problem as JSON for programs, as a page (or the log-in page) for people."""
    server: Server | None = getattr(request.app.state, "server", None)
    chosen = request_language(request.scope, request.app.state.language)
    if server is None or _is_api(request):  # the studio on its own has only an API
        return _problem_response(problem, chosen)
    if problem.status == 401:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    return server.templates.TemplateResponse(
        request,
        "problem.html",
        {"problem": problem, "detail": localize(problem.detail, chosen), "me": None},
        status_code=problem.status,
    )


def create_app(service: Service, directory: Directory, settings: Settings | None = None) -> FastAPI:
    """The server over one service and one users file."""
    from server import api, console, reports
    from studio.access import session_access
    from studio.folder import Folder
    from studio.routes import STUDIO_STATIC, studio_router

    chosen = settings or Settings()
    app = FastAPI(
        title="Flowdesk",
        description="Cases of the flows in one folder: open, fire events, read, search.",
        version="0.1.0",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.server = Server(service, directory, chosen)
    app.state.language = chosen.language
    install_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(api.router)
    app.include_router(console.router)
    app.include_router(reports.router)
    folder = Folder(service.folder, service.calendars)
    app.include_router(studio_router(folder, session_access), prefix="/studio")
    app.mount("/studio/static", StaticFiles(directory=STUDIO_STATIC), name="studio_static")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(Door, settings=chosen)
    return app


def install_handlers(app: FastAPI) -> None:
    """Every refusal as one problem shape: ours, the engine's, FastAPI's and Starlette's."""

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Response:
        return render_problem(request, exc)

    @app.exception_handler(FlowdeskError)
    async def on_engine(request: Request, exc: FlowdeskError) -> Response:
        problem = from_engine(exc) or Problem(400, "refused", said(exc))
        return render_problem(request, problem)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        fields = {".".join(str(p) for p in e["loc"][1:]) or "body": str(e["msg"]) for e in errors}
        first = next(iter(fields))
        detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
        return render_problem(request, Problem(422, "invalid_request", detail, first, fields))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        said = _HTTP.get(exc.status_code)
        problem = Problem(
            exc.status_code, said[0] if said else "http_error", said[1] if said else str(exc.detail)
        )
        return render_problem(request, problem)


def dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, default=str)
