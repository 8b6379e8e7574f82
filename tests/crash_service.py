"""The crash tests' service: the production `Service` with failpoints and, for the negative
controls, deliberately broken builds, injected by subclassing (nothing of this ships).

    FLOWDESK_FAILPOINT=name[:count[:stop]]   SIGKILL (or SIGSTOP) at the count-th time
                                             (default the 1st) a named point is reached
    FLOWDESK_FAILPOINT_LOG=FILE              a line `name pid detail` appended and fsynced
                                             first, so the harness can prove the point hit
    FLOWDESK_BROKEN=separate_audit_tx | no_recheck | deferred_tx

    python -m tests.crash_service --db URL --workflows DIR …   (the worker's own options)

Points (see `Service.reached`): after_claim, after_state_update, after_audit_insert,
before_commit, after_commit, mid_dispatch.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import Connection

from engine.case import Armed, AuditRecord, Case, plain, with_row
from engine.scheduling.worker import build_parser, run_worker
from engine.service import Service
from engine.store.sqlstore import Store, TimerRow

POINTS = frozenset(
    {"after_claim", "after_state_update", "after_audit_insert", "before_commit",
     "after_commit", "mid_dispatch"}
)  # fmt: skip
BROKEN = ("separate_audit_tx", "no_recheck", "deferred_tx")
T = TypeVar("T")


def _armed_point() -> tuple[str | None, int, bool]:
    spec = os.environ.get("FLOWDESK_FAILPOINT")
    if not spec:
        return None, 0, False
    name, _, rest = spec.partition(":")
    count, _, action = rest.partition(":")
    if name not in POINTS:
        raise ValueError(f"unknown failpoint `{name}` (known: {', '.join(sorted(POINTS))})")
    if action not in ("", "stop"):
        raise ValueError(f"unknown failpoint action `{action}` (known: stop)")
    return name, int(count) if count else 1, action == "stop"


class CrashService(Service):
    """Dies (SIGKILL, no clean-up at all) at the armed point, or stops there for the harness
    to continue with SIGCONT, claim in hand."""

    _point, _count, _stop = _armed_point()
    _hits = 0

    def reached(self, point: str, detail: str = "") -> None:
        if point != self._point:
            return
        CrashService._hits += 1
        if CrashService._hits != self._count:
            return
        log = os.environ.get("FLOWDESK_FAILPOINT_LOG")
        if log:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                tag = f"{point}:stop" if self._stop else point
                os.write(fd, f"{tag} {os.getpid()} {detail}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        os.kill(os.getpid(), signal.SIGSTOP if self._stop else signal.SIGKILL)


class SeparateAuditTx(CrashService):
    """Broken: a step's audit rows are written in a transaction of their own, after the
    step's commit (a kill in between loses them)."""

    def _transaction(self, case_id: str, body: Callable[[Connection], T]) -> T:
        self._deferred: list[tuple[str, list[AuditRecord]]] = []
        result = super()._transaction(case_id, body)
        with self.store.write() as conn:
            for cid, records in self._deferred:
                self.store.insert_audit(conn, cid, records)
        return result

    def _write_audit(self, conn: Connection, case_id: str, records: Sequence[AuditRecord]) -> None:
        self._deferred.append((case_id, list(records)))


class NoRecheckStore(Store):
    def claim_timer(self, conn: Connection, row: TimerRow) -> bool:
        return True  # broken: a timer another worker fired (or the case cancelled) fires again


class NoRecheck(CrashService):
    """Broken: a claimed timer is fired without re-checking it against the locked case."""

    store_type = NoRecheckStore

    def _armed_for(self, case: Case, row: TimerRow) -> Armed | None:
        armed = case.timers.get(row.key)
        if armed is None or armed.token != row.token:
            armed = Armed(row.key, row.due, row.order, row.token, row.count)
            case.timer_rows = with_row(case.timer_rows, plain(armed))
        return armed


class DeferredTxStore(Store):
    immediate_writes = False  # broken: SQLite takes the write lock only at the first write


class DeferredTx(CrashService):
    store_type = DeferredTxStore


BUILDS: dict[str | None, type[CrashService]] = {
    None: CrashService,
    "separate_audit_tx": SeparateAuditTx,
    "no_recheck": NoRecheck,
    "deferred_tx": DeferredTx,
}


def service_type(broken: str | None = None) -> type[CrashService]:
    """The service to run: FLOWDESK_BROKEN's broken build, or the sound one."""
    mode = broken if broken is not None else os.environ.get("FLOWDESK_BROKEN") or None
    if mode not in BUILDS:
        raise ValueError(f"unknown broken build `{mode}` (known: {', '.join(BROKEN)})")
    return BUILDS[mode]


def main(argv: Sequence[str] | None = None) -> int:
    """A worker whose service is this module's (`python -m tests.crash_service …`)."""
    return run_worker(build_parser().parse_args(argv), service_type())


if __name__ == "__main__":
    sys.exit(main())
