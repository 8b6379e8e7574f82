"""Store benchmark: committed events/s, and a worker's start-up and fire lag with many timers.

    .venv/bin/python bench/store_bench.py                  # SQLite, 1,000,000 pending timers
    .venv/bin/python bench/store_bench.py --pending 100000 --pg auto

- events/s: one process fires `bump` events round-robin on 200 cases through `Service.fire`;
  each event is its own committed transaction (state, audit record, timers in one commit).
- restart: `--pending` cases with one timer each far in the future and `--overdue` ones
  already due are bulk-loaded; `python -m engine.scheduling.worker` is started and we measure
  its time to ready and the overdue timers fired per second until the last has fired
  (catch-up). Then `--soon` timers falling due over 5 s are added, a worker is started again,
  and we measure their fire lag (the wall clock at the claim minus the due time).
- repair steps/s: the shipped repair flow with realistic data (open an order, complete it),
  one caller, then 16 threads at once; each step committed before its call returns.
- second process: while another process keeps 16 callers busy on the repair flow, this one
  opens an order every 20 ms; how long each waits for SQLite's one write lock (a worker
  beside `flow serve` under load must not starve).
- `--pg URL` (or `--pg auto`: start one with scripts/postgres.sh, and say so if it cannot)
  repeats the repair steps on PostgreSQL, then the restart with two worker processes sharing
  the database (`--pg-pending`, `--pg-overdue`; `pg_` keys).

The last line is one JSON object (`store_…` and `pg_store_…` keys).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

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
    assert service.get(ids[0]).fields["n"] == 1 + len(range(0, events, 200))
    service.close()
    return rate


REPAIR_CASE = {
    "content": "卫生间地漏堵塞", "address": "3栋1202", "contact": "张先生",
    "phone": "13800000101", "appointment": "2026-03-02 14:00",
}  # fmt: skip
REPAIR_START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def repair_order(service: Service, case_id: str) -> None:
    """Open one repair order and complete it: two steps, each committed before it returns."""
    case = service.open("repair", REPAIR_CASE, case_id=case_id)
    service.fire(case.id, "complete", "wang", "工程部", {"repair_result": "已疏通"})


def percentile(ordered: list[float], p: float) -> float:
    """The `p` quantile (0..1) of sorted values; NaN for none."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def repair_steps_per_second(url: str, callers: int, cases: int) -> float:
    """Committed steps/s of the shipped repair flow with realistic data: each caller opens
    `cases` repair orders (fields, a notification to 工程部, timers armed) and completes
    each (a callback opened); every open and every event is one step, committed before its
    call returns. The clock stands still, so no timer fires meanwhile."""
    service = Service(url, ROOT / "workflows", clock=SimulatedClock(REPAIR_START))
    service.open("repair", REPAIR_CASE, case_id=f"warm-up-{callers}")  # flows stored, warm

    def work(caller: int) -> None:
        for k in range(cases):
            repair_order(service, f"r{callers}-{caller}-{k}")

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


def _keep_busy(url: str, seconds: float) -> None:
    """CALLERS threads opening and completing repair orders for `seconds` (in a process of
    its own: `second_writer`)."""
    service = Service(url, ROOT / "workflows", clock=SimulatedClock(REPAIR_START))
    stop = time.monotonic() + seconds

    def work(caller: int) -> None:
        k = 0
        while time.monotonic() < stop:
            repair_order(service, f"busy-{caller}-{k}")
            k += 1

    threads = [threading.Thread(target=work, args=(c,)) for c in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    service.close()


def second_writer(url: str, seconds: float = 8.0) -> list[float]:
    """Seconds each write of this process waited (sorted) while another process keeps
    CALLERS callers busy on the same SQLite file."""
    service = Service(url, ROOT / "workflows", clock=SimulatedClock(REPAIR_START))
    busy = multiprocessing.get_context("spawn").Process(target=_keep_busy, args=(url, seconds))
    busy.start()
    time.sleep(1.5)  # its callers are running
    until = time.monotonic() + seconds - 2.0  # and still are until then
    waits: list[float] = []
    while time.monotonic() < until:
        began = time.perf_counter()
        service.open("repair", REPAIR_CASE, case_id=f"second-{len(waits)}")
        waits.append(time.perf_counter() - began)
        time.sleep(0.02)
    busy.join()
    service.close()
    return sorted(waits)


class Raw:
    """A plain driver connection to a bench store, SQLite or PostgreSQL (bulk loads, and
    watching what the workers fired)."""

    def __init__(self, url: str) -> None:
        self.pg = url.startswith("postgresql")
        if self.pg:
            import psycopg

            self.conn: Any = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)
        else:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
            self.conn.isolation_level = None

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement (`?` markers); none for a statement that returns none."""
        cursor = self.conn.execute(sql.replace("?", "%s") if self.pg else sql, params)
        return list(cursor.fetchall()) if cursor.description else []

    def load(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        """Append `rows` to `table` (COPY on PostgreSQL)."""
        if self.pg:
            with self.conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ",".join("?" * len(rows[0]))
            self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    def close(self) -> None:
        self.conn.close()


_AUDIT = 'case_id, seq, at, recorded_at, actor, role, kind, what, "before", "after", data, line'
_CASES = "id, flow, flow_version, flow_hash, state, closed, row_version, data, opened_at, " \
    "updated_at, audit_count"  # fmt: skip
_TIMERS = 'case_id, "key", due_us, ord, token, count, armed_at'


def bulk_cases(url: str, flows: Path, prefix: str, dues: list[datetime]) -> None:
    """Write one case of the bench flow per due time, each with its one timer pending (a
    case opened through the service is the template)."""
    name = f"template-{prefix}"
    service = Service(url, flows, clock=SimulatedClock(datetime.now(UTC) - timedelta(hours=2)))
    service.open("bench", {}, case_id=name)
    service.close()
    raw = Raw(url)
    ((data, flow_hash),) = raw.rows("SELECT data, flow_hash FROM cases WHERE id = ?", (name,))
    ((*audit,),) = raw.rows(f"SELECT {_AUDIT} FROM audit WHERE case_id = ?", (name,))
    ((key, *timer),) = raw.rows(
        'SELECT "key", ord, token, count, armed_at FROM timers WHERE case_id = ?', (name,)
    )
    template = json.loads(data)
    opened = template["opened_at"]["$dt"]
    raw.rows("BEGIN")
    for start in range(0, len(dues), 20000):
        cases, audits, timers = [], [], []
        for i, due in enumerate(dues[start : start + 20000], start):
            cid = f"{prefix}{i:07d}"
            template["id"] = cid
            template["timers"][key]["due"] = {"$dt": due.isoformat()}
            text = json.dumps(template, separators=(",", ":"))
            cases.append((cid, "bench", 1, flow_hash, "open", False, 1, text, opened, opened, 1))
            audits.append((cid, *audit[1:]))
            timers.append((cid, key, to_us(due), *timer))
        raw.load("cases", _CASES, cases)
        raw.load("audit", _AUDIT, audits)
        raw.load("timers", _TIMERS, timers)
    raw.rows("COMMIT")
    raw.rows("ANALYZE")
    raw.close()


def _workers(url: str, flows: Path, n: int) -> tuple[list[subprocess.Popen[str]], float]:
    """Start `n` workers on the store; them, and the seconds until the last said it was
    ready."""
    t0 = time.perf_counter()
    command = [sys.executable, "-m", "engine.scheduling.worker", "--db", url,
               "--workflows", str(flows), "--poll", "1", "--no-dispatch"]  # fmt: skip
    procs = [
        subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(n)
    ]
    for proc in procs:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "ready in" in line:
                break
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep it drained
    return procs, time.perf_counter() - t0


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=60)


def _fired(raw: Raw, prefix: str) -> list[int]:
    """Fire lag in µs (wall clock at the claim minus the due time) of the `prefix` cases."""
    return [
        int(lag)
        for (lag,) in raw.rows(
            "SELECT fired_wall_us - due_us FROM timers WHERE fired_at IS NOT NULL "
            "AND case_id >= ? AND case_id < ?",
            (prefix, prefix + "~"),
        )
    ]


def _has_fired(raw: Raw, case_id: str) -> bool:
    return bool(raw.rows("SELECT 1 FROM timers WHERE case_id = ? AND fired_at IS NOT NULL",
                         (case_id,)))  # fmt: skip


def catch_up(url: str, flows: Path, overdue: int, workers: int) -> dict[str, float]:
    """Start workers on the loaded store: seconds to ready, and overdue timers fired per
    second until the last of them has fired."""
    procs, ready = _workers(url, flows, workers)
    started = time.perf_counter()
    raw = Raw(url)
    done = float("nan")
    deadline = started + 900
    last = f"o{overdue - 1:07d}"  # due last, so fired last: polled alone (a lookup), the
    # whole range counted only once it has fired (a scan of it every 50 ms took CPU from the
    # worker measured)
    while time.perf_counter() < deadline:
        if _has_fired(raw, last) and len(_fired(raw, "o")) >= overdue:
            done = time.perf_counter() - started
            break
        time.sleep(0.05)
    _stop(procs)
    raw.close()
    return {"ready_s": ready, "catch_up_rate": overdue / done}


def fire_lag(url: str, flows: Path, soon: int, ready_s: float, workers: int) -> list[float]:
    """Add `soon` timers falling due over 5 s, from a moment the workers are surely running,
    start them and return the fire lag of each (seconds, sorted)."""
    soon_at = datetime.now(UTC) + timedelta(seconds=2 * ready_s + 5)
    bulk_cases(url, flows, "s", [soon_at + timedelta(seconds=5 * i / soon) for i in range(soon)])
    procs, _ = _workers(url, flows, workers)
    raw = Raw(url)
    lags: list[int] = []
    deadline = time.perf_counter() + 60 + 2 * ready_s
    while time.perf_counter() < deadline and len(lags) < soon:
        time.sleep(0.2)
        lags = _fired(raw, "s")
    _stop(procs)
    raw.close()
    return sorted(lag / 1e6 for lag in lags)


def restart(
    url: str, flows: Path, pending: int, overdue: int, soon: int, workers: int, label: str
) -> dict[str, float]:
    """Load the store, measure a restart's catch-up, then on-time fire lag; print them."""
    began = time.perf_counter()
    now = datetime.now(UTC)
    past, far = now - timedelta(seconds=60), now + timedelta(days=1)
    bulk_cases(url, flows, "o", [past + timedelta(microseconds=i) for i in range(overdue)])
    bulk_cases(url, flows, "p", [far + timedelta(microseconds=50 * i) for i in range(pending)])
    print(f"{label} loaded {pending:,} pending + {overdue:,} overdue timers in "
          f"{time.perf_counter() - began:.1f}s", flush=True)  # fmt: skip
    r = catch_up(url, flows, overdue, workers)
    print(f"{label} {workers} worker(s) ready (process start → scheduler running): "
          f"{r['ready_s']:.2f}s with {pending + overdue:,} timers pending")  # fmt: skip
    print(f"{label} catch-up after a restart: {overdue:,} overdue timers at "
          f"{r['catch_up_rate']:,.0f} timers/s", flush=True)  # fmt: skip
    lags = fire_lag(url, flows, soon, r["ready_s"], workers)
    p99 = percentile(lags, 0.99) * 1000
    print(f"{label} fire lag of {len(lags):,} timers due on time while {pending:,} more wait: "
          f"p50 {percentile(lags, 0.5) * 1000:.1f} ms, p99 {p99:.1f} ms, "
          f"max {percentile(lags, 1.0) * 1000:.1f} ms", flush=True)  # fmt: skip
    return {**r, "lag_p99_ms": round(p99, 1)}


CALLERS = 16
TARGETS = {"group_commit_steps_per_s": 5000, "catchup_timers_per_s": 10_000, "fire_lag_p99_ms": 10}


def main() -> int:
    """Run the benchmarks, print one line per number, and last one JSON object."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pending", type=int, default=1_000_000)
    p.add_argument("--soon", type=int, default=2000)
    p.add_argument("--overdue", type=int, default=100_000)
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--cases", type=int, default=400, help="repair orders per single caller")
    p.add_argument("--busy-seconds", type=float, default=8.0,
                   help="how long the other process keeps its callers busy")  # fmt: skip
    p.add_argument("--pg", metavar="URL|auto", help="also measure on PostgreSQL")
    p.add_argument("--pg-pending", type=int, default=100_000, help="pending timers on PostgreSQL")
    p.add_argument("--pg-overdue", type=int, default=10_000, help="overdue timers on PostgreSQL")
    args = p.parse_args()
    found: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="flowdesk-bench-") as tmp:
        work = Path(tmp)
        flows = _flows(work / "flows")
        rate = events_per_second(f"sqlite:///{work / 'events.db'}", flows, args.events)
        print(f"sqlite   committed events/s (one transaction each): {rate:,.0f}", flush=True)
        found["store_events_per_s_simple_flow"] = round(rate)
        found.update(steps(f"sqlite:///{work / 'steps.db'}", args.cases, "sqlite  "))
        waits = second_writer(f"sqlite:///{work / 'shared.db'}", args.busy_seconds)
        p99, worst = 1000 * percentile(waits, 0.99), 1000 * percentile(waits, 1.0)
        print(f"sqlite   a second process's writes beside {CALLERS} busy callers: p50 "
              f"{1000 * percentile(waits, 0.5):.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms "
              f"({len(waits)} writes)", flush=True)  # fmt: skip
        found["store_second_process_write_p99_ms"] = round(p99, 1)
        found["store_second_process_write_max_ms"] = round(worst, 1)
        if args.pg:
            found.update(pg_bench(args.pg, args.cases, flows, args))
        db = f"sqlite:///{work / 'pending.db'}"
        r = restart(db, flows, args.pending, args.overdue, args.soon, 1, "sqlite  ")
    found.update(
        {
            "store_pending_timers": args.pending,
            "store_overdue_timers": args.overdue,
            "store_worker_ready_s": round(r["ready_s"], 2),
            "store_catchup_timers_per_s": round(r["catch_up_rate"]),
            "store_fire_lag_p99_ms": r["lag_p99_ms"],
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


def pg_bench(pg: str, cases: int, flows: Path, args: argparse.Namespace) -> dict[str, object]:
    """The repair-flow steps, then a restart's catch-up and fire lag with two worker
    processes, on PostgreSQL (a throwaway server when `auto`)."""
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
        timers = _fresh_database(url, "flowdesk_bench_timers")
        r = restart(timers, flows, args.pg_pending, args.pg_overdue, args.soon, 2, "postgres")
    finally:
        if folder:
            subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "stop", folder], check=False)
    return {
        "pg_ran": True,
        **found,
        "pg_store_workers": 2,
        "pg_store_pending_timers": args.pg_pending,
        "pg_store_overdue_timers": args.pg_overdue,
        "pg_store_worker_ready_s": round(r["ready_s"], 2),
        "pg_store_catchup_timers_per_s": round(r["catch_up_rate"]),
        "pg_store_fire_lag_p99_ms": r["lag_p99_ms"],
    }


def _fresh_database(server_url: str, name: str) -> str:
    """An empty database `name` on the server of `server_url`; its URL."""
    raw = Raw(server_url)
    raw.rows(f"DROP DATABASE IF EXISTS {name}")
    raw.rows(f"CREATE DATABASE {name}")
    raw.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    sys.exit(main())
