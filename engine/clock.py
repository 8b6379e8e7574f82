"""Clocks: the engine is handed the time, it never reads it itself.

Only `SystemClock` looks at the real time; tests and `flow simulate` use a
`SimulatedClock` that moves only when told to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """Anything that can tell the current time as an aware datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in `tz` (UTC when not given)."""

    def __init__(self, tz: ZoneInfo | None = None) -> None:
        self.tz = tz

    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        return datetime.now(self.tz or UTC)


class SimulatedClock:
    """A virtual clock for simulations and tests; it only moves forward, on request."""

    def __init__(self, start: datetime) -> None:
        _require_aware(start)
        self._now = start

    def now(self) -> datetime:
        """Return the simulated current time."""
        return self._now

    def advance_to(self, t: datetime) -> None:
        """Move the clock to `t`; refuse to go backwards (time travel would corrupt timers)."""
        if t.tzinfo is not self._now.tzinfo:  # the same zone as now: known to be aware
            _require_aware(t)
        if t < self._now:
            raise ValueError(
                f"the clock cannot go backwards: it is {self._now.isoformat()}, "
                f"asked for {t.isoformat()}"
            )
        self._now = t

    def advance_by(self, d: timedelta) -> None:
        """Move the clock forward by `d` of elapsed time (`d` must not be negative)."""
        self.advance_to((self._now.astimezone(UTC) + d).astimezone(self._now.tzinfo))


def _require_aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {t.isoformat()}")
