"""Reading whole topics and writing keyed records, for commands that work on current state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.errors import BrokerError
from streams.kafka.topics import existing_partitions
from streams.matching.normalize import partition_for

__all__ = ["Latest", "TopicWriter", "assign_all", "read_latest", "read_to_end", "reader"]

#: The embedded broker answers ListOffsets(latest) with wrong offsets when producers batch
#: (measured: 1 for a partition holding 20,000 records sent in one batch), so "caught up" also
#: needs a fetch round that brings nothing. On Apache Kafka this costs one idle round.
IDLE_ROUND_MS = 300


def reader(bootstrap_servers: str, *, fetch_max_wait_ms: int = 100) -> AIOKafkaConsumer:
    """A consumer without a group, for reading whole topics.

    Its per-partition fetch limit is far above any batch a writer makes: the embedded broker
    never returns a batch larger than the limit, and the partition would stall.
    """
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )


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


async def read_to_end(
    consumer: AIOKafkaConsumer, on_record: Callable[[TopicPartition, Any], None], max_records: int = 50_000
) -> None:
    """Feed every record of the assigned partitions (from their positions) to ``on_record``, until
    each partition is at its end offset *and* a whole fetch round returned nothing."""
    tps = list(consumer.assignment())
    end = await consumer.end_offsets(tps)
    while True:
        batch = await consumer.getmany(timeout_ms=IDLE_ROUND_MS, max_records=max_records)
        for tp, records in batch.items():
            for record in records:
                on_record(tp, record)
        if not batch and all([await consumer.position(tp) >= end[tp] for tp in tps]):
            return


@dataclass(frozen=True, slots=True)
class Latest:
    value: bytes
    partition: int


async def read_latest(
    bootstrap_servers: str,
    topic: str,
    keep: Callable[[bytes], bool] | None = None,
    partition: int | None = None,
) -> dict[bytes, Latest]:
    """The latest value of each key of a topic (a compacted topic's state); tombstones delete.

    Reads to the end offsets as of the call. ``keep`` filters keys before values are kept;
    ``partition`` reads only that partition (where a key's records are, when written by key).
    """
    consumer = reader(bootstrap_servers)
    try:
        await consumer.start()
    except Exception as exc:
        await consumer.stop()
        raise BrokerError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
    state: dict[bytes, Latest] = {}

    def apply(tp: TopicPartition, record: Any) -> None:
        if record.key is None or (keep is not None and not keep(record.key)):
            return
        if record.value is None:
            state.pop(record.key, None)
        else:
            state[record.key] = Latest(record.value, tp.partition)

    try:
        if partition is None:
            await assign_all(consumer, topic)
        else:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
        await read_to_end(consumer, apply)
        return state
    finally:
        await consumer.stop()


class TopicWriter:
    """A producer of keyed records in explicit batches (one per topic and partition).

    Appending to a batch is far cheaper per record than ``send``; ``flush`` sends the open
    batches and waits until Kafka has acknowledged everything written so far.
    """

    def __init__(self, bootstrap_servers: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
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
        batch = self._open.get((topic, partition))
        if batch is None:
            batch = self._open[(topic, partition)] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:
            await self._send(topic, partition)
            batch = self._open[(topic, partition)] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise BrokerError(f"a record of {len(value or b'')} bytes does not fit in a batch")

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
