"""Errors at the HTTP door as RFC 9457 problem details: a stable `code`, the HTTP status, a
`detail` in the reader's language and the `field` at fault (or `fields`, one per field).
The engine's errors are data already; this module only maps them to a status and a code."""

from __future__ import annotations

from typing import Any

from engine import errors
from engine.i18n import localize, msg
from engine.limits import LimitExceeded


class Problem(Exception):
    """An HTTP error with a stable code: raised by routes, rendered by `problem_body`."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        field: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.fields = fields or {}


# the engine's refusals: (type, status, code); the first match wins, so subclasses first
_ENGINE: tuple[tuple[type[Exception], int, str], ...] = (
    (errors.UnknownCase, 404, "unknown_case"),
    (errors.UnknownFlow, 404, "unknown_flow"),
    (errors.RoleNotAllowed, 403, "role_not_allowed"),
    (errors.UnknownEvent, 409, "event_not_allowed_now"),
    (errors.TaskNotReady, 409, "task_not_ready"),
    (errors.NoGuardHolds, 409, "no_condition_holds"),
    (errors.InvalidData, 422, "invalid_data"),
    (errors.StaleVersion, 409, "stale_version"),
    (errors.ConflictError, 409, "conflict"),
    (LimitExceeded, 413, "too_large"),
    (errors.FlowRuntimeError, 422, "flow_error"),
    (errors.StoreError, 503, "store_unavailable"),
)


def from_engine(exc: Exception) -> Problem | None:
    """The problem an engine error is at the door, or None if it is not one of them."""
    for kind, status, code in _ENGINE:
        if isinstance(exc, kind):
            fields = dict(exc.problems) if isinstance(exc, errors.InvalidData) else None
            field = next(iter(fields), None) if fields else None
            return Problem(status, code, said(exc), field, fields)
    return None


def said(exc: Exception) -> str:
    """The exception's message as raised: a `msg` keeps its template, to say it in the
    reader's language (`str(exc)` would give the English only)."""
    first = exc.args[0] if len(exc.args) == 1 else None
    return first if isinstance(first, str) else str(exc)


def unauthenticated() -> Problem:
    return Problem(
        401, "unauthenticated", msg("log in, or send an API token (Authorization: Bearer …)")
    )


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", detail)


def problem_body(problem: Problem, language: str) -> dict[str, Any]:
    """The JSON of a problem (`application/problem+json`), in `language`."""
    body: dict[str, Any] = {
        "type": f"https://flowdesk.dev/problems/{problem.code}",
        "title": problem.code.replace("_", " "),
        "status": problem.status,
        "code": problem.code,
        "detail": localize(problem.detail, language),
    }
    if problem.field is not None:
        body["field"] = problem.field
    if problem.fields:
        body["fields"] = {k: localize(v, language) for k, v in problem.fields.items()}
    return body
