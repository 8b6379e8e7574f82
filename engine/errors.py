"""Typed errors of the engine, each with a message a process owner or developer understands.

A refused event raises one of these and leaves the case exactly as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.i18n import Listing, msg
from engine.limits import clip


class FlowdeskError(Exception):
    """Base of every error the engine raises on purpose."""


class UnknownFlow(FlowdeskError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        listing = ", ".join(sorted(known)) or msg("none loaded")
        super().__init__(
            msg(
                "no flow named `{name}` is loaded (loaded: {listing})",
                name=clip(name),
                listing=listing,
            )
        )
        self.name = name


class UnknownCase(FlowdeskError):
    def __init__(self, case_id: str) -> None:
        super().__init__(msg("no case with id `{case_id}`", case_id=clip(case_id)))
        self.case_id = case_id


class EventRefused(FlowdeskError):
    """The event could not be taken; nothing changed."""


class UnknownEvent(EventRefused):
    def __init__(self, event: str, state: str, allowed: Sequence[str]) -> None:
        hint = (
            msg("; in this state you can fire: {allowed}", allowed=Listing(allowed))
            if allowed
            else ""
        )
        super().__init__(
            msg(
                "event `{event}` is not possible in state `{state}`{hint}",
                event=clip(event),
                state=state,
                hint=hint,
            )
        )
        self.event, self.state, self.allowed = event, state, tuple(allowed)


class RoleNotAllowed(EventRefused):
    """The caller's role may not do this (fire this event, open this flow, close this
    callback); `allowed` lists the roles that may."""

    def __init__(
        self, event: str, role: str | None, allowed: Sequence[str], doing: str | None = None
    ) -> None:
        who = msg("role `{role}`", role=clip(role)) if role else msg("an actor without a role")
        doing = doing or msg("fire `{event}` here", event=clip(event))
        super().__init__(
            msg(
                "{who} may not {doing}; allowed: {allowed}",
                who=who,
                doing=doing,
                allowed=Listing(allowed) if allowed else msg("none"),
            )
        )
        self.event, self.role, self.allowed = event, role, tuple(allowed)


class TaskNotReady(EventRefused):
    """A task declared `after` another task, fired before that one is done."""

    def __init__(self, task: str, first: str) -> None:
        super().__init__(
            msg(
                "task `{task}` can only be done after `{first}`, which is not done yet",
                task=task,
                first=first,
            )
        )
        self.event, self.first = task, first


class NoGuardHolds(EventRefused):
    def __init__(self, event: str, state: str, lines: Sequence[int]) -> None:
        where = ", ".join(f"line {n}" for n in lines)
        super().__init__(
            msg(
                "event `{event}` in state `{state}`: none of its `when` conditions holds ({where})",
                event=event,
                state=state,
                where=where,
            )
        )
        self.event, self.state = event, state


class InvalidData(EventRefused):
    """Bad case or event data; `problems` maps each bad field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        listing = "; ".join(f"`{k}`: {v}" for k, v in problems.items())
        super().__init__(msg("invalid data: {listing}", listing=listing))
        self.problems = dict(problems)


class FlowRuntimeError(FlowdeskError):
    """The flow itself went wrong while running (a table found no row, a loop); rolled back."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"{message} (line {line})" if line else message)
        self.line = line


class FlowLoadError(FlowdeskError):
    """A flow could not be loaded (it has errors, or calls a hook nobody registered)."""


class StoreError(FlowdeskError):
    """The store cannot do what was asked (nothing was written)."""


class SchemaError(StoreError):
    """The database was written by a newer Flowdesk, or is not a Flowdesk store."""


class ConflictError(StoreError):
    """A case was changed by someone else while this step was being computed, every retry."""

    def __init__(self, case_id: str, attempts: int) -> None:
        super().__init__(
            msg(
                "case `{case_id}` was changed concurrently {attempts} times in a row "
                "while this step was computed; nothing was written — try again",
                case_id=case_id,
                attempts=attempts,
            )
        )
        self.case_id = case_id


class StaleVersion(StoreError):
    """A caller acted on a version of the case that is no longer current (someone else
    changed it since they read it): nothing was written."""

    def __init__(self, case_id: str, expected: int, current: int) -> None:
        super().__init__(
            msg(
                "case `{case_id}` is at version {current}, not {expected}: someone changed it "
                "since you read it; nothing was written — read it again and retry",
                case_id=case_id,
                current=current,
                expected=expected,
            )
        )
        self.case_id = case_id
        self.expected = expected
        self.current = current
