"""Whether a worker screens reads, and whether it has screened everything: seen from outside.

``alpr run`` starts its camera feed only once the worker says it screens (``alpr_screening`` on
its /metrics: hot list and camera registry loaded) and Kafka's coordinator says the worker's group
holds every partition of the reads and candidates topics; it ends once the group has committed
everything on the partitions it holds. Conditions, not sleeps: a loaded machine only makes them
take longer, up to a bound that ends in an error naming what was missing.
"""

from __future__ import annotations

import asyncio
import urllib.request

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.errors import AlprError
from streams.kafka.groups import GroupState, describe_group, group_lag, poll_until
from streams.kafka.log import started_reader
from streams.kafka.topics import existing_partitions
from streams.settings import Settings

__all__ = ["DRAIN_TIMEOUT_S", "READY_TIMEOUT_S", "screening", "wait_worker_drained", "wait_worker_ready"]

#: How long the worker may take to join its group and load its hot list before ``alpr run`` gives
#: up (a cold JVM broker and a loaded laptop: tens of seconds, not minutes).
READY_TIMEOUT_S = 120.0
#: How long the worker may take, after the feed stopped, to screen what it was sent.
DRAIN_TIMEOUT_S = 60.0


def screening(settings: Settings) -> bool:
    """The worker's own word (``alpr_screening`` on its /metrics) that its hot list and camera
    registry are loaded and its screening agent has started."""
    host = "127.0.0.1" if settings.metrics_host in ("", "0.0.0.0") else settings.metrics_host  # noqa: S104
    try:
        with urllib.request.urlopen(f"http://{host}:{settings.metrics_port}/metrics", timeout=2) as resp:  # noqa: S310
            text = resp.read().decode()
    except OSError:
        return False
    return any(
        line.startswith("alpr_screening ") and float(line.split()[1]) == 1 for line in text.splitlines()
    )


async def wait_worker_ready(settings: Settings, timeout: float = READY_TIMEOUT_S) -> None:
    """Return once the worker screens reads: it says so on its metrics, and Kafka's coordinator
    says its group holds every partition of the reads and candidates topics. A feed started before
    that would spend part of ``--duration`` with nobody reading it."""
    admin = AIOKafkaAdminClient(**settings.kafka.options(), request_timeout_ms=15000)
    await admin.start()
    consumer = await started_reader(settings.kafka)
    try:
        wanted = [
            TopicPartition(settings.topic(name), p)
            for name in ("reads", "reads-late", "candidates")
            for p in await existing_partitions(consumer._client, settings.topic(name))  # noqa: SLF001
        ]
        group, loaded = GroupState("unknown", 0, frozenset()), False

        async def ready() -> bool | None:
            nonlocal group, loaded
            group = await describe_group(admin, settings.app_id)
            loaded = await asyncio.to_thread(screening, settings) if settings.metrics_port else True
            return True if group.holds(wanted) and loaded else None

        if await poll_until(ready, timeout) is None:
            raise AlprError(
                f"the worker was not ready to screen within {timeout:.0f} s: group {settings.app_id} "
                f"is {group.state} with {group.members} member(s) holding "
                f"{len(group.assigned & set(wanted))} of {len(wanted)} partitions; hot list "
                f"{'loaded' if loaded else 'not loaded yet (alpr_screening is not 1)'}; "
                "see the worker's log"
            )
    finally:
        await consumer.stop()
        await admin.close()


async def wait_worker_drained(settings: Settings, timeout: float = DRAIN_TIMEOUT_S) -> None:
    """Return once the worker's group has committed every record on the partitions it holds: every
    read sent has been screened, every candidate confirmed, every alert written (see group_lag)."""
    admin = AIOKafkaAdminClient(**settings.kafka.options(), request_timeout_ms=15000)
    await admin.start()
    consumer = await started_reader(settings.kafka)
    try:
        last: dict[TopicPartition, int] = {}

        async def drained() -> bool | None:
            group = await describe_group(admin, settings.app_id)
            last.clear()
            last.update(await group_lag(admin, consumer, settings.app_id, group.assigned))
            return True if group.assigned and not any(last.values()) else None

        if await poll_until(drained, timeout) is None:
            behind = {f"{tp.topic}[{tp.partition}]": n for tp, n in sorted(last.items()) if n}
            raise AlprError(
                f"the worker had not caught up {timeout:.0f} s after the feed stopped: "
                f"{sum(behind.values())} records not committed ({behind or 'no partitions held'}); "
                "see the worker's log"
            )
    finally:
        await consumer.stop()
        await admin.close()
