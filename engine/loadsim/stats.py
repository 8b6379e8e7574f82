"""Streaming statistics in bounded memory: counts, means and quantiles of any number of values.

`Quantiles` is a log-bucket histogram (each bucket 1% wide) that also keeps the sum of the
values in each bucket: a quantile is the mean of the bucket holding that rank, clamped to the
observed min and max. Memory depends on the range of the values, never on how many there are;
values that all fall in one bucket (a fixed delay) come back exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_GAMMA_LOG = math.log(1.01)
_ZERO_BUCKET = -(10**9)  # values <= 0
_log, _floor = math.log, math.floor


@dataclass(slots=True)
class Quantiles:
    """Count, mean, min, max and approximate quantiles (≤ 1% relative error) of a stream."""

    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    _counts: dict[int, int] = field(default_factory=dict)
    _sums: dict[int, float] = field(default_factory=dict)

    def add(self, x: float) -> None:
        """Fold one value in (called once per state visit: kept to plain comparisons and
        module-level functions rather than `min`/`max` and `math.` look-ups)."""
        self.count += 1
        self.total += x
        if x < self.low:
            self.low = x
        if x > self.high:
            self.high = x
        key = _ZERO_BUCKET if x <= 0 else _floor(_log(x) / _GAMMA_LOG)
        counts, sums = self._counts, self._sums
        counts[key] = counts.get(key, 0) + 1
        sums[key] = sums.get(key, 0.0) + x

    def absorb(self, other: Quantiles) -> None:
        """Fold in another stream's values (exactly: the buckets are the same everywhere)."""
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        for key, n in other._counts.items():
            self._counts[key] = self._counts.get(key, 0) + n
            self._sums[key] = self._sums.get(key, 0.0) + other._sums[key]

    @property
    def buckets(self) -> int:
        """How many buckets are in use (the memory the estimator holds)."""
        return len(self._counts)

    def mean(self) -> float | None:
        """The exact mean, None when empty."""
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The value at rank ceil(q·count) (nearest rank), None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count - 1e-9))
        seen = 0
        for key in sorted(self._counts):
            seen += self._counts[key]
            if seen >= rank:
                value = self._sums[key] / self._counts[key]
                return min(max(value, self.low), self.high)
        return self.high  # pragma: no cover - rank <= count always hits a bucket


@dataclass(slots=True)
class Daily:
    """Per-day counters of the run (one small record per simulated day)."""

    opened: int = 0
    closed: int = 0
    escalations: int = 0
    breaches: int = 0
    backlog: int = 0  # open cases at the day's end
    callbacks_owed: int = 0  # callbacks opened and not yet done at the day's end

    def absorb(self, other: Daily) -> None:
        """Add another shard's counters of the same day."""
        self.opened += other.opened
        self.closed += other.closed
        self.escalations += other.escalations
        self.breaches += other.breaches
        self.backlog += other.backlog
        self.callbacks_owed += other.callbacks_owed

    def standing(self) -> Daily:
        """A day with nothing happening after this one: what is open stays open."""
        return Daily(backlog=self.backlog, callbacks_owed=self.callbacks_owed)


def pct(part: float, whole: float) -> float | None:
    """part / whole in percent, 2 decimals; None when there is nothing to divide."""
    return round(100.0 * part / whole, 2) if whole else None


def hours(seconds: float | None) -> float | None:
    """Seconds as hours, 3 decimals."""
    return None if seconds is None else round(seconds / 3600.0, 3)


def summary_hours(q: Quantiles) -> dict[str, float | int | None]:
    """count, mean, p50, p90 and max of a duration stream, in hours."""
    return {
        "count": q.count,
        "mean": hours(q.mean()),
        "p50": hours(q.quantile(0.5)),
        "p90": hours(q.quantile(0.9)),
        "max": hours(q.high) if q.count else None,
    }
