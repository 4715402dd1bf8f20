"""Retro-hunt: when an entry is added to a hot list, look back through the reads still within the
retention (default the last 24 hours) for its plate, so a car that passed just before the entry
arrived is not missed. What it finds is raised as an alert marked historical.

Only reads captured before the entry arrived are its business: reads after that were screened by the
live stream. Stale data never feeds a hunt (P4): an entry's freshness is its source's as-of time
(the extract's own, from the sources topic), never the time the entry arrived. Entries that arrive
together (a feed sync) are hunted in one pass over the reads. The process follows the hot-list
changes with a consumer group and commits only after the alerts of a pass are on the alerts topic,
so a restart neither skips nor repeats a pass; alert ids are deterministic (read id + entry key), so
a pass run twice raises nothing new.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import msgspec
import orjson
from aiokafka import AIOKafkaConsumer

from streams.access.audit import record_access
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.alerts.model import AlertRaised, raise_alert
from streams.codec import alert_to_dict, dumps, entry_from_dict, read_from_dict, stored_reads
from streams.errors import EntryRefused, InvalidRecord
from streams.hotlists.model import HotlistEntry
from streams.hotlists.sync import source_refreshes
from streams.kafka.log import TopicWriter, read_latest
from streams.kafka.timeseek import capture_ranges, scan_ranges
from streams.matching.matcher import HotlistIndex, entry_in_force, match
from streams.settings import Settings

__all__ = ["NEW_ENTRY_EVENTS", "hunt", "run_retro_hunt"]

log = logging.getLogger(__name__)

#: Hot-list change events that make an entry newly active.
NEW_ENTRY_EVENTS = frozenset({"HotlistEntryAdded", "HotlistEntryApproved"})


def _index(
    settings: Settings,
    arrivals: Iterable[tuple[HotlistEntry, datetime]],
    fresh: dict[str, datetime],
    now: datetime,
) -> HotlistIndex:
    """The entries to hunt for. P4 is judged once, as the hunt runs: a shared entry whose data is
    stale now (its source's last refresh, as of the extract's own time, or its own ``synced_at``,
    ``fresh``) never feeds a hunt; one fresh now is applied to the earlier reads it looks back on,
    for which no refresh could have listed it yet (its source is taken as current at each read)."""
    from streams.app import new_index

    index = new_index(settings)
    for entry, _at in arrivals:
        # Looking back, the entry counts from before it was listed.
        hunted = msgspec.structs.replace(entry, effective_at=None)
        if not entry_in_force(hunted, now, index.rules.max_staleness_s, fresh.get(entry.source)):
            log.warning(
                "retro-hunt skips %s: not in force now (expired, or its %s data as of %s is stale, P4)",
                entry.key,
                entry.source,
                fresh.get(entry.source),
            )
            continue
        try:
            index.upsert(hunted)
        except EntryRefused as exc:
            log.warning("retro-hunt skips %s: %s", entry.key, exc)
            continue
        if entry.is_shared:
            index.assume_current(entry.source)
    return index


async def source_fresh_at(settings: Settings) -> dict[str, datetime]:
    """Each shared source's data as-of time (its extract's own time, never its sync's), from the
    sources topic."""
    out: dict[str, datetime] = {}
    for record in (await read_latest(settings.kafka, settings.topic("hotlist-sources"))).values():
        found = source_refreshes(record.value)
        if found is not None and found[1]:
            out[found[0]] = max(found[1])
    return out


async def hunt(
    settings: Settings, arrivals: list[tuple[HotlistEntry, datetime]], now: datetime, lookback: timedelta
) -> list[AlertRaised]:
    """Historical alerts for entries that arrived at the given times: reads of their plates captured
    within ``lookback`` before each arrival (and within the read retention)."""
    if not arrivals:
        return []
    index = _index(settings, arrivals, await source_fresh_at(settings), now)
    arrived = {entry.key: at for entry, at in arrivals}
    oldest = now - timedelta(days=settings.profile.read_retention_days)
    start = max(min(arrived.values()) - lookback, oldest)
    end = max(arrived.values())
    # by capture time, whatever the lateness: a read uploaded late still names a plate seen before
    # its entry arrived
    ranges = capture_ranges(settings, int(start.timestamp() * 1000), int(end.timestamp() * 1000))
    found: dict[str, AlertRaised] = {}
    async for _tp, record in scan_ranges(settings.kafka, ranges):
        for raw in stored_reads(record.value):
            try:
                read = read_from_dict(raw)
                matches = match(index, read)
            except InvalidRecord:
                continue
            for hit in matches:
                at = arrived[hit.entry.key]
                if max(at - lookback, oldest) <= read.captured_at < at:
                    alert = raise_alert(read, hit, now, historical=True)
                    found[alert.alert_id] = alert
    return sorted(found.values(), key=lambda a: a.read.captured_at)


def arrivals_of(values: Iterable[bytes | None]) -> list[tuple[HotlistEntry, datetime]]:
    """The entries that became active in these hot-list change events, with when they did."""
    out = []
    for value in values:
        if not value:
            continue
        event = orjson.loads(value)
        if event.get("event") in NEW_ENTRY_EVENTS and event.get("entry"):
            try:
                out.append((entry_from_dict(event["entry"]), datetime.fromisoformat(event["at"])))
            except (InvalidRecord, KeyError, ValueError) as exc:
                log.warning("retro-hunt skips an unreadable change event: %s", exc)
    return out


async def run_retro_hunt(
    settings: Settings, lookback: timedelta, clock: Callable[[], datetime], by: Principal
) -> None:
    """Follow the hot-list changes and hunt for each batch of new entries, until cancelled. The
    hunt runs for ``by`` (P21: a role that may ``retro_hunt``), and each pass is audited in its
    name with how many entries it hunted and how many reads it found (P15)."""
    require(by, "retro_hunt")
    consumer = AIOKafkaConsumer(
        settings.topic("hotlist-changes"),
        **settings.kafka.options(),
        group_id=f"{settings.app_id}-retro-hunt",
        enable_auto_commit=False,
        auto_offset_reset="latest",  # the first start hunts for what arrives from then on
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    writer = TopicWriter(settings.kafka)
    await consumer.start()
    await writer.start()
    try:
        while not consumer.assignment():  # joined the group
            await asyncio.sleep(0.1)
        for tp in consumer.assignment():
            await consumer.position(tp)  # "latest" resolved now: what arrives from here on is hunted
        log.info("retro-hunt: following %s, looking back %s", settings.topic("hotlist-changes"), lookback)
        while True:
            # A sync writes its changes in a burst: wait until it has been quiet for a second.
            batch = await consumer.getmany(timeout_ms=1000, max_records=100_000)
            values: list[Any] = [r.value for records in batch.values() for r in records]
            while batch:
                batch = await consumer.getmany(timeout_ms=1000, max_records=100_000)
                values += [r.value for records in batch.values() for r in records]
            arrivals = arrivals_of(values)
            if arrivals:
                now = clock()
                alerts = await hunt(settings, arrivals, now, lookback)
                for alert in alerts:
                    await writer.write(
                        settings.topic("alerts"), alert.alert_id.encode(), dumps(alert_to_dict(alert))
                    )
                await writer.flush()
                await record_access(
                    settings,
                    by.audit(
                        now,
                        "retro_hunt",
                        {"entries": len(arrivals), "lookback_hours": lookback.total_seconds() / 3600},
                        len(alerts),
                        purpose="look back for newly listed plates",
                    ),
                    writer,
                )
                log.info("retro-hunt: %d new entries, %d historical hits", len(arrivals), len(alerts))
            if values:
                await consumer.commit()
    finally:
        await consumer.stop()
        await writer.stop()
