"""Reading whole topics and writing keyed records, for commands that work on current state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.errors import BrokerError
from streams.kafka.topics import existing_partitions

__all__ = ["Latest", "TopicWriter", "read_latest"]


@dataclass(frozen=True, slots=True)
class Latest:
    value: bytes
    partition: int


async def read_latest(
    bootstrap_servers: str, topic: str, keep: Callable[[bytes], bool] | None = None
) -> dict[bytes, Latest]:
    """The latest value of each key of a topic (a compacted topic's state); tombstones delete.

    Reads to the end offsets as of the call. ``keep`` filters keys before values are kept.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    try:
        await consumer.start()
    except Exception as exc:
        await consumer.stop()
        raise BrokerError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
    state: dict[bytes, Latest] = {}
    try:
        partitions = await existing_partitions(consumer._client, topic)  # noqa: SLF001
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if end[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=500, max_records=50_000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= end[tp] or record.key is None:
                        continue
                    if keep is not None and not keep(record.key):
                        continue
                    if record.value is None:
                        state.pop(record.key, None)
                    else:
                        state[record.key] = Latest(record.value, tp.partition)
            for tp in list(pending):
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
        return state
    finally:
        await consumer.stop()


class TopicWriter:
    """A producer for keyed records that waits for every write to be acknowledged on ``flush``."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            linger_ms=5,
            max_batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
        )
        self._pending: list[object] = []
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
        self._pending.append(await self._producer.send(topic, value, key=key, partition=partition))
        if len(self._pending) >= 50_000:
            await self.flush()

    async def flush(self) -> None:
        """Wait until Kafka has every record written so far; raise if any failed."""
        pending, self._pending = self._pending, []
        for delivery in pending:
            try:
                await delivery  # type: ignore[misc]
            except Exception as exc:
                raise BrokerError(f"a write to Kafka failed: {exc}") from exc
