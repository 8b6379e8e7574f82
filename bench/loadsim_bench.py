"""Load-simulation benchmark: `bench/loadsim_bench.py [--quick]`.

The issue's acceptance run: 100,000 complaint cases over 90 days with the shipped profile
(workflows/profiles/complaint.yaml). Prints ONE JSON object on stdout:

- `loadsim_events_per_s`: runtime steps (case openings, events fired, timers fired) per
  second of wall time in the 100k-case run, as `flow simulate` runs it by default (its
  shards in one worker process per core, see engine/loadsim/shards.py);
- `loadsim_events_per_s_1_process`: the same run in this one process (`--workers 1`), and
  `loadsim_workers`: how many processes the default used; both runs give the same report
  (`same_report`);
- `peak_mb_10k`, `peak_mb_100k`: peak resident memory (getrusage maxrss) of the largest
  process of a run of 10,000 cases over 9 days and of 100,000 cases over 90 days — the same
  arrival rate, so the difference is what N itself costs; `peak_mb_10k_90d` runs 10,000
  cases over the same 90 days (a tenth of the rate: fewer cases open at once);
- `baseline_mb`: the same process after imports and compiling the flow, before the run;
- per run: cases, workers, steps, wall seconds, events/s, peak and baseline memory.

Each run is its own subprocess, so maxrss belongs to that run alone and nothing traces
allocations (tracemalloc would slow the run several times). `--quick` runs 2,000 and
20,000 cases instead (a smoke test of the script, not the acceptance figures).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_EVENTS_PER_S = 50_000
TARGET_ONE_PROCESS = 60_000  # the same run in one process: the runtime's own speed


def _rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size of this process (or of its largest finished child process)
    so far, in MB (Linux reports KiB)."""
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def one_run(cases: int, days: int, seed: int, workers: int) -> dict[str, Any]:
    """Run one simulation from this process (workers 0: as many as `flow simulate` uses)."""
    from engine.loader import SHIPPED, calendars_for, compile_flow_file
    from engine.loadsim import build_report, load_profile, simulate
    from engine.loadsim.shards import default_workers, shard_count

    flow = SHIPPED / "complaint.flow"
    calendars = calendars_for(flow)
    definition = compile_flow_file(flow, calendars)
    profile = load_profile(SHIPPED / "profiles" / "complaint.yaml")
    baseline = _rss_mb()
    began = time.perf_counter()
    used = workers or default_workers(cases, shard_count(profile))
    result = simulate(definition, calendars, profile, cases=cases, days=days, seed=seed,
                      workers=used)  # fmt: skip
    wall = time.perf_counter() - began
    report = build_report(result)
    steps = report["events"]["steps"]
    return {
        "cases": cases,
        "workers": used,
        "days": days,
        "steps": steps,
        "wall_s": round(wall, 2),
        "events_per_s": round(steps / wall),
        "peak_mb": max(_rss_mb(), _rss_mb(resource.RUSAGE_CHILDREN)),
        "report_sha256": hashlib.sha256(
            json.dumps(report, sort_keys=True, default=str).encode()
        ).hexdigest(),
        "baseline_mb": baseline,
        "backlog_max": report["backlog"]["max"],
        "closed": report["totals"]["closed"],
        "open_at_end": report["totals"]["open_at_end"],
    }


def in_subprocess(cases: int, days: int, seed: int, workers: int = 0) -> dict[str, Any]:
    """`one_run` in a fresh interpreter, so its maxrss is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(cases), str(days), str(seed), str(workers)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"run of {cases} cases failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the three simulations (or one, with the internal `--one`) and print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2k and 20k cases only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", nargs=4, type=int, metavar=("CASES", "DAYS", "SEED", "WORKERS"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(*args.one)))
        return 0
    small, large, days = (2_000, 20_000, 90) if args.quick else (10_000, 100_000, 90)
    big = in_subprocess(large, days, args.seed)
    alone = in_subprocess(large, days, args.seed, workers=1)
    same_rate = in_subprocess(small, days * small // large, args.seed)
    spread = in_subprocess(small, days, args.seed)
    out = {
        "loadsim_events_per_s": big["events_per_s"],
        "loadsim_events_per_s_target": TARGET_EVENTS_PER_S,
        "loadsim_events_per_s_ok": big["events_per_s"] >= TARGET_EVENTS_PER_S,
        "loadsim_workers": big["workers"],
        "loadsim_events_per_s_1_process": alone["events_per_s"],
        "loadsim_events_per_s_1_process_target": TARGET_ONE_PROCESS,
        "loadsim_events_per_s_1_process_ok": alone["events_per_s"] >= TARGET_ONE_PROCESS,
        "same_report": big["report_sha256"] == alone["report_sha256"],
        "peak_mb_10k": same_rate["peak_mb"],
        "peak_mb_100k": big["peak_mb"],
        "peak_mb_10k_90d": spread["peak_mb"],
        "baseline_mb": big["baseline_mb"],
        "quick": args.quick,
        "runs": {
            "large": big,
            "large_1_process": alone,
            "small_same_rate": same_rate,
            "small_same_days": spread,
        },
        "notes": [
            "events = runtime steps: case openings, events fired, timers fired",
            "peak_mb_* = maxrss of the largest process running only that simulation "
            "(with workers, each worker holds its shards' open cases only); "
            "the 10k run has the 100k run's arrival rate (10k over 9 days)",
            "memory follows the cases open at once (arrival rate x time to close), not N",
        ],
    }
    if args.quick:
        out["notes"].append("--quick: 2k and 20k cases (9 and 90 days); keys keep their names")
    print(json.dumps(out, indent=2))
    ok = "ok" if out["loadsim_events_per_s_ok"] else "BELOW TARGET"
    print(
        f"loadsim: {big['events_per_s']:,} events/s with {big['workers']} worker(s) ({ok}, "
        f"target {TARGET_EVENTS_PER_S:,}), {alone['events_per_s']:,} in one process (target "
        f"{TARGET_ONE_PROCESS:,}); "
        f"peak {same_rate['peak_mb']} MB at {small:,} cases, {big['peak_mb']} MB at "
        f"{large:,} cases (baseline {big['baseline_mb']} MB)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
