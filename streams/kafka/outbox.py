"""Rejected records wait here for their source records' offsets to be committed, then go to Kafka
together, a few messages per commit (issue 17: a refused read costs about what a good one does).

The worker's screen loop (streams/screening.py) adds the rejected record of a source record
(:class:`Outbox.add`) while it screens a batch. Before it commits the batch's offsets it hands them
to :meth:`Outbox.publish`, which sends every rejected record whose source lies below them, grouped
into messages of records captured within a second of each other (schemas/rejected_read.json), and
waits until Kafka has them all. Only then is the offset committed; if a send fails the commit does
not happen and the worker stops, so the source records are screened again after a restart (at
least once, as for candidates and alerts, which the loop sends and awaits before this).

P11: a group is stamped with the earliest timestamp of its records (deleted with the oldest of
them, at most a second early for the others), and a record whose source has grown too old for the
rejected topic while it waited is counted, not stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.codec import rejected_group
from streams.reads.lateness import storable

__all__ = ["Outbox", "Waiting"]

log = logging.getLogger(__name__)

#: A group holds records whose timestamps lie within this span, and at most this many bytes.
GROUP_SPAN_MS = 1_000
GROUP_MAX_BYTES = 1_000_000

#: send(key, value, timestamp_ms) -> a future that resolves when Kafka has the message.
Send = Callable[[bytes | None, bytes, int | None], Awaitable[Awaitable[Any]]]


@dataclass(slots=True)
class Waiting:
    """A rejected record waiting for its source's offset to be committed."""

    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int | None
    refusals: int  # refused reads it holds, counted when it cannot be stored


@dataclass
class Outbox:
    send: Send
    #: message.timestamp.before.max.ms of the rejected topic (None: no bound).
    bound_ms: int | None
    clock_ms: Callable[[], int]
    #: called with the number of refusals not stored (their source too old by now, P11)
    not_stored: Callable[[int], None] = lambda _n: None
    waiting: dict[Any, list[Waiting]] = field(default_factory=dict)  # by topic partition

    def __len__(self) -> int:
        return sum(map(len, self.waiting.values()))

    def add(
        self, tp: Any, offset: int, key: bytes | None, value: bytes, timestamp_ms: int | None, refusals: int
    ) -> None:
        self.waiting.setdefault(tp, []).append(Waiting(offset, key, value, timestamp_ms, refusals))

    def forget(self, tps: Any) -> None:
        """Drop what waits for partitions no longer assigned: their next owner screens them again."""
        for tp in list(tps):
            self.waiting.pop(tp, None)

    async def publish(self, offsets: Mapping[Any, int]) -> None:
        """Send every record whose source offset is below the offset about to be committed for its
        partition, and wait until Kafka has them all (raises what the producer raised)."""
        due: list[Waiting] = []
        for tp, offset in offsets.items():
            items = self.waiting.get(tp)
            if not items:
                continue
            ready = [w for w in items if w.offset < offset]
            if len(ready) == len(items):
                del self.waiting[tp]
            else:
                self.waiting[tp] = [w for w in items if w.offset >= offset]
            due += ready
        if not due:
            return
        now_ms = self.clock_ms()
        bound = self.bound_ms
        if bound is not None:
            kept = [w for w in due if w.timestamp_ms is None or storable(w.timestamp_ms, now_ms, bound)]
            if len(kept) < len(due):
                self.not_stored(sum(w.refusals for w in due) - sum(w.refusals for w in kept))
                log.warning(
                    "%d rejected records not stored: their source records grew too old for the "
                    "rejected topic while they waited for the commit (P11)",
                    len(due) - len(kept),
                )
                due = kept
        sent = [await self.send(*message) for message in _groups(due)]
        if sent:
            await asyncio.gather(*sent)


def _groups(records: list[Waiting]) -> list[tuple[bytes | None, bytes, int | None]]:
    """(key, value, timestamp) of the messages holding ``records``: by timestamp, each group within
    GROUP_SPAN_MS and GROUP_MAX_BYTES, stamped with its earliest (keyed by their camera when they
    share one). Records without a timestamp go alone (stamped when sent)."""
    messages = []
    timed = sorted((w for w in records if w.timestamp_ms is not None), key=lambda w: w.timestamp_ms or 0)
    group: list[Waiting] = []
    size = 0

    def close() -> None:
        keys = {w.key for w in group}
        key = next(iter(keys)) if len(keys) == 1 else None
        messages.append((key, rejected_group([w.value for w in group]), group[0].timestamp_ms))

    for w in timed:
        assert w.timestamp_ms is not None  # noqa: S101 - filtered above
        if group and (
            w.timestamp_ms - (group[0].timestamp_ms or 0) > GROUP_SPAN_MS
            or size + len(w.value) > GROUP_MAX_BYTES
        ):
            close()
            group, size = [], 0
        group.append(w)
        size += len(w.value)
    if group:
        close()
    messages += [(w.key, rejected_group([w.value]), None) for w in records if w.timestamp_ms is None]
    return messages
