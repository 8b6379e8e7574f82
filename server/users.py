"""The people who may use the server (`users.yaml`): who they are, the roles they act in,
their password (argon2) and API tokens (stored hashed), read and written by `flow users`.

```yaml
users:
  - id: zhang
    name: 张敏
    roles: [客服专员]
    password: $argon2id$v=19$…
    tokens: [{id: ci, hash: 5e88…, created: "2026-12-05T10:00:00+00:00"}]
```
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from engine.i18n import msg
from engine.yamlfile import read_model, validation_problems

PERSON_ID = r"^[A-Za-z0-9_.\-@]{1,64}$"
TOKEN_PREFIX = "fd_"
MIN_PASSWORD_CHARS = 10
_hasher = PasswordHasher()
# verified against when a login names nobody, so an unknown id costs what a wrong password does
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class UsersFileError(ValueError):
    """users.yaml cannot be read, or a `flow users` change cannot be made."""


Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ApiToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,40}$")]
    hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    created: str


class Person(BaseModel):
    """Someone who may log in: the roles are the flows' own role names."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(pattern=PERSON_ID)]
    name: Name
    roles: tuple[Name, ...] = ()
    password: str | None = None  # an argon2 hash; None: API tokens only
    tokens: list[ApiToken] = Field(default_factory=list)
    disabled: bool = False
    studio: bool = False  # may edit and save the flows in the studio (/studio)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})"


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[Person] = Field(default_factory=list)


def token_hash(token: str) -> str:
    """An API token as stored: a SHA-256 (tokens are random and long, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Directory:
    """The people of one users.yaml, looked up by id or token."""

    def __init__(self, people: list[Person], path: Path | None = None) -> None:
        self.path = path
        self.people = {p.id: p for p in people}
        if len(self.people) != len(people):
            raise UsersFileError(msg("{path}: a person id is listed twice", path=path))
        self._tokens = {t.hash: p.id for p in people for t in p.tokens}

    @classmethod
    def load(cls, path: str | Path) -> Directory:
        """The people of `path` (a missing file is an empty directory: `flow users add`
        creates it)."""
        file = Path(path)
        if not file.exists():
            return cls([], file)
        parsed = read_model(file, msg("users file"), UsersFile, UsersFileError)
        return cls(parsed.users, file)

    def save(self) -> None:
        """Write the file back (atomically: a crash leaves the old or the new file)."""
        assert self.path is not None
        document = UsersFile(users=list(self.people.values())).model_dump(mode="json")
        text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text("# Flowdesk people: edit with `flow users`\n" + text, "utf-8")
        temporary.replace(self.path)

    def get(self, person_id: str) -> Person | None:
        person = self.people.get(person_id)
        return None if person is None or person.disabled else person

    def verify_password(self, person_id: str, password: str) -> Person | None:
        """The person if the password is theirs (and they may log in), else None."""
        person = self.people.get(person_id)
        stored = person.password if person is not None else None
        try:
            _hasher.verify(stored or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if person is None or stored is None or person.disabled:
            return None
        return person

    def by_token(self, token: str) -> Person | None:
        """The person whose API token this is (compared by hash, in constant time)."""
        digest = token_hash(token)
        for stored, person_id in self._tokens.items():
            if hmac.compare_digest(stored, digest):
                return self.get(person_id)
        return None

    # ------------------------------------------------------------ changes (flow users)
    def add(
        self,
        person_id: str,
        name: str,
        roles: list[str],
        password: str | None,
        *,
        studio: bool = False,
    ) -> Person:
        if person_id in self.people:
            raise UsersFileError(msg("`{id}` is already a user", id=person_id))
        try:
            person = Person(id=person_id, name=name, roles=tuple(roles), studio=studio)
        except ValidationError as exc:
            raise UsersFileError(validation_problems(exc)) from None
        self.people[person.id] = person
        if password is not None:
            self.set_password(person.id, password)
        return person

    def _existing(self, person_id: str) -> Person:
        person = self.people.get(person_id)
        if person is None:
            known = ", ".join(sorted(self.people)) or msg("none")
            raise UsersFileError(msg("no user `{id}` (users: {known})", id=person_id, known=known))
        return person

    def set_password(self, person_id: str, password: str) -> None:
        if len(password) < MIN_PASSWORD_CHARS:
            raise UsersFileError(
                msg("a password needs at least {n} characters", n=MIN_PASSWORD_CHARS)
            )
        self._existing(person_id).password = _hasher.hash(password)

    def new_token(self, person_id: str, token_id: str) -> str:
        """A new API token for the person: returned once, stored only as its hash."""
        person = self._existing(person_id)
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,40}", token_id):
            raise UsersFileError(msg("a token id is 1–40 letters, digits, `_`, `.` or `-`"))
        if any(t.id == token_id for t in person.tokens):
            raise UsersFileError(
                msg("`{id}` already has a token `{token}`", id=person_id, token=token_id)
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        person.tokens.append(ApiToken(id=token_id, hash=token_hash(token), created=created))
        self._tokens[token_hash(token)] = person_id
        return token

    def set_disabled(self, person_id: str, disabled: bool = True) -> None:
        self._existing(person_id).disabled = disabled
