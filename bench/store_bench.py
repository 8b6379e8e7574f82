"""Store benchmark: committed events/s, and a worker's start-up and fire lag with many timers.

    .venv/bin/python bench/store_bench.py                  # SQLite, 1,000,000 pending timers
    .venv/bin/python bench/store_bench.py --pending 100000 --pg auto

- events/s: one process fires `bump` events round-robin on 200 cases through `Service.fire`;
  each event is its own committed transaction (state, audit record, timers in one commit).
- restart: N cases with one pending timer each are bulk-loaded (far in the future), plus
  `--soon` timers falling due 3–8 s after the worker is started and `--overdue` ones already
  due; then `python -m engine.scheduling.worker` is started and we measure: time to ready,
  time until every overdue timer fired (catch-up), and the fire lag (wall-clock time at the
  claim minus the due time) of the `soon` timers.
- repair steps/s: the shipped repair flow with realistic data (open an order, complete it),
  one caller, then 16 threads at once; each step committed before its call returns.
- `--pg URL` (or `--pg auto`: start one with scripts/postgres.sh, and say so if it cannot)
  repeats the repair steps on PostgreSQL (`pg_` keys).

The last line is one JSON object (`store_…` and `pg_store_…` keys).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.clock import SimulatedClock  # noqa: E402
from engine.service import Service  # noqa: E402
from engine.store.serialize import to_us  # noqa: E402

FLOW = """\
flow bench "bench"
version 1
calendar always

roles: agent

fields:
    n: int = 0 "count"

state open "open":
    on bump by agent:
        set n = n + 1
    after 1h -> done

final done "done"
"""


def _flows(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.flow").write_text(FLOW)
    return folder


def events_per_second(url: str, flows: Path, events: int = 5000) -> float:
    """Committed `bump` events per second, one transaction each."""
    service = Service(url, flows)
    ids = [service.open("bench", {}, case_id=f"e{i}").id for i in range(200)]
    for k in range(200):  # warm-up
        service.fire(ids[k % 200], "bump", "a", "agent")
    started = time.perf_counter()
    for k in range(events):
        service.fire(ids[k % 200], "bump", "a", "agent")
    rate = events / (time.perf_counter() - started)
    assert service.get(ids[0]).fields["n"] == (events + 200) // 200
    service.close()
    return rate


REPAIR_CASE = {
    "content": "卫生间地漏堵塞", "address": "3栋1202", "contact": "张先生",
    "phone": "13800000101", "appointment": "2026-03-02 14:00",
}  # fmt: skip
REPAIR_START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def repair_steps_per_second(url: str, callers: int, cases: int) -> float:
    """Committed steps/s of the shipped repair flow with realistic data: each caller opens
    `cases` repair orders (fields, a notification to 工程部, timers armed) and completes
    each (a callback opened); every open and every event is one step, committed before its
    call returns. The clock stands still, so no timer fires meanwhile."""
    service = Service(url, ROOT / "workflows", clock=SimulatedClock(REPAIR_START))
    service.open("repair", REPAIR_CASE, case_id=f"warm-up-{callers}")  # flows stored, warm

    def work(caller: int) -> None:
        for k in range(cases):
            case = service.open("repair", REPAIR_CASE, case_id=f"r{callers}-{caller}-{k}")
            service.fire(case.id, "complete", "wang", "工程部", {"repair_result": "已疏通"})

    threads = [threading.Thread(target=work, args=(c,)) for c in range(callers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = 2 * callers * cases / (time.perf_counter() - started)
    assert service.get(f"r{callers}-0-0").state == "completed"
    service.close()
    return rate


def load_pending(
    path: Path, flows: Path, pending: int, soon: int, overdue: int, soon_at: datetime
) -> float:
    """Bulk-load `pending` far-future timers, `soon` ones due after `soon_at`, `overdue` due."""
    url = f"sqlite:///{path}"
    start = datetime.now(UTC) - timedelta(hours=2)
    service = Service(url, flows, clock=SimulatedClock(start))
    service.open("bench", {}, case_id="template")
    service.close()
    raw = sqlite3.connect(path)
    data, flow_hash = raw.execute(
        "SELECT data, flow_hash FROM cases WHERE id = 'template'"
    ).fetchone()
    audit = raw.execute("SELECT * FROM audit WHERE case_id = 'template'").fetchone()
    timer = raw.execute(
        "SELECT key, ord, token, count, armed_at FROM timers WHERE case_id = 'template'"
    ).fetchone()
    template = json.loads(data)
    key = timer[0]
    began = time.perf_counter()
    far = datetime.now(UTC) + timedelta(days=1)
    raw.execute("BEGIN")
    batch_cases, batch_audit, batch_timers = [], [], []
    total = pending + soon + overdue
    for i in range(total):
        if i < overdue:
            due = datetime.now(UTC) - timedelta(seconds=60) + timedelta(microseconds=i * 10)
        elif i < overdue + soon:
            due = soon_at + timedelta(seconds=5 * (i - overdue) / max(soon, 1))
        else:
            due = far + timedelta(microseconds=i * 50)
        cid = f"b{i:07d}"
        template["id"] = cid
        template["timers"][key]["due"] = {"$dt": due.isoformat()}
        batch_cases.append(
            (
                cid,
                "bench",
                1,
                flow_hash,
                "open",
                0,
                1,
                json.dumps(template, separators=(",", ":")),
                template["opened_at"]["$dt"],
                template["opened_at"]["$dt"],
                1,
            )
        )
        batch_audit.append((cid, *audit[1:]))
        batch_timers.append((cid, key, to_us(due), timer[1], timer[2], timer[3], timer[4]))
        if len(batch_cases) == 20000 or i == total - 1:
            raw.executemany("INSERT INTO cases VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch_cases)
            raw.executemany(f"INSERT INTO audit VALUES ({','.join('?' * len(audit))})", batch_audit)
            raw.executemany(
                "INSERT INTO timers (case_id, key, due_us, ord, token, count, armed_at) "
                "VALUES (?,?,?,?,?,?,?)",
                batch_timers,
            )
            batch_cases, batch_audit, batch_timers = [], [], []
    raw.execute("COMMIT")
    raw.execute("ANALYZE")
    raw.close()
    return time.perf_counter() - began


def restart(path: Path, flows: Path, soon: int, overdue: int) -> dict[str, float]:
    """Start a worker on the loaded store; measure ready time, catch-up and fire lag."""
    url = f"sqlite:///{path}"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.scheduling.worker",
            "--db",
            url,
            "--workflows",
            str(flows),
            "--poll",
            "1",
            "--no-dispatch",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    ready = None
    for line in proc.stderr:
        if "ready in" in line:
            ready = time.perf_counter() - t0
            break
    raw = sqlite3.connect(path, timeout=30)
    caught_up = None
    deadline = time.perf_counter() + 120
    lags: list[float] = []
    while time.perf_counter() < deadline:
        fired = raw.execute(
            "SELECT count(*) FROM timers WHERE fired_at IS NOT NULL AND case_id < ?",
            (f"b{overdue:07d}",),
        ).fetchone()[0]
        if caught_up is None and fired >= overdue:
            caught_up = time.perf_counter() - t0
        lags = [
            r[0] / 1e6
            for r in raw.execute(
                "SELECT fired_wall_us - due_us FROM timers WHERE fired_at IS NOT NULL "
                "AND case_id >= ? AND case_id < ?",
                (f"b{overdue:07d}", f"b{overdue + soon:07d}"),
            )
        ]
        if caught_up is not None and len(lags) >= soon:
            break
        time.sleep(0.2)
    proc.terminate()
    proc.wait(timeout=30)
    raw.close()
    lags.sort()

    def pct(p: float) -> float:
        return lags[min(len(lags) - 1, int(len(lags) * p))] if lags else float("nan")

    return {
        "ready_s": ready or float("nan"),
        "caught_up_s": caught_up or float("nan"),
        "catch_up_rate": overdue / ((caught_up or 0) - (ready or 0) or float("nan")),
        "lag_p50_s": pct(0.50),
        "lag_p99_s": pct(0.99),
        "lag_max_s": lags[-1] if lags else float("nan"),
        "soon_fired": float(len(lags)),
    }


CALLERS = 16
TARGETS = {"group_commit_steps_per_s": 5000, "catchup_timers_per_s": 10_000, "fire_lag_p99_ms": 10}


def main() -> int:
    """Run the benchmarks, print one line per number, and last one JSON object."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pending", type=int, default=1_000_000)
    p.add_argument("--soon", type=int, default=2000)
    p.add_argument("--overdue", type=int, default=2000)
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--cases", type=int, default=400, help="repair orders per single caller")
    p.add_argument("--pg", metavar="URL|auto", help="also measure on PostgreSQL")
    args = p.parse_args()
    found: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="flowdesk-bench-") as tmp:
        work = Path(tmp)
        flows = _flows(work / "flows")
        rate = events_per_second(f"sqlite:///{work / 'events.db'}", flows, args.events)
        print(f"sqlite   committed events/s (one transaction each): {rate:,.0f}", flush=True)
        found["store_events_per_s_simple_flow"] = round(rate)
        found.update(steps(f"sqlite:///{work / 'steps.db'}", args.cases, "sqlite  "))
        if args.pg:
            found.update(pg_bench(args.pg, args.cases))
        db = work / "pending.db"
        # the soon timers fall due 3–8 s after the worker starts, i.e. after the load
        estimate = 0.00005 * (args.pending + args.soon + args.overdue) + 15
        soon_at = datetime.now(UTC) + timedelta(seconds=estimate)
        load = load_pending(db, flows, args.pending, args.soon, args.overdue, soon_at)
        wait = (soon_at - datetime.now(UTC)).total_seconds() - 3
        print(
            f"sqlite   loaded {args.pending:,} pending + {args.soon:,} soon + "
            f"{args.overdue:,} overdue timers in {load:.1f}s "
            f"({db.stat().st_size / 1e6:,.0f} MB)",
            flush=True,
        )
        if wait > 0:
            time.sleep(wait)
        else:
            print(f"(warning: loading overran by {-wait:.1f}s; soon timers start overdue)")
        r = restart(db, flows, args.soon, args.overdue)
        print(
            f"sqlite   worker ready (process start → scheduler running): {r['ready_s']:.2f}s "
            f"with {args.pending + args.soon:,} timers pending"
        )
        print(
            f"sqlite   catch-up: {args.overdue:,} overdue timers fired {r['caught_up_s']:.2f}s "
            f"after start ({r['catch_up_rate']:,.0f} timers/s)"
        )
        print(
            f"sqlite   fire lag of {int(r['soon_fired']):,} timers due while "
            f"{args.pending:,} more wait: p50 {r['lag_p50_s'] * 1000:.0f} ms, "
            f"p99 {r['lag_p99_s'] * 1000:.0f} ms, max {r['lag_max_s'] * 1000:.0f} ms"
        )
    found.update(
        {
            "store_pending_timers": args.pending,
            "store_worker_ready_s": round(r["ready_s"], 2),
            "store_catchup_timers_per_s": round(r["catch_up_rate"]),
            "store_fire_lag_p99_ms": round(r["lag_p99_s"] * 1000, 1),
            **{f"store_target_{k}": v for k, v in TARGETS.items()},
        }
    )
    print(json.dumps(found))
    return 0


def steps(url: str, cases: int, label: str, prefix: str = "") -> dict[str, object]:
    """Committed repair-flow steps/s: one caller, then CALLERS at once."""
    one = repair_steps_per_second(url, 1, cases)
    many = repair_steps_per_second(url, CALLERS, max(1, cases // CALLERS))
    print(
        f"{label} repair flow, committed steps/s: {one:,.0f} one caller, "
        f"{many:,.0f} with {CALLERS} callers",
        flush=True,
    )
    return {
        f"{prefix}store_single_caller_steps_per_s": round(one),
        f"{prefix}store_group_commit_steps_per_s": round(many),
        f"{prefix}store_callers": CALLERS,
    }


def pg_bench(pg: str, cases: int) -> dict[str, object]:
    """The repair-flow steps on PostgreSQL (a throwaway server when `auto`); the catch-up
    and fire-lag figures are measured on SQLite only (their loader writes SQLite)."""
    folder = None
    url = pg
    if pg == "auto":
        out = subprocess.run(
            [str(ROOT / "scripts" / "postgres.sh"), "start"], capture_output=True, text=True
        )
        if out.returncode != 0:
            reason = (out.stderr.strip().splitlines() or ["scripts/postgres.sh failed"])[-1]
            print(f"postgres skipped: {reason}", flush=True)
            return {"pg_ran": False, "pg_skipped": reason}
        url, folder = out.stdout.strip().splitlines()[-1].split()
    try:
        found = steps(url, cases, "postgres", prefix="pg_")
    finally:
        if folder:
            subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "stop", folder], check=False)
    return {"pg_ran": True, **found, "pg_store_catchup_timers_per_s": None,
            "pg_store_fire_lag_p99_ms": None}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
