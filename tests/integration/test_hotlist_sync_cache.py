"""The sync's local cache of the current list, on the real broker: a delta sync writes only the
changes; a stale, corrupt or foreign cache gives the same diff as reading the topic (the topic is
the source of truth)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from streams.codec import entry_to_dict
from streams.hotlists.adapters.ncic import ADAPTER as NCIC
from streams.hotlists.records import entry_partition
from streams.hotlists.service import HotlistStore, _decode_cache, _encode_cache
from streams.hotlists.sync import SyncPlan, plan_sync
from streams.settings import Settings
from tests.conftest import settings_of
from tests.factories import make_entry
from tests.integration.kafka_helpers import produce, read_topic
from tests.unit.test_sync_digests import write_ncic

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
ROWS = {f"N{i}": f"7ABC{i:03d}" for i in range(40)}
NCIC_ONLY = frozenset({"ncic"})


async def sync(settings: Settings, path: Path, minutes: int) -> SyncPlan:
    async with HotlistStore(settings) as store:
        return (await store.sync("ncic", path, None, NOW + timedelta(minutes=minutes))).plan


async def topic_plan(settings: Settings, path: Path) -> list[tuple[str, str]]:
    """The diff of ``path`` against the list read from the topic itself (no cache)."""
    async with HotlistStore(settings) as store:
        current = await store.stored(NCIC_ONLY)
        partitions = await store.writer.partition_count(settings.topic("hotlist"))
    return kinds(plan_sync(NCIC.open(path, None), current, partitions=partitions))


def kinds(plan: SyncPlan) -> list[tuple[str, str]]:
    return sorted((c.kind, c.key) for c in plan.changes)


def cache_of(settings: Settings) -> Path:
    (path,) = (settings.state_dir / "hotlist-sync").glob("*.cache")
    return path


async def hotlist_records(settings: Settings) -> int:
    return len(await read_topic(settings.kafka, settings.topic("hotlist")))


async def someone_else_writes(settings: Settings, partitions: int) -> None:
    """Another writer changes an ncic entry behind the cache's back (a concurrent sync)."""
    entry = make_entry(entry_id="N1", plate="5ZZZ999", synced_at=None)
    value = orjson.dumps(entry_to_dict(entry))
    await produce(
        settings.kafka, settings.topic("hotlist"), [(b"ncic:N1", value, entry_partition(entry, partitions))]
    )


def test_a_delta_sync_writes_only_the_changes_and_a_stale_cache_is_caught_up(topics_env, tmp_path) -> None:
    settings = settings_of(topics_env)

    async def scenario() -> None:
        first = await sync(settings, write_ncic(tmp_path / "a.txt", ROWS), 1)
        assert first.counts["added"] == 40 and cache_of(settings).exists()
        before = await hotlist_records(settings)
        changed = dict(ROWS, N3="8XYZ003", N77="9NEW077")
        del changed["N9"]
        delta = await sync(settings, write_ncic(tmp_path / "b.txt", changed), 2)
        assert kinds(delta) == [("added", "ncic:N77"), ("removed", "ncic:N9"), ("updated", "ncic:N3")]
        assert await hotlist_records(settings) - before == 3  # only the changes are written
        assert (await sync(settings, tmp_path / "b.txt", 3)).changes == []

        async with HotlistStore(settings) as store:
            partitions = await store.writer.partition_count(settings.topic("hotlist"))
        await someone_else_writes(settings, partitions)  # the cache no longer says what is there
        expected = await topic_plan(settings, tmp_path / "b.txt")
        assert expected == [("updated", "ncic:N1")]
        assert kinds(await sync(settings, tmp_path / "b.txt", 4)) == expected

    asyncio.run(scenario())


@pytest.mark.parametrize("damage", ["corrupt", "foreign_log"])
def test_a_damaged_cache_falls_back_to_the_topic(topics_env, tmp_path, damage) -> None:
    settings = settings_of(topics_env)

    async def scenario() -> None:
        await sync(settings, write_ncic(tmp_path / "a.txt", ROWS), 1)
        path = cache_of(settings)
        data = path.read_bytes()
        if damage == "corrupt":
            path.write_bytes(data[: len(data) // 2])
        else:  # a cache of another log with the same name: its last records are not these
            topic = settings.topic("hotlist")
            async with HotlistStore(settings) as store:
                partitions = await store.writer.partition_count(topic)
            snapshot = _decode_cache(data, topic, NCIC_ONLY, partitions)
            assert snapshot is not None and snapshot.anchors
            snapshot.anchors = {p: (offset, b"x" * 12) for p, (offset, _d) in snapshot.anchors.items()}
            snapshot.entries.pop("ncic:N2")  # what a foreign log would not have
            path.write_bytes(_encode_cache(snapshot, topic, NCIC_ONLY, partitions))
        changed = dict(ROWS, N4="8XYZ004")
        del changed["N6"]
        b = write_ncic(tmp_path / "b.txt", changed)
        expected = await topic_plan(settings, b)
        assert expected == [("removed", "ncic:N6"), ("updated", "ncic:N4")]
        assert kinds(await sync(settings, b, 2)) == expected
        assert (await sync(settings, b, 3)).changes == []  # and the rebuilt cache is right

    asyncio.run(scenario())
