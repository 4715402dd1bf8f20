"""Reading whole topics and writing keyed records, for commands that work on current state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.errors import BrokerError, InvalidRecord
from streams.kafka.connection import Connection
from streams.kafka.topics import existing_partitions
from streams.matching.normalize import partition_for

T = TypeVar("T")

__all__ = [
    "METADATA_MAX_AGE_MS",
    "Latest",
    "TopicFollower",
    "TopicWriter",
    "assign_all",
    "fetch_from",
    "fold_latest",
    "log_ends",
    "read_latest",
    "read_to_end",
    "read_topic",
    "reader",
    "started_reader",
]

#: How often clients refresh their metadata. aiokafka 0.14 does not refresh it when a ListOffsets
#: request fails with NOT_LEADER: it retries the old leader, and sends no fetch to that node for
#: any partition, until the periodic refresh (5 minutes by default). After a broker failover a
#: third of a worker's partitions stalled for minutes (tests/integration/test_faults_cluster.py).
METADATA_MAX_AGE_MS = 5_000
#: A fetch below the end of the log must bring a record within this time, or the broker is unwell.
FETCH_DEADLINE_S = 30.0


def reader(kafka: Connection, *, fetch_max_wait_ms: int = 100) -> AIOKafkaConsumer:
    """A consumer without a group, for reading whole topics, with fetch limits above the largest
    record a producer of ours may write (topics.MAX_MESSAGE_BYTES)."""
    return AIOKafkaConsumer(
        **kafka.options(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        metadata_max_age_ms=METADATA_MAX_AGE_MS,  # failover: see METADATA_MAX_AGE_MS
    )


async def started_reader(kafka: Connection) -> AIOKafkaConsumer:
    """A started :func:`reader`; a broker that does not answer is a :class:`BrokerError`."""
    consumer = reader(kafka)
    try:
        await consumer.start()
    except Exception as exc:
        await consumer.stop()
        raise BrokerError(f"cannot reach Kafka at {kafka.bootstrap_servers}: {exc}") from exc
    return consumer


async def assign_all(consumer: AIOKafkaConsumer, *topics: str, from_beginning: bool = True) -> None:
    """Assign every partition of existing topics (without creating any) and seek to one end."""
    tps = [
        TopicPartition(topic, p)
        for topic in topics
        for p in await existing_partitions(consumer._client, topic)  # noqa: SLF001
    ]
    consumer.assign(tps)
    if from_beginning:
        await consumer.seek_to_beginning(*tps)
    else:
        await consumer.seek_to_end(*tps)


async def fetch_from(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int | None, max_records: int
) -> list[Any]:
    """Records from ``offset`` (None: the consumer's position) on, at least one. Only call below
    the end of the log: there is always a record to bring, so no answer depends on a timeout."""
    if offset is not None:
        consumer.seek(tp, offset)
    deadline = time.monotonic() + FETCH_DEADLINE_S
    while time.monotonic() < deadline:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=max_records)
        records = batch.get(tp, [])
        if records:
            return list(records)
    raise BrokerError(
        f"{tp.topic}[{tp.partition}]: no record at offset {offset} within {FETCH_DEADLINE_S:.0f} s"
    )


async def log_ends(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition]
) -> dict[TopicPartition, tuple[int, int]]:
    """Each partition's first offset and end (one past its last record), now: Kafka's log start
    offset and high watermark (no producer of ours is transactional, so the high watermark is
    also the last stable offset)."""
    starts = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    return {tp: (int(starts[tp]), int(ends[tp])) for tp in tps}


async def read_to_end(
    consumer: AIOKafkaConsumer, on_record: Callable[[TopicPartition, Any], None], max_records: int = 50_000
) -> None:
    """Feed every record of the assigned partitions, from their positions to their ends as of the
    call (see :func:`log_ends`), to ``on_record``."""
    tps = list(consumer.assignment())
    positions = {tp: await consumer.position(tp) for tp in tps}
    ends = {tp: end for tp, (_start, end) in (await log_ends(consumer, tps)).items()}
    for tp, position in positions.items():
        consumer.seek(tp, position)
    remaining = {tp for tp in tps if positions[tp] < ends[tp]}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)
        for tp, records in batch.items():
            for record in records:
                on_record(tp, record)
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)


async def read_topic(
    kafka: Connection,
    topic: str,
    on_record: Callable[[TopicPartition, Any], None],
    partition: int | None = None,
) -> None:
    """Feed every record of a topic (or of one partition of it), as of now, to ``on_record``."""
    consumer = await started_reader(kafka)
    try:
        if partition is None:
            await assign_all(consumer, topic)
        else:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
        await read_to_end(consumer, on_record)
    finally:
        await consumer.stop()


@dataclass(frozen=True, slots=True)
class Latest:
    value: bytes
    partition: int


async def read_latest(
    kafka: Connection,
    topic: str,
    keep: Callable[[bytes], bool] | None = None,
    partition: int | None = None,
) -> dict[bytes, Latest]:
    """The latest value of each key of a topic (a compacted topic's state); tombstones delete.

    Reads to the end offsets as of the call. ``keep`` filters keys before values are kept;
    ``partition`` reads only that partition (where a key's records are, when written by key).
    """
    state: dict[bytes, Latest] = {}

    def apply(tp: TopicPartition, record: Any) -> None:
        if record.key is None or (keep is not None and not keep(record.key)):
            return
        if record.value is None:
            state.pop(record.key, None)
        else:
            state[record.key] = Latest(record.value, tp.partition)

    await read_topic(kafka, topic, apply, partition)
    return state


def fold_latest(
    records: Iterable[tuple[bytes | None, bytes | None]],
    decode: Callable[[bytes, bytes], T],
    values: dict[str, T],
    invalid: dict[str, str],
) -> None:
    """Apply (key, value) records of a topic compacted by id, in log order, to ``values`` (id ->
    decoded) and ``invalid`` (id -> why its newest record cannot be used). As after compaction, a
    key's newest record decides: a tombstone removes the id, and so does a record that cannot be
    decoded (its reason kept) rather than leaving what an older record said, which compaction may
    already have removed. Records without a key are skipped (``invalid["(no key)"]`` says so)."""
    for key, value in records:
        if key is None:
            invalid["(no key)"] = "a record without a key: the topic is keyed by id"
            continue
        name = key.decode("utf-8", "replace")
        values.pop(name, None)
        invalid.pop(name, None)
        if value is None:
            continue
        try:
            values[name] = decode(key, value)
        except InvalidRecord as exc:
            invalid[name] = str(exc)


class TopicWriter:
    """A producer of keyed records in explicit batches (one per topic and partition).

    Appending to a batch is far cheaper per record than ``send``; ``flush`` sends the open
    batches and waits until Kafka has acknowledged everything written so far.
    """

    def __init__(self, kafka: Connection) -> None:
        self._producer = AIOKafkaProducer(
            **kafka.options(),
            acks="all",
            enable_idempotence=True,  # a retried batch is written once (the broker drops the copy)
            max_batch_size=512 * 1024,  # well under every reader's max_partition_fetch_bytes
            max_request_size=8 * 1024 * 1024,
        )
        self._open: dict[tuple[str, int], Any] = {}
        self._sent: list[Any] = []
        self.partitions: dict[str, int] = {}

    async def start(self) -> None:
        try:
            await self._producer.start()
        except Exception as exc:
            await self._producer.stop()
            raise BrokerError(f"cannot reach Kafka: {exc}") from exc

    async def stop(self) -> None:
        await self._producer.stop()

    async def partition_count(self, topic: str) -> int:
        if topic not in self.partitions:
            self.partitions[topic] = len(await existing_partitions(self._producer.client, topic))
        return self.partitions[topic]

    async def write(self, topic: str, key: bytes, value: bytes | None, partition: int | None = None) -> None:
        """Append a record; ``partition`` None: by key, as Kafka's default partitioner would not be used."""
        if partition is None:
            partition = partition_for(key.decode("utf-8", "replace"), await self.partition_count(topic))
        if not self.append(topic, key, value, partition):
            await self._send(topic, partition)
            if not self.append(topic, key, value, partition):
                raise BrokerError(f"a record of {len(value or b'')} bytes does not fit in a batch")

    def append(self, topic: str, key: bytes, value: bytes | None, partition: int) -> bool:
        """Append a record to its partition's open batch without waiting; False when that batch is
        full: then :meth:`write` sends it and appends the record (a million records written in a
        loop skip a coroutine each)."""
        batch = self._open.get((topic, partition))
        if batch is None:
            batch = self._open[(topic, partition)] = self._producer.create_batch()
        return batch.append(key=key, value=value, timestamp=None) is not None

    async def _send(self, topic: str, partition: int) -> None:
        batch = self._open.pop((topic, partition))
        batch.close()
        self._sent.append(await self._producer.send_batch(batch, topic, partition=partition))

    async def flush(self) -> None:
        """Send the open batches and wait until Kafka has every record; raise if any failed."""
        for topic, partition in list(self._open):
            await self._send(topic, partition)
        sent, self._sent = self._sent, []
        for delivery in sent:
            try:
                await delivery
            except Exception as exc:
                raise BrokerError(f"a write to Kafka failed: {exc}") from exc


class TopicFollower:
    """Keeps applying topics' records as they arrive, and says when it has caught up.

    ``start(since_ms)`` seeks each partition to its first record at or after that time (None: the
    beginning) and applies everything up to the log's end; ``run()`` then follows (within ~50 ms)
    until cancelled. ``caught_up()`` waits until every record on the topic when it was called has
    been applied: another process's write that came first is then known (a worker taking over a
    partition, a console asked about an alert a moment old).
    """

    def __init__(
        self, kafka: Connection, topics: list[str], apply: Callable[[TopicPartition, Any], None]
    ) -> None:
        self.kafka = kafka
        self.topics = topics
        self._apply = apply
        self._consumer: AIOKafkaConsumer | None = None
        self._probe: AIOKafkaConsumer | None = None  # asks the ends; the follower's positions stay put
        self._probing = asyncio.Lock()
        self._next: dict[TopicPartition, int] = {}  # per partition: one past the last record applied
        self.applied = asyncio.Condition()  # notified after each batch applied

    async def start(self, since_ms: int | None = None) -> None:
        from streams.kafka.timeseek import first_offset_at

        self._consumer = consumer = reader(self.kafka, fetch_max_wait_ms=50)
        await consumer.start()
        try:
            await assign_all(consumer, *self.topics)
            tps = sorted(consumer.assignment())
            for tp, (start, end) in (await log_ends(consumer, tps)).items():
                first = (
                    start if since_ms is None else await first_offset_at(consumer, tp, since_ms, start, end)
                )
                consumer.seek(tp, first)
                self._next[tp] = first
            await read_to_end(consumer, self._record)
        except BaseException:
            await self.stop()
            raise

    @property
    def following(self) -> bool:
        return self._consumer is not None

    def positions(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition): one past the last record applied (for a worker's metrics)."""
        return {(tp.topic, tp.partition): offset for tp, offset in list(self._next.items())}

    def _record(self, tp: TopicPartition, record: Any) -> None:
        self._next[tp] = record.offset + 1
        self._apply(tp, record)

    async def run(self) -> None:
        assert self._consumer is not None, "start() first"  # noqa: S101
        while True:
            batch = await self._consumer.getmany(timeout_ms=500, max_records=5_000)
            for tp, records in batch.items():
                for record in records:
                    self._record(tp, record)
            if batch:
                async with self.applied:
                    self.applied.notify_all()

    async def caught_up(self) -> None:
        """Return once everything on the topic now has been applied (``run()`` must be running)."""
        tps = sorted(self._next)
        async with self._probing:  # log_ends moves the probe's positions: one caller at a time
            if self._probe is None:
                self._probe = reader(self.kafka, fetch_max_wait_ms=50)
                await self._probe.start()
                self._probe.assign(tps)
            ends = {tp: end for tp, (_, end) in (await log_ends(self._probe, tps)).items()}

        def applied() -> bool:
            return all(self._next[tp] >= end for tp, end in ends.items())

        async with self.applied:
            await self.applied.wait_for(applied)

    async def stop(self) -> None:
        for consumer in (self._consumer, self._probe):
            if consumer is not None:
                await consumer.stop()
        self._consumer = self._probe = None
