"""SLA clocks: started, paused and ended as the case enters states; their warning and
breach timers armed here, and fired by `_fire_sla_timer`."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine import definition as d
from engine.case import (
    Case,
    Row,
    row_of,
    with_row,
)
from engine.runtime.context import _Ctx
from engine.runtime.plans import (
    _Sla,
)
from engine.runtime.timers import Timers


class Slas(Timers):
    """The SLA clocks of a case."""

    def _measure(self, sla: _Sla, a: datetime, b: datetime) -> float:
        if sla.working:
            return self.calendar.working_time_between(a, b).total_seconds()
        return (b - a).total_seconds()

    def _after(self, sla: _Sla, start: datetime, seconds: float) -> datetime:
        if sla.working:
            return self.calendar.add_working_time(start, timedelta(seconds=seconds))
        return start + timedelta(seconds=seconds)

    def _seconds(self, sla: _Sla, duration: d.Duration, start: datetime) -> float:
        """A duration measured on the SLA's clock (working days become open seconds)."""
        if duration.unit == "working_days":
            end = self.calendar.add_working_days(start, duration.amount)
            return self.calendar.working_time_between(start, end).total_seconds()
        return float(duration.amount)

    # SLA clocks are handled as rows (see `SlaClock` for the order), unpacked and built
    # whole: a NamedTuple view costs 2.5x that, a `_replace`-like helper with keywords 8x.
    def _sla_on_entry(self, ctx: _Ctx, sla: _Sla, state: str) -> None:
        s = sla.definition
        clock = row_of(ctx.case.sla_rows, s.name)
        now = ctx.now
        if clock is None:
            if state != s.start:
                return
            budget = self._seconds(sla, s.within, now)
            ctx.system("sla", f"{s.name}: started")
            self._sla_arm(ctx, sla, (s.name, "running", now, budget, 0.0, now, None, None, 0))
            return
        name, status, started_at, budget, used, since, deadline, ended_at, warned = clock
        if status in ("met", "breached"):
            return
        if state in s.stop:
            if since:
                used += self._measure(sla, since, now)
            self._sla_disarm(ctx, sla)
            self._set_clock(ctx, (name, "met", started_at, budget, used, None, deadline, now,
                                  warned))  # fmt: skip
            ctx.system("sla", f"{name}: met")
        elif state in s.pause and status == "running":
            assert since is not None
            used += self._measure(sla, since, now)
            self._sla_disarm(ctx, sla)
            self._set_clock(ctx, (name, "paused", started_at, budget, used, None, None, ended_at,
                                  warned))  # fmt: skip
            ctx.system("sla", f"{name}: paused")
        elif state not in s.pause and status == "paused":
            self._sla_arm(ctx, sla, (name, "running", started_at, budget, used, now, deadline,
                                     ended_at, warned))  # fmt: skip
            ctx.system("sla", f"{name}: resumed")

    def _clock(self, case: Case, sla: _Sla) -> Row:
        clock = row_of(case.sla_rows, sla.definition.name)
        assert clock is not None, "an SLA timer is armed only while its clock runs"
        return clock

    def _set_clock(self, ctx: _Ctx, clock: Row) -> None:
        ctx.case.sla_rows = with_row(ctx.case.sla_rows, clock)

    def _sla_arm(self, ctx: _Ctx, sla: _Sla, clock: Row) -> None:
        """Arm a running clock's timers, and set its deadline."""
        name, status, started_at, budget, used, since, _, ended_at, warned = clock
        assert since is not None
        deadline = self._after(sla, since, budget - used)
        self._set_clock(ctx, (name, status, started_at, budget, used, since, deadline, ended_at,
                              warned))  # fmt: skip
        for i, warning in enumerate(sla.warnings):
            if warned & (1 << i):
                continue
            if warning.percent is not None:
                threshold = budget * warning.percent / 100
            else:
                assert warning.before is not None
                threshold = budget - self._seconds(sla, warning.before, since)
            due = self._after(sla, since, max(threshold - used, 0.0))
            self._arm(ctx, warning.key, due, warning.line)
        self._arm(ctx, sla.breach_key, deadline, sla.definition.line)

    def _sla_disarm(self, ctx: _Ctx, sla: _Sla) -> None:
        self._cancel(ctx, sla.timer_keys)

    def _fire_sla_timer(self, ctx: _Ctx, key: str) -> None:
        """An SLA's warning or breach (`_fire_timer` has taken it off and recorded it)."""
        case = ctx.case
        if key in self._breaches:
            sla = self._breaches[key]
            name, _, started_at, budget, used, since, deadline, _, warned = self._clock(case, sla)
            self._sla_disarm(ctx, sla)
            self._set_clock(ctx, (name, "breached", started_at, budget, used, since, deadline,
                                  ctx.now, warned))  # fmt: skip
            ctx.system("sla", f"{name}: breached")
            for action in sla.breach:
                action(ctx)
            return
        sla, warning, index = self._warnings[key]
        name, status, started_at, budget, used, since, deadline, ended_at, warned = self._clock(
            case, sla
        )
        self._set_clock(ctx, (name, status, started_at, budget, used, since, deadline, ended_at,
                              warned | (1 << index)))  # fmt: skip
        ctx.system("sla", f"{name}: warning")
        for action in warning.actions:
            action(ctx)
