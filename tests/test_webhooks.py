"""Webhooks against a local receiver that fails, hangs and answers late: every escalation
arrives at least once, signed, with the same id on every retry; a delivery that keeps
failing goes to the dead letters and can be re-sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.clock import SimulatedClock
from engine.service import Service
from server import tables
from server.webhooks import Endpoint, WebhookConfig, Webhooks, sign
from tests.conftest import SH
from tests.serving import WORKFLOWS

SECRET = "s3cret-for-tests"


class Receiver:
    """An HTTP endpoint whose behaviour per call the test scripts: a status, or `hang`."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"headers": dict(self.headers), "body": body})
                action = receiver.script.pop(0) if receiver.script else 200
                if action == "hang":
                    time.sleep(1.5)
                    action = 200
                elif action == "late":
                    time.sleep(0.2)
                    action = 200
                self.send_response(int(action))
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()


@pytest.fixture
def escalated(tmp_path: Path) -> Iterator[Service]:
    """A store with one complaint whose reply deadline passed: escalations in the outbox."""
    clock = SimulatedClock(datetime(2026, 12, 7, 9, 0, tzinfo=SH))
    service = Service(f"sqlite:///{tmp_path / 'hooks.db'}", WORKFLOWS, clock=clock)
    tables.ensure(service.store)
    service.open("complaint", {"phone": "13800000000"}, actor="zhang", role="客服专员")
    clock.advance_by(timedelta(hours=25))
    service.run_due()
    yield service
    service.close()


def hooks_for(service: Service, receiver: Receiver, **config: Any) -> Webhooks:
    endpoint = Endpoint(name="ops", url=receiver.url, secret=SECRET, kinds=("escalation",))
    settings = {"backoff_seconds": 0.01, "timeout_seconds": 0.5, **config}
    hooks = Webhooks(service.store, WebhookConfig(endpoints=[endpoint], **settings))
    service.notifier = hooks.enqueue
    service.dispatch_outbox()
    return hooks


def drain(hooks: Webhooks, rounds: int = 20) -> None:
    for _ in range(rounds):
        hooks.deliver_due()
        time.sleep(0.03)


def test_failures_are_retried_until_delivered_signed_with_one_id(escalated: Service) -> None:
    receiver = Receiver([500, 503, "late"])
    hooks = hooks_for(escalated, receiver)
    drain(hooks)
    assert len(receiver.calls) == 3
    ids = {c["headers"]["X-Flowdesk-Id"] for c in receiver.calls}
    assert len(ids) == 1  # the receiver de-duplicates by it
    last = receiver.calls[-1]
    stamp, body = last["headers"]["X-Flowdesk-Timestamp"], last["body"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    assert last["headers"]["X-Flowdesk-Signature"] == "sha256=" + expected.hexdigest()
    assert sign(SECRET.encode(), stamp, body) == last["headers"]["X-Flowdesk-Signature"]
    payload = json.loads(body)
    assert payload["kind"] == "escalation" and payload["role"] == "业主服务主管"
    assert "24小时未答复" in payload["message"]
    assert hooks.dead() == []
    receiver.close()
    hooks.close()


def test_the_outbox_delivering_twice_files_one_delivery(escalated: Service) -> None:
    receiver = Receiver([])
    hooks = hooks_for(escalated, receiver)
    rows = escalated.store.claim_outbox(100, 0.0)  # nothing left: all were handed over
    assert rows == []
    from engine.case import Notification

    again = Notification(
        case_id="c",
        role="业主服务主管",
        message="m",
        at=datetime.now(SH),
        kind="escalation",
        id="c#1",
    )
    hooks.enqueue(again)
    hooks.enqueue(again)
    drain(hooks, 5)
    assert [c["headers"]["X-Flowdesk-Id"] for c in receiver.calls].count("c#1") == 1
    receiver.close()
    hooks.close()


def test_a_receiver_that_hangs_ends_in_the_dead_letters_and_can_be_resent(
    escalated: Service,
) -> None:
    receiver = Receiver(["hang", "hang"])
    hooks = hooks_for(escalated, receiver, max_attempts=2, timeout_seconds=0.3)
    drain(hooks, 10)
    dead = hooks.dead()
    assert len(dead) == 1 and dead[0]["attempts"] == 2
    assert "Timeout" in dead[0]["last_error"]
    assert hooks.resend(dead[0]["id"]) and not hooks.resend(dead[0]["id"])
    drain(hooks, 5)
    assert hooks.dead() == []
    assert receiver.calls[-1]["headers"]["X-Flowdesk-Id"] == dead[0]["notification"]
    receiver.close()
    hooks.close()
