"""Who may use the studio, decided once per request or websocket.

`flow studio` alone serves one person at their own machine: requests must name a local
host (no DNS rebinding), come from the studio's own page (Origin), and carry the secret the
page was given (so another site's page cannot drive it). Under `flow serve`, the studio is
for people whose users.yaml entry says `studio: true`, by session or token, with the
session's CSRF token on every change.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from engine.i18n import msg
from server.problems import Problem

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass(frozen=True)
class StudioUser:
    """Who is in the studio: `csrf` is what each change must carry (None: a token caller)."""

    name: str | None
    csrf: str | None


Access = Callable[[HTTPConnection], StudioUser]


def _forbidden() -> Problem:
    return Problem(403, "forbidden", msg("this request did not come from the studio's own page"))


def _same_origin(conn: HTTPConnection) -> bool:
    origin = conn.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site request (browsers send Origin on those)
    return urlsplit(origin).netloc == conn.headers.get("host")


def _carries(conn: HTTPConnection, expected: str | None) -> bool:
    if expected is None:
        return True
    given = conn.headers.get("x-csrf-token") or conn.query_params.get("csrf") or ""
    return hmac.compare_digest(given, expected)


def _changes(conn: HTTPConnection) -> bool:
    return conn.scope["type"] == "websocket" or conn.scope.get("method") in UNSAFE


def local_access(secret: str, hosts: set[str]) -> Access:
    """The standalone studio's door (`hosts`: the names it may be reached by)."""

    def check(conn: HTTPConnection) -> StudioUser:
        host = (conn.headers.get("host") or "").rsplit(":", 1)[0]
        if host not in hosts or not _same_origin(conn):
            raise _forbidden()
        if _changes(conn) and not _carries(conn, secret):
            raise _forbidden()
        return StudioUser(None, secret)

    return check


def session_access(conn: HTTPConnection) -> StudioUser:
    """The server's door: a person allowed the studio, by session cookie or bearer token."""
    from server.deps import visitor_of

    visitor = visitor_of(conn, conn.app.state.server)
    if not visitor.person.studio:
        raise Problem(
            403,
            "forbidden",
            msg("the studio is for people allowed to edit flows (`studio: true` in users.yaml)"),
        )
    if not _same_origin(conn) or (_changes(conn) and not _carries(conn, visitor.csrf)):
        raise _forbidden()
    return StudioUser(visitor.person.label, visitor.csrf)
