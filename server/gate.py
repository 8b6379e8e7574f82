"""Who is knocking: log-in with lock-out, browser sessions (a signed, HttpOnly cookie naming
a session kept in the database, with its CSRF token) and API bearer tokens.

A session id is random, replaced at every log-in (no fixation), stored only as its hash,
and signed in the cookie with the server's secret (so a forged or altered cookie is refused
before the database is asked). Lock-out is per person: `max_failures` wrong passwords within
`lock_minutes` lock the account for `lock_minutes`, whatever the password given next.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, insert, select, update

from engine.store.sqlstore import Store
from server import tables as t
from server.users import Directory, Person

COOKIE = "flowdesk_session"


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class LockedOut(Exception):
    """Too many wrong passwords: the account is locked until `until_us`."""

    def __init__(self, until_us: int) -> None:
        super().__init__(until_us)
        self.until_us = until_us


@dataclass(frozen=True)
class Visitor:
    """A person recognised at the door, and how: `csrf` is set for a browser session."""

    person: Person
    csrf: str | None = None
    session_hash: str | None = None


class Gate:
    """Log-in, sessions and tokens over the server's tables."""

    def __init__(
        self,
        store: Store,
        directory: Directory,
        *,
        session_hours: float = 12.0,
        max_failures: int = 5,
        lock_minutes: float = 15.0,
    ) -> None:
        self.store = store
        self.directory = directory
        self.session_us = int(session_hours * 3600e6)
        self.max_failures = max_failures
        self.lock_us = int(lock_minutes * 60e6)
        self._signer = URLSafeSerializer(self._secret(), salt="flowdesk-session")

    def _secret(self) -> str:
        """The signing secret, made once and shared by every server on this database."""
        with self.store.write() as conn:
            found = conn.execute(
                select(t.secrets_table.c.value).where(t.secrets_table.c.name == "session")
            ).scalar()
            if found is None:
                found = secrets.token_urlsafe(48)
                conn.execute(insert(t.secrets_table).values(name="session", value=found))
            return str(found)

    # ------------------------------------------------------------ log-in
    def log_in(self, person_id: str, password: str) -> tuple[Person, str] | None:
        """The person and a new signed session cookie value, or None for a wrong id or
        password. Raises LockedOut while the account is locked (even for the right one)."""
        now = _now_us()
        with self.store.read() as conn:
            row = conn.execute(
                select(t.login_failures).where(t.login_failures.c.person == person_id)
            ).first()
        if row is not None and row.locked_until_us > now:
            raise LockedOut(row.locked_until_us)
        person = self.directory.verify_password(person_id, password)
        if person is None:
            self._failed(person_id, now)
            return None
        session_id = secrets.token_urlsafe(32)
        with self.store.write() as conn:
            conn.execute(delete(t.login_failures).where(t.login_failures.c.person == person.id))
            conn.execute(delete(t.sessions).where(t.sessions.c.expires_us < now))
            conn.execute(
                insert(t.sessions).values(
                    id_hash=_hash(session_id),
                    person=person.id,
                    csrf=secrets.token_urlsafe(32),
                    created_us=now,
                    expires_us=now + self.session_us,
                )
            )
        return person, self._signer.dumps(session_id)

    def _failed(self, person_id: str, now: int) -> None:
        f = t.login_failures
        person_id = person_id[:64]
        with self.store.write() as conn:
            row = conn.execute(select(f).where(f.c.person == person_id)).first()
            if row is None or now - row.first_us > self.lock_us:
                conn.execute(delete(f).where(f.c.person == person_id))
                conn.execute(
                    insert(f).values(person=person_id, failures=1, first_us=now, locked_until_us=0)
                )
                return
            failures = row.failures + 1
            locked = now + self.lock_us if failures >= self.max_failures else 0
            conn.execute(
                update(f)
                .where(f.c.person == person_id)
                .values(failures=failures, locked_until_us=locked)
            )

    def log_out(self, visitor: Visitor) -> None:
        if visitor.session_hash is not None:
            with self.store.write() as conn:
                conn.execute(delete(t.sessions).where(t.sessions.c.id_hash == visitor.session_hash))

    # ------------------------------------------------------------ recognising
    def by_cookie(self, cookie: str | None) -> Visitor | None:
        """The visitor a session cookie stands for, if it is genuine, current, and its
        person may still log in."""
        if not cookie or len(cookie) > 200:
            return None
        try:
            session_id = self._signer.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(session_id, str):
            return None
        digest = _hash(session_id)
        with self.store.read() as conn:
            row = conn.execute(select(t.sessions).where(t.sessions.c.id_hash == digest)).first()
        if row is None or row.expires_us < _now_us():
            return None
        person = self.directory.get(row.person)
        return None if person is None else Visitor(person, row.csrf, digest)

    def by_token(self, header: str | None) -> Visitor | None:
        """The visitor an `Authorization: Bearer TOKEN` header stands for."""
        if not header or len(header) > 300:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        person = self.directory.by_token(token.strip())
        return None if person is None else Visitor(person)
