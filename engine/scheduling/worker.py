"""The live scheduler: an APScheduler 3 job that wakes exactly at the next due timer.

One job, `tick`, is (re)scheduled after every run for min(next due timer, now + poll): it
wakes on time for timers this process knows of, and the safety poll picks up timers armed by
other processes (the web app, other workers). A timer due within `HOT_WAIT` is waited for
inside the tick, so timers due every few milliseconds fire on time.
`misfire_grace_time=None` because APScheduler's default silently skips a wake-up that comes
late. On start the first tick runs at once, so timers that fell due while no worker ran fire
first, in due order, marked late in the audit log. Several workers may share one PostgreSQL
database: each timer is claimed with `FOR UPDATE SKIP LOCKED` and fires exactly once.

Run it with `flow worker --db URL --workflows DIR` or `python -m engine.scheduling.worker`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.case import Notification, Notifier
from engine.scheduling.options import build_parser
from engine.service import Service

log = logging.getLogger("flowdesk.worker")
STOP_GRACE = 10.0  # seconds a stopping worker waits for the step in hand
HOT_WAIT = 0.05  # seconds: a timer due sooner is waited for in the tick, not rescheduled


class Worker:
    """Fires due timers and delivers the outbox of one store, until stopped."""

    def __init__(
        self, service: Service, poll: float = 1.0, dispatch: bool = True, lease: float = 30.0
    ) -> None:
        self.service = service
        self.poll = poll
        self.dispatch = dispatch
        self.lease = lease
        self.fired = 0
        self.ticks = 0
        self._stopping = threading.Event()
        self.scheduler = BlockingScheduler(
            timezone=UTC,
            executors={"default": _Pool(self._stopping)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self._busy = threading.Lock()  # held while a tick runs: stopping waits for it

    def tick(self) -> None:
        """Fire everything due (timers, then schedule occurrences), deliver the outbox, then
        sleep until the next due timer or occurrence: in this tick when it is due within
        `HOT_WAIT` (timers due every few milliseconds fire on time without a round trip
        through the scheduler), else by scheduling the next tick.
        Once a stop is asked for, it ends after the step in hand, whatever the backlog."""
        with self._busy:
            self.ticks += 1
            while True:
                self._run_once()
                if self._stopping.is_set():
                    self._halt()  # a stop asked before the scheduler ran ends it here
                    return
                wake = self._next_wake()
                wait = (wake - datetime.now(UTC)).total_seconds()
                if wait > HOT_WAIT:
                    self._schedule(wake)
                    return
                self._stopping.wait(max(wait, 0.0))

    def _run_once(self) -> None:
        try:
            for _step in self.service.fire_due(should_stop=self._stopping.is_set):
                self.fired += 1  # counted, not kept: a backlog may be millions of steps
            if not self._stopping.is_set():
                self.service.run_schedules()
            if self.dispatch and not self._stopping.is_set():
                self.service.dispatch_outbox(lease=self.lease)
        except Exception:
            log.exception("tick failed; retrying at the next poll")

    def _next_wake(self) -> datetime:
        """The next due timer or occurrence, or the safety poll, whichever comes first."""
        now = datetime.now(UTC)
        wake = now + timedelta(seconds=self.poll)
        try:
            due = self.service.next_due()
        except Exception:
            log.exception("cannot read the next due timer; polling")
            due = None
        if due is not None and due < wake:
            wake = max(due, now)
        return wake

    def _schedule(self, wake: datetime) -> None:
        self.scheduler.add_job(
            self.tick,
            "date",
            run_date=wake,
            id="tick",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def run(self, signals: bool = True) -> None:
        """Block, firing timers, until SIGTERM or SIGINT (with `signals`; else until `stop`,
        as when it runs in a thread of `flow serve`)."""

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("worker %s: signal %d, stopping", self.service.worker_id, signum)
            self.stop()

        if signals:
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
        self.scheduler.add_job(
            self.tick, "date", run_date=datetime.now(UTC), id="tick", misfire_grace_time=None
        )
        try:
            self.scheduler.start()
        except JobLookupError:
            # APScheduler marks itself stopped before it takes its lock, so a stop landing
            # while it hands out the tick makes it miss the spent job it removes next;
            # nothing is lost (the next start runs a tick at once)
            if not self._stopping.is_set():
                raise
        # stopped: let the tick in hand finish its step (it checks between steps)
        if self._busy.acquire(timeout=STOP_GRACE):
            self._busy.release()
        else:
            log.warning("worker %s: a step is still running after %.0fs; exiting anyway",
                        self.service.worker_id, STOP_GRACE)  # fmt: skip

    def stop(self) -> None:
        """Ask the worker to stop after the step in hand (what SIGTERM and SIGINT do). Safe
        at any moment, start-up included: a tick that finds the flag set ends the scheduler
        if this could not yet. The scheduler is shut down from a thread of its own: a signal
        handler runs inside whatever the main thread was doing, possibly the scheduler's own
        job processing, and shutting down from there re-enters its locks (a deadlock in the
        executor, or a spent job that can no longer be removed)."""
        self._stopping.set()
        threading.Thread(target=self._halt, name="flowdesk-stop", daemon=True).start()

    def _halt(self) -> None:
        with contextlib.suppress(SchedulerNotRunningError):  # not yet, or already, stopped
            self.scheduler.shutdown(wait=False)


class _Pool(ThreadPoolExecutor):  # type: ignore[misc]
    """APScheduler's one-thread pool, quiet about a tick handed over after a stop began: a
    signal can land between the scheduler picking the next tick and submitting it, and the
    pool it was meant for is gone by then (nothing is lost: the next start runs it)."""

    def __init__(self, stopping: threading.Event) -> None:
        super().__init__(1)
        self._stopping = stopping

    def _do_submit_job(self, job: object, run_times: object) -> None:
        try:
            super()._do_submit_job(job, run_times)
        except RuntimeError:
            if not self._stopping.is_set():
                raise


def jsonl_notifier(path: str | Path) -> Notifier:
    """A notifier appending one JSON line per delivery to `path` (fsynced: nothing is lost)."""

    def deliver(n: Notification) -> None:
        line = json.dumps(
            {
                "id": n.id,
                "case": n.case_id,
                "role": n.role,
                "message": n.message,
                "kind": n.kind,
                "pid": os.getpid(),
            },
            ensure_ascii=False,
        )
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    return deliver


def _import_notifier(spec: str) -> Notifier:
    module, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"--notifier wants MODULE:FUNCTION, got `{spec}`")
    fn: Notifier = getattr(importlib.import_module(module), attr)
    return fn


def run_worker(args: argparse.Namespace, service_type: type[Service] = Service) -> int:
    """Start a worker from parsed options; returns the exit code. (The crash tests pass
    their own `service_type`, which can die at a named point of the write path.)"""
    started = time.perf_counter()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    notifier: Notifier | None = None
    if args.deliver_to:
        notifier = jsonl_notifier(args.deliver_to)
    elif args.notifier:
        notifier = _import_notifier(args.notifier)
    service = service_type(
        args.db,
        args.workflows,
        args.calendars,
        notifier=notifier,
        late_after=timedelta(seconds=args.late_after),
        worker_id=args.id,
    )
    worker = Worker(service, poll=args.poll, dispatch=not args.no_dispatch, lease=args.lease)
    due = service.next_due()
    print(
        f"worker {service.worker_id} ready in {time.perf_counter() - started:.2f}s; "
        f"flows: {', '.join(sorted(service.flows)) or 'none'}; next timer due: "
        f"{due.isoformat() if due else 'none'}",
        file=sys.stderr,
        flush=True,
    )
    worker.run()
    service.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m engine.scheduling.worker …`."""
    return run_worker(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
