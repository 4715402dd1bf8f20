"""Signing in to the console and the API: users with individual credentials, and sessions.

The seam for access control (roles, MFA, the audit topic) is :class:`Authenticator`: the console
asks it to sign a person in and to resolve a session; nothing else in the console knows how.
This first implementation keeps users in a TOML file (passwords hashed with scrypt) and sessions
in memory; every successful and failed sign-in is logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from streams.errors import AccessDenied, ConfigError

__all__ = [
    "Authenticator",
    "FileAuthenticator",
    "Session",
    "User",
    "add_user",
    "hash_password",
    "verify_password",
]

log = logging.getLogger("alpr.access")

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class User:
    name: str  # the sign-in name
    display: str
    badge: str
    agency: str
    role: str


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: User
    expires_at: datetime


class Authenticator(Protocol):
    def sign_in(self, name: str, password: str, now: datetime) -> Session: ...

    def session(self, token: str | None, now: datetime) -> Session: ...

    def sign_out(self, token: str) -> None: ...


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), **_SCRYPT)
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _load(path: Path) -> dict[str, tuple[User, str]]:
    if not path.is_file():
        raise ConfigError(
            f"ALPR_CONSOLE_USERS={path}: no such file; add a user with "
            "'alpr console add-user NAME --badge B --agency A'"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"ALPR_CONSOLE_USERS={path}: not valid TOML: {exc}") from exc
    users: dict[str, tuple[User, str]] = {}
    for number, item in enumerate(data.get("user", []), start=1):
        missing = [k for k in ("name", "badge", "agency", "password") if not item.get(k)]
        if missing:
            raise ConfigError(f"ALPR_CONSOLE_USERS={path}: user {number} lacks {', '.join(missing)}")
        user = User(
            item["name"],
            item.get("display", item["name"]),
            item["badge"],
            item["agency"],
            item.get("role", "dispatcher"),
        )
        users[user.name] = (user, item["password"])
    return users


def add_user(path: Path, name: str, password: str, *, badge: str, agency: str, display: str = "") -> None:
    """Append a user to the users file (created with owner-only permissions)."""
    if len(password) < 12:
        raise ConfigError("a console password needs at least 12 characters")
    if path.is_file() and name in _load(path):
        raise ConfigError(f"user {name!r} exists already in {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)

    def q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    with path.open("a", encoding="utf-8") as handle:
        handle.write(
            f"\n[[user]]\nname = {q(name)}\ndisplay = {q(display or name)}\nbadge = {q(badge)}\n"
            f'agency = {q(agency)}\nrole = "dispatcher"\npassword = {q(hash_password(password))}\n'
        )


class FileAuthenticator:
    """Users from a TOML file, sessions in memory (they end when the console restarts)."""

    def __init__(self, path: Path, session_length: timedelta) -> None:
        self.path = path
        self.session_length = session_length
        self._users = _load(path)
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, list[datetime]] = {}

    def sign_in(self, name: str, password: str, now: datetime) -> Session:
        recent = [t for t in self._failures.get(name, []) if now - t < LOCKOUT]
        if len(recent) >= MAX_FAILURES:
            log.warning("sign-in refused for %r: locked after %d failures", name, len(recent))
            raise AccessDenied("too many failed sign-ins: try again in a few minutes")
        known = self._users.get(name)
        # Verify against a dummy hash for unknown names too, so timing does not tell who exists.
        stored = known[1] if known else _DUMMY
        if not verify_password(password, stored) or known is None:
            self._failures[name] = [*recent, now]
            log.warning("sign-in failed for %r", name)
            raise AccessDenied("wrong user name or password")
        self._failures.pop(name, None)
        session = Session(secrets.token_urlsafe(32), known[0], now + self.session_length)
        self._sessions[session.token] = session
        log.info("sign-in: %s (badge %s, %s)", known[0].name, known[0].badge, known[0].agency)
        return session

    def session(self, token: str | None, now: datetime) -> Session:
        found = self._sessions.get(token or "")
        if found is None:
            raise AccessDenied("sign in first")
        if found.expires_at <= now:
            del self._sessions[found.token]
            raise AccessDenied("the session has expired: sign in again")
        return found

    def sign_out(self, token: str) -> None:
        gone = self._sessions.pop(token, None)
        if gone is not None:
            log.info("sign-out: %s", gone.user.name)


_DUMMY = hash_password(secrets.token_urlsafe(16))
