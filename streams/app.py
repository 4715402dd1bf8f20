"""The Faust stream app: a thin adapter around :class:`~streams.matching.pipeline.Pipeline`.

reads, reads-late --screen--> candidates (by canonical key) --confirm--> alerts (raised, or a sighting)
                    \\--> reads-rejected

Rejected records carry their source record's Kafka timestamp (the capture time of its earliest
read), candidates the time their source read arrived; a rejection of a late read (reads-late),
and anything whose source is older than its topic accepts, is counted (``alpr_not_stored_total``),
never stored (P11). The worker's producer is idempotent (acks=all).

Each worker also follows the alerts topic (read back from an hour ago at start): alerts raised
and sighted there are not raised again when a read is redelivered or a partition changes hands,
and an alert people close takes no more sightings (the plate's next read raises a new alert).

At-least-once: offsets are committed after the producer has flushed what an
event produced; alert ids are deterministic, and a worker drops an alert it
has already raised, so redelivery never shows a dispatcher a second alert.
Agent concurrency stays 1 (faust-streaming issue 606 loses messages on
restart with concurrency > 1).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from faust.exceptions import ProducerSendError
from faust.transport.drivers import aiokafka as faust_kafka
from prometheus_client import Counter

from streams.access.checkpoint import keep_checkpointing
from streams.cameras.active import ActiveCameras
from streams.cameras.registry import site_watch
from streams.hotlists.sync import refresh_span_s
from streams.hotlists.view import HotlistView
from streams.kafka.log import METADATA_MAX_AGE_MS, TopicFollower
from streams.kafka.outbox import Outbox
from streams.kafka.topics import create_topics
from streams.matching.matcher import HotlistIndex, MatchRules
from streams.matching.normalize import OcrClasses
from streams.matching.pipeline import Outcome, Pipeline, Source
from streams.matching.snapshot import SnapshotScope, rules_digest
from streams.metrics import Metrics
from streams.reads.lateness import LATE, ON_TIME, SENT_HEADER, StoreBounds
from streams.settings import Settings

__all__ = ["Worker", "create_worker", "match_rules", "new_index", "rewind_to_committed"]

log = logging.getLogger(__name__)


#: The topics a worker reads or writes: the only ones it creates when missing (its Kafka user's
#: ACLs cover these and no others; deploy/kafka/k8s/kafka-user.yaml).
WORKER_TOPICS = (
    "reads",
    "reads-late",
    "candidates",
    "alerts",
    "reads-rejected",
    "hotlist",
    "hotlist-sources",
    "cameras",
    "audit",  # read: its head is signed on a timer (P14)
    "audit-checkpoints",
)

#: faust-streaming creates its consumer with fetch_max_wait_ms=1500 (not a setting): a fetch that
#: finds nothing waits that long before it asks again, and a read crosses two topics on its way to
#: an alert (measured: 1.1 s from read to the console). 100 ms keeps an idle worker's polling cheap.
FETCH_MAX_WAIT_MS = 100


async def rewind_to_committed(consumer: Any) -> dict[Any, int | None]:
    """Seek every assigned partition back to its committed offset, and one with none (or 0) back to
    where the consumer's reset policy starts it (the earliest record here): what faust means by
    "seek to committed".

    faust-streaming 0.15.3 drops records it has already fetched when a rebalance stops the flow
    (``Consumer.getmany``: "Seek back to committed offsets"; or a generation change mid-batch) and
    relies on this seek to fetch them again; aiokafka's ``seek_to_committed`` skips a partition
    without a committed offset, so its position stayed past the dropped records, and the offsets
    acked after them were committed over them (faust-streaming issues 216 and 221: a partition
    taken over from a worker that died before its first commit lost its first records).
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


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # noqa: SLF001 - read by start()
        return consumer

    async def seek_to_committed(self) -> Any:
        """See :func:`rewind_to_committed` (faust-streaming issues 216, 221)."""
        return await self.call_thread(rewind_to_committed, self._ensure_consumer())


class _Consumer(faust_kafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _handle_attached(self, commit_offsets: Any) -> None:
        """Before offsets are committed: the rejected records of the records below them are sent
        and acknowledged by Kafka (streams/kafka/outbox.py); a failure stops the commit and the
        worker (faust's ProducerSendError), so they are screened again after a restart."""
        outbox: Outbox | None = getattr(self.app, "rejected_outbox", None)
        if outbox is not None:
            assigned = self.assignment()
            outbox.forget([tp for tp in outbox.waiting if tp not in assigned])
            try:
                await outbox.publish(commit_offsets)
            except Exception as exc:
                raise ProducerSendError(f"rejected records not sent: {exc!r}") from exc
        await super()._handle_attached(commit_offsets)

    def ack(self, message: Any) -> bool:
        """Never acknowledge a record fetched before a rebalance (an earlier generation) or while
        the flow is stopped: faust-streaming's stream skips such a record and still acks it (PR
        223), which would let the commit pass it before its copy, fetched again from the committed
        offset, is processed; a crash then would lose it. Not acking costs at most a redelivery,
        which alert ids make harmless."""
        if message.generation_id != self.app.consumer_generation_id or not self.app.flow_control.is_active():
            return False
        return bool(super().ack(message))


class _Producer(faust_kafka.Producer):
    """faust-streaming 0.15.3 enables idempotence only with exactly-once processing (transactions,
    which this app does not use): a send retried after a lost answer must not store twice."""

    def _settings_extra(self) -> Any:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class _Transport(faust_kafka.Transport):
    Consumer = _Consumer
    Producer = _Producer


class _App(faust.App):
    """faust.App with a consumer that asks for new records every 100 ms when idle, and an
    idempotent producer."""

    #: rejected records waiting for their sources' offsets to be committed (create_worker)
    rejected_outbox: Outbox | None = None

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        return _Transport(self.conf.broker_producer, self)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _seconds(timestamp_ms: int | None) -> float | None:
    """A Kafka timestamp as faust's ``send`` takes it (seconds; it truncates ``s * 1000``, so half
    a millisecond more keeps the exact millisecond)."""
    return None if timestamp_ms is None else (timestamp_ms + 0.5) / 1000


def _source_ms(message: Any) -> int | None:
    """A consumed record's Kafka timestamp in milliseconds (faust gives seconds)."""
    return None if message.timestamp is None else round(message.timestamp * 1000)


def _written_ms(message: Any) -> float:
    """When a read record was written: the producer's ``sent-ms`` header (its Kafka timestamp is
    the capture time); without one, now (the registry catch-up is then never skipped)."""
    for key, value in message.headers or ():
        if key == SENT_HEADER:
            try:
                return float(value)
            except ValueError:
                break
    return time.time() * 1000


def match_rules(settings: Settings) -> MatchRules:
    profile = settings.profile
    return MatchRules(
        OcrClasses.of(settings.ocr_classes),
        settings.ocr_max_substitutions,
        profile.hotlist_max_staleness_s,
        live_alert_max_age_s=profile.live_alert_max_age_minutes * 60.0,
        refresh_span_s=refresh_span_s(profile),
    )


def new_index(settings: Settings) -> HotlistIndex:
    return HotlistIndex(match_rules(settings), settings.bloom_error_rate)


class Worker:
    """The app and the objects its agents use; built by :func:`create_worker`."""

    def __init__(
        self,
        app: faust.App,
        pipeline: Pipeline,
        view: HotlistView,
        metrics: Metrics,
        remembered: asyncio.Event,
        cameras_loaded: asyncio.Event,
    ) -> None:
        self.app = app
        self.pipeline = pipeline
        self.view = view
        self.metrics = metrics
        self.remembered = remembered  # set once the alerts topic has been read back (Pipeline.remember)
        self.cameras_loaded = cameras_loaded  # set once the camera registry has been read


def create_worker(settings: Settings, *, clock: Any = utcnow) -> Worker:
    from streams.access.secretbox import private_dir

    private_dir(settings.state_dir)  # faust's data folder goes here, not into the current directory
    app = _App(
        settings.app_id,
        datadir=str(settings.state_dir / f"{settings.app_id}-data"),
        broker=settings.faust_broker,
        broker_credentials=settings.kafka.faust_credentials(),
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=max(10, 3 * settings.rebalance_timeout_s),
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        producer_max_request_size=8 * 1024 * 1024,
        producer_acks=-1,  # every in-sync replica (and idempotent: _Producer)
        consumer_max_fetch_size=8 * 1024 * 1024,
        consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
    )
    index = new_index(settings)
    metrics = Metrics()
    metrics.track_entries(lambda: len(index), lambda: index.partial_count)
    not_stored = Counter(
        "alpr_not_stored",
        "Records not stored because their source read is older than the topic keeps (P11), by kind",
        ["record"],
        registry=metrics.registry,
    )
    sites = site_watch(settings)  # P24: reads inside an exclusion zone are never stored
    cameras = ActiveCameras(sites) if settings.require_registered_camera else None
    pipeline = Pipeline(
        index,
        partitions=settings.partitions,
        retention=settings.profile.read_retention,
        max_skew=timedelta(seconds=settings.max_clock_skew_s),
        clock=clock,
        sighting_window=timedelta(minutes=settings.profile.dedup_window_minutes),
        cameras=cameras,
        sites=sites,
        bounds=StoreBounds.of(settings),
    )
    hotlist_topics = (settings.topic("hotlist"), settings.topic("hotlist-sources"))
    snapshots = SnapshotScope(
        settings.state_dir / "hotlist",
        rules_digest(index.rules),
        cluster="",  # the view asks the cluster
        topics=hotlist_topics,
        max_age_s=settings.profile.broker.tombstone_retention_ms / 2000,  # tombstones outlive it
    )
    view = HotlistView(settings.kafka, *hotlist_topics, index, snapshots, settings.hotlist_snapshot_every_s)
    metrics.track_sources(index, settings.profile.hotlist_max_staleness_s, clock)

    def raw_topic(name: str) -> faust.TopicT:
        return app.topic(settings.topic(name), key_serializer="raw", value_serializer="raw")

    # One agent screens both (concurrency 1): the reads-late topic is partitioned by camera too.
    reads = app.topic(
        settings.topic(ON_TIME), settings.topic(LATE), key_serializer="raw", value_serializer="raw"
    )
    late_topic = settings.topic(LATE)
    candidates = raw_topic("candidates")
    alerts = raw_topic("alerts")
    rejected_name = settings.topic("reads-rejected")

    outbox = Outbox(
        send=lambda key, value, ms: app.producer.send(rejected_name, key, value, None, _seconds(ms), None),
        bound_ms=StoreBounds.of(settings).rejected_ms,
        clock_ms=lambda: int(time.time() * 1000),
        not_stored=lambda refusals: not_stored.labels("rejected").inc(refusals),
    )
    app.rejected_outbox = outbox

    async def emit(produced: list[tuple[Outcome, Any]]) -> None:
        """Send what records produced (each outcome with its source message). Candidates and alerts
        are sent now and awaited until Kafka has them all: only then does the agent take the next
        events, and faust commit their offsets (at least once, even across a crash). The rejected
        record waits in the outbox for the commit of its source's offset, which sends it first,
        grouped with the others, and commits only once Kafka has them (streams/kafka/outbox.py): as
        safe, and a bad record costs no round trip of its own (issue 17). Rejected records keep
        their source's timestamp (the capture time), candidates their source's arrival (P11)."""
        # Each send only queues the record (it waits only when the producer's buffer is full, in
        # order); the deliveries are awaited together below: one wait for all the records taken
        # together, not one round trip to Kafka per record with a candidate in it.
        sent = []
        for out, source in produced:
            for key, value, codes in out.rejected:
                outbox.add(source.tp, source.offset, key, value, out.timestamp_ms, len(codes))
            if out.candidates:
                arrived = _seconds(out.candidate_ms)
                for key, partition, value in out.candidates:
                    sent.append(
                        await candidates.send(key=key, value=value, partition=partition, timestamp=arrived)
                    )
            for key, value, _alert in out.alerts:
                sent.append(await alerts.send(key=key, value=value))
            for key, value, _sighting in out.sightings:
                # keyed by alert id: its AlertRaised's partition
                sent.append(await alerts.send(key=key, value=value))
            if out.unstored_rejected:
                for reason, count in Tally(out.unstored_rejected).items():
                    metrics.rejected.labels(reason).inc(count)
                not_stored.labels("rejected").inc(len(out.unstored_rejected))
            if out.unstored_candidates:
                not_stored.labels("candidate").inc(out.unstored_candidates)
        if sent:
            await asyncio.gather(*sent)

    # Every alert and event on the alerts topic, this worker's or another's: read back from the
    # pipeline's memory span at start, then followed. See Pipeline.remember.
    memory = TopicFollower(
        settings.kafka,
        [settings.topic("alerts")],
        lambda _tp, record: pipeline.remember(record.value),
    )
    remembered = asyncio.Event()

    # The camera registry (issue 9): read whole before the first read is screened, then followed.
    registry = (
        TopicFollower(
            settings.kafka, [settings.topic("cameras")], lambda _tp, r: cameras.apply(r.key, r.value)
        )
        if cameras is not None
        else None
    )
    registry_loaded = asyncio.Event()
    metrics.track_followed(
        lambda: {**view.positions, **memory.positions(), **(registry.positions() if registry else {})}
    )
    registry_checked_ms = 0.0  # every registration written before this time is applied

    async def registry_as_of(record_ms: float) -> bool:
        """Catch the registry up unless it already holds every registration written before the
        record was (True: it was caught up, judge the record again). A burst of reads from an
        unregistered camera costs one catch-up per ~100 ms, not one per record."""
        nonlocal registry_checked_ms
        if registry is None or record_ms <= registry_checked_ms:
            return False
        started_ms = time.time() * 1000
        await registry.caught_up()
        registry_checked_ms = started_ms
        return True

    @app.agent(reads, name="screen-reads", concurrency=1)
    async def screen_reads(stream: faust.StreamT[bytes]) -> None:
        await view.wait_ready()
        await registry_loaded.wait()
        metrics.screening.set(1)  # readiness: `alpr run` starts its feed once this (and the group) says so
        # One record at a time: faust acks it once this loop's body is done with it, so its offset
        # is committed only after what it produced is stored (at least once). Taking records in
        # batches (faust take_events) screened 1.9x faster on records of 200, but a worker hung
        # once after a frozen broker in the cluster fault test; it waits for a batching loop whose
        # acks and rebalances are the project's own (issue 19).
        async for event in stream.events():
            await screen_batch([event])

    async def screen_batch(events: Sequence[Any]) -> None:
        """Screen records taken together; a record refused for an unknown camera is judged again
        once the registry is caught up to when it was written (a camera registered just before)."""
        started = time.perf_counter()
        messages = [event.message for event in events]
        arrivals = [round(_written_ms(msg)) for msg in messages]
        records = [
            Source(
                event.value,
                (msg.topic, msg.partition, msg.offset),
                _source_ms(msg),
                arrival,
                msg.topic == late_topic,
            )
            for event, msg, arrival in zip(events, messages, arrivals, strict=True)
        ]
        outs = pipeline.screen_records(records)
        for i, out in enumerate(outs):
            if not (out.rejected or out.unstored_rejected):
                continue
            codes = [code for *_, codes in out.rejected for code in codes] + out.unstored_rejected
            if "unknown_camera" in codes and await registry_as_of(arrivals[i]):
                outs[i] = pipeline.screen_records([records[i]])[0]
        await emit(list(zip(outs, messages, strict=True)))
        metrics.observe_screened(outs, time.perf_counter() - started)

    @app.agent(candidates, name="confirm-candidates", concurrency=1)
    async def confirm_candidates(stream: faust.StreamT[bytes]) -> None:
        await view.wait_ready()
        await remembered.wait()
        async for event in stream.events():
            msg = event.message
            out = pipeline.confirm_record(
                event.value, (msg.topic, msg.partition, msg.offset), _source_ms(msg)
            )
            await emit([(out, msg)])
            metrics.observe(out)

    @app.task  # type: ignore[untyped-decorator]
    async def follow_alerts() -> None:
        since = clock() - pipeline.memory_span - timedelta(minutes=1)  # record times: send times
        await memory.start(int(since.timestamp() * 1000))
        remembered.set()
        try:
            await memory.run()
        finally:
            await memory.stop()

    @app.task  # type: ignore[untyped-decorator]
    async def follow_registry() -> None:
        nonlocal registry_checked_ms
        if registry is None:
            registry_loaded.set()
            return
        started_ms = time.time() * 1000
        await registry.start()
        registry_checked_ms = started_ms
        log.info("camera registry: %d cameras", len(cameras or ()))
        registry_loaded.set()
        try:
            await registry.run()
        finally:
            await registry.stop()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def before_taking_partitions(_app: Any, *_args: Any, signal: Any = None, **_kwargs: Any) -> None:
        """A partition taken over from a worker that stopped (or died) is decided with what that
        worker wrote known: the rebalance completes once the alerts topic has been read up to now."""
        if remembered.is_set():
            await memory.caught_up()

    @app.task  # type: ignore[untyped-decorator]
    async def follow_hotlist() -> None:
        try:
            await view.run()
        except Exception as exc:
            # Matching against a hot list that no longer follows its topic is not allowed to go on.
            log.critical("the hot-list view failed; stopping the worker: %r", exc)
            await app.crash(exc)
            raise

    @app.task  # type: ignore[untyped-decorator]
    async def sign_audit_head() -> None:
        """P14: the audit trail's head signed at start and every ALPR_AUDIT_CHECKPOINT_S, with the
        key kept outside Kafka, so a rewrite or a cut of the trail shows (alpr audit verify)."""
        if settings.audit_checkpoint_s:
            await keep_checkpointing(
                settings,
                settings.audit_checkpoint_s,
                settings.topic("audit"),
                settings.topic("audit-checkpoints"),
            )

    @app.task  # type: ignore[untyped-decorator]
    async def serve_metrics() -> None:
        if settings.metrics_port:
            metrics.serve(settings.metrics_host, settings.metrics_port)
            log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)

    return Worker(app, pipeline, view, metrics, remembered, registry_loaded)


def run_worker(settings: Settings) -> None:
    """Create missing topics with their configs, then run the worker in the foreground until interrupted.

    Topics come first: subscribing to a missing topic would have a broker with
    auto-creation create it without the retention the policy needs.
    """
    created = asyncio.run(create_topics(settings, only=WORKER_TOPICS))
    if created:
        log.info("created topics: %s", ", ".join(created))
    asyncio.set_event_loop(asyncio.new_event_loop())
    worker = create_worker(settings)
    faust.Worker(worker.app, loglevel=settings.log_level).execute_from_commandline()
