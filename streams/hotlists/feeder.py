"""``alpr hotlist sync --every``: keep a feed in sync (P3), retry while unreachable, flag staleness (P4).

It runs unattended, as a feed-sync service account (never a person's session, P18): the principal
is asked for again before every round, so a service account disabled in the directory stops the
loop at its next round instead of syncing on for good."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

from streams.access.principal import Principal
from streams.errors import BrokerError, ConfigError
from streams.hotlists import usecases
from streams.hotlists.adapters import ExtractRefused, adapter
from streams.hotlists.service import HotlistStore
from streams.settings import Settings

__all__ = ["keep_in_sync", "parse_duration"]

log = logging.getLogger(__name__)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``1d``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not match:
        raise ConfigError(f"duration {text!r}: use a number and a unit, e.g. 90s, 30m, 12h, 1d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


async def keep_in_sync(
    settings: Settings,
    fmt: str,
    path: Path,
    source: str | None,
    every: timedelta,
    *,
    actor: Callable[[datetime], Principal],
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_backoff_s: float = 60.0,
    rounds: int | None = None,
) -> None:
    """Sync every ``every``; after a failure retry at once-doubling intervals (1 s .. ``max_backoff_s``),
    so a feed or broker that comes back is synced at the first retry after it does.

    ``actor(now)`` is the principal each round syncs as (audited, P15); when it raises
    (:class:`~streams.errors.NotSignedIn`: the service account was disabled) the loop ends."""
    feed = adapter(fmt)
    names = {source} if source else set(feed.sources) if len(feed.sources) == 1 else set()
    max_age = timedelta(seconds=settings.profile.hotlist_max_staleness_s)
    backoff = 1.0
    done = 0
    while rounds is None or done < rounds:
        done += 1
        try:
            now = clock()
            report = await usecases.sync(actor(now), settings, fmt, path, source, now)
            names |= set(report.plan.sources)
            log.info(
                "synced %s from %s: %s", ", ".join(sorted(report.plan.sources)), path, report.plan.summary
            )
            for problem in report.plan.errors[:20]:
                log.warning("%s", problem)
            backoff, delay = 1.0, every.total_seconds()
        except (ExtractRefused, BrokerError, OSError) as exc:
            log.warning("sync of %s failed: %s; retrying in %.0f s", path, exc, backoff)
            delay, backoff = backoff, min(backoff * 2, max_backoff_s)
        try:
            async with HotlistStore(settings) as store:
                for name in sorted(names):
                    if await store.flag_stale(name, clock(), max_age):
                        log.error(
                            "hot-list source %s is stale (not refreshed within %s): it stops matching (P4)",
                            name,
                            max_age,
                        )
        except BrokerError as exc:
            log.warning("cannot check staleness: %s", exc)
        if rounds is None or done < rounds:
            await sleep(delay)
