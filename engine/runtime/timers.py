"""Timers: when a timer is armed, re-armed and cancelled (`after`, `every`, wall-clock
`every … at`, `at`). Where a due timer fires: `FlowRuntime._fire_timer` (flow_runtime.py)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, time

from engine.case import (
    Row,
    with_row,
)
from engine.errors import (
    FlowRuntimeError,
)
from engine.expressions import (
    format_value,
)
from engine.runtime.context import _Ctx
from engine.runtime.plans import (
    MAX_MISSED_PERIODS,
    Parts,
    _names_in,
    _State,
    _Timer,
)


class Timers(Parts):
    """Arming, re-arming and cancelling a case's timers."""

    def _arm(self, ctx: _Ctx, key: str, due: datetime, order: int, count: int = 0) -> None:
        estimated = self.calendar.is_estimated(due.date())
        armed = (key, due, order, ctx.case.entries, count, estimated)  # an Armed, as a row
        ctx.case.timer_rows = with_row(ctx.case.timer_rows, armed)
        ctx.armed += (armed,)
        if estimated:
            ctx.record("note", f"deadline {format_value(due)} of {key} is estimated: no official "
                       f"holiday data for {due.year}", actor=False)  # fmt: skip

    def _cancel(self, ctx: _Ctx, keys: Collection[str]) -> None:
        """Disarm the case's timers of these keys (those armed)."""
        rows = ctx.case.timer_rows
        if not rows:
            return
        # loops, not comprehensions: a comprehension is a function call in Python 3.11
        kept: list[Row] = []
        gone: tuple[str, ...] = ()
        for row in rows:
            if row[0] in keys:
                gone += (row[0],)
            else:
                kept.append(row)
        if gone:
            ctx.cancelled += gone
            ctx.case.timer_rows = tuple(kept)

    def _arm_state_timer(self, ctx: _Ctx, timer: _Timer, start: datetime, count: int) -> None:
        t = timer.definition
        if t.max_times is not None and count >= t.max_times:
            return
        if timer.after is not None or t.kind == "wall":  # `after`, `every`
            due = self._next_period(timer, start)
        else:
            at = self._at_value(ctx, timer)
            if at is None:
                return
            due = at
        self._arm(ctx, timer.key, due, t.line, count)

    def _next_period(self, timer: _Timer, start: datetime) -> datetime:
        if timer.after is not None:
            return timer.after(start)
        assert timer.wall is not None
        return self.calendar.next_wall_time(start, *timer.wall)

    def _rearm_periodic(self, ctx: _Ctx, timer: _Timer, due: datetime, count: int,
                        fired_at: datetime | None) -> None:  # fmt: skip
        """Arm the next period of an `every` timer. After a late firing the periods missed
        up to `fired_at` are coalesced into it: one late firing, never a backlog."""
        start = due
        if fired_at is not None:
            missed = 0
            while (following := self._next_period(timer, start)) <= fired_at:
                start, missed = following, missed + 1
                if missed == MAX_MISSED_PERIODS:  # e.g. `every 1m` after months down
                    start = fired_at
                    break
            if missed:
                note = f"{timer.key}: {missed} missed period(s) while the engine was down " \
                       "were coalesced into this late firing"  # fmt: skip
                ctx.record("note", note, actor=False)
        self._arm_state_timer(ctx, timer, start, count)

    def _at_value(self, ctx: _Ctx, timer: _Timer) -> datetime | None:
        assert timer.at is not None
        try:
            value = timer.at(ctx)
        except FlowRuntimeError:
            # `at appointment - 10m` with `appointment` not set: not armed (not an error)
            fields = ctx.case.fields
            if any(n in fields and fields[n] is None for n in _names_in(timer.definition.at)):
                return None
            raise
        if value is None:
            return None
        if not isinstance(value, datetime):
            value = datetime.combine(value, time(), self.calendar.tz)
        return max(value, ctx.now)  # already past on entry: fires at once

    def _rearm_at_timers(self, ctx: _Ctx, state: _State) -> None:
        """`at EXPR` follows its data: re-arm when a step changed the date-time it names."""
        for timer in state.timers:
            if timer.at is None:
                continue
            armed = ctx.case.timer(timer.key)
            if armed is None or armed.count:
                continue
            due = self._at_value(ctx, timer)
            if due is None:
                self._cancel(ctx, (timer.key,))
            elif due != armed.due:
                self._arm(ctx, timer.key, due, armed.order)
