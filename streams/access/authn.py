"""Signing in, and who a token belongs to: one authenticator for the console, the CAD API, the
hot-list endpoint and the CLI (P18, P21).

A person signs in with a password and an authenticator code; a service account presents its
token. Both become a :class:`~streams.access.principal.Principal` built from the directory, which
the authenticator follows live (users and agencies topics) together with the sign-in state
(:mod:`streams.access.signins`). So a code signs in once system-wide; a lockout holds in every
process; disabling a user, or changing their role or agency, ends their sessions everywhere as
soon as each process has applied the change (well under a second on one broker); a session idle
for ``session_idle_minutes`` locks (CJIS, P18).

Refusals take the same time and give the same answer for an unknown name, a wrong password and a
wrong code (argon2 runs on a thread, against a decoy hash for unknown names), and the audit record
of a failed sign-in names the user only when the name is a real user's: what was typed into the
name field may be a password, and is never stored.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiokafka import TopicPartition

from streams.access.audit import AccessRecorded, record_access
from streams.access.directory import (
    MAX_NAME,
    MAX_PASSWORD,
    NAME_CHARS,
    Directory,
    password_matches,
)
from streams.access.principal import Principal
from streams.access.secretbox import SecretBox
from streams.access.signins import SigninLog, token_hash
from streams.access.totp import new_secret, verify
from streams.errors import AccessDenied, BrokerError, NotSignedIn
from streams.kafka.log import TopicFollower
from streams.settings import Settings

__all__ = ["Authenticator", "SignedIn", "UNKNOWN_USER", "service_principal"]

log = logging.getLogger("alpr.access")

WRONG = "wrong user name, password or code"
UNKNOWN_USER = "(unknown user)"
_DECOY_SECRET = new_secret()
#: A session's last use is written at most this often (idle lock, system-wide).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str  # shown once to the client; the topic keeps only its sha256
    principal: Principal
    expires_at: datetime


class Authenticator:
    """Start it (``async with``) before use: it reads the directory and the sign-in state, then
    follows both until stopped."""

    def __init__(self, settings: Settings, session_length: timedelta | None = None) -> None:
        self.settings = settings
        self.session_length = session_length or timedelta(hours=settings.session_hours)
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        self.signins = SigninLog(settings)
        self.directory = Directory({}, {})
        self._box = SecretBox.for_settings(settings)
        self._kinds = {settings.topic(kind): kind for kind in ("users", "services", "agencies")}
        self._follower = TopicFollower(settings.kafka, list(self._kinds), self._apply)
        self._task: asyncio.Task[None] | None = None
        self._last_seen: dict[str, datetime] = {}  # session id -> last use written by this process

    def _apply(self, tp: TopicPartition, record: Any) -> None:
        if record.key is not None:
            value = orjson.loads(record.value) if record.value is not None else None
            self.directory.apply(self._kinds[tp.topic], record.key.decode(), value)

    async def start(self) -> None:
        await self.signins.start()
        try:
            await self._follower.start()
        except Exception as exc:
            await self.signins.stop()
            raise BrokerError(f"cannot read the directory: {exc}") from exc
        self._task = asyncio.create_task(self._follower.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self._follower.stop()
        await self.signins.stop()

    async def __aenter__(self) -> Authenticator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def caught_up(self) -> None:
        """Everything written to the directory and the sign-in state so far is applied."""
        await asyncio.gather(self._follower.caught_up(), self.signins.caught_up())

    # -- signing in ---------------------------------------------------------------------------

    async def sign_in(
        self, name: str, password: str, code: str, *, source: str, channel: str, now: datetime
    ) -> SignedIn:
        """A session for a person whose password and code are right (P18); every attempt audited."""
        name = name.strip().lower()
        source = source[:MAX_NAME]
        malformed = (
            not name or len(name) > MAX_NAME or not set(name) <= NAME_CHARS or len(password) > MAX_PASSWORD
        )
        await self.caught_up()
        state = self.signins.state
        until = state.throttled(source, now)
        if until is not None:
            reason: str | None = "too many failed sign-ins from this address"
            await self._audit(self._known(name), now, channel, source, "refused", reason)
            raise AccessDenied(f"{reason}: try again after {until:%H:%M:%S} UTC")
        if malformed:  # counted against the source like any failure: no flood of refusals for free
            await self._failed(UNKNOWN_USER, source, now)
            await self._audit(UNKNOWN_USER, now, channel, source, "refused", "malformed sign-in")
            raise AccessDenied(WRONG)
        until = state.locked(name, source, now)
        if until is not None:
            reason = "locked after repeated failures (P18)"
            await self._audit(self._known(name), now, channel, source, "refused", reason)
            raise AccessDenied(f"{reason}: try again after {until:%H:%M:%S} UTC")
        user = self.directory.users.get(name)
        password_ok = await asyncio.to_thread(
            password_matches, user.password_hash if user else None, password
        )
        secret = self._box.open(user.totp_secret, user.name) if user is not None else _DECOY_SECRET
        step = verify(secret, code, now)
        if user is None or not password_ok or step is None:
            # an unknown name may be a password typed in the wrong field: never kept (P18)
            known = self._known(name)
            await self._failed(known, source, now)
            await self._audit(known, now, channel, source, "refused", WRONG)
            raise AccessDenied(WRONG)
        reason = None
        if f"code:{name}:{step + 1}" in state.claims:
            reason = "a newer code was used already: wait for the next one"
        elif not await self.signins.claim(f"code:{name}:{step}", now):
            reason = "this code was used already: wait for the next one"
        elif not user.active:
            reason = "the account is disabled"
        elif not user.trained:
            reason = "P21: the required ALPR training is not on record for this user"
        if reason is not None:
            await self._audit(name, now, channel, source, "refused", reason)
            raise AccessDenied(reason)
        token, session = secrets.token_urlsafe(32), uuid.uuid4().hex[:16]
        expires = now + self.session_length
        await self.signins.write(
            name,
            {
                "event": "session_opened",
                "session": session,
                "token_hash": token_hash(token),
                "user": name,
                "role": user.role,
                "agency": user.agency,
                "channel": channel,
                "source": source,
                "expires_at": expires.isoformat(),
                "at": now.isoformat(),
            },
        )
        self._last_seen[session] = now
        principal = user.principal(session)
        log.info("sign-in: %s via %s (session %s)", principal.label, channel, session)
        await self._audit(name, now, channel, source, "allowed", None, principal)
        return SignedIn(token, principal, expires)

    async def _failed(self, user: str, source: str, now: datetime) -> None:
        await self.signins.write(
            user, {"event": "signin_failed", "user": user, "source": source, "at": now.isoformat()}
        )

    def _known(self, name: str) -> str:
        """The name for the audit record: a real user's, else a placeholder (it may be a password)."""
        return name if name in self.directory.users else UNKNOWN_USER

    async def _audit(
        self,
        name: str,
        now: datetime,
        channel: str,
        source: str,
        decision: str,
        reason: str | None,
        principal: Principal | None = None,
    ) -> None:
        user = self.directory.users.get(name)
        await record_access(
            self.settings,
            AccessRecorded(
                now,
                name,
                "sign_in",
                None,
                None,
                {"channel": channel, "source": source},
                0,
                decision=decision,
                badge=user.badge if user else None,
                reason=reason,
                agency=user.agency if user else None,
            ),
        )

    # -- who is this ---------------------------------------------------------------------------

    def principal(self, token: str | None, now: datetime) -> Principal:
        """The principal a session token or a service token stands for; :class:`NotSignedIn` if
        none, expired, idle too long, signed out, revoked, or its user disabled or changed."""
        if not token:
            raise NotSignedIn("sign in first")
        if token.startswith("alpr-svc-"):
            account = self.directory.service(token)
            if account is None:
                raise NotSignedIn("unknown or disabled service token")
            return account.principal()
        record = self.signins.state.session(token, now)
        if record is None:
            raise NotSignedIn("sign in first: no open session for this token (expired, signed out or ended)")
        user = self.directory.users.get(record.user)
        if user is None or not user.active or user.role != record.role or user.agency != record.agency:
            raise NotSignedIn("the account changed since this session began: sign in again")
        seen = max(self._last_seen.get(record.session, record.opened_at), self.signins.state.touched(record))
        if now - seen > self.idle:
            raise NotSignedIn(f"the session locked after {self.idle} idle: sign in again (P18)")
        return user.principal(record.session)

    async def touch(self, token: str, now: datetime) -> None:
        """Note the session's use, system-wide at most once a minute (the idle lock)."""
        record = self.signins.state.session(token, now)
        if record is None:
            return
        seen = max(self._last_seen.get(record.session, record.opened_at), self.signins.state.touched(record))
        self._last_seen[record.session] = now
        if now - seen >= TOUCH_EVERY:
            await self.signins.write(
                record.user,
                {"event": "session_touched", "token_hash": token_hash(token), "at": now.isoformat()},
            )

    async def sign_out(self, token: str, now: datetime) -> None:
        record = self.signins.state.session(token, now)
        if record is None:
            return
        await self.signins.write(
            record.user, {"event": "session_closed", "token_hash": token_hash(token), "at": now.isoformat()}
        )
        log.info("sign-out: %s (session %s)", record.user, record.session)


async def service_principal(settings: Settings, token: str) -> Principal:
    """The service account a token stands for, read from the services topic alone: automation (a
    feed sync under its own Kafka user) reads no password hashes, sign-in state or agencies."""
    from streams.kafka.log import read_latest

    directory = Directory({}, {})
    for key, value in (await read_latest(settings.kafka, settings.topic("services"))).items():
        directory.apply("services", key.decode(), orjson.loads(value.value))
    account = directory.service(token)
    if account is None:
        raise NotSignedIn("unknown or disabled service token (ALPR_SERVICE_TOKEN)")
    return account.principal()
