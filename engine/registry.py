"""The loaded flows of an engine or a service: one owner for which version runs which case.

New cases take the newest version of a flow; a case keeps the version (content hash) it
started with. Loading checks what a flow needs from its host: its calendar and its hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.calendar import Calendar, CalendarSpec
from engine.definition import FlowDefinition
from engine.errors import FlowLoadError, UnknownFlow
from engine.runtime import FlowRuntime

Hook = Callable[..., Any]


class FlowRegistry:
    """Compiled flows by name (newest version) and by content hash (every version loaded)."""

    def __init__(self, calendars: Mapping[str, Calendar], hooks: Mapping[str, Hook]) -> None:
        self.calendars = calendars
        self.hooks = hooks
        self.newest: dict[str, FlowRuntime] = {}
        self.versions: dict[tuple[str, str], FlowRuntime] = {}  # (name, content hash)

    def runtime(self, definition: FlowDefinition) -> FlowRuntime:
        """A runtime for `definition` (built once), without making it the newest version."""
        known = self.versions.get((definition.name, definition.content_hash))
        if known is not None:
            return known
        missing = [h for h in definition.hooks if h not in self.hooks]
        if missing:
            raise FlowLoadError(
                f"flow `{definition.name}` calls hook(s) nobody registered: {', '.join(missing)}; "
                "register them before loading the flow"
            )
        calendar = self.calendars.get(definition.calendar)
        if definition.calendar_spec is not None:  # pinned: the calendar the cases started on
            spec = CalendarSpec.model_validate(definition.calendar_spec)
            calendar = Calendar.from_spec(definition.calendar, spec)
        if calendar is None:
            raise FlowLoadError(
                f"flow `{definition.name}` uses calendar `{definition.calendar}`, which is not "
                f"defined (known: {', '.join(sorted(self.calendars))})"
            )
        runtime = FlowRuntime(definition, calendar)
        runtime.hooks = self.hooks
        self.versions[(definition.name, definition.content_hash)] = runtime
        return runtime

    def add(self, definition: FlowDefinition) -> FlowRuntime:
        """Load a flow; it serves new cases unless a newer version of it is loaded."""
        runtime = self.runtime(definition)
        current = self.newest.get(definition.name)
        if current is None or definition.version >= current.definition.version:
            self.newest[definition.name] = runtime
        return runtime

    def for_new_case(self, flow: str) -> FlowRuntime:
        """The version a new case of `flow` starts with."""
        runtime = self.newest.get(flow)
        if runtime is None:
            raise UnknownFlow(flow, list(self.newest))
        return runtime

    def loaded(self, flow: str, content_hash: str) -> FlowRuntime | None:
        """The exact version a case started with, if it is loaded."""
        return self.versions.get((flow, content_hash))

    def by_version(self, flow: str, version: int) -> FlowRuntime | None:
        """A loaded runtime of `flow` with this version number."""
        for (name, _hash), runtime in self.versions.items():
            if name == flow and runtime.definition.version == version:
                return runtime
        return None
