"""The worker's screen loop (streams/screening.py) on one fetched batch, without a broker: what it
sends where, with which timestamps, and that the commit comes after Kafka has everything.

tests/integration/test_screen_loop.py runs it through a real broker (a crash before the commit,
a revoke with a batch in hand).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from streams.app import Worker, create_worker
from streams.cameras.registry import Camera, encode_camera
from streams.codec import dumps, rejected_reads
from streams.settings import Settings
from tests.factories import NOW, local_entry, make_entry, read_dict

READS = TopicPartition("screening.reads", 3)
CANDIDATES = TopicPartition("screening.candidates", 5)


class Kafka:
    """The loop's producer and consumer: what was sent (topic, kwargs) and committed, in order."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, Any]] = []
        self.fail = fail

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> asyncio.Future[None]:
        self.events.append(("send", (topic, {"value": value, **kwargs})))
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            delivered.set_exception(RuntimeError("not leader"))
        else:
            delivered.set_result(None)
        return delivered

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.events.append(("commit", dict(offsets)))

    def sent(self, topic: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        return [what for kind, what in self.events if kind == "send" and topic in (None, what[0])]


def record(offset: int, value: bytes, timestamp_ms: int | None = None, key: bytes | None = None) -> Any:
    return SimpleNamespace(offset=offset, value=value, key=key, timestamp=timestamp_ms, headers=())


@pytest.fixture()
def worker() -> Worker:
    settings = Settings.from_env({"ALPR_METRICS_PORT": "0", "ALPR_TOPIC_PREFIX": "screening."})
    built = create_worker(settings, clock=lambda: NOW)
    for entry in (make_entry(plate="8DOG512", entry_id="V1"), local_entry(plate="7GH?25X", entry_id="P1")):
        built.pipeline.index.upsert(entry)
    assert built.pipeline.cameras is not None  # the camera check is on by default (issue 9)
    camera = Camera("cam-00001", "test camera", "SJPD", "mobile", 37.33, -121.89)
    built.pipeline.cameras.apply(camera.id.encode(), encode_camera(camera))
    return built


def attach(worker: Worker, kafka: Kafka) -> None:
    worker.stage.producer = kafka  # type: ignore[assignment]
    worker.stage.consumer = kafka  # type: ignore[assignment]


async def test_a_batch_goes_to_the_right_topics_and_is_committed_after_kafka_has_it(worker) -> None:
    """Candidates, then (in the next batch) alerts; the rejected record is sent before the commit
    (the outbox), and the commit is the batch's last step; metrics count the work."""
    kafka = Kafka()
    attach(worker, kafka)
    batch = {"reads": [read_dict(plate="8D0G512"), read_dict(plate="7GHK25X"), read_dict(lat=123)]}
    captured = int((NOW - timedelta(minutes=1)).timestamp() * 1000)
    await worker.stage.process({READS: [record(41, dumps(batch), captured)]})
    candidates = kafka.sent("screening.candidates")
    assert len(candidates) == 2  # partial fits are decided where the plate is owned
    [(_, rejected)] = kafka.sent("screening.reads-rejected")
    [refused] = rejected_reads(rejected["value"])
    assert "lat" in refused["reason"] and refused["index"] == 2
    assert kafka.events[-1] == ("commit", {READS: 42})
    kafka.events.clear()
    await worker.stage.process(
        {CANDIDATES: [record(7 + i, kw["value"], None, kw["key"]) for i, (_, kw) in enumerate(candidates)]}
    )
    alerts = [json.loads(kw["value"]) for _, kw in kafka.sent("screening.alerts")]
    assert [(a["entry_id"], a["match_kind"], a["status"]) for a in alerts] == [
        ("V1", "ocr_equivalent", "unverified"),
        ("P1", "partial", "unverified"),
    ]
    assert kafka.events[-1] == ("commit", {CANDIDATES: 9})
    metrics = worker.metrics.registry
    assert metrics.get_sample_value("alpr_reads_total") == 2
    assert metrics.get_sample_value("alpr_rejected_total", {"reason": "schema"}) == 1
    assert (
        metrics.get_sample_value(
            "alpr_hits_total", {"list_type": "stolen_vehicle", "match_kind": "ocr_equivalent"}
        )
        == 1
    )
    assert metrics.get_sample_value("alpr_bloom_positives_total") == 2
    assert metrics.get_sample_value("alpr_active_entries") == 2


async def test_derived_records_keep_the_source_timestamp_and_too_old_rejects_are_counted(worker) -> None:
    """P11: rejections are stamped with their read record's timestamp (the capture time), candidates
    with the read record's arrival (its sent-ms header; none here: when screened); a rejection whose
    source is older than the rejected topic takes (a day, profile san_jose) is counted and not
    sent, while its batch's candidates still go on."""
    kafka = Kafka()
    attach(worker, kafka)
    fresh, old = NOW - timedelta(minutes=1), NOW - timedelta(days=2)
    fresh_ms, old_ms = (int(t.timestamp() * 1000) for t in (fresh, old))
    started_ms = time.time() * 1000
    records = [
        record(
            offset,
            dumps(
                {"reads": [read_dict(read_id=tag, plate="8D0G512"), read_dict(read_id=f"{tag}-bad", lat=123)]}
            ),
            ms,
        )
        for offset, (tag, ms) in enumerate((("fresh", fresh_ms), ("old", old_ms)))
    ]
    await worker.stage.process({READS: records})
    candidates = kafka.sent("screening.candidates")
    assert len(candidates) == 2
    assert all(started_ms - 1 <= kw["timestamp_ms"] <= time.time() * 1000 for _, kw in candidates)
    [(_, rejected)] = kafka.sent("screening.reads-rejected")
    assert rejected["timestamp_ms"] == fresh_ms and old_ms < fresh_ms
    assert [r["reason_code"] for r in rejected_reads(rejected["value"])] == ["schema"]
    metrics = worker.metrics.registry
    assert metrics.get_sample_value("alpr_not_stored_total", {"record": "rejected"}) == 1
    assert metrics.get_sample_value("alpr_rejected_total", {"reason": "schema"}) == 2


async def test_a_send_kafka_does_not_take_fails_the_batch_before_its_commit(worker) -> None:
    kafka = Kafka(fail=True)
    attach(worker, kafka)
    batch = {"reads": [read_dict(plate="8D0G512")]}
    with pytest.raises(RuntimeError, match="not leader"):
        await worker.stage.process({READS: [record(0, dumps(batch), None)]})
    assert [kind for kind, _ in kafka.events] == ["send"]


def test_the_loops_producer_is_idempotent_and_waits_for_every_replica(worker) -> None:
    async def build() -> tuple[bool, int]:
        producer = worker.stage._new_producer()  # noqa: SLF001 - built as run() builds it
        try:
            return producer._txn_manager is not None, producer._sender._acks  # noqa: SLF001
        finally:
            await producer.stop()  # never started

    assert asyncio.run(build()) == (True, -1)  # enable_idempotence=True, acks="all"
