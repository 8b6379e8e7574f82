"""Group commit: the steps of concurrent callers share one write transaction.

A caller hands `CommitQueue.run` the body of its step. The first caller to find nobody
leading becomes the leader: it takes every step waiting (up to `limit`), runs each in turn
inside one write transaction, commits once, and wakes each caller with its own result or
error; then it hands the lead to the oldest step still waiting and returns. A caller returns
only once the transaction holding its step has committed, so what was acknowledged is
durable. One caller alone runs its step in a transaction of its own, exactly as before group
commit.

A step that raises rolls back alone and the others commit; a failed commit fails them all.
On PostgreSQL each step of a shared transaction runs inside a SAVEPOINT. On SQLite a savepoint
costs a sixth of a step (every page the step touches is first copied aside), and almost every
step that fails (a refused event, a stale version) fails before it writes: so the leader only
checks that the rows changed so far did not move while the step ran. In the rare case they
did, the transaction rolls back and the other steps run again in a new one (`redone`).

This is the leader/follower queue of LevelDB's writer and PostgreSQL's commit: no thread of
its own, and the wait for the write lock and the commit is paid once per batch, not per step.
Before taking its batch the leader waits, the interpreter free, for the callers its
predecessor woke to queue their next step (at most `GATHER_WAIT`): with 16 callers a
transaction then holds 15 steps on average instead of 8. A caller alone never waits.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Connection

from engine.errors import StoreError

T = TypeVar("T")
# How long a leader waits for the callers the last transaction woke to queue again: each
# needs the interpreter for some µs to get there; one that has no next step costs this once.
GATHER_WAIT = 0.0005


class Outcome(Generic[T]):
    """One step handed to the queue, and what became of it once `finished`."""

    __slots__ = ("body", "done", "error", "finished", "lead", "result")

    def __init__(self, body: Callable[[Connection], T]) -> None:
        self.body = body
        # held until the step has finished or its caller is handed the lead (a bare lock:
        # an Event costs several times as much to wait on and to set)
        self.done = threading.Lock()
        self.done.acquire()
        self.finished = False
        self.lead = False
        self.result: T | None = None
        self.error: Exception | None = None

    def value(self) -> T:
        """What the body returned; raises what it (or the commit) raised instead."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set: the body returned it


class Transactions(Protocol):
    """What the queue needs of a store: a write transaction, and plain SQL inside it."""

    def write(self) -> AbstractContextManager[Connection]: ...

    def run(self, conn: Connection, sql: str) -> object: ...

    def change_count(self, conn: Connection) -> Callable[[], int] | None: ...


class CommitQueue:
    """Runs the steps handed to it in shared write transactions (see the module docstring)."""

    def __init__(self, store: Transactions, limit: int = 64) -> None:
        self.store = store
        self.limit = limit  # steps per transaction at most
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # a step was queued
        self._waiting: deque[Outcome[Any]] = deque()
        self._leading = False
        self._expected = 0  # steps the next leader waits for: the queue, and callers woken
        self._wanted = 0  # while a leader waits: the number of queued steps to wake it at
        self.batches = 0  # transactions run so far, and the steps in them
        self.steps = 0
        self.redone = 0  # transactions run again without a step that failed having written
        self.in_hand = 0  # steps in the transaction being run now

    @property
    def queued(self) -> int:
        """Steps waiting for a transaction."""
        return len(self._waiting)

    def run(self, body: Callable[[Connection], T]) -> T:
        """Run `body(conn)` in a write transaction shared with other callers' steps; return
        its result once that transaction has committed, or raise what the body raised (its
        step rolled back) or what the commit raised."""
        return self.run_all([body])[0].value()

    def run_all(self, bodies: list[Callable[[Connection], T]]) -> list[Outcome[T]]:
        """Run several steps, in order, each atomic on its own (a catch-up's timers); returns
        once all have finished, committed or not."""
        mine = [Outcome(body) for body in bodies]
        if not mine:
            return mine
        with self._lock:
            self._waiting.extend(mine)
            if not self._leading:
                self._leading = True
                mine[0].lead = True
                mine[0].done.release()
            elif self._wanted and len(self._waiting) >= self._wanted:  # the leader's batch is in
                self._arrived.notify()
        own = set(map(id, mine))
        for job in mine:
            while not job.finished:
                job.done.acquire()  # finished by another caller's transaction, or our turn
                if job.lead and not job.finished:
                    job.lead = False
                    self._lead(own)
        return mine

    def _lead(self, own: set[int]) -> None:
        with self._lock:
            # the callers the last transaction woke are about to queue their next step
            wanted = min(self._expected, self.limit)
            if len(self._waiting) < wanted:
                self._wanted = wanted
                self._arrived.wait(GATHER_WAIT)
                self._wanted = 0
            batch = [self._waiting.popleft() for _ in range(min(self.limit, len(self._waiting)))]
        woken = 0
        try:
            self._commit(batch)
        finally:
            for job in batch:
                job.finished = True
                if id(job) not in own:  # this thread waits on none of its own locks
                    job.done.release()
                    woken += 1
            with self._lock:
                self._expected = len(self._waiting) + woken
                if self._waiting:
                    head = self._waiting[0]
                    head.lead = True
                    head.done.release()
                else:
                    self._leading = False

    def _commit(self, batch: list[Outcome[Any]]) -> None:
        self.batches += 1
        self.steps += len(batch)
        self.in_hand = len(batch)
        try:
            todo = batch
            while todo:
                todo = self._attempt(todo)
        except BaseException as exc:  # the transaction failed: no step of it committed
            failed = exc if isinstance(exc, Exception) else StoreError(f"interrupted: {exc!r}")
            for job in batch:
                if job.error is None:
                    job.error, job.result = failed, None
            if failed is not exc:
                raise
        finally:
            self.in_hand = 0

    def _attempt(self, jobs: list[Outcome[Any]]) -> list[Outcome[Any]]:
        """Run `jobs` in one transaction and commit it; [] once done, or the steps to run
        again in a new transaction if one failed after writing where no savepoint undoes it."""
        try:
            with self.store.write() as conn:
                if len(jobs) == 1:
                    jobs[0].result = jobs[0].body(conn)
                    return []
                changes = self.store.change_count(conn)
                if changes is None:
                    self._with_savepoints(conn, jobs)
                else:
                    self._counting_changes(conn, jobs, changes)
        except _Redo:
            self.redone += 1
            return [job for job in jobs if job.error is None]
        return []

    def _with_savepoints(self, conn: Connection, jobs: list[Outcome[Any]]) -> None:
        """Each step inside a savepoint: one that raises is rolled back to it."""
        run = self.store.run
        for job in jobs:
            # plain SQL: SQLAlchemy's begin_nested costs 50 times as much
            run(conn, "SAVEPOINT step")
            try:
                job.result = job.body(conn)
            except Exception as exc:  # this step alone rolls back
                job.error = exc
                try:
                    run(conn, "ROLLBACK TO SAVEPOINT step")
                except Exception:  # the connection is gone, the transaction too
                    raise exc from None
            run(conn, "RELEASE SAVEPOINT step")

    @staticmethod
    def _counting_changes(
        conn: Connection, jobs: list[Outcome[Any]], changes: Callable[[], int]
    ) -> None:
        """Each step as it comes: one that raises having changed no row is simply dropped;
        one that changed rows first raises `_Redo` (the transaction must roll back)."""
        for job in jobs:
            before = changes()
            try:
                job.result = job.body(conn)
            except Exception as exc:
                job.error = exc
                if changes() != before:
                    raise _Redo from None


class _Redo(Exception):
    """A step failed having written and no savepoint can undo it: roll back, run the rest."""
