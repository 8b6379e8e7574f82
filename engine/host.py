"""What every host of cases shares: the in-memory `Engine` and the durable `Service` both
run flows on calendars and a clock, keep every loaded flow version runnable, and call the
host's hooks after each step. Where they differ is where a case lives (a dict, a database)
and when a step counts as done (at once, at its commit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engine.calendar import Calendar
from engine.case import Case
from engine.clock import Clock, SystemClock
from engine.definition import FlowDefinition
from engine.i18n import msg
from engine.registry import FlowRegistry, Hook
from engine.runtime import FlowRuntime, Step


class Host:
    """Flows on calendars and one clock, with the host's hooks (see the module docstring)."""

    def __init__(
        self,
        calendars: Mapping[str, Calendar] | None,
        clock: Clock | None,
        hooks: Mapping[str, Hook] | None,
    ) -> None:
        self.calendars: dict[str, Calendar] = {"always": Calendar.always(), **(calendars or {})}
        self.clock: Clock = clock or SystemClock()
        self.hooks: dict[str, Hook] = dict(hooks or {})
        self.registry = FlowRegistry(self.calendars, self.hooks)
        self.flows = self.registry.newest  # name → the version new cases start with
        self._keyed: dict[str, tuple[str, ...]] = {}  # flow hash → `keys:` fields, if any

    def register_hook(self, name: str, fn: Hook) -> None:
        """Make `call NAME(...)` available to flows loaded after this."""
        self.hooks[name] = fn

    def load(self, definition: FlowDefinition) -> FlowRuntime:
        """Make a compiled flow runnable; the newest loaded version serves new cases."""
        runtime = self.registry.add(definition)
        if definition.keys:
            self._keyed[definition.content_hash] = definition.keys
        return runtime

    def keys_of(self, case: Case) -> tuple[str, ...]:
        """The `keys:` fields the case is indexed under (none for most flows)."""
        return self._keyed.get(case.flow_hash, ()) if self._keyed else ()

    def runtime_of(self, case: Case) -> FlowRuntime:
        """The flow version the case started with: cases keep their version."""
        runtime = self.registry.loaded(case.flow, case.flow_hash)
        return runtime if runtime is not None else self._unloaded(case)

    def _unloaded(self, case: Case) -> FlowRuntime:
        """The runtime of a version no longer loaded (a store keeps every one it ran)."""
        raise KeyError(
            msg(
                "case `{id}` runs flow `{flow}` version {version} ({flow_hash}), which is "
                "not loaded",
                id=case.id,
                flow=case.flow,
                version=case.version,
                flow_hash=case.flow_hash[:12],
            )
        )

    def _call_hooks(self, steps: Iterable[Step]) -> None:
        """The `call` actions of done steps, in order (at most once: never retried)."""
        for step in steps:
            for name, args in step.hook_calls:
                self.hooks[name](*args)
