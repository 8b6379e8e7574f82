"""A run without staff limits, split into shards of cases and run side by side.

Without `staff`, no case ever waits for another, so the cases can be simulated apart: case
number n belongs to shard n mod `SHARDS`, each shard draws from its own random stream
(seeded from the run's seed and the shard), and the shards' tallies add up to the run's.
The numbers therefore depend on the seed alone, never on how many processes ran the
shards: one process runs them one after the other, several run them at once. A run with
staff limits is a single shard (its cases share the staff's queues), and so is a run of a
flow with `keys:` (its cases are related by them).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from engine.calendar import Calendar
from engine.case import Case
from engine.loadsim.profile import Profile
from engine.loadsim.simulator import Progress, SimResult, Simulation
from engine.loadsim.tally import Tally
from engine.runtime import FlowRuntime

SHARDS = 4
# cases: below this a run takes a second or two, less than starting worker processes
PARALLEL_FROM = 20_000


def shard_count(profile: Profile, keys: tuple[str, ...] = ()) -> int:
    """How many shards a run of this profile is made of (part of what its seed means): one
    when cases depend on each other — a staff they share, or `keys:` that relate them."""
    return 1 if profile.staff or keys else SHARDS


def default_workers(cases: int, shards: int) -> int:
    """Worker processes worth starting: one per core, for runs long enough to repay them."""
    if shards == 1 or cases < PARALLEL_FROM:
        return 1
    return max(1, min(shards, os.cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Everything a shard needs besides the runtime (sent to worker processes)."""

    cases: int
    days: int
    seed: int
    start: date
    keep_cases: bool


@dataclass(slots=True)
class _Part:
    """What a shard sends back: all of its `SimResult` that is not shared by the run."""

    tally: Tally
    notes: list[str]
    end: datetime
    kept: list[Case] | None


def run_shards(
    runtime: FlowRuntime,
    calendars: Mapping[str, Calendar],
    profile: Profile,
    settings: RunSettings,
    progress: Progress | None,
    workers: int | None,
) -> SimResult:
    """Run every shard of the run (in `workers` processes; None: `default_workers`)."""
    shards = shard_count(profile, runtime.definition.keys)
    # shard 0 is built here first: it checks the profile before any shard runs
    first = _simulation(runtime, calendars, profile, settings, 0, shards, None)
    if workers is None:
        workers = default_workers(settings.cases, shards)
    if shards == 1:
        first.progress = progress
        return first.run()
    if workers <= 1:
        parts = []
        for shard in range(shards):
            sim = first if shard == 0 else _simulation(
                runtime, calendars, profile, settings, shard, shards, None
            )  # fmt: skip
            sim.progress = _share_of(progress, shard, shards)
            parts.append(_part(sim.run()))
    else:
        parts = _in_processes(runtime, calendars, profile, settings, shards, workers, progress)
    return _merge(first, parts)


def _simulation(
    runtime: FlowRuntime,
    calendars: Mapping[str, Calendar],
    profile: Profile,
    settings: RunSettings,
    shard: int,
    shards: int,
    progress: Progress | None,
) -> Simulation:
    return Simulation(
        runtime, calendars, profile, cases=settings.cases, days=settings.days,
        seed=settings.seed, start=settings.start, keep_cases=settings.keep_cases,
        progress=progress, shard=shard, shards=shards,
    )  # fmt: skip


def _part(result: SimResult) -> _Part:
    return _Part(result.tally, result.notes, result.end, result.kept)


def _share_of(progress: Progress | None, shard: int, shards: int) -> Progress | None:
    """Shard `shard`'s days as a stretch of the whole run's progress bar."""
    if progress is None:
        return None
    return lambda done, total: progress(shard * total + done, shards * total)


def _merge(first: Simulation, parts: Sequence[_Part]) -> SimResult:
    tally = parts[0].tally
    for part in parts[1:]:
        tally.absorb(part.tally)
    kept = None
    if first.keep:
        cases = [case for part in parts for case in part.kept or ()]
        kept = sorted(cases, key=lambda case: (case.opened_at, case.id))
    return SimResult(
        first.runtime, first.profile, first.n_cases, first.days, first.seed, first.start,
        max(part.end for part in parts), tally, {},
        list(dict.fromkeys(note for part in parts for note in part.notes)), kept,
    )  # fmt: skip


# ---------------------------------------------------------------- worker processes

# set in each worker by `_start_worker`: the run's inputs and the days each shard has done
_WORKER: dict[str, Any] = {}


def _in_processes(
    runtime: FlowRuntime,
    calendars: Mapping[str, Calendar],
    profile: Profile,
    settings: RunSettings,
    shards: int,
    workers: int,
    progress: Progress | None,
) -> list[_Part]:
    # `spawn`: a fresh interpreter, safe whatever threads this process runs (a progress bar)
    context = multiprocessing.get_context("spawn")
    days_done = [context.Value("i", 0, lock=False) for _ in range(shards)]
    inputs = (runtime.definition, dict(calendars), profile, settings, shards, days_done)
    with context.Pool(workers, initializer=_start_worker, initargs=inputs) as pool:
        pending = pool.map_async(_run_shard, range(shards), chunksize=1)
        while not pending.ready():
            pending.wait(0.25)
            if progress is not None:
                total = settings.days + profile.drain_days
                progress(sum(done.value for done in days_done), shards * total)
        return pending.get()


def _start_worker(
    definition: Any,
    calendars: dict[str, Calendar],
    profile: Profile,
    settings: RunSettings,
    shards: int,
    days_done: list[Synchronized[int]],
) -> None:
    calendar = calendars[definition.calendar]
    _WORKER.update(
        runtime=FlowRuntime(definition, calendar), calendars=calendars, profile=profile,
        settings=settings, shards=shards, days_done=days_done,
    )  # fmt: skip


def _run_shard(shard: int) -> _Part:
    w = _WORKER
    done = w["days_done"][shard]

    def note_progress(days: int, _total: int) -> None:
        done.value = days

    sim = _simulation(w["runtime"], w["calendars"], w["profile"], w["settings"], shard,
                      w["shards"], note_progress)  # fmt: skip
    return _part(sim.run())
