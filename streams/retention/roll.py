"""Rolling the compacted topics' segments, so that what compaction removes is removed on time.

Kafka's log cleaner never touches a partition's active segment, and a segment is rolled (closed)
only when a record is appended after ``segment.ms``. On a quiet partition (a released evidence
hold's read copy, a user's replaced password hash, a revoked camera key) the old value would stay
readable until something else happened to be written there, whatever ``max.compaction.lag.ms``
says (P11, P12, P18). ``alpr retention roll`` appends a tombstone of :data:`ROLL_KEY`, a key no
record ever has, to every partition of every compacted topic: the append rolls a segment older
than ``segment.ms``, the cleaner then compacts it within ``max.compaction.lag.ms``, and the
tombstone itself changes no state (a reader deletes a key it never had) and is dropped after
``delete.retention.ms``. Run it at least every ``compact_segment_ms`` (``--every``; ``alpr run``
starts it; production: a timer or CronJob, deploy/kafka/README.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from streams.kafka.log import TopicWriter
from streams.kafka.topics import topic_specs
from streams.settings import Settings

__all__ = ["ROLL_KEY", "compacted_topics", "roll_every", "roll_once"]

#: No record of the project has this key: ids, plates and entry keys are printable text.
ROLL_KEY = b"\x00segment-roll"


def compacted_topics(settings: Settings) -> list[str]:
    return [settings.topic(s.name) for s in topic_specs(settings) if "compact" in s.cleanup_policy]


async def roll_once(settings: Settings, writer: TopicWriter | None = None) -> int:
    """Append one roll tombstone to every partition of every compacted topic; return how many."""
    own = writer is None
    writer = writer or TopicWriter(settings.kafka)
    if own:
        await writer.start()
    try:
        written = 0
        for topic in compacted_topics(settings):
            for partition in range(await writer.partition_count(topic)):
                await writer.write(topic, ROLL_KEY, None, partition)
                written += 1
        await writer.flush()
        return written
    finally:
        if own:
            await writer.stop()


async def roll_every(
    settings: Settings, every: timedelta, report: Callable[[int], None] | None = None
) -> None:
    """:func:`roll_once` every ``every``, until cancelled, with one producer kept open."""
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        while True:
            written = await roll_once(settings, writer)
            if report is not None:
                report(written)
            await asyncio.sleep(every.total_seconds())
    finally:
        await writer.stop()
