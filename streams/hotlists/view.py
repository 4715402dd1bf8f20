"""A worker's view of the compacted hot-list topic.

Each worker reads the whole topic (no consumer group) into its
:class:`HotlistIndex`, from the beginning, then follows it. Until it has caught
up (see :func:`~streams.kafka.log.read_to_end`) it is not ready and the agents
wait: screening reads against half a hot list would miss alerts.

With a :class:`~streams.matching.snapshot.SnapshotScope` the worker first loads its last
snapshot and reads the topics only from the offsets it covers (5 million entries: seconds
instead of minutes); a snapshot that does not fit is refused and the topics are read from the
beginning. The topics stay the only source of truth: a snapshot is written from what was read
off them, after the load and then every ``snapshot_every_s`` while entries change.

Hot-list records are applied in batches (up to ``APPLY_BATCH``, and whatever one fetch brought),
their values decoded by msgspec in C (:func:`~streams.codec.entries_from_json`): a fifth less CPU
an entry than one by one (loadtest.bench_hotlist_scale).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import time
from typing import Any

from aiokafka import TopicPartition

from streams.hotlists.records import apply_hotlist_records
from streams.hotlists.sync import source_refreshes
from streams.kafka.connection import Connection
from streams.kafka.log import assign_all, log_ends, read_to_end, reader
from streams.matching.matcher import HotlistIndex
from streams.matching.snapshot import SnapshotScope, load_snapshot, write_snapshot

__all__ = ["HotlistView"]

log = logging.getLogger(__name__)


class HotlistView:
    """Follows the hot-list topic (entries) and the sources topic (the as-of times of each feed's
    refreshes, so a late read is judged against the list as fresh as it was at its capture, P4)."""

    #: Hot-list records decoded and applied together (:func:`apply_hotlist_records`), in the
    #: topic's order: a load of millions of entries costs a fifth less CPU than one by one.
    APPLY_BATCH = 20_000

    def __init__(
        self,
        kafka: Connection,
        topic: str,
        sources_topic: str,
        index: HotlistIndex,
        snapshots: SnapshotScope | None = None,
        snapshot_every_s: float = 300.0,
    ) -> None:
        self.kafka = kafka
        self.topic = topic
        self.sources_topic = sources_topic
        self.index = index
        self.snapshots = snapshots
        self.snapshot_every_s = snapshot_every_s
        self.refused = 0
        self.applied = 0  # records applied since start
        self.restored = False  # the index came from a snapshot
        self.positions: dict[tuple[str, int], int] = {}  # one past the last record applied
        self._ready = asyncio.Event()
        self._snapshot_applied = 0  # self.applied when the last snapshot was written
        self._snapshot_at = time.monotonic()
        self._pending: list[tuple[bytes | None, bytes | None]] = []  # hot-list records not yet applied

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def _apply(self, tp: TopicPartition, record: Any) -> None:
        """Take one record; hot-list entries reach the index at the next :meth:`_flush`."""
        self.positions[tp.topic, tp.partition] = record.offset + 1
        self.applied += 1
        if tp.topic == self.sources_topic:
            # every refresh the status keeps, not only the latest: P4 is judged as of each read
            found = source_refreshes(record.value)
            if found is not None:
                source, times = found
                for fresh_as_of in times:
                    self.index.mark_fresh(source, fresh_as_of)
        else:
            self._pending.append((record.key, record.value))
            if len(self._pending) >= self.APPLY_BATCH:
                self._flush()

    def _flush(self) -> None:
        """Apply the hot-list records taken so far (before readiness, a snapshot, or a wait)."""
        if self._pending:
            self.refused += apply_hotlist_records(self.index, self._pending)
            self._pending = []

    async def run(self) -> None:
        """Load the topic, then follow it until cancelled."""
        consumer = reader(self.kafka, fetch_max_wait_ms=50)  # new entries within ~50 ms
        await consumer.start()
        try:
            await assign_all(consumer, self.sources_topic, self.topic)
            if self.snapshots is not None:
                await self._restore(consumer, self.snapshots)
            await read_to_end(consumer, self._apply)
            self._flush()
            for tp in consumer.assignment():
                self.positions[tp.topic, tp.partition] = await consumer.position(tp)
            gc.freeze()  # the loaded hot list is long-lived: keep it out of every future collection
            self._mark_ready()
            await self._snapshot()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
                for tp, records in batch.items():
                    for record in records:
                        self._apply(tp, record)
                self._flush()
                if time.monotonic() - self._snapshot_at >= self.snapshot_every_s:
                    await self._snapshot()
        finally:
            await consumer.stop()

    async def _restore(self, consumer: Any, scope: SnapshotScope) -> None:
        """Load the snapshot and seek to the offsets it covers, or (none that fits) give the index
        a fresh store under the state directory and room for the whole topic."""
        self.snapshots = scope = dataclasses.replace(scope, cluster=await cluster_id(consumer))
        tps = list(consumer.assignment())
        logs = {(tp.topic, tp.partition): ends for tp, ends in (await log_ends(consumer, tps)).items()}
        positions = await asyncio.to_thread(load_snapshot, self.index, scope, logs)
        if positions is None:
            self.index.use_store(scope.new_store())
            self.index.reserve(sum(end - start for (t, _), (start, end) in logs.items() if t == self.topic))
            return
        self.restored = True
        for tp in tps:
            offset = positions.get((tp.topic, tp.partition))
            if offset is not None:  # a partition added since starts from the beginning
                consumer.seek(tp, offset)
        log.info("hot list restored from %s: %d entries", scope.path, len(self.index))

    async def _snapshot(self) -> None:
        """Write a snapshot if entries changed since the last one. The write runs in a thread
        while this task (the index's only writer) waits: screening goes on meanwhile."""
        self._snapshot_at = time.monotonic()
        if self.snapshots is None or self.applied == self._snapshot_applied:
            return
        applied = self.applied
        try:
            write = write_snapshot(self.index, self.snapshots, dict(self.positions))
            await asyncio.to_thread(write)
        except OSError as exc:  # the topics are the truth: a missing snapshot only costs a slow start
            log.warning("hot-list snapshot not written: %s", exc)
            return
        self._snapshot_applied = applied
        log.info(
            "hot-list snapshot written: %d entries, %d s",
            len(self.index),
            time.monotonic() - self._snapshot_at,
        )

    def _mark_ready(self) -> None:
        log.info(
            "hot list loaded from %s: %d active entries (%d partial), %d refused",
            self.topic,
            len(self.index),
            self.index.partial_count,
            self.refused,
        )
        self._ready.set()


async def cluster_id(consumer: Any) -> str:
    """The Kafka cluster's id (Metadata v2+), which aiokafka's metadata does not keep."""
    from aiokafka.protocol.metadata import MetadataRequest

    client = consumer._client  # noqa: SLF001
    response = await client.send(client.get_random_node(), MetadataRequest([]))
    return str(getattr(response, "cluster_id", None) or "")
