"""`bench/run.py --quick` runs and reports every figure (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

KEYS = [
    "frontend_lines_per_s",
    "frontend_lark_ceiling_lines_per_s",
    "engine_events_per_s",
    "dict_events_per_s",
    "transitions_events_per_s",
    "transitions_adapter_events_per_s",
    "ratio_vs_dict",
    "ratio_vs_transitions",
    "create_us_per_case",
    "transitions_create_us_per_case",
    "transitions_static_create_us_per_case",
    "bytes_per_case",
    "full_events_per_s",
]


def _quick(script: str, *args: str) -> dict[str, object]:
    """Run a bench in quick mode (or with `args`); the JSON object it prints last."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *(args or ["--quick"])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_quick_bench_reports_every_key() -> None:
    out = _quick("run.py")
    for key in KEYS:
        value = out.get(key)
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        assert value > 0, (key, value)
    assert out["mode"] == "quick"
    assert isinstance(out["notes"], list)


def test_the_language_server_bench_prints_its_figure_last() -> None:
    out = _quick("lsp_bench.py")
    assert isinstance(out["lsp_lines"], int) and out["lsp_lines"] >= 1000
    total, debounce = out["lsp_diagnostics_ms_1000_lines"], out["lsp_debounce_ms"]
    assert isinstance(total, float | int) and isinstance(debounce, int) and total >= debounce > 0


def test_the_store_bench_prints_every_published_key_last() -> None:
    out = _quick(
        "store_bench.py", "--pending", "3000", "--overdue", "600", "--soon", "60",
        "--cases", "32", "--events", "200", "--busy-seconds", "3.5",
    )  # fmt: skip
    for key in ("store_single_caller_steps_per_s", "store_group_commit_steps_per_s",
                "store_catchup_timers_per_s", "store_fire_lag_p99_ms",
                "store_events_per_s_simple_flow", "store_worker_ready_s",
                "store_second_process_write_p99_ms",
                "store_second_process_write_max_ms"):  # fmt: skip
        value = out[key]
        assert isinstance(value, int | float) and value > 0, (key, value)
    assert out["store_callers"] == 16 and out["store_overdue_timers"] == 600
    assert out["store_target_group_commit_steps_per_s"] == 5000
