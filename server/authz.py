"""The one authorization decision every route asks: which flows a person may see, and in
which of their roles they may open a case or fire an event. The roles and their rights come
from the `.flow` files (`roles:`, `opened by`, `by ROLE`, `by FIELD`); a person only acts
in a role they hold (users.yaml)."""

from __future__ import annotations

from engine.case import Case
from engine.i18n import Listing, msg
from engine.runtime import FlowRuntime
from server.problems import Problem, forbidden
from server.users import Person


def may_see(person: Person, runtime: FlowRuntime) -> bool:
    """Whether the person holds one of the flow's roles (and so may see its cases)."""
    return not runtime.roles.isdisjoint(person.roles)


def require_seeing(person: Person, runtime: FlowRuntime) -> None:
    if not may_see(person, runtime):
        raise forbidden(
            msg(
                "none of your roles ({mine}) is a role of flow `{flow}`",
                mine=Listing(person.roles) or msg("none"),
                flow=runtime.definition.name,
            )
        )


def _held(person: Person, requested: str | None) -> tuple[str, ...]:
    if requested is None:
        return person.roles
    if requested not in person.roles:
        raise forbidden(msg("you do not hold the role `{role}`", role=requested))
    return (requested,)


def opening_role(person: Person, runtime: FlowRuntime, requested: str | None) -> str:
    """The role in which the person opens a case of the flow: one they hold that may open
    it (`opened by`; without it, any of the flow's roles)."""
    require_seeing(person, runtime)
    openers = runtime.definition.openers or tuple(sorted(runtime.roles))
    for role in _held(person, requested):
        if role in openers:
            return role
    raise Problem(
        403,
        "role_not_allowed",
        msg(
            "opening a case of `{flow}` needs one of these roles: {roles}",
            flow=runtime.definition.name,
            roles=Listing(openers),
        ),
    )


def acting_role(
    person: Person, runtime: FlowRuntime, case: Case, event: str, requested: str | None
) -> str:
    """The role in which the person fires `event` on the case now. An event the state does
    not take at all is left to the engine (it says which ones it takes)."""
    require_seeing(person, runtime)
    roles = _held(person, requested)
    for role in roles:
        if any(o.event == event for o in runtime.offers(case, person.id, role)):
            return role
    if event not in runtime.events(case):
        return roles[0] if roles else ""
    raise Problem(
        403,
        "role_not_allowed",
        msg(
            "none of your roles ({mine}) may fire `{event}` in state `{state}` now",
            mine=Listing(roles) or msg("none"),
            event=event,
            state=case.state,
        ),
    )


def may_hand_over(person: Person, case: Case, owner: str | None) -> bool:
    """The owner hands a case over; so may anyone it was escalated to (a supervisor
    reassigning it); a case nobody owns is claimed by whoever may see it."""
    if owner is None or owner == person.id:
        return True
    return any(e.role in person.roles for e in case.escalations)
