"""Signing in to the console, the API and the CLI: password and TOTP code for every access (P18).

The console asks an :class:`Authenticator` to sign a person in and to resolve a session; nothing
else knows how. :class:`DirectoryAuthenticator` checks the user's argon2 password hash and TOTP
code against the users topic, refuses disabled and untrained users (P21), locks a name after
repeated failures, and writes every successful and failed sign-in to the audit trail. Sessions
live in memory and expire.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from streams.access.audit import AccessRecorded, record_access
from streams.access.directory import Directory, DirectoryStore, User, password_matches
from streams.access.totp import verify
from streams.errors import AccessDenied
from streams.settings import Settings

__all__ = ["Authenticator", "DirectoryAuthenticator", "Session", "check_credentials"]

log = logging.getLogger("alpr.access")

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)
_WRONG = "wrong user name, password or code"


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: User
    expires_at: datetime


class Authenticator(Protocol):
    async def sign_in(self, name: str, password: str, code: str, now: datetime, channel: str) -> Session: ...

    def session(self, token: str | None, now: datetime) -> Session: ...

    def sign_out(self, token: str) -> None: ...


def check_credentials(
    directory: Directory, name: str, password: str, code: str, now: datetime, used_steps: dict[str, int]
) -> User:
    """The user, if the password and the TOTP code are right and the account may be used; the same
    refusal for an unknown name, a wrong password and a wrong code."""
    user = directory.users.get(name)
    password_ok = user is not None and password_matches(user, password)
    step = verify(user.totp_secret, code, now) if user is not None else None
    if user is None or not password_ok or step is None:
        raise AccessDenied(_WRONG)
    if used_steps.get(name, -1) >= step:
        raise AccessDenied("this code was used already: wait for the next one")
    if not user.active:
        raise AccessDenied("the account is disabled")
    if not user.trained:
        raise AccessDenied("P21: the required ALPR training is not on record for this user")
    used_steps[name] = step
    return user


class DirectoryAuthenticator:
    def __init__(self, settings: Settings, session_length: timedelta) -> None:
        self.settings = settings
        self.store = DirectoryStore(settings)
        self.session_length = session_length
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, list[datetime]] = {}
        self._used_steps: dict[str, int] = {}

    async def sign_in(self, name: str, password: str, code: str, now: datetime, channel: str) -> Session:
        recent = [t for t in self._failures.get(name, []) if now - t < LOCKOUT]
        try:
            if len(recent) >= MAX_FAILURES:
                raise AccessDenied("too many failed sign-ins: try again in a few minutes")
            user = check_credentials(await self.store.load(), name, password, code, now, self._used_steps)
        except AccessDenied as exc:
            self._failures[name] = [*recent, now]
            log.warning("sign-in refused for %r (%s): %s", name, channel, exc)
            await self._audit(name, now, channel, "refused", str(exc))
            raise
        self._failures.pop(name, None)
        session = Session(secrets.token_urlsafe(32), user, now + self.session_length)
        self._sessions[session.token] = session
        log.info("sign-in: %s (badge %s, %s) via %s", user.name, user.badge, user.agency, channel)
        await self._audit(name, now, channel, "allowed", None, user)
        return session

    async def _audit(
        self,
        name: str,
        now: datetime,
        channel: str,
        decision: str,
        reason: str | None,
        user: User | None = None,
    ) -> None:
        await record_access(
            self.settings,
            AccessRecorded(
                now,
                name or "?",
                "sign_in",
                None,
                None,
                {"channel": channel},
                0,
                decision=decision,
                badge=user.badge if user else None,
                reason=reason,
                agency=user.agency if user else None,
            ),
        )

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
