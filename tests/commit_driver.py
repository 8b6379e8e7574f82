"""A process of many threads stepping repair orders through group commit, for the kill test.

    python -m tests.commit_driver DB_URL ACKS_FILE [THREADS] [ORDERS]

Each thread opens its orders and completes each; after every call returns it appends an
acknowledgement (`open ID` or `complete ID`) to ACKS_FILE and fsyncs it, so a SIGKILL at a
failpoint (FLOWDESK_FAILPOINT, see tests/crash_service.py) leaves a record of what the
callers were told had committed. Only points reached inside a transaction shared by several
steps count, and the failpoint log line says how many (`in_hand=N`).
"""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.clock import SimulatedClock
from tests.crash_service import CrashService

ROOT = Path(__file__).resolve().parent.parent
ORDER = {
    "content": "卫生间地漏堵塞", "address": "3栋1202", "contact": "张先生",
    "phone": "13800000101", "appointment": "2026-03-02 14:00",
}  # fmt: skip
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class DriverService(CrashService):
    """The crash tests' service, counting only the points reached inside a transaction
    several steps share, and telling the failpoint log how many share the one it dies in."""

    def reached(self, point: str, detail: str = "") -> None:
        in_hand = self.store.commits.in_hand
        if in_hand > 1:
            super().reached(point, f"{detail} in_hand={in_hand}")


def main(argv: list[str]) -> int:
    url, acks = argv[0], argv[1]
    threads = int(argv[2]) if len(argv) > 2 else 16
    orders = int(argv[3]) if len(argv) > 3 else 40
    service = DriverService(url, ROOT / "workflows", clock=SimulatedClock(START))
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    lock = threading.Lock()

    def ack(line: str) -> None:
        with lock:
            os.write(fd, f"{line}\n".encode())
            os.fsync(fd)

    def work(caller: int) -> None:
        for k in range(orders):
            case_id = f"o{caller}-{k}"
            service.open("repair", ORDER, case_id=case_id)
            ack(f"open {case_id}")
            service.fire(case_id, "complete", "wang", "工程部", {"repair_result": "已疏通"})
            ack(f"complete {case_id}")

    runners = [threading.Thread(target=work, args=(c,)) for c in range(threads)]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
