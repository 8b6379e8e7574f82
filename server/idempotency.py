"""`Idempotency-Key`: a retried POST answers what the first one answered and never fires
twice. The key is reserved (in the database, so it holds across server processes) before
the request runs; a retry that arrives while the first is still running gets 409."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import delete, insert, select, update

from engine.i18n import msg
from engine.store.sqlstore import Store
from server import tables as t
from server.problems import Problem

MAX_KEY_CHARS = 200
_i = t.idempotency


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def reserve(store: Store, person: str, key: str, digest: str) -> tuple[int, str] | None:
    """None if the key is new (now reserved for this request); else the first answer."""
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise Problem(
            422,
            "invalid_idempotency_key",
            msg("an Idempotency-Key is 1–{n} printable characters", n=MAX_KEY_CHARS),
            field="Idempotency-Key",
        )
    where = (_i.c.person == person) & (_i.c.key == key)
    with store.write() as conn:
        row = conn.execute(select(_i.c.request_hash, _i.c.status, _i.c.body).where(where)).first()
        if row is None:
            conn.execute(
                insert(_i).values(
                    person=person,
                    key=key,
                    request_hash=digest,
                    status=0,
                    body="",
                    created_us=int(time.time() * 1e6),
                )
            )
            return None
    if row.request_hash != digest:
        raise Problem(
            422,
            "idempotency_key_reused",
            msg("this Idempotency-Key was used for a different request"),
            field="Idempotency-Key",
        )
    if row.status == 0:
        raise Problem(
            409,
            "request_in_progress",
            msg("the first request with this Idempotency-Key is still running; retry in a moment"),
            field="Idempotency-Key",
        )
    return int(row.status), str(row.body)


def remember(store: Store, person: str, key: str, status: int, body: str) -> None:
    """Keep the answer to give every retry (a 5xx is forgotten instead: a retry may succeed)."""
    where = (_i.c.person == person) & (_i.c.key == key)
    with store.write() as conn:
        if status >= 500:
            conn.execute(delete(_i).where(where))
        else:
            conn.execute(update(_i).where(where).values(status=status, body=body))
