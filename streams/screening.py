"""The worker's screen and confirm stages: a consumer loop of the project's own (issue 19).

reads, reads-late --screen--> candidates, reads-rejected; candidates --confirm--> alerts

One aiokafka consumer in the worker's group (``ALPR_APP_ID``) takes what is fetched together from
the three topics (about :data:`BATCH_READS` reads), screens the reads records as one batch
(:meth:`Pipeline.screen_records`: one decode pass, one registry pass, one matcher pass), confirms
the candidates, sends everything they produced, waits once for Kafka's acknowledgement of all of
it, sends the rejected records (streams/kafka/outbox.py), and only then commits the batch's
offsets. Under faust each record paid faust's per-event dispatch, ack bookkeeping and one wait for
Kafka of its own (the worker ran at 0.15x a plain Quix Streams matcher); batching inside faust
(``take_events``) was faster but hung once after a frozen broker, because faust's rebalance waits
until every record in hand is acked and its stream kept a reference to the last one.

At least once, never ahead: an offset is committed only after Kafka has acknowledged every record
the records below it produced. A send that fails stops the loop (and the worker) before the commit,
so the records are screened again after a restart; a commit refused because the group rebalanced
is dropped (the partitions' new owner starts from the last commit). Candidates screened twice are
confirmed into the same deterministic alert ids, which the confirm stage drops once raised
(``Pipeline.remember`` reads the alerts topic back, and :meth:`ScreenLoop.on_partitions_assigned`
catches it up before a partition taken over is read).

Rebalances: the revoke callback waits until the batch in hand is sent and committed (a lock the
loop holds from fetch to commit), and a batch fetched across a rebalance is dropped and its
partitions rewound to the committed offsets (:func:`rewind_to_committed`). The clients retry a
frozen or killed broker or coordinator on their own (the producer its sends, the consumer its
fetches and commits against a coordinator it looks up again); nothing here waits on a condition
only the other side of a rebalance could bring about.

aiokafka is the client (as everywhere else in the project): the profile (README, "Worker
throughput") puts most of the loop's time in the screen itself and 8-15% in aiokafka's fetch
parsing, too little for a second client (confluent-kafka) to pay for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from prometheus_client import Counter

from streams.kafka.log import METADATA_MAX_AGE_MS
from streams.kafka.outbox import Outbox
from streams.matching.pipeline import Outcome, Pipeline, Source
from streams.metrics import Metrics
from streams.reads.lateness import LATE, ON_TIME, SENT_HEADER, StoreBounds
from streams.settings import Settings

__all__ = ["BATCH_READS", "FETCH_MAX_WAIT_MS", "ScreenLoop", "rewind_to_committed", "written_ms"]

log = logging.getLogger(__name__)

#: A fetch that finds nothing waits this long before it asks again: a read crosses two topics on
#: its way to an alert, and 100 ms keeps an idle worker's polling cheap.
FETCH_MAX_WAIT_MS = 100
#: Reads taken (and committed) together, about: a backlog is screened in large batches, one
#: matcher pass, one wait for Kafka and one commit each (measured on records of 20: 2,000 records
#: a batch screened 20% faster than 500, at the same CPU a read); a quiet stream goes as it
#: arrives. Counted in reads, not records, so a revoke waits for at most about this many reads
#: to be screened (well within the group's rebalance timeout) whatever a record holds.
BATCH_READS = 100_000
#: The bounds of the records a fetch hands over (aiokafka counts records), and the first guess.
MIN_RECORDS, FIRST_RECORDS, MAX_RECORDS = 50, 500, 2_000
#: A member hears of a rebalance with its next heartbeat: a worker joining gets its share of a
#: backlog sooner, at five small requests a second.
HEARTBEAT_MS = 200
#: The largest record a producer of ours writes (streams/kafka/topics.py MAX_MESSAGE_BYTES).
MAX_BYTES = 8 * 1024 * 1024
#: How long the producer keeps retrying a send (faust's default, which the worker had): a broker
#: frozen for minutes delays the batch, one gone for good fails it and stops the worker.
SEND_TIMEOUT_MS = 1_200_000


async def rewind_to_committed(consumer: Any) -> dict[Any, int | None]:
    """Seek every assigned partition back to its committed offset, and one with none (or 0) back to
    where the consumer's reset policy starts it (the earliest record here).

    aiokafka's ``seek_to_committed`` skips a partition without a committed offset, so its position
    would stay past records fetched and then dropped (faust-streaming issues 216 and 221: a
    partition taken over from a worker that died before its first commit lost its first records).
    The loop drops a batch fetched across a rebalance and rewinds with this.
    """
    committed: dict[Any, int | None] = await consumer.seek_to_committed()
    fresh = [tp for tp, offset in committed.items() if not offset]
    if fresh:
        fetcher = consumer._fetcher  # noqa: SLF001 - what aiokafka does for a partition never read
        reset = fetcher.request_offset_reset(fresh, fetcher._default_reset_strategy)  # noqa: SLF001
        # Not awaited (a failover must not hold up the rebalance): the fetcher resolves it before
        # its next fetch of those partitions; a reset cancelled by the next rebalance is no error.
        reset.add_done_callback(lambda done: done.cancelled() or done.exception())
    return committed


def written_ms(headers: Iterable[tuple[str, bytes]] | None) -> float:
    """When a read record was written: the producer's ``sent-ms`` header (its Kafka timestamp is
    the capture time); without one, now (the registry catch-up is then never skipped)."""
    for key, value in headers or ():
        if key == SENT_HEADER:
            try:
                return float(value)
            except ValueError:
                break
    return time.time() * 1000


async def _now() -> None:
    return None


class ScreenLoop(ConsumerRebalanceListener):  # type: ignore[misc]
    """Screens the reads topics and confirms candidates, a fetched batch at a time (see the module).

    ``registry_as_of(written_ms)`` catches the camera registry up to when a record was written
    (True: it did, judge the record again); ``catch_up_memory()`` waits until the alerts topic has
    been read up to now (before a partition assigned is read).
    """

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        metrics: Metrics,
        not_stored: Counter,
        *,
        registry_as_of: Callable[[float], Awaitable[bool]],
        catch_up_memory: Callable[[], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics
        self.not_stored = not_stored
        self.registry_as_of = registry_as_of
        self.catch_up_memory = catch_up_memory
        self.take = FIRST_RECORDS  # records per fetch: BATCH_READS at the last batch's reads a record
        self.late_topic = settings.topic(LATE)
        self.candidates_topic = settings.topic("candidates")
        self.alerts_topic = settings.topic("alerts")
        self.rejected_topic = settings.topic("reads-rejected")
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.outbox = Outbox(
            send=self._send_rejected,
            bound_ms=StoreBounds.of(settings).rejected_ms,
            clock_ms=lambda: int(pipeline.clock().timestamp() * 1000),  # the screen's own clock
            not_stored=lambda refusals: not_stored.labels("rejected").inc(refusals),
        )
        #: held from a batch's fetch being handed over to its commit; the revoke callback takes it
        self._in_hand = asyncio.Lock()
        self._generation = 0  # bumped by every revoke: a batch fetched before one is dropped

    async def _send_rejected(self, key: bytes | None, value: bytes, ms: int | None) -> Awaitable[Any]:
        assert self.producer is not None  # noqa: S101 - set by run()
        delivered: Awaitable[Any] = await self.producer.send(
            self.rejected_topic, value, key=key, timestamp_ms=ms
        )
        return delivered

    def _new_consumer(self) -> AIOKafkaConsumer:
        settings = self.settings
        return AIOKafkaConsumer(
            **settings.kafka.options(),
            group_id=settings.app_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            max_partition_fetch_bytes=MAX_BYTES,
            fetch_max_bytes=4 * MAX_BYTES,
            session_timeout_ms=1000 * max(10, 3 * settings.rebalance_timeout_s),
            heartbeat_interval_ms=HEARTBEAT_MS,
            rebalance_timeout_ms=1000 * settings.rebalance_timeout_s,
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
        )

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **self.settings.kafka.options(),
            acks="all",
            enable_idempotence=True,  # a send retried after a lost answer is stored once
            max_batch_size=512 * 1024,
            max_request_size=MAX_BYTES,
            request_timeout_ms=SEND_TIMEOUT_MS,
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
        )

    async def run(
        self, until_ready: Callable[[], Awaitable[None]] = _now, ready: Callable[[], None] = lambda: None
    ) -> None:
        """Join the group once ``until_ready()`` returns (the hot list and the registry loaded),
        then screen until cancelled; a failed send or a non-retriable Kafka error ends it (raised).

        Joining only when ready means a worker that starts, or restarts after an upgrade that
        makes it load its hot list from the topic (minutes at NCIC scale), takes no partition
        from the workers that screen meanwhile: with several workers, a rolling restart leaves
        no partition unscreened while a worker loads."""
        self.producer = producer = self._new_producer()
        self.consumer = consumer = self._new_consumer()
        try:
            await producer.start()
            await consumer.start()
            await until_ready()
            topics = [self.settings.topic(ON_TIME), self.late_topic, self.candidates_topic]
            consumer.subscribe(topics, listener=self)
            ready()
            while True:
                generation = self._generation
                batch = await consumer.getmany(timeout_ms=FETCH_MAX_WAIT_MS, max_records=self.take)
                async with self._in_hand:
                    if generation != self._generation:
                        if batch:  # fetched across a rebalance: start again from the commits
                            await rewind_to_committed(consumer)
                        continue
                    if batch:
                        await self.process(batch)
        finally:
            self.consumer = self.producer = None
            await consumer.stop()
            await producer.stop()

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Give partitions up only once the batch in hand is sent and committed (or dropped)."""
        log.info("partitions revoked: %d; finishing the batch in hand", len(revoked))
        async with self._in_hand:
            self._generation += 1
            self.outbox.forget(revoked)
            self.metrics.partitions.set(0)
        log.info("partitions given up: %d", len(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """A partition taken over from a worker that stopped (or died) is decided with what that
        worker wrote known: the alerts topic is read up to now before its records are."""
        log.info("partitions assigned: %d; reading the alerts topic up to now first", len(assigned))
        if assigned:
            await self.catch_up_memory()
        self.metrics.partitions.set(len(assigned))
        log.info("partitions taken: %d", len(assigned))

    async def process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        """Screen and confirm one fetched batch, send what it produced, wait for Kafka, commit."""
        started = time.perf_counter()
        screened: list[tuple[Source, TopicPartition]] = []
        confirmed: list[Outcome] = []
        produced: list[tuple[Outcome, TopicPartition, int]] = []
        arrivals: list[float] = []
        for tp, records in batch.items():
            if tp.topic == self.candidates_topic:
                for record in records:
                    where = (tp.topic, tp.partition, record.offset)
                    out = self.pipeline.confirm_record(record.value, where, record.timestamp)
                    confirmed.append(out)
                    produced.append((out, tp, record.offset))
                continue
            late = tp.topic == self.late_topic
            for record in records:
                arrival = written_ms(record.headers)
                arrivals.append(arrival)
                where = (tp.topic, tp.partition, record.offset)
                screened.append((Source(record.value, where, record.timestamp, round(arrival), late), tp))
        if screened:
            outs = await self._screen([source for source, _ in screened], arrivals)
            produced += [(out, tp, source.where[2]) for out, (source, tp) in zip(outs, screened, strict=True)]
            self.metrics.observe_screened(outs, time.perf_counter() - started)
            reads = sum(out.reads for out in outs)
            if reads:
                self.take = min(MAX_RECORDS, max(MIN_RECORDS, BATCH_READS * len(outs) // reads))
        for out in confirmed:
            self.metrics.observe(out)
        await self._send(produced)
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        await self.outbox.publish(offsets)
        assert self.consumer is not None  # noqa: S101 - set by run()
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved on: the partitions' new owner screens from the last commit.
            log.warning("offsets not committed (the group rebalanced): %s", exc)

    async def _screen(self, sources: list[Source], arrivals: list[float]) -> list[Outcome]:
        """The batch screen; a record refused for an unknown camera is judged again once the
        registry is caught up to when it was written (a camera registered just before)."""
        outs = self.pipeline.screen_records(sources)
        for i, out in enumerate(outs):
            if not (out.rejected or out.unstored_rejected):
                continue
            codes = [code for *_, codes in out.rejected for code in codes] + out.unstored_rejected
            if "unknown_camera" in codes and await self.registry_as_of(arrivals[i]):
                outs[i] = self.pipeline.screen_records([sources[i]])[0]
        return outs

    async def _send(self, produced: list[tuple[Outcome, TopicPartition, int]]) -> None:
        """Send candidates and alerts, and wait until Kafka has them all (one wait for the batch);
        rejected records go to the outbox, which sends them before the commit. Rejected records
        keep their source's timestamp (the capture time), candidates their source's arrival (P11)."""
        assert self.producer is not None  # noqa: S101 - set by run()
        send = self.producer.send
        sent = []
        for out, tp, offset in produced:
            for key, value, codes in out.rejected:
                self.outbox.add(tp, offset, key, value, out.timestamp_ms, len(codes))
            for key, partition, value in out.candidates:
                stamp = out.candidate_ms
                sent.append(
                    await send(self.candidates_topic, value, key=key, partition=partition, timestamp_ms=stamp)
                )
            for key, value, _alert in out.alerts:
                sent.append(await send(self.alerts_topic, value, key=key))
            for key, value, _sighting in out.sightings:  # keyed by alert id: its AlertRaised's partition
                sent.append(await send(self.alerts_topic, value, key=key))
            if out.unstored_rejected:
                for reason, count in Tally(out.unstored_rejected).items():
                    self.metrics.rejected.labels(reason).inc(count)
                self.not_stored.labels("rejected").inc(len(out.unstored_rejected))
            if out.unstored_candidates:
                self.not_stored.labels("candidate").inc(out.unstored_candidates)
        if sent:
            await asyncio.gather(*sent)
