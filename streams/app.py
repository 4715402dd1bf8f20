"""The worker: the faust app that runs its tasks, around :class:`~streams.matching.pipeline.Pipeline`.

reads, reads-late --screen--> candidates (by canonical key) --confirm--> alerts (raised, or a sighting)
                    \\--> reads-rejected

The screen and confirm stages are one consumer loop of the project's own (streams/screening.py,
issue 19): a fetched batch is screened together, its outputs sent and acknowledged by Kafka, then
its offsets committed (at least once). faust runs the rest: the hot-list view, the alerts topic
read back (memory), the camera registry, the audit checkpoints and the metrics endpoint.

Rejected records carry their source record's Kafka timestamp (the capture time of its earliest
read), candidates the time their source read arrived; a rejection of a late read (reads-late),
and anything whose source is older than its topic accepts, is counted (``alpr_not_stored_total``),
never stored (P11). The worker's producer is idempotent (acks=all).

Each worker also follows the alerts topic (read back from an hour ago at start): alerts raised
and sighted there are not raised again when a read is redelivered or a partition changes hands,
and an alert people close takes no more sightings (the plate's next read raises a new alert).
Alert ids are deterministic, and a worker drops an alert it has already raised, so redelivery
never shows a dispatcher a second alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from faust.app.base import BootStrategy
from prometheus_client import Counter

from streams.access.checkpoint import keep_checkpointing
from streams.cameras.active import ActiveCameras
from streams.cameras.registry import site_watch
from streams.hotlists.sync import refresh_span_s
from streams.hotlists.view import HotlistView
from streams.kafka.log import TopicFollower
from streams.kafka.topics import create_topics
from streams.matching.matcher import HotlistIndex, MatchRules
from streams.matching.normalize import OcrClasses
from streams.matching.pipeline import Pipeline
from streams.matching.snapshot import SnapshotScope, rules_digest
from streams.metrics import Metrics
from streams.reads.lateness import StoreBounds
from streams.screening import ScreenLoop
from streams.settings import Settings

__all__ = [
    "Worker",
    "create_worker",
    "match_rules",
    "new_index",
]

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


class _Boot(BootStrategy):
    """faust runs the worker's tasks only (hot list, memory, registry, audit, metrics): the screen
    and confirm stages are the project's own consumer loop (streams/screening.py), with its own
    consumer and producer, so faust starts neither (nor joins a group)."""

    enable_kafka = False


class _App(faust.App):
    BootStrategy = _Boot


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    """The app and the objects its tasks use; built by :func:`create_worker`."""

    def __init__(
        self,
        app: faust.App,
        pipeline: Pipeline,
        view: HotlistView,
        metrics: Metrics,
        remembered: asyncio.Event,
        cameras_loaded: asyncio.Event,
        stage: ScreenLoop,
    ) -> None:
        self.app = app
        self.stage = stage  # the screen and confirm loop (streams/screening.py)
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

    async def catch_up_memory() -> None:
        """A partition taken over from a worker that stopped (or died) is decided with what that
        worker wrote known: its records are read once the alerts topic has been read up to now
        (at start the loop waits for the read-back instead)."""
        if remembered.is_set():
            await memory.caught_up()

    stage = ScreenLoop(
        settings,
        pipeline,
        metrics,
        not_stored,
        registry_as_of=registry_as_of,
        catch_up_memory=catch_up_memory,
    )

    async def loaded() -> None:
        await view.wait_ready()
        await registry_loaded.wait()
        await remembered.wait()

    @app.task  # type: ignore[untyped-decorator]
    async def screen_and_confirm() -> None:
        try:
            # readiness: `alpr run` starts its feed once this (and the group) says so
            await stage.run(loaded, ready=lambda: metrics.screening.set(1))
        except Exception as exc:
            # A send Kafka did not take: the batch is not committed; a restart screens it again.
            log.critical("the screen loop failed; stopping the worker: %r", exc)
            await app.crash(exc)
            raise

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

    return Worker(app, pipeline, view, metrics, remembered, registry_loaded, stage)


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
