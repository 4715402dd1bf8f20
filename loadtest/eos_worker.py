"""The matcher with its outputs and offsets in Kafka transactions, for ``python -m loadtest eos``.

    python -m loadtest.eos_worker            # a transactional aiokafka loop around Pipeline

It reads its settings from the ALPR_* environment, as ``alpr worker`` does, and serves the same
metrics, so the harness (loadtest/eos.py) drives both modes alike. It is not the production
worker: this module exists to measure what exactly-once would cost and whether it holds.

The transactional loop does what the worker's screen loop does (streams/screening.py: screen the
reads, confirm candidates) in one consume-process-produce loop: every record a ``getmany`` brings is
processed, its outputs sent and the consumed offsets added to one transaction, which is then
committed. Consumers of the intermediate candidates topic, and of the alerts topic, read committed
data only. The alerts topic is read back (``Pipeline.remember``) read-committed too, after the
producer has fenced and aborted a killed predecessor's open transaction: an alert that was never
committed must not be remembered, or its re-processed read would be suppressed and lost. Any error
inside a transaction ends the process (the in-memory state may hold what the aborted transaction
decided); a restart rebuilds it from what was committed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from loadtest.run import committed_reader
from streams.app import WORKER_TOPICS, create_worker, utcnow
from streams.codec import rejected_group
from streams.kafka.connection import Connection
from streams.kafka.log import TopicFollower
from streams.kafka.topics import create_topics, existing_partitions
from streams.matching.pipeline import Outcome
from streams.screening import FETCH_MAX_WAIT_MS
from streams.settings import Settings

__all__ = ["CommittedFollower", "main", "transactional_worker"]

log = logging.getLogger("loadtest.eos_worker")

#: The topics of reads the worker screens (reads-late: reads that arrived late, streams/reads/lateness.py).
SCREENED = tuple(name for name in ("reads", "reads-late") if name in WORKER_TOPICS)


class CommittedFollower:
    """Applies a topic's committed records (read_committed) from a time on, then follows it.

    ``streams.kafka.log.TopicFollower`` reads uncommitted data, which is what the at-least-once
    worker writes; with transactions, an aborted alert must stay unseen."""

    def __init__(self, kafka: Connection, topic: str, apply: Callable[[Any], None]) -> None:
        self.kafka = kafka
        self.topic = topic
        self.apply = apply
        self.consumer = committed_reader(kafka, fetch_max_wait_ms=50)

    async def start(self, since_ms: int) -> None:
        """Seek to ``since_ms`` and apply everything up to the last stable offset as of now."""
        consumer = self.consumer
        await consumer.start()
        tps = [TopicPartition(self.topic, p) for p in await existing_partitions(consumer._client, self.topic)]  # noqa: SLF001
        consumer.assign(tps)
        found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        ends = await consumer.end_offsets(tps)  # read_committed: the last stable offsets
        for tp in tps:
            at = found.get(tp)
            consumer.seek(tp, at.offset if at is not None else ends[tp])
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            await self._apply_batch(1000)

    async def _apply_batch(self, timeout_ms: int) -> None:
        batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        for records in batch.values():
            for record in records:
                self.apply(record.value)

    async def run(self) -> None:
        while True:
            await self._apply_batch(500)

    async def stop(self) -> None:
        await self.consumer.stop()


def _timestamp(out: Outcome) -> int | None:
    """The Kafka timestamp the production worker gives rejected records and candidates: their
    source record's (the capture time, P11); None where the Pipeline does not say."""
    return getattr(out, "timestamp_ms", None)


async def transactional_worker(settings: Settings, max_records: int, retry_backoff_ms: int) -> None:
    """Consume, process with the production worker's Pipeline, produce and commit, one
    transaction per ``getmany``. The Pipeline, hot-list view and metrics are the ones
    ``streams.app.create_worker`` builds (its faust app is never started)."""
    built = create_worker(settings)
    pipeline, view, metrics = built.pipeline, built.view, built.metrics
    cameras = pipeline.cameras
    screened_topics = {settings.topic(name) for name in SCREENED}
    candidates = settings.topic("candidates")
    alerts, rejected = settings.topic("alerts"), settings.topic("reads-rejected")
    tasks = [asyncio.create_task(view.run(), name="hotlist")]
    registry = None
    if cameras is not None:
        registry = TopicFollower(
            settings.kafka, [settings.topic("cameras")], lambda _tp, r: cameras.apply(r.key, r.value)
        )
        await registry.start()
        tasks.append(asyncio.create_task(registry.run(), name="registry"))
    producer = AIOKafkaProducer(
        **settings.kafka.options(),
        # per worker instance: a restart fences the killed one (a second worker has its own; with
        # aiokafka's TxnOffsetCommit v0 nothing fences a worker whose partitions moved: KIP-447)
        transactional_id=f"{settings.app_id}-eos-{os.environ.get('ALPR_EOS_INSTANCE', '0')}",
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        max_request_size=8 * 1024 * 1024,
        # until a commit's markers are written the next transaction's first send is retried
        retry_backoff_ms=retry_backoff_ms,
    )
    await producer.start()
    await producer.begin_transaction()  # waits for the producer id: a predecessor's transaction is aborted
    await producer.abort_transaction()
    memory = CommittedFollower(settings.kafka, alerts, pipeline.remember)
    since = utcnow() - pipeline.memory_span - timedelta(minutes=1)
    await memory.start(int(since.timestamp() * 1000))
    tasks.append(asyncio.create_task(memory.run(), name="memory"))
    await view.wait_ready()
    if settings.metrics_port:
        metrics.serve(settings.metrics_host, settings.metrics_port)
    consumer = AIOKafkaConsumer(
        *sorted(screened_topics),
        candidates,
        **settings.kafka.options(),
        group_id=settings.app_id,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        session_timeout_ms=1000 * max(10, 3 * settings.rebalance_timeout_s),
        heartbeat_interval_ms=1000,
        rebalance_timeout_ms=1000 * settings.rebalance_timeout_s,
    )
    await consumer.start()
    checked_ms = 0.0
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100, max_records=max_records)
            if not batch:
                continue
            started = time.perf_counter()
            await producer.begin_transaction()
            outcomes: list[tuple[Outcome, bool]] = []
            offsets = {}
            for tp, records in batch.items():
                screening = tp.topic in screened_topics
                for record in records:
                    where = (tp.topic, tp.partition, record.offset)
                    if screening:
                        out = pipeline.screen_record(record.value, where, record.timestamp)
                        now_ms = time.time() * 1000
                        if (
                            registry is not None
                            and now_ms - checked_ms > 100
                            and any("unknown_camera" in codes for *_, codes in out.rejected)
                        ):  # as the worker does: catch the registry up before calling a camera unknown
                            await registry.caught_up()
                            checked_ms = now_ms
                            out = pipeline.screen_record(record.value, where, record.timestamp)
                    else:
                        out = pipeline.confirm_record(record.value, where, record.timestamp)
                    stamp = _timestamp(out)
                    for key, value, _codes in out.rejected:
                        await producer.send(rejected, rejected_group([value]), key=key, timestamp_ms=stamp)
                    for key, partition, value in out.candidates:
                        await producer.send(
                            candidates, value, key=key, partition=partition, timestamp_ms=stamp
                        )
                    for key, value, _alert in out.alerts:
                        await producer.send(alerts, value, key=key)
                    for key, value, _sighting in out.sightings:
                        await producer.send(alerts, value, key=key)  # keyed by alert id, as the worker does
                    outcomes.append((out, screening))
                offsets[tp] = records[-1].offset + 1
            await producer.send_offsets_to_transaction(offsets, settings.app_id)
            await producer.commit_transaction()
            seconds = time.perf_counter() - started
            for out, screened in outcomes:
                metrics.observe(out, batch_seconds=seconds / len(outcomes) if screened else None)
    finally:
        for task in tasks:
            task.cancel()
        await consumer.stop()
        await producer.stop()
        await memory.stop()
        if registry is not None:
            await registry.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.eos_worker")
    parser.add_argument("--max-records", type=int, default=500, help="most records per transaction")
    parser.add_argument("--retry-backoff-ms", type=int, default=10)
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(create_topics(settings, only=WORKER_TOPICS))
    asyncio.run(until_stopped(transactional_worker(settings, args.max_records, args.retry_backoff_ms)))
    return 0


async def until_stopped(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until it ends or SIGTERM/SIGINT cancels it (its consumer then leaves the group)."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


if __name__ == "__main__":
    sys.exit(main())
