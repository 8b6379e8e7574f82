"""Opening a case and firing an event as a person: the one path the API and the console
share — who they act as (`authz`), the service call, and 首问负责制 (the first person to act
owns the case)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.case import Case
from engine.runtime import FlowRuntime, Step
from server import authz, owners
from server.app import Server
from server.users import Person
from server.views import actions

# the event's data, or a function making it from the flow and the event's parameters (a form)
DataOf = Mapping[str, Any] | Callable[[FlowRuntime, list[dict[str, Any]]], Mapping[str, Any]]


def open_as(server: Server, person: Person, runtime: FlowRuntime, data: DataOf,
            role: str | None = None) -> Case:  # fmt: skip
    acting = authz.opening_role(person, runtime, role)
    fields = [{"name": f.name, "type": f.type} for f in runtime.definition.fields]
    given = data(runtime, fields) if callable(data) else data
    flow = runtime.definition.name
    case = server.service.open(flow, given, actor=person.id, role=acting)
    owners.first_touch(server.service, case.id, person.id)
    return case


def fire_as(server: Server, person: Person, case_id: str, event: str, data: DataOf,
            role: str | None = None, expected_version: int | None = None
            ) -> list[Step]:  # fmt: skip
    case, _version = server.service.read(case_id)
    runtime = server.service.runtime_of(case)
    acting = authz.acting_role(person, runtime, case, event, role)
    if callable(data):
        offered = next((a for a in actions(runtime, case, person) if a["event"] == event), None)
        data = data(runtime, offered["params"] if offered else [])
    steps = server.service.fire(case_id, event, actor=person.id, role=acting, data=data,
                                expected_version=expected_version)  # fmt: skip
    owners.first_touch(server.service, case_id, person.id)
    return steps
