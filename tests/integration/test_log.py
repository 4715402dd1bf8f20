"""Reading topics to their end on Apache Kafka: batched writes and tombstones, nothing missed."""

from __future__ import annotations

import pytest

from streams.kafka.log import TopicWriter, read_latest
from streams.kafka.topics import create_topics
from tests.conftest import settings_of

pytestmark = pytest.mark.integration


@pytest.fixture()
async def hotlist(env_factory):
    """Fresh topics, the hot-list topic's name and a started writer (stopped after)."""
    settings = settings_of(env_factory())
    await create_topics(settings)
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        yield settings, settings.topic("hotlist"), writer
    finally:
        await writer.stop()


async def test_read_latest_sees_every_record_written_in_large_batches(hotlist) -> None:
    """Large batches with tombstones in the same partitions: the latest state, nothing missed."""
    settings, topic, writer = hotlist
    for i in range(20_000):
        await writer.write(topic, f"k{i}".encode(), b"x" * 200, i % 3)
    for i in range(0, 20_000, 2):
        await writer.write(topic, f"k{i}".encode(), None, i % 3)  # tombstones in the same partition
    await writer.flush()
    state = await read_latest(settings.kafka, topic)
    assert len(state) == 10_000
    assert all(int(key[1:]) % 2 == 1 for key in state)


async def test_append_says_when_a_batch_is_full_and_write_then_sends_it(hotlist) -> None:
    """The loop of a sync: append without waiting; at a full batch, write sends it and appends."""
    settings, topic, writer = hotlist
    full = 0
    for i in range(8_000):
        key, value = f"a{i}".encode(), b"y" * 300
        if not writer.append(topic, key, value, 0):
            full += 1
            await writer.write(topic, key, value, 0)
    await writer.flush()
    assert full >= 4  # 2.4 MB in batches of at most 512 KB
    state = await read_latest(settings.kafka, topic)
    assert sorted(state) == sorted(f"a{i}".encode() for i in range(8_000))
