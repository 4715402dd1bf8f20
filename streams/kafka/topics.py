"""Every topic, declared in one place, with the configs that make the policy hold.

Read-data topics are sized so that retention.ms + segment.ms + the broker's
check interval stays within the agency's read retention (P11). Audit is kept
at least two years (P14).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from streams.errors import BrokerError
from streams.retention.policy import DAY_MS, HOUR_MS, retention_ms_within
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
#: Counts without plates (reads, hits, accesses, outcomes per day) for the annual report (P26).
AGGREGATES = "aggregates"
#: The report's year and the one before it stay available all through the following year.
AGGREGATES_RETENTION_DAYS = 3 * 366


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str  # without the prefix
    partitions: int
    cleanup_policy: str
    retention_ms: int | None  # None: compacted, kept until tombstoned
    segment_ms: int
    holds: str
    data_class: str  # read data, evidence, hot list, alerts, audit, registry

    def configs(self) -> dict[str, str]:
        out = {"cleanup.policy": self.cleanup_policy, "segment.ms": str(self.segment_ms)}
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        return out


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The declaration. Candidates are partitioned by canonical key; the hot list by entry key."""
    profile = settings.profile
    n = settings.partitions
    read_segment = HOUR_MS
    read_retention = retention_ms_within(profile.read_retention_ms, read_segment)
    hits = profile.hit_retention_days
    alerts_retention = -1 if hits is None else retention_ms_within(hits * DAY_MS, read_segment)
    audit_retention = profile.audit_retention_days * DAY_MS
    return [
        TopicSpec("reads", n, "delete", read_retention, read_segment, "read batches from cameras", READ_DATA),
        TopicSpec(
            "reads-rejected",
            n,
            "delete",
            read_retention,
            read_segment,
            "bad input with the reason",
            READ_DATA,
        ),
        TopicSpec(
            "candidates",
            n,
            "delete",
            retention_ms_within(DAY_MS, read_segment),
            read_segment,
            "Bloom positives keyed by canonical key (internal)",
            READ_DATA,
        ),
        TopicSpec(
            "hotlist-changes",
            n,
            "delete",
            max(400 * DAY_MS, 2 * profile.read_retention_ms),
            DAY_MS,
            "every add/update/remove event: history for replay",
            "hot list",
        ),
        TopicSpec(
            "hotlist",
            n,
            "compact",
            None,
            DAY_MS,
            "current entries (key source:entry_id, partition by key)",
            "hot list",
        ),
        TopicSpec("hotlist-sources", 1, "compact", None, DAY_MS, "sync status per feed", "hot list"),
        TopicSpec(
            "hotlist-pending",
            1,
            "compact",
            None,
            DAY_MS,
            "department entries awaiting approval (P2)",
            "hot list",
        ),
        TopicSpec("alerts", n, "delete", alerts_retention, read_segment, "alert lifecycle events", "alerts"),
        TopicSpec(
            "evidence-holds", n, "compact", None, DAY_MS, "held reads; release = tombstone", "evidence"
        ),
        TopicSpec(
            "audit", 3, "delete", audit_retention, 7 * DAY_MS, "every access, query, login, approval", "audit"
        ),
        TopicSpec("cameras", 1, "compact", None, DAY_MS, "camera registry", "registry"),
        TopicSpec(
            "camera-keys",
            1,
            "compact",
            None,
            DAY_MS,
            "each camera's ingest key: its sha256 only, active or revoked",
            "registry",
        ),
        TopicSpec(
            "users",
            1,
            "compact",
            None,
            DAY_MS,
            "users: role, agency, training, credentials (P18, P21)",
            "registry",
        ),
        TopicSpec(
            "agencies", 1, "compact", None, DAY_MS, "agencies and sharing agreements (P19)", "registry"
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


async def create_topics(settings: Settings, only: Collection[str] | None = None) -> list[str]:
    """Create missing topics with their configs (``only``: of these declared names); return the
    names created. A process whose Kafka user may not create topics (ACLs, README "Security")
    needs them to exist already, as they do when Strimzi's Topic Operator manages them."""
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
        return [t.name for t in new]
    except (OSError, KafkaError) as exc:
        raise BrokerError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()


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
