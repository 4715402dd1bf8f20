"""The read producer on the embedded broker: batches per partition, camera order, flush on close."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

import orjson
import pytest

from streams.errors import BrokerError
from streams.kafka.topics import create_topics
from streams.matching.normalize import partition_for
from streams.reads.producer import ReadProducer
from tests.conftest import settings_of
from tests.factories import read_dict
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


async def test_reads_are_batched_per_partition_keeping_camera_order(env_factory) -> None:
    settings = settings_of(env_factory())
    await create_topics(settings)
    cameras = [f"cam-{i:03d}" for i in range(20)]
    now = datetime.now(UTC).isoformat()  # on time: the reads topic (older ones go to reads-late)
    reads = [read_dict(read_id=f"p-{n}", camera_id=cameras[n % 20], captured_at=now) for n in range(400)]
    async with ReadProducer(settings.kafka, settings.topic("reads"), window_ms=200, max_reads=50) as producer:
        waiters = [await producer.send(r) for r in reads]
    # close() flushed: every future is done and Kafka has every read
    assert all(w.done() and w.exception() is None for w in waiters)
    records = await read_topic(settings.kafka, settings.topic("reads"))
    assert len(records) < len(reads) / 5  # batched, not one record per read
    seen: dict[str, list[int]] = defaultdict(list)
    for record in records:
        batch = orjson.loads(record.value)["reads"]
        assert 1 <= len(batch) <= 50
        for read in batch:
            assert record.partition == partition_for(read["camera_id"], settings.partitions)
            seen[read["camera_id"]].append(int(read["read_id"].split("-")[1]))
    assert sum(len(v) for v in seen.values()) == len(reads)  # none lost
    for camera, numbers in seen.items():
        assert numbers == sorted(numbers), camera  # per-camera order holds


async def test_window_sends_a_partial_batch_without_close(env_factory) -> None:
    settings = settings_of(env_factory())
    await create_topics(settings)
    async with ReadProducer(settings.kafka, settings.topic("reads"), window_ms=50) as producer:
        waiter = await producer.send(read_dict(read_id="lonely", captured_at=datetime.now(UTC).isoformat()))
        await asyncio.wait_for(waiter, timeout=5)  # acknowledged by Kafka within the window, no flush
        assert producer.batches_sent == 1


async def test_missing_topic_is_a_clear_error(env_factory) -> None:
    settings = settings_of(env_factory())
    with pytest.raises(BrokerError, match="does not exist"):
        async with ReadProducer(settings.kafka, settings.topic("nope")):
            pass
