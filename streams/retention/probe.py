"""What ``alpr retention check`` asks the cluster: topic configs, the brokers' retention check
interval, and the oldest record each partition of read data still holds.

Configs say what the broker *should* delete; the oldest record says what it *has* kept. A topic
created with a long retention and altered later, or a segment whose newest record is young while
its first is old, keeps reads past the policy with configs that look compliant (P11), so the
check reads the record at each partition's log start offset and judges its timestamp too.
Judging lives in :mod:`streams.retention.check`; this module only talks to Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.errors import BrokerError
from streams.kafka.connection import Connection

__all__ = [
    "CHECK_INTERVAL_KEY",
    "DESCRIBE_BATCH",
    "OldestRecord",
    "broker_check_intervals",
    "oldest_records",
    "topic_configs",
]

CHECK_INTERVAL_KEY = "log.retention.check.interval.ms"
#: DescribeConfigs resources per request: keeps each request small on a busy cluster.
DESCRIBE_BATCH = 100
#: A partition with records must yield its first one within this time, or the broker is unwell.
FETCH_DEADLINE_S = 30.0


@dataclass(frozen=True, slots=True)
class OldestRecord:
    """The oldest record found at the start of one partition (its first fetched batch)."""

    partition: int
    offset: int
    timestamp_ms: int


async def topic_configs(admin: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """DescribeConfigs in batches; a topic that cannot be described is a broker error."""
    out: dict[str, dict[str, str]] = {}
    for start in range(0, len(names), DESCRIBE_BATCH):
        batch = names[start : start + DESCRIBE_BATCH]
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in batch])
        for response in responses:
            for error_code, error_message, _type, name, entries in (r[:5] for r in response.resources):
                if error_code != 0:
                    raise BrokerError(
                        f"the broker would not describe the configs of topic {name}: "
                        f"{error_message} (error {error_code})"
                    )
                out[name] = {e[0]: e[1] for e in entries if e[1] is not None}
    return out


async def broker_check_intervals(
    admin: AIOKafkaAdminClient, cluster: Mapping[str, Any]
) -> dict[str, int | None]:
    """Each broker's ``log.retention.check.interval.ms`` (None: not reported or not a number).

    Asked of every broker, since each deletes its own replicas' segments on its own clock.
    """
    out: dict[str, int | None] = {}
    for broker in cluster.get("brokers") or []:
        node = str(broker["node_id"])
        out[node] = None
        resource = ConfigResource(ConfigResourceType.BROKER, node, {CHECK_INTERVAL_KEY: None})
        for response in await admin.describe_configs([resource]):
            for entry in (e for r in response.resources for e in r[4]):
                if entry[0] == CHECK_INTERVAL_KEY and entry[1]:
                    try:
                        out[node] = int(entry[1])
                    except ValueError:
                        out[node] = None
    return out


async def oldest_records(kafka: Connection, topics: Iterable[str]) -> dict[str, list[OldestRecord]]:
    """Per topic, per non-empty partition, the oldest record of the first batch at its log start.

    The first batch is what one fetch from the log start returns: it costs one request per
    partition however long the log, and it is where the records a misconfigured topic kept past
    the retention sit (Kafka deletes whole segments from the start of the log).
    """
    consumer = AIOKafkaConsumer(
        **kafka.options(), group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    try:
        await consumer.start()
        metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - never auto-creates
        tps = [TopicPartition(t, p) for t in topics for p in sorted(metadata.partitions_for_topic(t) or ())]
        out: dict[str, list[OldestRecord]] = {tp.topic: [] for tp in tps}
        if not tps:
            return out
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        waiting = {tp for tp in tps if ends[tp] > starts[tp]}
        for tp in waiting:
            consumer.seek(tp, starts[tp])
        deadline = time.monotonic() + FETCH_DEADLINE_S
        while waiting:
            if time.monotonic() > deadline:
                raise BrokerError(f"no record at the log start of {sorted(map(str, waiting))}")
            batch = await consumer.getmany(*waiting, timeout_ms=1000)
            for tp, records in batch.items():
                if tp in waiting and records:
                    oldest = min(records, key=lambda r: (r.timestamp, r.offset))
                    out[tp.topic].append(OldestRecord(tp.partition, oldest.offset, oldest.timestamp))
                    waiting.discard(tp)
                    consumer.pause(tp)
        for found in out.values():
            found.sort(key=lambda r: r.partition)
        return out
    finally:
        await consumer.stop()
