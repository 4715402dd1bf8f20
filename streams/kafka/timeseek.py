"""Reading topics by record time.

Kafka's ListOffsets by timestamp (``offsets_for_times``) gives the first offset whose record
timestamp is at or after a time: exact even when timestamps are not in offset order (a read's
timestamp is its capture time, and reads arrive late), because the broker's time index holds the
largest timestamp so far. A scan then reads on to the first record past the end of the window:
records that arrive later than that with an earlier timestamp are what a :class:`TimeRange`'s
``stop_ms`` is for: a topic whose records may be stamped up to ``before`` before their arrival and
``after`` after it holds no record in the range past the first one stamped after
``end + before + after`` (a later record arrived no earlier, so is stamped no earlier than that
minus ``before + after``).

Reads are found by their capture time with :func:`capture_ranges`: each read topic's record times
that can hold a read captured in a window, derived from how the producer stamps and routes reads
(streams/reads/lateness.py) and the topics' timestamp bounds (streams/kafka/topics.py). Every
stored read is covered whatever its lateness: a read later than the profile's ``too_late_ms`` is
never stored (P11).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.connection import Connection
from streams.kafka.log import fetch_from, log_ends, reader
from streams.kafka.topics import existing_partitions, topic_specs
from streams.reads.lateness import LATE, ON_TIME, SENT_HEADER, Lateness, margin_ms

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = ["Progress", "TimeRange", "capture_ranges", "first_offset_at", "scan_by_time", "scan_ranges"]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The record times ``[start_ms, end_ms]`` to yield from a topic, and ``stop_ms`` (>= end_ms):
    a partition is read on to its first record stamped after it."""

    start_ms: int
    end_ms: int
    stop_ms: int
    #: Records whose ``sent-ms`` header (streams/reads/lateness.py) is before this are passed over
    #: undecoded: on ``reads`` a record is stamped with its batch's earliest capture, so the scan
    #: starts up to the lateness bound early, yet a record sent before the window (less the skew)
    #: holds no read of it. None: every record in the range.
    sent_from_ms: int | None = None

    @classmethod
    def exact(cls, start_ms: int, end_ms: int) -> TimeRange:
        """For topics stamped when sent by one clock: the first record past the end ends the scan."""
        return cls(start_ms, end_ms, end_ms)

    def holds(self, record: Any) -> bool:
        """Whether a record of the topic may hold what the range is for."""
        if not self.start_ms <= record.timestamp <= self.end_ms:
            return False
        if self.sent_from_ms is None:
            return True
        sent = next((v for k, v in record.headers or () if k == SENT_HEADER), None)
        return sent is None or int(sent) >= self.sent_from_ms


def capture_ranges(settings: Settings, start_ms: int, end_ms: int) -> dict[str, TimeRange]:
    """The record-time ranges of ``reads`` and ``reads-late`` holding every stored read whose
    capture time is in ``[start_ms, end_ms]``, whatever its lateness.

    ``reads`` (lateness up to ``late_from``): a record is stamped with the capture time of the
    earliest read of its batch (never later than its send, never older than the topic allows), so
    a read's record is stamped up to ``late_from`` (+ the clock skew) before its capture and, by the
    batching delay (well under the skew), after it. ``reads-late`` (lateness from ``late_from`` to
    ``too_late``): stamped when sent, so ``late_from`` (less the routing margin) to ``too_late``
    (+ the skew) after the capture. The stop of each follows from the topic's own timestamp bounds
    (message.timestamp.before/after.max.ms)."""
    lateness = Lateness.of(settings.profile.broker)
    skew = settings.max_clock_skew_s * 1000 + 60_000
    bounds = {
        spec.name: int(spec.configs()["message.timestamp.before.max.ms"])
        + int(spec.configs()["message.timestamp.after.max.ms"])
        for spec in topic_specs(settings)
        if spec.name in (ON_TIME, LATE)
    }
    on_time = (start_ms - lateness.late_from_ms - skew, end_ms + skew)
    late = (
        start_ms + lateness.late_from_ms - margin_ms(lateness.late_from_ms) - skew,
        end_ms + lateness.too_late_ms + skew,
    )
    return {
        settings.topic(ON_TIME): TimeRange(*on_time, on_time[1] + bounds[ON_TIME], start_ms - skew),
        settings.topic(LATE): TimeRange(*late, late[1] + bounds[LATE]),
    }


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
    """Yield every record of the topics whose timestamp lies in ``[start_ms, end_ms]``, each
    partition in offset order, from its first such offset to the first record past ``end_ms`` (or
    the end of the log): for topics stamped when sent. Reads by capture time: :func:`capture_ranges`."""
    names = [topics] if isinstance(topics, str) else list(topics)
    async for item in scan_ranges(kafka, {t: TimeRange.exact(start_ms, end_ms) for t in names}, progress):
        yield item


async def scan_ranges(
    kafka: Connection,
    ranges: Mapping[str, TimeRange],
    progress: Callable[[Progress], None] | None = None,
) -> AsyncIterator[tuple[TopicPartition, Any]]:
    """Yield every record of each topic whose timestamp lies in its range, each partition in offset
    order, from its first such offset to its first record stamped after the range's ``stop_ms`` (or
    the end of the log). Partitions are searched and read concurrently, one consumer each."""
    names = list(ranges)
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
            span = ranges[tp.topic]
            position = await first_offset_at(consumer, tp, span.start_ms, begin, end)
            seek: int | None = position
            while position < end:  # the end as of the start of the scan
                records = [r for r in await fetch_from(consumer, tp, seek, 20_000) if r.offset < end]
                if not records:
                    break
                position, seek = records[-1].offset + 1, None
                state.records += len(records)
                inside = [r for r in records if span.holds(r)]
                if inside:
                    await queue.put((tp, inside))
                if any(r.timestamp > span.stop_ms for r in records):
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
