"""Adding a user hashes the password (argon2, slow on purpose) in a worker thread, not on the event
loop: the console adds users from its own loop, and every other request it serves would wait for
the hash otherwise. On the real broker, through :meth:`DirectoryStore.add_user`."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

from streams.access import directory
from streams.access.directory import DirectoryStore, password_matches
from tests.conftest import settings_of
from tests.integration.kafka_helpers import admin_principal, ensure_home

pytestmark = pytest.mark.integration


class _SpyHasher:
    """The real argon2 hasher, noting the thread of each hash and whether the loop ran meanwhile."""

    def __init__(self, ticks: list[int]) -> None:
        self.real = directory._HASHER  # noqa: SLF001 - the module's hasher, wrapped
        self.ticks = ticks
        self.threads: list[int] = []
        self.loop_ran: list[bool] = []

    def hash(self, password: str) -> str:
        self.threads.append(threading.get_ident())
        before = len(self.ticks)
        hashed = self.real.hash(password)
        deadline = time.monotonic() + 5
        while len(self.ticks) == before and time.monotonic() < deadline:
            # off the loop, the loop's ticker keeps running and a tick comes; on it, none can
            time.sleep(0.001)
        self.loop_ran.append(len(self.ticks) > before)
        return hashed

    def verify(self, hashed: str, password: str) -> bool:
        return self.real.verify(hashed, password)


async def test_a_password_is_hashed_off_the_event_loop(topics_env, monkeypatch) -> None:
    settings = settings_of(topics_env)
    await ensure_home(settings)
    ticks: list[int] = []
    spy = _SpyHasher(ticks)
    monkeypatch.setattr(directory, "_HASHER", spy)

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.001)

    running = asyncio.create_task(ticker())
    try:
        user, _secret = await DirectoryStore(settings).add_user(
            "hashy",
            "a-long-enough-password",
            display="Officer Hashy",
            badge="H-1",
            agency="SJPD",
            role="officer",
            by=admin_principal(),
            now=datetime.now(UTC),
        )
    finally:
        running.cancel()
    loop_thread = threading.get_ident()
    assert spy.threads and loop_thread not in spy.threads
    assert spy.loop_ran == [True]  # the loop served its other task while the password was hashed
    assert password_matches(user.password_hash, "a-long-enough-password")
