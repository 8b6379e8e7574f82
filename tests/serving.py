"""A real Flowdesk server for tests: uvicorn on a free local port, in a thread, over a
Service on a simulated clock the test moves (and fires timers with `run_due`, as the worker
would)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

from engine.clock import SimulatedClock
from engine.service import Service
from server.app import ASGIApp, Settings, create_app
from server.users import Directory

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
PASSWORDS = {
    "zhang": "zhang-password-1",
    "li": "li-password-22",
    "wang": "wang-password-3",
    "gm": "gm-password-444",
    "sun": "sun-password-55",
    "ma": "ma-password-666",
}


def people(path: Path | None = None) -> tuple[Directory, dict[str, str]]:
    """The people of the tests, and an API token each."""
    directory = Directory([], path)
    directory.add("zhang", "张敏", ["客服专员"], PASSWORDS["zhang"])
    directory.add("li", "李主管", ["业主服务主管", "业主关系主管"], PASSWORDS["li"])
    directory.add("wang", "王工", ["工程部"], PASSWORDS["wang"])
    directory.add("gm", "总经理", ["总经理"], PASSWORDS["gm"])
    directory.add("sun", "孙销售", ["销售部"], PASSWORDS["sun"])  # follow-ups only
    directory.add("ma", "马流程", ["客服专员"], PASSWORDS["ma"], studio=True)  # edits flows
    tokens = {p: directory.new_token(p, "test") for p in PASSWORDS}
    return directory, tokens


@dataclass
class Running:
    url: str
    service: Service
    clock: SimulatedClock
    directory: Directory
    tokens: dict[str, str]

    def client(self, person: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[person]}"} if person else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def advance(self, span: timedelta) -> None:
        """Let virtual time pass and fire what fell due, as the worker would."""
        self.clock.advance_by(span)
        self.service.run_due()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free local port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def running_server(
    tmp_path: Path, start: datetime, settings: Settings | None = None, db_url: str | None = None
) -> Iterator[Running]:
    clock = SimulatedClock(start)
    service = Service(db_url or f"sqlite:///{tmp_path / 'flowdesk.db'}", WORKFLOWS, clock=clock)
    directory, tokens = people()
    app = create_app(service, directory, settings or Settings())
    try:
        with serving(app) as url:
            yield Running(url, service, clock, directory, tokens)
    finally:
        service.close()
