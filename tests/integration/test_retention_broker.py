"""Retention and compaction happen on a real Apache Kafka broker, not only in the configs (P11, P12).

One broker of this module's own checks retention every 2 s; the retention-test profile scales the
real arithmetic to seconds (reads gone within 90 s of capture). Everything is written once, at the
start (fixture ``written``), with Kafka timestamps = capture times, so the tests' waits overlap:
the whole module takes about as long as the slowest deletion (~80 s after the first write).

Kafka never compacts a partition's active segment and rolls it only when a record is appended, so
``alpr retention roll``'s loop runs beside the tests (each second, as the retention-test profile's
2 s segments need), appending a tombstone of a key no record has to every compacted partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import InvalidTimestampError

from streams.access.directory import Agency, DirectoryStore
from streams.access.principal import Principal
from streams.cameras.registry import Camera, CameraStore, encode_camera
from streams.codec import dumps, entry_to_dict
from streams.hotlists.service import HotlistStore
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.log import TopicWriter
from streams.kafka.topics import READ_DATA, create_topics, topic_specs
from streams.reads.model import Read
from streams.retention.check import run_check
from streams.retention.holds import HoldDesk
from streams.retention.roll import ROLL_KEY, roll_every
from streams.settings import Settings
from tests.conftest import make_env, settings_of, wait_for
from tests.factories import make_entry, read_dict
from tests.integration.kafka_helpers import admin_principal, read_topic

pytestmark = pytest.mark.integration

PARTITIONS = 2
COMPACTED = ("hotlist", "cameras", "users", "evidence-holds")
#: A slow shared machine may take this long past a deadline to show what the broker did.
SLACK_S = 30.0


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(tmp_path_factory.mktemp("retention-broker"), free_port(), retention_check_ms=2000)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def settings(kafka: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    env = make_env(
        kafka,
        tmp_path_factory.mktemp("retention-state"),
        ALPR_PROFILE="retention_test",
        ALPR_MAX_CLOCK_SKEW_S="2",
        ALPR_PARTITIONS=str(PARTITIONS),
    )
    settings = settings_of(env)
    asyncio.run(create_topics(settings))
    return settings


@dataclass
class Written:
    """What the module wrote at the start: read records by (topic, partition) -> [(offset, capture
    ms)], the held and released read ids, and each compacted topic's state before compaction."""

    reads: dict[tuple[str, int], list[tuple[int, int]]] = field(default_factory=dict)
    kept: str = "held-kept"
    released: str = "held-released"
    versions: dict[str, dict[bytes, bytes | None]] = field(default_factory=dict)
    state_before: dict[str, Any] = field(default_factory=dict)


async def _send(producer: AIOKafkaProducer, topic: str, partition: int, value: bytes, ts: int) -> int:
    meta = await producer.send_and_wait(topic, value, key=b"cam", partition=partition, timestamp_ms=ts)
    return int(meta.offset)


def _batch(read_id: str, captured_ms: int) -> bytes:
    captured = datetime.fromtimestamp(captured_ms / 1000, UTC)
    return dumps({"reads": [read_dict(read_id=read_id, plate="7TEST00", captured_at=captured.isoformat())]})


async def _write_reads(settings: Settings, written: Written) -> None:
    """Per read topic: on partition 0 an on-time read and then one 15 s late, which joins the
    on-time one's segment and so lives as long as it (the worst case); on partition 1 a read 15 s
    late alone. reads-late and candidates take reads up to 60 s late: 25 and 55 s late there,
    stamped when they arrive."""
    producer = AIOKafkaProducer(**settings.kafka.options())
    await producer.start()
    try:
        for name in ("reads", "reads-rejected", "reads-late", "candidates"):
            topic = settings.topic(name)
            t = now_ms()
            ages = [0, 15_000] if name in ("reads", "reads-rejected") else [25_000, 55_000]
            plan = [(0, ages[0]), (0, ages[1]), (1, ages[1])]
            for i, (partition, age) in enumerate(plan):
                rid = written.kept if (name, i) == ("reads", 2) else f"{name}-{i}"
                # reads-late is stamped when sent, candidates with their read's arrival (the broker
                # would delete a capture-time stamp at once); the age from capture is what counts
                stamp = t - age if name in ("reads", "reads-rejected") else t
                offset = await _send(producer, topic, partition, _batch(rid, t - age), stamp)
                written.reads.setdefault((topic, partition), []).append((offset, t - age))
        t = now_ms()
        offset = await _send(producer, settings.topic("reads"), 1, _batch(written.released, t), t)
        written.reads[(settings.topic("reads"), 1)].append((offset, t))
    finally:
        await producer.stop()


async def _hold(settings: Settings, written: Written) -> None:
    """Through the real hold code: the kept read held for two cases (two versions of its key), the
    other held then released (its copy, then a tombstone)."""
    desk = HoldDesk(settings)
    now = datetime.now(UTC)
    det = Principal("det-test", "Det. Test", "SJPD", "analyst", badge="A-1")  # P21: may hold
    for read_id in (written.kept, written.released):
        read: Read = await desk.find_read(read_id, now - timedelta(seconds=20), now)
        await desk.add([read], "RT-26-0001", "PC 211 robbery evidence", det, now,
                       query={"read_id": read_id}, crime_type="PC 211 robbery")  # fmt: skip
    await desk.add([(await desk.holds())[written.kept].read], "RT-26-0002", "PC 215 carjacking evidence",
                   det, now, query={}, crime_type="PC 215 carjacking")  # fmt: skip
    assert await desk.release(written.released, "RT-26-0001", "case closed", det, now)


async def _versions(settings: Settings, written: Written) -> None:
    """Several versions of keys of the hot list, the cameras and the users, through the project's
    writers where it has them; then the state the project's readers see before compaction."""
    store = DirectoryStore(settings)
    now = datetime.now(UTC)
    await store.add_agency(
        Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home"), admin_principal(), now
    )
    await store.add_user("ana", "pw-correct-horse-battery", display="Ana", badge="B-1", agency="SJPD",
                         role="analyst", by=admin_principal(), now=now)  # fmt: skip
    for course in ("ALPR user training", "CJIS security awareness"):
        await store.record_training("ana", course, "2026-10-01", admin_principal(), now)
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        entry = make_entry(entry_id="V000000001", plate="7TEST01")
        for reason in ("Stolen vehicle", "Stolen vehicle (plates swapped)", "Stolen vehicle, armed"):
            value = dumps(entry_to_dict(msgspec.structs.replace(entry, reason=reason)))
            await writer.write(settings.topic("hotlist"), b"ncic:V000000001", value)
        gone = dumps(entry_to_dict(make_entry(entry_id="V000000002", plate="7TEST02")))
        await writer.write(settings.topic("hotlist"), b"ncic:V000000002", gone)
        await writer.write(settings.topic("hotlist"), b"ncic:V000000002", None)
        for name in ("Curtner/Monterey", "Curtner/Monterey NB", "Curtner/Monterey northbound"):
            camera = Camera("cam-rt-1", name, "SJPD", "mobile", 37.30, -121.86)
            await writer.write(settings.topic("cameras"), b"cam-rt-1", encode_camera(camera))
        await writer.flush()
    finally:
        await writer.stop()
    written.state_before = await _state(settings)


async def _state(settings: Settings) -> dict[str, Any]:
    """Each compacted topic's state as the project's own readers see it."""
    async with HotlistStore(settings) as hotlist:
        stored = await hotlist.stored(frozenset({"ncic"}))
    holds = await HoldDesk(settings).holds()
    return {
        "hotlist": stored,
        "cameras": (await CameraStore(settings).load()).cameras,
        "users": (await DirectoryStore(settings).load()).users,
        "evidence-holds": {k: (v.read, v.cases) for k, v in holds.items()},
    }


class Roller:
    """``alpr retention roll --every 1s`` in a thread: the compacted topics' active segments roll,
    so the cleaner can compact them (see streams/retention/roll.py)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.task: asyncio.Task[None] | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.task = self.loop.create_task(roll_every(self.settings, timedelta(seconds=1)))
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self.task)
        self.loop.close()

    def stop(self) -> None:
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)


@pytest.fixture(scope="module")
def written(settings: Settings) -> Iterator[Written]:
    out = Written()
    asyncio.run(_write_reads(settings, out))
    asyncio.run(_hold(settings, out))
    asyncio.run(_versions(settings, out))
    roller = Roller(settings)
    roller.thread.start()
    try:
        yield out
    finally:
        roller.stop()


async def _starts(settings: Settings, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**settings.kafka.options())
    await consumer.start()
    try:
        return {tp: int(o) for tp, o in (await consumer.beginning_offsets(tps)).items()}
    finally:
        await consumer.stop()


def _records(settings: Settings, name: str) -> list[Any]:
    return [r for r in asyncio.run(read_topic(settings.kafka, settings.topic(name))) if r.key != ROLL_KEY]


def test_the_broker_refuses_reads_outside_the_timestamp_bounds(settings: Settings, written: Written) -> None:
    """P11: the broker itself refuses a read older than message.timestamp.before.max.ms (it could
    not be deleted in time) and one further ahead than after.max.ms (a wrong clock)."""

    async def send(name: str, offset_ms: int) -> None:
        producer = AIOKafkaProducer(**settings.kafka.options())
        await producer.start()
        try:
            await _send(producer, settings.topic(name), 0, b"{}", now_ms() + offset_ms)
        finally:
            await producer.stop()

    for name, too_old in (("reads", 25_000), ("reads-rejected", 25_000), ("reads-late", 65_000)):
        with pytest.raises(InvalidTimestampError):
            asyncio.run(send(name, -too_old))
    for name in ("reads", "reads-late", "candidates"):
        with pytest.raises(InvalidTimestampError):
            asyncio.run(send(name, 10_000))


def test_compaction_keeps_only_the_latest_value_per_key(settings: Settings, written: Written) -> None:
    """The cleaner removes every older version (and, after delete.retention.ms, the tombstones);
    what remains is one record per live key, and the project's readers see the same state."""
    latest: dict[str, dict[bytes, bytes]] = {}

    def compacted() -> bool:
        for name in COMPACTED:
            records = _records(settings, name)
            keys = [r.key for r in records]
            if len(keys) != len(set(keys)) or any(r.value is None for r in records):
                return False
            latest[name] = {r.key: r.value for r in records}
        return True

    wait_for(compacted, 60, "the compacted topics to hold one record per live key")
    assert set(latest["hotlist"]) == {b"ncic:V000000001"}  # the removed entry is gone entirely
    assert b"armed" in latest["hotlist"][b"ncic:V000000001"]
    assert set(latest["cameras"]) == {b"cam-rt-1"} and b"northbound" in latest["cameras"][b"cam-rt-1"]
    assert set(latest["users"]) == {b"ana"} and b"CJIS" in latest["users"][b"ana"]
    assert set(latest["evidence-holds"]) == {written.kept.encode()}
    assert b"RT-26-0002" in latest["evidence-holds"][written.kept.encode()]
    assert asyncio.run(_state(settings)) == written.state_before


def test_a_released_hold_is_compacted_away_tombstone_and_all(settings: Settings, written: Written) -> None:
    """P11, P12: once released, the held copy of a read goes (within max.compaction.lag.ms), and
    the tombstone that released it after delete.retention.ms: nothing of it stays readable."""
    key = written.released.encode()
    wait_for(
        lambda: not any(r.key == key for r in _records(settings, "evidence-holds")),
        60,
        "the released hold's copy and tombstone to be compacted away",
    )
    assert written.released not in asyncio.run(HoldDesk(settings).holds())


def test_read_data_is_gone_within_the_retention_of_capture(settings: Settings, written: Written) -> None:
    """P11: every read on reads, reads-late, reads-rejected and candidates is deleted by the broker
    (its log start offset moves past it; nothing is readable) no later than read_retention_ms after
    its capture, counted from its Kafka timestamp (= capture time)."""
    limit = settings.profile.broker.read_retention_ms
    tps = [TopicPartition(t, p) for t, p in written.reads]
    deleted_at: dict[tuple[str, int, int], int] = {}
    last_capture = max(c for records in written.reads.values() for _, c in records)

    def all_gone() -> bool:
        starts = asyncio.run(_starts(settings, tps))
        seen = now_ms()
        for tp in tps:
            for offset, _ in written.reads[(tp.topic, tp.partition)]:
                if starts[tp] > offset:
                    deleted_at.setdefault((tp.topic, tp.partition, offset), seen)
        return len(deleted_at) == sum(len(r) for r in written.reads.values())

    wait_for(all_gone, (last_capture + limit - now_ms()) / 1000 + SLACK_S, "every read to be deleted", 0.25)
    ages = {
        (topic, partition, offset): deleted_at[(topic, partition, offset)] - captured
        for (topic, partition), records in written.reads.items()
        for offset, captured in records
    }
    print("age at deletion (ms):", {f"{t}[{p}]@{o}": age for (t, p, o), age in sorted(ages.items())})
    over = {k: age for k, age in ages.items() if age > limit}
    assert not over, f"reads older than {limit} ms when deleted: {over}"
    for spec in topic_specs(settings):
        if spec.data_class == READ_DATA:
            assert _records(settings, spec.name) == [], spec.name


def test_a_held_read_outlives_its_deletion_from_the_reads_topic(settings: Settings, written: Written) -> None:
    """P12: once the reads topic has deleted the original, the copy held on the compacted
    evidence-holds topic is still there, with both cases."""
    limit_s = settings.profile.broker.read_retention_ms / 1000
    wait_for(
        lambda: not any(written.kept.encode() in (r.value or b"") for r in _records(settings, "reads")),
        limit_s + SLACK_S,
        "the reads topic to delete the held read's original",
    )
    held = asyncio.run(HoldDesk(settings).holds())[written.kept]
    assert held.read.read_id == written.kept
    assert [c["case_number"] for c in held.cases] == ["RT-26-0001", "RT-26-0002"]


def test_retention_check_passes_on_the_broker_that_keeps_the_profile(
    settings: Settings, written: Written, capsys: pytest.CaptureFixture[str]
) -> None:
    """The broker checks every 2 s as the profile counts on, and every topic keeps its rule."""
    assert asyncio.run(run_check(settings)) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "broker 1: 2000; the profile counts on 2000: OK" in out
    assert "topics within policy for profile retention_test" in out.splitlines()[-1]
