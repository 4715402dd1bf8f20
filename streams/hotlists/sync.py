"""Full-extract sync as a diff (pure): compare an extract with a source's current entries.

Only adds, updates and removes come out; re-syncing the same extract yields nothing. The data's age
is the extract's own as-of time (its header's generation time; for NDJSON, the oldest ``synced_at``
of its entries), never the time it was synced (P4): an extract older than the one loaded, or dated
in the future, is refused, and each source keeps a bounded history of its as-of times so that P4 can
be judged as of any read still kept. Guards: an unusable extract is refused by its adapter before
anything is planned; an extract that would remove more than a share of a source's entries is refused
unless forced; a bad record keeps the current version of its entry (nothing is silently wiped).

A delta costs what changed, not the list: each current entry may carry the digest of the extract
record that gave it (``Stored.line``), and a format whose entries are a function of one record's
text (``Extract.digested``) hands a record with a known digest over unparsed, as that entry,
unchanged. The caller vouches that the digests were made by the same checks (service.py). It may
also hand a new record over already made and encoded (:class:`Ready`: an NCIC line the native
kernel made, the purpose classifier run on it), compared as the topic would store it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import methodcaller
from pathlib import Path
from typing import Any, NamedTuple

import alpr_native

from streams.codec import dumps, entry_to_dict, loads
from streams.errors import InvalidRecord
from streams.hotlists.adapters.base import Extract, ExtractRefused, Parsed, Ready, Same
from streams.hotlists.model import HotlistEntry
from streams.hotlists.records import entry_partition
from streams.matching.matcher import prune_refreshes
from streams.retention.policy import Profile

__all__ = [
    "ADDED",
    "REMOVED",
    "UPDATED",
    "Change",
    "Stored",
    "SyncPlan",
    "check_as_of",
    "fingerprint",
    "plan_sync",
    "refresh_history",
    "refresh_span_s",
    "source_refreshes",
]

log = logging.getLogger(__name__)

ADDED, UPDATED, REMOVED = "added", "updated", "removed"


def fingerprint(value: bytes) -> bytes:
    """An encoded entry's digest: BLAKE2b, 12 bytes (``hashlib.blake2b(value, digest_size=12)``)."""
    return alpr_native.blake2b(value, 12)  # type: ignore[no-any-return]


class Stored(NamedTuple):
    """An entry as the compacted hot-list topic holds it now (a tuple: a million are made at once)."""

    fingerprint: bytes
    plate: str
    partition: int
    line: bytes | None = None  # the digest of the extract record that gave it, when known


class Change(NamedTuple):
    """One change a sync writes (a tuple, as :class:`Stored`: a full sync makes a million)."""

    kind: str
    key: str
    plate: str
    partition: int  # the entry's partition of the hot-list topic
    value: bytes | None = None  # the encoded entry; None for a removal
    line: bytes | None = None  # the digest of the extract record that gave it


@dataclass
class SyncPlan:
    sources: frozenset[str]
    generated_at: datetime | None
    changes: list[Change] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    entry_count: dict[str, int] = field(default_factory=dict)  # per source, after the sync
    lines: dict[str, bytes] = field(default_factory=dict)  # unchanged entries: their record's new digest

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
    check: Callable[[SyncPlan], None] | None = None,
) -> SyncPlan:
    """The changes that make the sources of ``extract`` equal to it. Raises :class:`ExtractRefused`.

    ``plan.generated_at`` is the extract's as-of time: its header's, else the oldest ``synced_at``
    of its entries (a file that dates its entries is as old as its oldest), else None (undated)."""
    plan = SyncPlan(extract.sources, extract.generated_at)
    dated: list[datetime] = []
    seen: set[str] = set()
    by_line = {stored.line: key for key, stored in current.items() if stored.line is not None}
    records = extract.records if extract.digested is None else extract.digested(by_line)
    for record in records:
        if isinstance(record, Same):  # the record that gave the current entry: unchanged
            key = by_line[record.digest]
            if key in seen:
                plan.counts["record_errors"] += 1
                plan.errors.append(f"{record.line}: {key} appears twice; the first one applies")
            else:
                seen.add(key)
                plan.counts["unchanged"] += 1
            continue
        if isinstance(record, Ready):  # made and encoded by the kernel (an NCIC line)
            key = record.key
            if _fresh(plan, record.line, key, key.partition(":")[0], extract.sources, seen):
                partition = record.crc % partitions
                _compare(plan, key, record.plate, partition, record.value, current.get(key), record.digest)
            continue
        entry = _usable(plan, record, current, extract.sources, seen)
        if entry is None:
            continue
        key = entry.key
        if entry.synced_at is not None:
            dated.append(entry.synced_at)
        value = dumps(entry_to_dict(entry))
        partition = entry_partition(entry, partitions)
        _compare(plan, key, entry.plate, partition, value, current.get(key), record.digest)
    if plan.generated_at is None and dated:
        plan.generated_at = min(dated)
    for key, stored in current.items():
        if key not in seen and key.split(":", 1)[0] in extract.sources:
            plan.changes.append(Change(REMOVED, key, stored.plate, stored.partition))
            plan.counts[REMOVED] += 1
    if check is not None:
        check(plan)  # the as-of check (check_as_of): an older extract is refused as older, first
    before = Counter({s: sum(map(methodcaller("startswith", f"{s}:"), current)) for s in extract.sources})
    _guard_removals(plan, before, max_removal_share, force)
    delta = Counter((c.key.split(":", 1)[0], c.kind) for c in plan.changes if c.kind != UPDATED)
    for source in extract.sources:
        plan.entry_count[source] = before[source] + delta[source, ADDED] - delta[source, REMOVED]
    return plan


def _usable(
    plan: SyncPlan, record: Parsed, current: dict[str, Stored], sources: frozenset[str], seen: set[str]
) -> HotlistEntry | None:
    """The record's entry, or None with the record counted (dropped, an error, a duplicate)."""
    if record.dropped is not None:
        plan.counts["dropped_p5"] += 1
        plan.dropped.append(record.dropped)
        return None  # never loaded; a stored version of it is removed
    if record.entry is None:
        plan.counts["record_errors"] += 1
        plan.errors.append(record.error or f"{record.line}: unusable record")
        if record.key is not None and record.key in current:
            seen.add(record.key)  # keep the current version rather than remove it on a bad line
            plan.counts["kept"] += 1
        return None
    entry = record.entry
    return entry if _fresh(plan, record.line, entry.key, entry.source, sources, seen) else None


def _fresh(
    plan: SyncPlan, where: str, key: str, source: str, sources: frozenset[str], seen: set[str]
) -> bool:
    """Whether an entry of the extract is one to compare (counted as an error if not: another
    source's, or a key seen before); its key is then seen."""
    if source not in sources:
        plan.counts["record_errors"] += 1
        plan.errors.append(f"{where}: entry of source {source!r} in an extract of {sorted(sources)}")
        return False
    if key in seen:
        plan.counts["record_errors"] += 1
        plan.errors.append(f"{where}: {key} appears twice; the first one applies")
        return False
    seen.add(key)
    return True


def _compare(
    plan: SyncPlan,
    key: str,
    plate: str,
    partition: int,
    value: bytes,
    stored: Stored | None,
    line: bytes | None,
) -> None:
    """An entry of the extract (``value``: as the hot-list topic holds it) against its stored version."""
    if stored is None:
        plan.changes.append(Change(ADDED, key, plate, partition, value, line))
        plan.counts[ADDED] += 1
    elif stored.fingerprint != fingerprint(value):
        plan.changes.append(Change(UPDATED, key, plate, partition, value, line))
        plan.counts[UPDATED] += 1
    else:
        plan.counts["unchanged"] += 1
        if line is not None and stored.line != line:
            plan.lines[key] = line


def _guard_removals(plan: SyncPlan, before: Counter[str], share: float, force: bool) -> None:
    """``before``: each source's entry count before the sync."""
    if force:
        return
    removals = Counter(c.key.split(":", 1)[0] for c in plan.changes if c.kind == REMOVED)
    for source in sorted(plan.sources):
        removed = removals[source]
        if before[source] and removed > share * before[source]:
            raise ExtractRefused(
                "too_many_removals",
                f"the extract would remove {removed} of {before[source]} {source} entries "
                f"({removed / before[source]:.0%}, more than {share:.0%}); nothing was changed. "
                "Check the feed; if the removals are right, sync again with --force",
            )


def check_as_of(
    path: Path, plan: SyncPlan, loaded: dict[str, datetime | None], now: datetime, max_skew: timedelta
) -> None:
    """Refuse an extract whose as-of time would make data look newer than it is (P4): dated after
    ``now`` (plus the clock skew allowed), or older than the extract already loaded for one of its
    sources (``loaded``: source -> its current as-of time). Raises :class:`ExtractRefused`."""
    as_of = plan.generated_at
    if as_of is None:
        return
    if as_of > now + max_skew:
        raise ExtractRefused(
            "future",
            f"{path}: dated {as_of.isoformat()}, after the server's clock ({now.isoformat()}); "
            "check the feed's clock or the entries' synced_at; nothing was changed (P4)",
        )
    for name in sorted(plan.sources):
        before = loaded.get(name)
        if before is not None and before > as_of:
            raise ExtractRefused(
                "older",
                f"{path}: generated {as_of.isoformat()}, older than the {name} extract already "
                f"loaded ({before.isoformat()}); nothing was changed (P4: an older extract never "
                "refreshes a source)",
            )


def _times(status: dict[str, Any] | None) -> list[datetime]:
    if not status:
        return []
    texts = [*status.get("fresh_history", []), status.get("fresh_as_of")]
    return [datetime.fromisoformat(t) for t in texts if isinstance(t, str)]


def refresh_span_s(profile: Profile) -> float:
    """How far back a source's refresh history must reach: P4 is judged as of the capture of any
    read still kept, so the read retention plus the staleness limit."""
    return profile.read_retention_days * 86400.0 + profile.hotlist_max_staleness_s


def refresh_history(previous: dict[str, Any] | None, as_of: datetime, span_s: float) -> list[str]:
    """A source status's ``fresh_history`` after a refresh as of ``as_of``: the as-of times of its
    refreshes (previous ones and this), bounded to ``span_s`` (the read retention plus the P4
    limit), ascending, so P4 can be judged as of the capture of any read still kept."""
    return [t.isoformat() for t in prune_refreshes([*_times(previous), as_of], span_s)]


def source_refreshes(value: bytes | None) -> tuple[str, list[datetime]] | None:
    """A sources-topic status: the feed and the as-of times of its refreshes (history and latest)."""
    if value is None:
        return None
    try:
        status = loads(value)
        return str(status["source"]), _times(status)
    except (InvalidRecord, KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("unusable hot-list source status %r: %s", value[:200], exc)
        return None
