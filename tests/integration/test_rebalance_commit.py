"""A partition the group has never committed keeps its first records across a dropped fetch.

faust-streaming 0.15.3 drops records it has already fetched when a rebalance stops the flow (or the
generation changes mid-batch), then "seeks back to committed offsets" to fetch them again; aiokafka's
``seek_to_committed`` leaves a partition without a committed offset where the fetch left it. In
tests/integration/test_faults_cluster.py (a broker and a worker killed at once) the survivor took
over a candidates partition the dead worker had never committed, lost its first five records
that way, and committed past them: four alerts never raised. ``streams.screening.rewind_to_committed``
(what the worker's consumer runs for faust's seek) must start such a partition over.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka.broker import EmbeddedBroker
from streams.screening import rewind_to_committed

pytestmark = pytest.mark.integration

RECORDS = 5


async def fetched(consumer: AIOKafkaConsumer, tp: TopicPartition, count: int) -> list[int]:
    """Offsets of the next ``count`` records of the partition, as faust's fetcher gets them."""
    offsets: list[int] = []
    for _ in range(50):
        batch = await consumer.getmany(tp, timeout_ms=500)
        offsets += [record.offset for record in batch.get(tp, [])]
        if len(offsets) >= count:
            break
    return offsets


@pytest.fixture()
async def partition(broker: EmbeddedBroker) -> TopicPartition:
    """A fresh one-partition topic holding ``RECORDS`` records (offsets 0..RECORDS-1)."""
    topic = f"rebalance-commit-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        for i in range(RECORDS):
            await producer.send_and_wait(topic, f"candidate-{i}".encode(), partition=0)
    finally:
        await producer.stop()
    return TopicPartition(topic, 0)


@pytest.fixture()
async def consumer(broker: EmbeddedBroker, partition: TopicPartition):
    """A group member like the worker's: earliest reset, commits only what faust tells it."""
    member = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=f"rebalance-commit-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await member.start()
    member.subscribe([partition.topic])
    try:
        yield member
    finally:
        await member.stop()


async def test_plain_seek_to_committed_leaves_dropped_records_behind(consumer, partition) -> None:
    """The faust-streaming 0.15.3 behaviour this project works around (issues 216, 221): if this
    starts failing, aiokafka now rewinds by itself and rewind_to_committed may go."""
    assert await fetched(consumer, partition, RECORDS) == list(range(RECORDS))  # then faust drops them
    committed = await consumer.seek_to_committed()
    assert committed == {partition: None}
    assert await consumer.position(partition) == RECORDS  # nothing will bring 0..4 back


async def test_rewind_fetches_a_never_committed_partition_again(consumer, partition) -> None:
    assert await fetched(consumer, partition, RECORDS) == list(range(RECORDS))  # then faust drops them
    committed = await rewind_to_committed(consumer)
    assert committed == {partition: None}
    assert await fetched(consumer, partition, RECORDS) == list(range(RECORDS))


async def test_rewind_goes_back_to_the_committed_offset(consumer, partition) -> None:
    """A committed partition still restarts at its commit, not at the beginning."""
    assert await fetched(consumer, partition, RECORDS) == list(range(RECORDS))
    await consumer.commit({partition: 2})
    committed = await rewind_to_committed(consumer)
    assert committed == {partition: 2}
    assert await fetched(consumer, partition, RECORDS - 2) == list(range(2, RECORDS))
