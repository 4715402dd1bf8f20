"""A worker's view of the compacted hot-list topic.

Each worker reads the whole topic (no consumer group) into its
:class:`HotlistIndex`, from the beginning, then follows it. Until it has caught
up (see :func:`~streams.kafka.log.read_to_end`) it is not ready and the agents
wait: screening reads against half a hot list would miss alerts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from aiokafka import TopicPartition

from streams.hotlists.records import apply_hotlist_record
from streams.hotlists.sync import source_refreshes
from streams.kafka.connection import Connection
from streams.kafka.log import assign_all, read_to_end, reader
from streams.matching.matcher import HotlistIndex

__all__ = ["HotlistView"]

log = logging.getLogger(__name__)


class HotlistView:
    """Follows the hot-list topic (entries) and the sources topic (the as-of times of each feed's
    refreshes, so a late read is judged against the list as fresh as it was at its capture, P4)."""

    def __init__(self, kafka: Connection, topic: str, sources_topic: str, index: HotlistIndex) -> None:
        self.kafka = kafka
        self.topic = topic
        self.sources_topic = sources_topic
        self.index = index
        self.refused = 0
        self.positions: dict[tuple[str, int], int] = {}  # one past the last record applied
        self._ready = asyncio.Event()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def _apply(self, tp: TopicPartition, record: Any) -> None:
        self.positions[tp.topic, tp.partition] = record.offset + 1
        if tp.topic == self.sources_topic:
            # every refresh the status keeps, not only the latest: P4 is judged as of each read
            found = source_refreshes(record.value)
            if found is not None:
                source, times = found
                for fresh_as_of in times:
                    self.index.mark_fresh(source, fresh_as_of)
        elif apply_hotlist_record(self.index, record.key, record.value).outcome == "refused":
            self.refused += 1

    async def run(self) -> None:
        """Load the topic, then follow it until cancelled."""
        consumer = reader(self.kafka, fetch_max_wait_ms=50)  # new entries within ~50 ms
        await consumer.start()
        try:
            await assign_all(consumer, self.sources_topic, self.topic)
            await read_to_end(consumer, self._apply)
            gc.freeze()  # the loaded hot list is long-lived: keep it out of every future collection
            self._mark_ready()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
                for tp, records in batch.items():
                    for record in records:
                        self._apply(tp, record)
        finally:
            await consumer.stop()

    def _mark_ready(self) -> None:
        log.info(
            "hot list loaded from %s: %d active entries (%d partial), %d refused",
            self.topic,
            len(self.index),
            self.index.partial_count,
            self.refused,
        )
        self._ready.set()
