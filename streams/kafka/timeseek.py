"""Reading a topic by time, correctly on any broker.

The embedded broker answers ListOffsets-by-timestamp (``offsets_for_times``) with wrong offsets and
under-reports a partition's end, so nothing here trusts either: the first offset at or after a
time is found by binary search over offsets, reading the record timestamp at each probe. A probe
past the end of the log finds no record, which the search treats as "later than any time". Record
timestamps are the producer's send times, non-decreasing within a partition up to the skew between
producers; callers seek a margin earlier and filter on the data's own times.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from streams.kafka.topics import existing_partitions

__all__ = ["Progress", "first_offset_at", "scan_by_time"]

#: How long a probe waits for a record before taking the offset as past the end of the log.
PROBE_TIMEOUT_MS = 400


def _consumer(bootstrap_servers: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",  # past the end is an answer, not a reason to jump elsewhere
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )


async def _probe(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> Any | None:
    """The first record at or after ``offset``, or None past the end of the log."""
    consumer.seek(tp, offset)
    try:
        batch = await consumer.getmany(tp, timeout_ms=PROBE_TIMEOUT_MS, max_records=1)
    except OffsetOutOfRangeError:
        return None
    records = batch.get(tp, [])
    return records[0] if records else None


async def first_offset_at(consumer: AIOKafkaConsumer, tp: TopicPartition, ts_ms: int) -> int:
    """The first offset whose record timestamp is >= ``ts_ms``; the end of the log if none is."""
    lo = int((await consumer.beginning_offsets([tp]))[tp])

    async def later(offset: int) -> bool:  # monotone in offset: False ... False True ... True
        record = await _probe(consumer, tp, offset)
        return record is None or int(record.timestamp) >= ts_ms

    if await later(lo):
        return lo
    # Gallop to an offset that is later (the reported end cannot be trusted), then bisect. A time
    # inside the log is found without a single probe past its end (each of those waits).
    step = 1
    hi = lo + step
    while not await later(hi):
        lo, step = hi, step * 2
        hi = lo + step
    while hi - lo > 1:  # invariant: later(lo) is False, later(hi) is True
        mid = (lo + hi) // 2
        if await later(mid):
            hi = mid
        else:
            lo = mid
    return hi


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
    bootstrap_servers: str,
    topic: str,
    start_ms: int,
    end_ms: int,
    progress: Callable[[Progress], None] | None = None,
) -> AsyncIterator[tuple[TopicPartition, Any]]:
    """Yield every record of the topic whose timestamp lies in ``[start_ms, end_ms]``, each partition
    in offset order, from its first such offset to the first record past ``end_ms`` (or the end of
    the log). Partitions are searched and read concurrently, one consumer each."""
    probe = _consumer(bootstrap_servers)
    await probe.start()
    try:
        tps = [TopicPartition(topic, p) for p in await existing_partitions(probe._client, topic)]  # noqa: SLF001
    finally:
        await probe.stop()
    state = Progress(partitions=len(tps))
    queue: asyncio.Queue[tuple[TopicPartition, list[Any]] | Exception | None] = asyncio.Queue(maxsize=64)

    async def read_partition(tp: TopicPartition) -> None:
        consumer = _consumer(bootstrap_servers)
        try:
            await consumer.start()
            consumer.assign([tp])
            consumer.seek(tp, await first_offset_at(consumer, tp, start_ms))
            while True:
                try:
                    batch = await consumer.getmany(tp, timeout_ms=PROBE_TIMEOUT_MS, max_records=20_000)
                except OffsetOutOfRangeError:
                    break
                records = batch.get(tp, [])
                if not records:  # a fetch returns at once when there is data: this is the end
                    break
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
