"""Webhooks: notifications and escalations leave the outbox as signed HTTP POSTs.

The service's outbox hands each notification to `Webhooks.enqueue` (its notifier), which
files one delivery per matching endpoint in the database, keyed by the notification's stable
id — so the outbox delivering twice files it once. `deliver_due` posts what is due; a
failure (an error status, a refused connection, a timeout) is retried with exponential
backoff, and after `max_attempts` the delivery is dead: listed in the console and re-sendable.
At least once: a receiver de-duplicates by the `X-Flowdesk-Id` header.

Each POST carries `X-Flowdesk-Timestamp` and `X-Flowdesk-Signature: sha256=HEX`, the
HMAC-SHA256 of `TIMESTAMP.BODY` with the endpoint's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.case import Notification
from engine.i18n import msg
from engine.store.sqlstore import Store
from engine.yamlfile import read_model
from server import tables as t

_w = t.webhook_deliveries


class WebhookConfigError(ValueError):
    """webhooks.yaml cannot be read."""


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,60}$")]
    url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2000)]
    secret: str | None = None
    secret_env: str | None = None  # the secret read from this environment variable
    roles: tuple[str, ...] = ()  # notifications to these roles (none: every role)
    kinds: tuple[str, ...] = ()  # `notify`, `escalation` (none: both)

    def wants(self, n: Notification) -> bool:
        return (not self.roles or n.role in self.roles) and (not self.kinds or n.kind in self.kinds)

    def key(self) -> bytes:
        secret = os.environ.get(self.secret_env, "") if self.secret_env else self.secret or ""
        return secret.encode()


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoints: list[Endpoint] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1, le=50)
    backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    max_backoff_seconds: float = Field(default=3600.0, gt=0)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


def load_config(path: str | Path) -> WebhookConfig:
    config = read_model(Path(path), msg("webhooks file"), WebhookConfig, WebhookConfigError)
    for endpoint in config.endpoints:
        if not endpoint.key():
            raise WebhookConfigError(
                msg(
                    "{path}: endpoint `{name}` has no secret (give `secret` or `secret_env`)",
                    path=path,
                    name=endpoint.name,
                )
            )
    return config


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the HMAC of `TIMESTAMP.BODY`."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _now_us() -> int:
    return int(time.time() * 1_000_000)


class Webhooks:
    """The deliveries of one store to the endpoints of one configuration."""

    def __init__(
        self, store: Store, config: WebhookConfig, post: Callable[..., httpx.Response] | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.endpoints = {e.name: e for e in config.endpoints}
        self._client = httpx.Client(timeout=config.timeout_seconds)
        self._post = post or self._client.post

    def enqueue(self, n: Notification) -> None:
        """File the notification for every endpoint that wants it (a repeat is ignored)."""
        payload = json.dumps(
            {
                "id": n.id,
                "case_id": n.case_id,
                "role": n.role,
                "kind": n.kind,
                "message": n.message,
                "at": n.at.isoformat(),
            },
            ensure_ascii=False,
        )
        now = _now_us()
        for endpoint in self.config.endpoints:
            if not endpoint.wants(n):
                continue
            try:
                with self.store.write() as conn:
                    conn.execute(
                        insert(_w).values(
                            id=f"{n.id}@{endpoint.name}",
                            notification=n.id,
                            endpoint=endpoint.name,
                            payload=payload,
                            attempts=0,
                            next_us=now,
                            status="pending",
                            last_error=None,
                            created_us=now,
                        )
                    )
            except IntegrityError:
                pass  # filed already: the outbox delivered this notification before

    def deliver_due(self, limit: int = 50) -> int:
        """Post the deliveries that are due; returns how many were delivered."""
        now = _now_us()
        with self.store.read() as conn:
            rows = conn.execute(
                select(_w)
                .where(_w.c.status == "pending", _w.c.next_us <= now)
                .order_by(_w.c.next_us)
                .limit(limit)
            ).all()
        delivered = 0
        for row in rows:
            endpoint = self.endpoints.get(row.endpoint)
            error = (
                self._send(endpoint, row.notification, row.payload.encode())
                if endpoint
                else msg("endpoint `{name}` is no longer configured", name=row.endpoint)
            )
            delivered += self._settle(row.id, row.attempts + 1, error)
        return delivered

    def _send(self, endpoint: Endpoint, delivery_id: str, body: bytes) -> str | None:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Flowdesk-Id": delivery_id,
            "X-Flowdesk-Timestamp": timestamp,
            "X-Flowdesk-Signature": sign(endpoint.key(), timestamp, body),
        }
        try:
            answer = self._post(endpoint.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code}"

    def _settle(self, delivery: str, attempts: int, error: str | None) -> int:
        if error is None:
            values: dict[str, Any] = {
                "status": "delivered",
                "attempts": attempts,
                "last_error": None,
            }
        else:
            wait = min(
                self.config.backoff_seconds * 2 ** (attempts - 1), self.config.max_backoff_seconds
            )
            dead = attempts >= self.config.max_attempts
            values = {
                "status": "dead" if dead else "pending",
                "attempts": attempts,
                "last_error": error,
                "next_us": _now_us() + int(wait * 1e6),
            }
        with self.store.write() as conn:
            conn.execute(update(_w).where(_w.c.id == delivery).values(**values))
        return 1 if error is None else 0

    def dead(self, limit: int = 200) -> list[dict[str, Any]]:
        """Deliveries that gave up, newest first (the console's dead-letter list)."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(_w)
                .where(_w.c.status == "dead")
                .order_by(_w.c.created_us.desc())
                .limit(limit)
            ).all()
        return [
            {
                "id": r.id,
                "endpoint": r.endpoint,
                "notification": r.notification,
                "attempts": r.attempts,
                "last_error": r.last_error,
                "payload": json.loads(r.payload),
            }
            for r in rows
        ]

    def resend(self, delivery: str) -> bool:
        """Put a dead delivery back in line, its attempts reset; False if it is not dead."""
        with self.store.write() as conn:
            changed = conn.execute(
                update(_w)
                .where(_w.c.id == delivery, _w.c.status == "dead")
                .values(status="pending", attempts=0, next_us=_now_us())
            )
        return bool(changed.rowcount)

    def close(self) -> None:
        self._client.close()
