"""Reading topics by record time.

Kafka's ListOffsets by timestamp (``offsets_for_times``) gives the first offset whose record
timestamp is at or after a time: exact even when timestamps are not in offset order (a read's
timestamp is its capture time, and reads arrive late), because the broker's time index holds the
largest timestamp so far. A scan then reads on to the first record past the end of the window:
records that arrive later than that with an earlier timestamp are the callers' margin to choose
(they seek a margin earlier or later and filter on the data's own times).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.connection import Connection
from streams.kafka.log import fetch_from, log_ends, reader
from streams.kafka.topics import existing_partitions

__all__ = ["Progress", "first_offset_at", "scan_by_time"]


async def first_offset_at(
    consumer: AIOKafkaConsumer, tp: TopicPartition, ts_ms: int, lo: int, end: int
) -> int:
    """The first offset in ``[lo, end)`` whose record timestamp is >= ``ts_ms``; ``end`` if none is."""
    found = (await consumer.offsets_for_times({tp: max(0, ts_ms)})).get(tp)
    if found is None:
        return end
    return min(end, max(lo, int(found.offset)))


@dataclass
class Progress:
    """What a scan has read so far, for a progress line."""

    records: int = 0
    partitions_done: int = 0
    partitions: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = max(1e-9, time.monotonic() - self.started)
        return (
            f"{self.records:,} records read ({self.records / elapsed:,.0f}/s), "
            f"{self.partitions_done}/{self.partitions} partitions done"
        )


async def scan_by_time(
    kafka: Connection,
    topics: str | Sequence[str],
    start_ms: int,
    end_ms: int,
    progress: Callable[[Progress], None] | None = None,
) -> AsyncIterator[tuple[TopicPartition, Any]]:
    """Yield every record of the topics (e.g. ``Settings.read_topics``: reads and late reads) whose
    timestamp lies in ``[start_ms, end_ms]``, each partition in offset order, from its first such
    offset to the first record past ``end_ms`` (or the end of the log). Partitions are searched and
    read concurrently, one consumer each."""
    names = [topics] if isinstance(topics, str) else list(topics)
    probe = reader(kafka)
    await probe.start()
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in names
            for p in await existing_partitions(probe._client, topic)  # noqa: SLF001
        ]
    finally:
        await probe.stop()
    state = Progress(partitions=len(tps))
    queue: asyncio.Queue[tuple[TopicPartition, list[Any]] | Exception | None] = asyncio.Queue(maxsize=64)

    async def read_partition(tp: TopicPartition) -> None:
        consumer = reader(kafka)
        try:
            await consumer.start()
            consumer.assign([tp])
            begin, end = (await log_ends(consumer, [tp]))[tp]
            position = await first_offset_at(consumer, tp, start_ms, begin, end)
            seek: int | None = position
            while position < end:  # the end as of the start of the scan
                records = [r for r in await fetch_from(consumer, tp, seek, 20_000) if r.offset < end]
                if not records:
                    break
                position, seek = records[-1].offset + 1, None
                state.records += len(records)
                inside = [r for r in records if start_ms <= r.timestamp <= end_ms]
                if inside:
                    await queue.put((tp, inside))
                if any(r.timestamp > end_ms for r in records):
                    break
            state.partitions_done += 1
            await queue.put(None)
        except Exception as exc:  # handed to the reader, which raises it
            await queue.put(exc)
        finally:
            await consumer.stop()

    tasks = [asyncio.create_task(read_partition(tp)) for tp in tps]
    finished, last_report = 0, 0.0
    try:
        while finished < len(tasks):
            item = await queue.get()
            if item is None:
                finished += 1
                continue
            if isinstance(item, Exception):
                raise item
            tp, records = item
            for record in records:
                yield tp, record
            if progress is not None and time.monotonic() - last_report >= 1.0:
                last_report = time.monotonic()
                progress(state)
        if progress is not None:
            progress(state)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
