"""Failpoints for the crash tests: `FLOWDESK_FAILPOINT=name[:count[:stop]]` makes the process
SIGKILL itself the `count`-th time (default 1st) it reaches the point called `name` — or, with
`:stop`, SIGSTOP itself there (to be continued by the harness with SIGCONT, claim in hand).

Points: after_claim, after_state_update, after_audit_insert, before_commit, after_commit,
mid_dispatch. When `FLOWDESK_FAILPOINT_LOG` names a file, a line `name pid detail` is
appended and fsynced first, so the harness can prove the point was really hit.
"""

from __future__ import annotations

import os
import signal

POINTS = frozenset(
    {
        "after_claim",
        "after_state_update",
        "after_audit_insert",
        "before_commit",
        "after_commit",
        "mid_dispatch",
    }
)


def _parse(spec: str | None) -> tuple[str | None, int, bool]:
    if not spec:
        return None, 0, False
    name, _, rest = spec.partition(":")
    count, _, action = rest.partition(":")
    if name not in POINTS:
        raise ValueError(f"unknown failpoint `{name}` (known: {', '.join(sorted(POINTS))})")
    if action not in ("", "stop"):
        raise ValueError(f"unknown failpoint action `{action}` (known: stop)")
    return name, int(count) if count else 1, action == "stop"


_NAME, _COUNT, _STOP = _parse(os.environ.get("FLOWDESK_FAILPOINT"))
_hits = 0


def failpoint(name: str, detail: str = "") -> None:
    """Die here (SIGKILL, no clean-up at all) if this failpoint is armed and its count is up."""
    global _hits
    if name != _NAME:
        return
    _hits += 1
    if _hits != _COUNT:
        return
    log = os.environ.get("FLOWDESK_FAILPOINT_LOG")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            tag = f"{name}:stop" if _STOP else name
            os.write(fd, f"{tag} {os.getpid()} {detail}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    os.kill(os.getpid(), signal.SIGSTOP if _STOP else signal.SIGKILL)
