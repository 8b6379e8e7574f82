"""The stream of arrivals: when new cases come in, from the profile's hour and day weights.

Draws use the simulation's own `random.Random`, so a seed fixes the arrivals.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.calendar import Calendar
from engine.loadsim.profile import WEEKDAYS, Arrivals


def day_weight(arrivals: Arrivals, day: date, calendar: Calendar) -> float:
    """The relative number of arrivals on `day` (a closed weekday may use `holiday`)."""
    weight = arrivals.weekdays[WEEKDAYS[day.weekday()]]
    if arrivals.holiday is not None and day.weekday() < 5 and not calendar.is_working_day(day):
        return arrivals.holiday
    return weight


class ArrivalStream:
    """`n` arrival instants over `days` days from `start`, drawn independently from the
    hour × day weights and produced in time order without storing them.

    The i-th arrival is the i-th order statistic of n uniform draws, generated one after the
    other (each from the previous one), then mapped through the inverse of the cumulative
    weight over the hour slots: memory is one float per hour slot, not per case.
    """

    def __init__(
        self,
        rng: random.Random,
        n: int,
        start: date,
        days: int,
        arrivals: Arrivals,
        calendar: Calendar,
        tz: ZoneInfo,
    ) -> None:
        self.rng, self.n = rng, n
        self.origin = datetime.combine(start, time(), tz)
        self.cumulative: list[float] = []
        self.weights: list[float] = []
        total = 0.0
        for k in range(days):
            dw = day_weight(arrivals, start + timedelta(days=k), calendar)
            for hw in arrivals.hours:
                total += dw * hw
                self.weights.append(dw * hw)
                self.cumulative.append(total)
        if total <= 0:
            raise ValueError("no arrival is possible: every day of the period has weight 0")
        self.total = total
        self.last = max(i for i, w in enumerate(self.weights) if w > 0)

    def __iter__(self) -> Iterator[datetime]:
        """The arrival instants, earliest first (whole seconds)."""
        for _no, instant in self.numbered(0, 1):
            yield instant

    def numbered(self, shard: int, shards: int) -> Iterator[tuple[int, datetime]]:
        """(case number from 1, instant) of the arrivals whose number is `shard` modulo
        `shards`: the others are drawn too (the stream is the same) but not turned into times."""
        m, n, rng = 0.0, self.n, self.rng
        for i in range(n):
            u = 1.0 - rng.random()  # (0, 1]
            m += (1.0 - m) * -math.expm1(math.log(u) / (n - i))
            if i % shards == shard:
                yield i + 1, self._instant(m)

    def _instant(self, m: float) -> datetime:
        x = m * self.total
        slot = min(bisect.bisect_right(self.cumulative, x), self.last)
        before = self.cumulative[slot] - self.weights[slot]
        inside = min(max((x - before) / self.weights[slot], 0.0), 1.0)
        seconds = min(int(inside * 3600), 3599)
        return self.origin + timedelta(hours=slot, seconds=seconds)
