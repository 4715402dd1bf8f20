"""Sign-in state on one topic that every process follows (P18): used codes, failures, lockouts,
sessions and revocations hold system-wide, not in one process's memory.

:class:`SigninState` is the pure fold of the ``signins`` topic's events. :class:`SigninLog` writes
events and follows the topic. The topic has one partition, so every process sees the events in
one order; a *claim* (an authenticator code's time step, the bootstrap of an empty directory) is
won by the first claim record in that order, which makes "a code signs in once" hold across
processes: :meth:`SigninLog.claim` writes its claim, waits until it has applied the topic up to
it, and reports whether its claim came first.

Sessions are stored by the sha256 of their token: reading the topic does not let anyone use one.
Lockout (CJIS as reported in P18): ``max_failures`` failures of one user from one source lock
that user from that source for ``lockout``; attempts during the lock are refused without being
counted, so they never extend it, and another source (the user's own desk) is not locked. A
source with ``source_limit`` failures within ``lockout`` is refused for any user until its oldest
failure ages out: one address cannot guess across many names.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from streams.errors import BrokerError
from streams.kafka.log import TopicFollower
from streams.settings import Settings

__all__ = ["SessionRecord", "SigninLog", "SigninState", "token_hash"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRecord:
    session: str  # the session's id, named in audit records and logs (never the token)
    user: str
    role: str
    agency: str
    channel: str
    opened_at: datetime
    expires_at: datetime
    token_hash: str


@dataclass
class SigninState:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=10)
    source_limit: int = 20
    claims: dict[str, str] = field(default_factory=dict)  # claim name -> the winning claim id
    failures: dict[tuple[str, str], deque[datetime]] = field(default_factory=dict)
    locked_until: dict[tuple[str, str], datetime] = field(default_factory=dict)
    source_failures: dict[str, deque[datetime]] = field(default_factory=dict)
    sessions: dict[str, SessionRecord] = field(default_factory=dict)  # token hash -> session
    revoked_before: dict[str, datetime] = field(default_factory=dict)  # user -> sessions opened before
    last_seen: dict[str, datetime] = field(default_factory=dict)  # token hash -> last use written

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        at = datetime.fromisoformat(event["at"])
        if kind == "claimed":
            self.claims.setdefault(event["claim"], event["id"])
        elif kind == "signin_failed":
            self._failed(event["user"], event["source"], at)
        elif kind == "session_opened":
            self.sessions[event["token_hash"]] = SessionRecord(
                event["session"],
                event["user"],
                event["role"],
                event["agency"],
                event["channel"],
                at,
                datetime.fromisoformat(event["expires_at"]),
                event["token_hash"],
            )
            self.failures.pop((event["user"], event["source"]), None)
        elif kind == "session_touched":
            self.last_seen[event["token_hash"]] = at
        elif kind == "session_closed":
            self.sessions.pop(event["token_hash"], None)
            self.last_seen.pop(event["token_hash"], None)
        elif kind == "sessions_revoked":
            before = self.revoked_before.get(event["user"])
            self.revoked_before[event["user"]] = at if before is None else max(before, at)
            for digest, session in list(self.sessions.items()):
                if session.user == event["user"] and session.opened_at <= at:
                    del self.sessions[digest]
        self._expire(at)

    def _failed(self, user: str, source: str, at: datetime) -> None:
        per_source = self.source_failures.setdefault(source, deque())
        per_source.append(at)
        key = (user, source)
        if self.locked(user, source, at) is not None:
            return  # P18: attempts during a lock are refused and do not extend it
        recent = self.failures.setdefault(key, deque())
        recent.append(at)
        while recent and at - recent[0] >= self.lockout:
            recent.popleft()
        if len(recent) >= self.max_failures:
            self.locked_until[key] = at + self.lockout
            recent.clear()

    def _expire(self, now: datetime) -> None:
        for source, times in list(self.source_failures.items()):
            while times and now - times[0] >= self.lockout:
                times.popleft()
            if not times:
                del self.source_failures[source]
        for key, until in list(self.locked_until.items()):
            if until <= now:
                del self.locked_until[key]

    def locked(self, user: str, source: str, now: datetime) -> datetime | None:
        """Until when this user is locked from this source, if it is."""
        until = self.locked_until.get((user, source))
        return until if until is not None and until > now else None

    def throttled(self, source: str, now: datetime) -> datetime | None:
        """Until when this source is refused, if it has failed too often."""
        times = [t for t in self.source_failures.get(source, ()) if now - t < self.lockout]
        return times[0] + self.lockout if len(times) >= self.source_limit else None

    def touched(self, record: SessionRecord) -> datetime:
        """When the session was last used, as far as any process has written."""
        return self.last_seen.get(record.token_hash, record.opened_at)

    def session(self, token: str, now: datetime) -> SessionRecord | None:
        found = self.sessions.get(token_hash(token))
        if found is None or found.expires_at <= now:
            return None
        revoked = self.revoked_before.get(found.user)
        if revoked is not None and found.opened_at <= revoked:
            return None
        return found


class SigninLog:
    """Writes sign-in events and follows the topic (start it before use, stop it after)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic("signins")
        self.state = SigninState(
            settings.signin_max_failures,
            timedelta(minutes=settings.signin_lockout_minutes),
            settings.signin_source_limit,
        )
        self._follower = TopicFollower(settings.kafka, [self.topic], self._apply)
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None

    def _apply(self, _tp: TopicPartition, record: Any) -> None:
        if record.value is not None:
            self.state.apply(orjson.loads(record.value))

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **self.settings.kafka.options(), acks="all", enable_idempotence=True
        )
        try:
            await self._producer.start()
            await self._follower.start()
        except Exception as exc:
            await self.stop()
            raise BrokerError(f"cannot follow {self.topic}: {exc}") from exc
        self._task = asyncio.create_task(self._follower.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self._follower.stop()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> SigninLog:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def write(self, key: str, event: dict[str, Any]) -> int:
        """Append an event; wait until Kafka has it and this process has applied it."""
        if self._producer is None:
            raise BrokerError("the sign-in log is not started")
        try:
            meta = await self._producer.send_and_wait(self.topic, orjson.dumps(event), key=key.encode())
        except Exception as exc:
            raise BrokerError(f"a write to {self.topic} failed: {exc}") from exc
        tp = TopicPartition(self.topic, meta.partition)

        def applied() -> bool:
            return bool(self._follower.positions().get((tp.topic, tp.partition), 0) > meta.offset)

        async with self._follower.applied:
            await asyncio.wait_for(self._follower.applied.wait_for(applied), timeout=30)
        return int(meta.offset)

    async def caught_up(self) -> None:
        """Everything on the topic now is applied: another process's sign-out, revocation or
        failure that came first is known."""
        await self._follower.caught_up()

    async def claim(self, name: str, now: datetime) -> bool:
        """Claim ``name`` once system-wide; True if this claim came first."""
        mine = uuid.uuid4().hex
        await self.write(name, {"event": "claimed", "claim": name, "id": mine, "at": now.isoformat()})
        return self.state.claims.get(name) == mine
