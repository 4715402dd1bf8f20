"""Full-extract sync as a diff (pure): compare an extract with a source's current entries.

Only adds, updates and removes come out; re-syncing the same extract yields
nothing. Guards: an unusable extract is refused by its adapter before anything
is planned; an extract that would remove more than a share of a source's
entries is refused unless forced; a bad record keeps the current version of
its entry (nothing is silently wiped).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from streams.codec import dumps, entry_to_dict
from streams.hotlists.adapters.base import Extract, ExtractRefused
from streams.hotlists.model import HotlistEntry
from streams.hotlists.records import entry_partition

__all__ = ["ADDED", "REMOVED", "UPDATED", "Change", "Stored", "SyncPlan", "fingerprint", "plan_sync"]

ADDED, UPDATED, REMOVED = "added", "updated", "removed"


def fingerprint(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=12).digest()


@dataclass(frozen=True, slots=True)
class Stored:
    """An entry as the compacted hot-list topic holds it now."""

    fingerprint: bytes
    plate: str
    partition: int


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    key: str
    plate: str
    partition: int  # the entry's partition of the hot-list topic
    value: bytes | None = None  # the encoded entry; None for a removal


@dataclass
class SyncPlan:
    sources: frozenset[str]
    generated_at: datetime | None
    changes: list[Change] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    entry_count: dict[str, int] = field(default_factory=dict)  # per source, after the sync

    @property
    def summary(self) -> str:
        c = self.counts
        return (
            f"{c[ADDED]} added, {c[UPDATED]} updated, {c[REMOVED]} removed, {c['unchanged']} unchanged, "
            f"{c['record_errors']} record errors ({c['kept']} kept as they were), "
            f"{c['dropped_p5']} dropped (P5)"
        )


def plan_sync(
    extract: Extract,
    current: dict[str, Stored],
    *,
    partitions: int,
    max_removal_share: float = 0.2,
    force: bool = False,
) -> SyncPlan:
    """The changes that make the sources of ``extract`` equal to it. Raises :class:`ExtractRefused`."""
    plan = SyncPlan(extract.sources, extract.generated_at)
    seen: set[str] = set()
    for record in extract.records:
        if record.dropped is not None:
            plan.counts["dropped_p5"] += 1
            plan.dropped.append(record.dropped)
            continue  # never loaded; a stored version of it is removed below
        if record.entry is None:
            plan.counts["record_errors"] += 1
            plan.errors.append(record.error or f"{record.line}: unusable record")
            if record.key is not None and record.key in current:
                seen.add(record.key)  # keep the current version rather than remove it on a bad line
                plan.counts["kept"] += 1
            continue
        entry = record.entry
        if entry.source not in extract.sources:
            plan.counts["record_errors"] += 1
            plan.errors.append(
                f"{record.line}: entry of source {entry.source!r} in an extract of {sorted(extract.sources)}"
            )
            continue
        if entry.key in seen:
            plan.counts["record_errors"] += 1
            plan.errors.append(f"{record.line}: {entry.key} appears twice; the first one applies")
            continue
        seen.add(entry.key)
        _compare(plan, entry, current.get(entry.key), partitions)
    for key, stored in current.items():
        if key not in seen and key.split(":", 1)[0] in extract.sources:
            plan.changes.append(Change(REMOVED, key, stored.plate, stored.partition))
            plan.counts[REMOVED] += 1
    _guard_removals(plan, current, max_removal_share, force)
    for source in extract.sources:
        before = sum(1 for k in current if k.split(":", 1)[0] == source)
        added = sum(1 for c in plan.changes if c.kind == ADDED and c.key.split(":", 1)[0] == source)
        removed = sum(1 for c in plan.changes if c.kind == REMOVED and c.key.split(":", 1)[0] == source)
        plan.entry_count[source] = before + added - removed
    return plan


def _compare(plan: SyncPlan, entry: HotlistEntry, stored: Stored | None, partitions: int) -> None:
    value = dumps(entry_to_dict(entry))
    partition = entry_partition(entry, partitions)
    if stored is None:
        plan.changes.append(Change(ADDED, entry.key, entry.plate, partition, value))
        plan.counts[ADDED] += 1
    elif stored.fingerprint != fingerprint(value):
        plan.changes.append(Change(UPDATED, entry.key, entry.plate, partition, value))
        plan.counts[UPDATED] += 1
    else:
        plan.counts["unchanged"] += 1


def _guard_removals(plan: SyncPlan, current: dict[str, Stored], share: float, force: bool) -> None:
    if force:
        return
    for source in plan.sources:
        before = sum(1 for k in current if k.split(":", 1)[0] == source)
        removed = sum(1 for c in plan.changes if c.kind == REMOVED and c.key.split(":", 1)[0] == source)
        if before and removed > share * before:
            raise ExtractRefused(
                "too_many_removals",
                f"the extract would remove {removed} of {before} {source} entries "
                f"({removed / before:.0%}, more than {share:.0%}); nothing was changed. "
                "Check the feed; if the removals are right, sync again with --force",
            )
