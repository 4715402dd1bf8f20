"""A consumer group as Kafka sees it: which partitions its members hold, and how far behind it is.

``alpr run`` starts its camera feed only once the worker's group holds every partition it reads,
and stops only once the group has committed everything the feed wrote (and what that produced
downstream): both are conditions on the broker's own record of the group, not guesses at how long
a join or a drain takes on a busy machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaError,
    NotCoordinatorError,
)

from streams.errors import BrokerError
from streams.kafka.log import log_ends

__all__ = ["GroupState", "describe_group", "group_lag", "poll_until"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GroupState:
    """The coordinator's view of a group: ``Stable`` once a rebalance has handed out partitions."""

    state: str
    members: int
    assigned: frozenset[TopicPartition]

    def holds(self, partitions: Collection[TopicPartition]) -> bool:
        """Whether the group is stable and its members hold every one of ``partitions``."""
        return self.state == "Stable" and set(partitions) <= self.assigned


#: Errors that mean "not yet": the coordinator is still being elected (a fresh broker creates
#: ``__consumer_offsets`` on the first group request), or is loading the group.
_NOT_YET = (CoordinatorNotAvailableError, NotCoordinatorError, CoordinatorLoadInProgressError)


async def describe_group(admin: AIOKafkaAdminClient, group_id: str) -> GroupState:
    """The group's state and the union of its members' assignments (``Empty`` while none)."""
    try:
        [response] = await admin.describe_consumer_groups([group_id])
    except _NOT_YET:
        return GroupState("CoordinatorNotReady", 0, frozenset())
    except KafkaError as exc:
        raise BrokerError(f"cannot describe consumer group {group_id}: {exc!r}") from exc
    [group] = response.groups
    _error, _group_id, state, _protocol_type, _protocol, members = group[:6]
    assigned: set[TopicPartition] = set()
    for member in members:
        raw = member[4]
        if raw:
            assigned.update(ConsumerProtocolMemberAssignment.decode(raw).partitions())
    return GroupState(str(state), len(members), frozenset(assigned))


async def group_lag(
    admin: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    group_id: str,
    partitions: Collection[TopicPartition],
) -> dict[TopicPartition, int]:
    """Records on each partition the group has not committed yet.

    The committed offsets are asked first and the log ends after: a zero lag then also covers
    whatever the group wrote downstream before that commit (the worker commits a read only once
    Kafka has its candidates and alerts), so a drain can be checked topic after topic.
    ``consumer`` is a group-less reader used only to ask the ends (its positions move).
    """
    tps = sorted(partitions)
    committed = await admin.list_consumer_group_offsets(group_id, partitions=tps)
    ends = await log_ends(consumer, tps)
    lag = {}
    for tp in tps:
        start, end = ends[tp]
        meta = committed.get(tp)
        done = meta.offset if meta is not None and meta.offset >= 0 else start
        lag[tp] = max(0, end - max(done, start))
    return lag


async def poll_until(
    probe: Callable[[], Awaitable[T | None]], timeout: float, interval: float = 0.25
) -> T | None:
    """``probe()``'s first result that is not None, or None once ``timeout`` seconds have passed
    (the caller says what did not happen, with what it last saw)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value is not None or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)
