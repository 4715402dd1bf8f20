"""Every topic, declared in one place, with the configs that make the policy hold.

Read-data topics are sized so that retention.ms + segment.ms + the broker's
check interval stays within the agency's read retention (P11). Audit is kept
at least two years (P14).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from streams.errors import BrokerError
from streams.retention.policy import DAY_MS, Timing, retention_ms_within
from streams.settings import Settings

__all__ = [
    "AGGREGATES",
    "AGGREGATES_RETENTION_DAYS",
    "READ_DATA",
    "TopicSpec",
    "create_topics",
    "describe_topics",
    "existing_partitions",
    "topic_specs",
]

READ_DATA = "read data"
#: How old a record stamped when sent may be when the broker appends it (batching, retries).
SEND_SLACK_MS = 60_000
#: max.message.bytes of read-data topics: the producers' max request size (Kafka's default is 1 MB).
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
#: Sign-in state outlives the longest session and lockout; the audit topic keeps the sign-ins (P14).
SIGNIN_RETENTION_DAYS = 7
#: Counts without plates (reads, hits, accesses, outcomes per day) for the annual report (P26).
AGGREGATES = "aggregates"
#: The report's year and the one before it stay available all through the following year.
AGGREGATES_RETENTION_DAYS = 3 * 366
#: Signed checkpoints of the audit trail's head (P14) outlive the audit records they vouch for: a
#: record leaves with its 7-day segment up to retention + a week after it was written, and the
#: checkpoint that shows retention (not a person) removed it must still be there then.
CHECKPOINT_MARGIN_DAYS = 30


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str  # without the prefix
    partitions: int
    cleanup_policy: str
    retention_ms: int | None  # None: compacted, kept until tombstoned
    segment_ms: int
    holds: str
    data_class: str  # read data, evidence, hot list, alerts, audit, registry
    #: Other topic configs: record timestamp bounds of read data (message.timestamp.*), the
    #: compaction timing of compacted topics.
    extra: tuple[tuple[str, str], ...] = ()
    #: Read data: how long after capture a read may arrive here (its retention.ms leaves room for
    #: it). For topics stamped at capture the broker enforces it (before.max.ms); for those stamped
    #: at send or arrival the producers' routing does (streams/reads/lateness.py).
    lateness_ms: int = 0

    def configs(self) -> dict[str, str]:
        out = {"cleanup.policy": self.cleanup_policy, "segment.ms": str(self.segment_ms)}
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        out.update(self.extra)
        return out


def _read_data(
    name: str,
    n: int,
    lifetime_ms: int,
    max_lateness_ms: int,
    skew_ms: int,
    timing: Timing,
    holds: str,
    stamped: str = "capture",
) -> TopicSpec:
    """A delete-policy topic of read data that must be gone ``lifetime_ms`` after capture, for reads
    that arrive up to ``max_lateness_ms`` after capture (P11).

    Kafka deletes a segment once its newest timestamp is older than retention.ms; a record's newest
    neighbour was stamped at most its arrival + skew (+ segment.ms), so retention.ms leaves room for
    the lateness, the skew, the segment and the check interval. ``stamped`` says what a record's
    timestamp (CreateTime) is, and so what the broker may refuse as too old:
    ``capture``: the read's capture time, refused beyond ``max_lateness_ms``;
    ``send``: when it was sent (late reads, which a capture-time stamp would make deletable at
    once), refused beyond :data:`SEND_SLACK_MS`;
    ``arrival``: when its source read arrived (candidates), refused beyond retention.ms (it would
    be deleted at once)."""
    segment = min(timing.read_segment_ms, max(1000, lifetime_ms // 8))
    retention = retention_ms_within(
        lifetime_ms - max_lateness_ms - skew_ms, segment, timing.retention_check_ms
    )
    before_max = {
        "capture": max_lateness_ms,
        "send": min(SEND_SLACK_MS, retention // 2),
        "arrival": retention,
    }[stamped]
    extra = (
        ("message.timestamp.type", "CreateTime"),
        ("message.timestamp.before.max.ms", str(before_max)),
        ("message.timestamp.after.max.ms", str(skew_ms)),
        # a batch of reads, or a rejected record quoting an oversized one (codec.MAX_RECORD_BYTES),
        # up to the producers' 8 MB max request size
        ("max.message.bytes", str(MAX_MESSAGE_BYTES)),
    )
    return TopicSpec(name, n, "delete", retention, segment, holds, READ_DATA, extra, max_lateness_ms)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The declaration. Candidates are partitioned by canonical key; the hot list by entry key."""
    profile = settings.profile
    timing = profile.broker
    n = settings.partitions
    skew = settings.max_clock_skew_s * 1000
    read_segment = timing.read_segment_ms
    hits = profile.hit_retention_days
    alerts_retention = (
        -1 if hits is None else retention_ms_within(hits * DAY_MS, read_segment, timing.retention_check_ms)
    )
    audit_retention = profile.audit_retention_days * DAY_MS
    compact = (
        ("delete.retention.ms", str(timing.tombstone_retention_ms)),
        ("max.compaction.lag.ms", str(timing.max_compaction_lag_ms)),
        ("min.cleanable.dirty.ratio", "0.1"),
    )

    def compacted(name: str, partitions: int, holds: str, data_class: str) -> TopicSpec:
        return TopicSpec(
            name, partitions, "compact", None, timing.compact_segment_ms, holds, data_class, compact
        )

    late_from, too_late = timing.late_reads_from_ms, timing.too_late_ms
    return [
        _read_data(
            "reads", n, timing.read_retention_ms, late_from, skew, timing, "read batches from cameras"
        ),
        _read_data(
            "reads-late",
            n,
            timing.read_retention_ms,
            too_late,
            skew,
            timing,
            "read batches that arrived late (kept shorter, so that no read outlives its retention)",
            stamped="send",
        ),
        _read_data(
            "reads-rejected",
            n,
            timing.read_retention_ms,
            late_from,
            skew,
            timing,
            "bad input with the reason",
        ),
        _read_data(
            "candidates",
            n,
            timing.read_retention_ms,
            too_late,
            skew,
            timing,
            "Bloom positives keyed by canonical key (internal)",
            stamped="arrival",
        ),
        TopicSpec(
            "hotlist-changes",
            n,
            "delete",
            max(400 * DAY_MS, 2 * profile.read_retention_days * DAY_MS),
            DAY_MS,
            "every add/update/remove event: history for replay",
            "hot list",
        ),
        compacted("hotlist", n, "current entries (key source:entry_id, partition by key)", "hot list"),
        compacted("hotlist-sources", 1, "sync status per feed", "hot list"),
        compacted("hotlist-pending", 1, "department entries awaiting approval (P2)", "hot list"),
        TopicSpec("alerts", n, "delete", alerts_retention, read_segment, "alert lifecycle events", "alerts"),
        compacted("evidence-holds", n, "held reads; release = tombstone", "evidence"),
        TopicSpec(
            "audit", 3, "delete", audit_retention, 7 * DAY_MS, "every access, query, login, approval", "audit"
        ),
        TopicSpec(
            "audit-checkpoints",
            1,
            "delete",
            audit_retention + CHECKPOINT_MARGIN_DAYS * DAY_MS,
            DAY_MS,
            "the audit trail's head signed with a key kept outside Kafka (P14)",
            "audit",
        ),
        compacted("cameras", 1, "camera registry", "registry"),
        compacted(
            "camera-keys", 1, "each camera's ingest key: its sha256 only, active or revoked", "registry"
        ),
        compacted("users", 1, "users: role, agency, training, credentials (P18, P21)", "registry"),
        compacted("agencies", 1, "agencies and sharing agreements (P19)", "registry"),
        compacted("services", 1, "service accounts: role, agency, token sha256 (P18)", "registry"),
        compacted(
            "webhooks", 1, "which eligible agency receives which cameras' alerts where (P19)", "registry"
        ),
        TopicSpec(
            "signins",
            1,  # one partition: one order of claims, so a code signs in once system-wide (P18)
            "delete",
            SIGNIN_RETENTION_DAYS * DAY_MS,
            DAY_MS,
            "sign-in state every process follows: used codes, failures, sessions, revocations (P18)",
            "registry",
        ),
        TopicSpec(
            "aggregates",
            1,
            "compact,delete",  # compact: a re-run replaces a day's counts; delete: gone after 3 years
            AGGREGATES_RETENTION_DAYS * DAY_MS,
            7 * DAY_MS,
            "counts per camera and day, no plates: reads, hits, accesses, outcomes (P26)",
            AGGREGATES,
        ),
    ]


def _admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**settings.kafka.options(), request_timeout_ms=15000)


async def create_topics(
    settings: Settings, only: Collection[str] | None = None, *, serving: bool = False
) -> list[str]:
    """Create missing topics with their configs (``only``: of these declared names); return the
    names created, once each of their partitions' leaders serves it. With ``serving``, wait so for
    the topics that existed too (a broker just restarted is still loading their logs, and a client
    right after it is told NOT_LEADER). A process whose Kafka user may not create topics (ACLs,
    README "Security") needs them to exist already, as they do when Strimzi's Topic Operator
    manages them."""
    specs = [s for s in topic_specs(settings) if only is None or s.name in only]
    admin = _admin(settings)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                settings.topic(s.name), s.partitions, settings.replication_factor, topic_configs=s.configs()
            )
            for s in specs
            if settings.topic(s.name) not in existing
        ]
        if new:
            response = await admin.create_topics(new)
            errors = [(t, code, msg) for t, code, msg in response.topic_errors if code not in (0, 36)]
            if errors:
                raise BrokerError(f"could not create topics: {errors}")
        waited = [settings.topic(s.name) for s in specs] if serving else [t.name for t in new]
        if waited:
            await _wait_for_leaders(settings, waited)
        return [t.name for t in new]
    except (OSError, KafkaError) as exc:
        raise BrokerError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()


async def _wait_for_leaders(settings: Settings, names: list[str], timeout_ms: int = 60_000) -> None:
    """Return once the leader of every partition of the topics serves it: Kafka answers
    CreateTopics before the leaders have created their logs (seconds for a hundred partitions on a
    small machine), and a client that comes right after would be told NOT_LEADER (the next command
    of a script, a worker started after `alpr topics --create`). A ListOffsets request to every
    partition is retried by the client until each leader answers it."""
    consumer = AIOKafkaConsumer(**settings.kafka.options(), request_timeout_ms=timeout_ms)
    fetcher_log = logging.getLogger("aiokafka.consumer.fetcher")
    level = fetcher_log.level
    fetcher_log.setLevel(logging.CRITICAL)  # each NOT_LEADER retry is logged as an error
    try:
        await consumer.start()
        tps: list[TopicPartition] = []
        for name in names:
            partitions: set[int] | None = None
            for _ in range(timeout_ms // 50):  # a moment before every broker's metadata lists it
                partitions = (await consumer._client.fetch_all_metadata()).partitions_for_topic(name)  # noqa: SLF001
                if partitions:
                    break
                await asyncio.sleep(0.05)
            if not partitions:
                raise BrokerError(f"topic {name} was created but no broker lists it")
            tps += [TopicPartition(name, p) for p in sorted(partitions)]
        await consumer.end_offsets(tps)
    finally:
        fetcher_log.setLevel(level)
        await consumer.stop()


async def describe_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """Configs of our topics, as the broker reports them (DescribeConfigs)."""
    names = [settings.topic(s.name) for s in topic_specs(settings)]
    admin = _admin(settings)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [n for n in names if n in existing]
        out: dict[str, dict[str, str]] = {n: {} for n in names if n not in existing}
        if wanted:
            meta = await admin.describe_topics(wanted)
            counts = {t["topic"]: len(t["partitions"]) for t in meta}
            responses = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n) for n in wanted]
            )
            for response in responses:
                for resource in response.resources:
                    name = resource[3]
                    out[name] = {entry[0]: entry[1] for entry in resource[4]}
                    out[name]["partitions"] = str(counts.get(name, "?"))
        return out
    except (OSError, KafkaError) as exc:
        raise BrokerError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()


async def existing_partitions(client: AIOKafkaClient, topic: str) -> list[int]:
    """Partitions of an existing topic, without creating it.

    Asking for one topic's metadata makes brokers with auto-creation (the
    embedded one) create it without our configs; asking for all topics does not.
    """
    metadata = await client.fetch_all_metadata()
    partitions = metadata.partitions_for_topic(topic)
    if not partitions:
        raise BrokerError(f"topic {topic} does not exist; run 'alpr topics --create' first")
    return sorted(partitions)
