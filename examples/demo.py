"""`make demo`: the shipped complaint flow run by the durable service on SQLite.

Two complaints arrive on the hotline; one is answered in time, the other is not and
escalates. The service then stops for a day and a half; on restart the deadlines that fell
due meanwhile fire in due order, marked late. Time is simulated so the demo takes seconds,
but every step is committed to `.demo/flowdesk.db` exactly as a live worker would commit it
(inspect it afterwards with `flow cases --db sqlite:///.demo/flowdesk.db`).
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from engine.case import Notification
from engine.clock import SimulatedClock
from engine.service import Service

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / ".demo"
DB = f"sqlite:///{FOLDER / 'flowdesk.db'}"
SHANGHAI = ZoneInfo("Asia/Shanghai")
console = Console(highlight=False, soft_wrap=True)


def notify(n: Notification) -> None:
    """The notifier a real deployment would point at SMS, WeCom or e-mail."""
    console.print(f"    [green]→ {n.role}[/]: {n.message}  [dim]({n.id})[/]")


def service(clock: SimulatedClock) -> Service:
    return Service(DB, ROOT / "workflows", clock=clock, notifier=notify)


def run_for(svc: Service, clock: SimulatedClock, hours: float) -> None:
    """Let simulated time pass, firing timers as they fall due and delivering the outbox."""
    end = clock.now() + timedelta(hours=hours)
    while (due := svc.next_due()) is not None and due <= end:
        clock.advance_to(max(due, clock.now()))
        svc.run_due()
        svc.dispatch_outbox()
    clock.advance_to(end)


def show(svc: Service, case_id: str) -> None:
    case = svc.get(case_id)
    slas = ", ".join(f"{name} {clock.status}" for name, clock in case.slas.items())
    escalated = " → ".join(e.role for e in case.escalations) or "none"
    console.print(f"  [bold]{case_id}[/] is [bold]{case.state}[/]; SLA {slas}; "
                  f"escalated to: {escalated}")  # fmt: skip


def main() -> None:
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir()
    clock = SimulatedClock(datetime(2026, 10, 12, 9, 0, tzinfo=SHANGHAI))
    svc = service(clock)
    console.rule("Mon 2026-10-12 09:00 — two complaints on the hotline")
    water = {
        "phone": "13000000001",
        "complainant": "张三",
        "content": "停水",
        "category": "utilities",
    }
    fee = {
        "phone": "13000000002",
        "complainant": "李四",
        "content": "物业费账单有误",
        "category": "fee",
    }
    svc.open("complaint", water, actor="王芳", role="客服专员", case_id="C-001")
    svc.open("complaint", fee, actor="王芳", role="客服专员", case_id="C-002")
    for case_id in ("C-001", "C-002"):
        svc.fire(case_id, "dispatch", actor="王芳", role="客服专员")
    svc.dispatch_outbox()

    console.rule("3 hours later: engineering replies to C-001")
    run_for(svc, clock, 3)
    svc.fire("C-001", "reply", actor="赵工", role="工程部", data={"reply_text": "已抢修"})
    svc.dispatch_outbox()
    show(svc, "C-001")

    console.rule("C-002 is not answered: the 24h reply SLA warns, then escalates")
    run_for(svc, clock, 22)
    show(svc, "C-002")

    console.rule("The service is down for 36 hours; on restart the missed deadlines fire, late")
    svc.close()
    clock.advance_to(clock.now() + timedelta(hours=36))
    svc = service(clock)
    svc.run_due()
    svc.dispatch_outbox()
    show(svc, "C-002")
    late = [r for r in svc.history("C-002") if r.kind == "timer" and (r.data or {}).get("late")]
    console.print(f"  {len(late)} timer(s) fired late, in due order: "
                  + ", ".join(f"{r.what} (due {r.at:%m-%d %H:%M})" for r in late))  # fmt: skip
    svc.close()
    console.print(f"\n[dim]Stored in {DB}; try: .venv/bin/flow cases --db {DB} C-002[/]")


if __name__ == "__main__":
    main()
