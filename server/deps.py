"""FastAPI dependencies: the server, the person knocking (bearer token or session cookie),
the CSRF check of a browser's form, and the language of the reply."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from engine.i18n import current_language, msg
from server.app import Server
from server.gate import COOKIE, Visitor
from server.problems import Problem, unauthenticated


def get_server(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


ServerDep = Annotated[Server, Depends(get_server)]


def visitor_of(conn: HTTPConnection, server: Server) -> Visitor:
    """The person behind a request or websocket, or 401: a bearer token first, else the
    session."""
    header = conn.headers.get("authorization")
    found = server.gate.by_token(header) if header else None
    if found is None and not header:
        found = server.gate.by_cookie(conn.cookies.get(COOKIE))
    if found is None:
        raise unauthenticated()
    return found


def get_visitor(request: Request, server: ServerDep) -> Visitor:
    return visitor_of(request, server)


VisitorDep = Annotated[Visitor, Depends(get_visitor)]


def check_csrf(visitor: Visitor, given: str | None) -> None:
    """A browser session's change must carry its CSRF token (a form field or the
    X-CSRF-Token header); a bearer-token request has none to carry."""
    if visitor.csrf is None:
        return
    if not given or not hmac.compare_digest(given, visitor.csrf):
        raise Problem(
            403,
            "csrf",
            msg(
                "this form has expired or did not come from Flowdesk; reload the page and try again"
            ),
        )


def reply_language() -> str:
    return current_language()
