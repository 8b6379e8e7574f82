"""`make demo`'s durable-service walk-through runs and shows what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_escalates_and_catches_up_after_a_restart() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "C-001 is replied; SLA reply met" in out
    assert "escalated to: 业主服务主管 → 总经理" in out
    assert "2 timer(s) fired late, in due order: S:solve:w0" in out
    assert (ROOT / ".demo" / "flowdesk.db").is_file()
