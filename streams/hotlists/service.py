"""Hot-list commands on the event log: sync a feed, department entries, imports, source status.

Every change goes to the hot-list changes topic (append-only history, key
plate) and to the compacted hot-list topic (current state, key entry key,
partitioned by entry key). A source's sync status goes to the sources
topic. A refused command changes no state.

A sync compares the extract with the sources' current entries: a digest per key, kept after each
sync in a local cache (``state_dir/hotlist-sync/``) as of the topic's log ends, with the last record
of each partition. The cache is never the source of truth: the next sync reads the topic from that
record on (it must still be there, the same, or the cache is dropped), so a write by anyone else is
folded in; a missing, corrupt or foreign cache is rebuilt from the whole topic.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.codec import SCHEMA_DIR, entry_from_dict, entry_to_dict, loads, person_to_dict
from streams.errors import AccessDenied, ConfigError, NotFound, PolicyViolation
from streams.hotlists.adapters import ExtractRefused, Parsed, adapter
from streams.hotlists.adapters.flock import FlockAdapter
from streams.hotlists.model import (
    LOCAL_SOURCE,
    HotlistEntry,
    Person,
    approving_rank,
    check_entry,
    missing_p2_fields,
)
from streams.hotlists.records import entry_partition
from streams.hotlists.sync import (
    REMOVED,
    Stored,
    SyncPlan,
    check_as_of,
    fingerprint,
    plan_sync,
    refresh_history,
    refresh_span_s,
)
from streams.kafka.log import Latest, TopicWriter, log_ends, read_latest, started_reader
from streams.matching.matcher import source_stale
from streams.matching.normalize import partition_for
from streams.settings import Settings

__all__ = ["HotlistStore", "ImportReport", "SyncReport"]

log = logging.getLogger(__name__)

_EVENT = {"added": "HotlistEntryAdded", "updated": "HotlistEntryUpdated", "removed": "HotlistEntryRemoved"}


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of small live objects make every full collection walk them all: pause it for a sync."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _entry_event(
    name: str, at: str, entry_key: str, plate: str, value: bytes | None, extra: dict[str, Any]
) -> bytes:
    """A hot-list changes-topic event about one entry (``at``: its time in ISO 8601)."""
    return orjson.dumps(
        {
            "event": name,
            "at": at,
            "source": entry_key.split(":", 1)[0],
            "entry_key": entry_key,
            "plate": plate,
            "entry": orjson.Fragment(value) if value is not None else None,
            **extra,
        }
    )


def _checksum(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _stored(record: Latest) -> Stored:
    return Stored(fingerprint(record.value), orjson.loads(record.value).get("plate", ""), record.partition)


def _anchor(key: bytes | None, value: bytes | None) -> bytes:
    """A record's digest: the cache names the last record of each partition by offset and this."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(b"%d:" % len(key) + key if key is not None else b"-")
    digest.update(b"v" + value if value is not None else b"t")
    return digest.digest()


@functools.cache
def _checks_version() -> str:
    """What parsed and checked the extract records a cache names by digest: the code and schemas
    (any change, and every record is parsed and checked again, once)."""
    digest = hashlib.blake2b(digest_size=16)
    package = Path(__file__).resolve().parents[1]  # streams/
    for path in [*sorted(package.rglob("*.py")), *sorted(SCHEMA_DIR.glob("*.json"))]:
        digest.update(str(path.relative_to(path.parent.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class _Mismatch(Exception):
    """The cache does not describe this topic's log: rebuild from the topic."""


@dataclass
class _Snapshot:
    """The current entries of some sources as of the hot-list topic's log ends (partition -> end),
    and the last record read in each partition (partition -> (offset, :func:`_anchor`))."""

    entries: dict[str, Stored] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)
    anchors: dict[int, tuple[int, bytes]] = field(default_factory=dict)


class _CacheFile(msgspec.Struct, array_like=True):
    """A snapshot on disk (msgpack; a million entries load in about a second)."""

    format: int
    topic: str
    sources: list[str]
    checks: str  # _checks_version() of the process that wrote the record digests
    ends: list[int]  # per partition
    anchors: list[tuple[int, bytes]]  # per partition; offset -1: no record read
    keys: list[str]
    entries: list[Stored]  # in the order of keys


_CACHE_FORMAT = 2


def _encode_cache(snapshot: _Snapshot, topic: str, sources: frozenset[str], partitions: int) -> bytes:
    body = msgspec.msgpack.encode(
        _CacheFile(
            _CACHE_FORMAT,
            topic,
            sorted(sources),
            _checks_version(),
            [snapshot.ends.get(p, 0) for p in range(partitions)],
            [snapshot.anchors.get(p, (-1, b"")) for p in range(partitions)],
            list(snapshot.entries),
            list(snapshot.entries.values()),
        )
    )
    return hashlib.blake2b(body, digest_size=32).digest() + body


def _decode_cache(data: bytes, topic: str, sources: frozenset[str], partitions: int) -> _Snapshot | None:
    """The snapshot of a cache file, or None when it is corrupt or another topic's, sources' or
    partitioning's. Record digests made by other checks are dropped (those records are parsed again)."""
    body = data[32:]
    if hashlib.blake2b(body, digest_size=32).digest() != data[:32]:
        return None
    try:
        cached = msgspec.msgpack.decode(body, type=_CacheFile)
    except msgspec.MsgspecError:
        return None
    if (
        cached.format != _CACHE_FORMAT
        or (cached.topic, cached.sources) != (topic, sorted(sources))
        or len(cached.ends) != partitions
        or len(cached.anchors) != partitions
        or len(cached.keys) != len(cached.entries)
    ):
        return None
    stored = cached.entries
    if cached.checks != _checks_version():
        stored = [s._replace(line=None) for s in stored]
    entries = dict(zip(cached.keys, stored, strict=True))
    return _Snapshot(
        entries,
        dict(enumerate(cached.ends)),
        {p: (offset, digest) for p, (offset, digest) in enumerate(cached.anchors) if offset >= 0},
    )


@dataclass
class SyncReport:
    plan: SyncPlan
    sync_id: str
    checksum: str


@dataclass
class ImportReport:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


class HotlistStore:
    """Reads the hot-list topics' current state and writes events. ``async with HotlistStore(s) as store``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.writer = TopicWriter(settings.kafka)
        self.hotlist = settings.topic("hotlist")
        self.changes = settings.topic("hotlist-changes")
        self.sources = settings.topic("hotlist-sources")
        self.pending = settings.topic("hotlist-pending")

    async def __aenter__(self) -> HotlistStore:
        await self.writer.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.writer.stop()

    # -- reading ----------------------------------------------------------------------

    async def stored(self, sources: frozenset[str]) -> dict[str, Stored]:
        """The sources' current entries, read from the whole topic (no cache)."""
        consumer = await started_reader(self.settings.kafka)
        try:
            snapshot = _Snapshot()
            await self._catch_up(consumer, snapshot, sources)
            return snapshot.entries
        finally:
            await consumer.stop()

    def _cache_path(self, sources: frozenset[str]) -> Path:
        return self.settings.state_dir / "hotlist-sync" / f"{self.hotlist}.{'+'.join(sorted(sources))}.cache"

    async def _snapshot(self, consumer: AIOKafkaConsumer, sources: frozenset[str]) -> _Snapshot:
        """The sources' current entries: the cache brought up to the topic's end, else the topic."""
        partitions = await self.writer.partition_count(self.hotlist)
        try:
            data = self._cache_path(sources).read_bytes()
        except OSError:
            data = b""
        snapshot = _decode_cache(data, self.hotlist, sources, partitions) if data else None
        if snapshot is not None:
            try:
                await self._catch_up(consumer, snapshot, sources)
                return snapshot
            except _Mismatch:
                log.info("the hot-list sync cache does not match %s: reading the topic", self.hotlist)
        elif data:
            log.warning("unusable hot-list sync cache %s: reading the topic", self._cache_path(sources))
        snapshot = _Snapshot()
        await self._catch_up(consumer, snapshot, sources)
        return snapshot

    async def _catch_up(
        self, consumer: AIOKafkaConsumer, snapshot: _Snapshot, sources: frozenset[str]
    ) -> None:
        """Fold the topic's records after the snapshot's into it, up to the log ends now: each
        partition from the snapshot's last record read (still there and the same, or
        :class:`_Mismatch`), or from its start when none was read."""
        prefixes = tuple(f"{s}:".encode() for s in sources)
        entries = snapshot.entries
        count = await self.writer.partition_count(self.hotlist)
        tps = [TopicPartition(self.hotlist, p) for p in range(count)]
        consumer.assign(tps)
        bounds = await log_ends(consumer, tps)
        expect: dict[TopicPartition, tuple[int, bytes]] = {}
        remaining: set[TopicPartition] = set()
        for tp in tps:
            start, end = bounds[tp]
            anchor = snapshot.anchors.get(tp.partition)
            if snapshot.ends.get(tp.partition, 0) > end or (anchor is not None and anchor[0] >= end):
                raise _Mismatch  # a shorter log: not the one cached
            first = start if anchor is None else anchor[0]
            if anchor is not None:
                expect[tp] = anchor
            consumer.seek(tp, first)
            if first < end:
                remaining.add(tp)
            snapshot.ends[tp.partition] = end
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=50_000)
            for tp, records in batch.items():
                for record in records:
                    if tp in expect:
                        offset, digest = expect.pop(tp)
                        if record.offset != offset or _anchor(record.key, record.value) != digest:
                            raise _Mismatch
                        continue
                    key, value = record.key, record.value
                    if key is None or not key.startswith(prefixes):
                        continue
                    name = key.decode()
                    if value is None:
                        entries.pop(name, None)
                        continue
                    digest = fingerprint(value)
                    old = entries.get(name)
                    if old is None or old.fingerprint != digest or old.partition != tp.partition:
                        entries[name] = Stored(digest, orjson.loads(value).get("plate", ""), tp.partition)
                if records:
                    last = records[-1]
                    snapshot.anchors[tp.partition] = (last.offset, _anchor(last.key, last.value))
            for tp in list(remaining):
                if await consumer.position(tp) >= bounds[tp][1]:
                    remaining.discard(tp)

    async def _remember(
        self, consumer: AIOKafkaConsumer, snapshot: _Snapshot, plan: SyncPlan, sources: frozenset[str]
    ) -> None:
        """Write the cache: the snapshot with the plan applied, as of the log ends after the sync when
        nobody else wrote to the topic meanwhile (each partition grew by exactly what was written),
        else as of the ends before it (the next sync reads the rest). Failing to write it is no error."""
        for key, line in plan.lines.items():
            snapshot.entries[key] = snapshot.entries[key]._replace(line=line)
        count = await self.writer.partition_count(self.hotlist)
        tps = [TopicPartition(self.hotlist, p) for p in range(count)]
        path = self._cache_path(sources)
        try:
            ends = {tp.partition: end for tp, (_start, end) in (await log_ends(consumer, tps)).items()}
        except KafkaError as exc:  # the sync is done: the older cache stays, and is caught up next time
            log.warning("cannot write the hot-list sync cache %s: %s", path, exc)
            return
        written = Counter(map(attrgetter("partition"), plan.changes))
        if all(ends[p] - snapshot.ends.get(p, 0) == written[p] for p in ends):
            last: dict[int, tuple[str, bytes | None]] = {}  # per partition: its last record written
            for change in plan.changes:
                value = None if change.kind == REMOVED else change.value
                if value is None:
                    snapshot.entries.pop(change.key, None)
                else:
                    snapshot.entries[change.key] = Stored(
                        fingerprint(value), change.plate, change.partition, change.line
                    )
                last[change.partition] = (change.key, value)
            for partition, (key, value) in last.items():
                snapshot.anchors[partition] = (ends[partition] - 1, _anchor(key.encode(), value))
            snapshot.ends = ends
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(_encode_cache(snapshot, self.hotlist, sources, count))
            temporary.replace(path)
        except OSError as exc:
            log.warning("cannot write the hot-list sync cache %s: %s", path, exc)

    async def active(self, keys: set[str]) -> dict[str, Stored]:
        """The current entries with these keys, read from the partitions that hold them only (an
        import's removals: one read for them all, not one each)."""
        count = await self.writer.partition_count(self.hotlist)
        wanted = {key.encode() for key in keys}
        out: dict[str, Stored] = {}
        for partition in sorted({partition_for(key, count) for key in keys}):
            latest = await read_latest(self.settings.kafka, self.hotlist, wanted.__contains__, partition)
            out |= {key.decode(): _stored(record) for key, record in latest.items()}
        return out

    async def entry(self, key: str) -> tuple[HotlistEntry, int] | None:
        """The current entry with this key, read from its partition only."""
        partition = partition_for(key, await self.writer.partition_count(self.hotlist))
        latest = await read_latest(self.settings.kafka, self.hotlist, lambda k: k == key.encode(), partition)
        record = latest.get(key.encode())
        return None if record is None else (entry_from_dict(loads(record.value)), record.partition)

    async def source_status(self) -> dict[str, dict[str, Any]]:
        latest = await read_latest(self.settings.kafka, self.sources)
        return {k.decode(): orjson.loads(v.value) for k, v in latest.items()}

    async def pending_entries(self) -> dict[str, dict[str, Any]]:
        latest = await read_latest(self.settings.kafka, self.pending)
        return {k.decode(): orjson.loads(v.value) for k, v in latest.items()}

    # -- writing ----------------------------------------------------------------------

    async def _event(self, key: str, event: dict[str, Any]) -> None:
        await self.writer.write(self.changes, key.encode(), orjson.dumps(event))

    async def _entry_event(
        self, name: str, at: datetime, entry_key: str, plate: str, value: bytes | None, **extra: Any
    ) -> None:
        await self.writer.write(
            self.changes, plate.encode(), _entry_event(name, at.isoformat(), entry_key, plate, value, extra)
        )

    async def apply(self, plan: SyncPlan, sync_id: str, now: datetime, chunk: int = 10_000) -> None:
        """History first, then current state, a chunk of changes at a time: Kafka has a chunk's
        change events before any of its hot-list records is written, so an interruption leaves each
        entry old or new, and never an entry on the list without the event that put it there
        (replay and the retro-hunt read the history)."""
        at, extra = now.isoformat(), {"sync_id": sync_id}
        events = await self.writer.partition_count(self.changes)
        writer = self.writer
        for start in range(0, len(plan.changes), chunk):
            part = plan.changes[start : start + chunk]
            for change in part:
                event = _entry_event(_EVENT[change.kind], at, change.key, change.plate, change.value, extra)
                key, partition = change.plate.encode(), partition_for(change.plate, events)
                if not writer.append(self.changes, key, event, partition):  # that batch is full
                    await writer.write(self.changes, key, event, partition)
            await writer.flush()
            for change in part:
                key, value = change.key.encode(), None if change.kind == REMOVED else change.value
                if not writer.append(self.hotlist, key, value, change.partition):
                    await writer.write(self.hotlist, key, value, change.partition)
        await writer.flush()

    async def write_status(self, status: dict[str, Any]) -> None:
        await self.writer.write(self.sources, status["source"].encode(), orjson.dumps(status))
        await self.writer.flush()

    # -- sync -------------------------------------------------------------------------

    async def sync(
        self, fmt: str, path: Path, source: str | None, now: datetime, *, force: bool = False
    ) -> SyncReport:
        """Sync one extract (a file or a directory) of a feed.

        Raises :class:`ExtractRefused`, changing nothing but the source's last error, when the
        extract cannot be used.
        """
        with _gc_paused():
            consumer = await started_reader(self.settings.kafka)  # reads the list's current state
            try:
                return await self._sync(consumer, fmt, path, source, now, force=force)
            finally:
                await consumer.stop()

    async def _sync(
        self,
        consumer: AIOKafkaConsumer,
        fmt: str,
        path: Path,
        source: str | None,
        now: datetime,
        *,
        force: bool,
    ) -> SyncReport:
        feed = adapter(fmt)
        if feed.pending:
            raise ConfigError(
                f"the {fmt} format is imported for approval: use 'alpr hotlist import --format {fmt}'"
            )
        status = await self.source_status()
        sync_id = str(uuid.uuid4())
        try:
            extract = feed.open(path, source)
            snapshot = await self._snapshot(consumer, extract.sources)
            current = snapshot.entries
            # P4: the data is as old as the extract says, never as new as the sync.
            loaded = {n: status.get(n, {}).get("fresh_as_of") for n in extract.sources}
            before = {n: datetime.fromisoformat(t) if t else None for n, t in loaded.items()}
            skew = timedelta(seconds=self.settings.max_clock_skew_s)
            plan = plan_sync(
                extract,
                current,
                partitions=await self.writer.partition_count(self.hotlist),
                max_removal_share=self.settings.max_removal_share,
                force=force,
                check=lambda planned: check_as_of(path, planned, before, now, skew),
            )
        except ExtractRefused as exc:
            for name in {source} if source else feed.sources if len(feed.sources) == 1 else set():
                await self._failed(status.get(name), name, fmt, exc, now)
            raise
        checksum = _checksum(extract.files)
        await self.apply(plan, sync_id, now)
        await self._remember(consumer, snapshot, plan, extract.sources)
        as_of = plan.generated_at or now  # an undated extract (NDJSON without synced_at): its sync
        span_s = refresh_span_s(self.settings.profile)
        for name in sorted(plan.sources):
            await self.write_status(
                {
                    "source": name,
                    "format": fmt,
                    "last_attempt": now.isoformat(),
                    "last_success": now.isoformat(),
                    "fresh_as_of": as_of.isoformat(),
                    "fresh_history": refresh_history(status.get(name), as_of, span_s),  # P4 as of a read
                    "entry_count": plan.entry_count.get(name, 0),
                    "checksum": checksum,
                    "sync_id": sync_id,
                    "counts": dict(plan.counts),
                    "last_error": None,
                    "last_error_at": None,
                    **{k: v for k, v in status.get(name, {}).items() if k == "stale_flagged_for"},
                }
            )
            await self._event(
                name,
                {
                    "event": "HotlistSourceSynced",
                    "at": now.isoformat(),
                    "source": name,
                    "fresh_as_of": as_of.isoformat(),  # rematch rebuilds P4 from it
                    "sync_id": sync_id,
                    "counts": dict(plan.counts),
                    "checksum": checksum,
                },
            )
        await self.writer.flush()
        return SyncReport(plan, sync_id, checksum)

    async def _failed(
        self, previous: dict[str, Any] | None, source: str, fmt: str, exc: ExtractRefused, now: datetime
    ) -> None:
        status = dict(
            previous
            or {
                "source": source,
                "last_success": None,
                "fresh_as_of": None,
                "entry_count": 0,
                "checksum": None,
                "sync_id": None,
                "counts": {},
            }
        )
        status.update(
            format=fmt,
            last_attempt=now.isoformat(),
            last_error=f"{exc.code}: {exc}",
            last_error_at=now.isoformat(),
        )
        await self.write_status(status)
        await self._event(
            source,
            {
                "event": "HotlistSyncRefused",
                "at": now.isoformat(),
                "source": source,
                "reason_code": exc.code,
                "reason": str(exc),
            },
        )
        await self.writer.flush()

    async def flag_stale(self, source: str, now: datetime, max_age: timedelta) -> bool:
        """Emit ``HotlistSourceStale`` once per stale period of a source (P3, P4).

        A source is stale when its data is older than ``max_age`` or it never synced; the
        status remembers for which ``fresh_as_of`` the event went out.
        """
        status = (await self.source_status()).get(source)
        if status is None:
            return False
        fresh = status.get("fresh_as_of")
        if not source_stale(datetime.fromisoformat(fresh) if fresh else None, now, max_age.total_seconds()):
            return False
        if "stale_flagged_for" in status and status["stale_flagged_for"] == fresh:
            return False
        await self.write_status({**status, "stale_flagged_for": fresh})
        await self._event(
            source,
            {
                "event": "HotlistSourceStale",
                "at": now.isoformat(),
                "source": source,
                "fresh_as_of": fresh,
                "max_age_s": max_age.total_seconds(),
            },
        )
        await self.writer.flush()
        return True

    # -- department entries (P2) --------------------------------------------------------

    async def propose(
        self, entry: HotlistEntry, origin: str, now: datetime, *, entered_by_user: str | None = None
    ) -> list[str]:
        """Record a department entry as pending; return what it still lacks. Refusals (P1, P5, P6) raise.

        ``entered_by_user`` is the entering member's directory user name (from their sign-in): the
        approval compares it with the approver's (P2), which a badge typed anywhere cannot fake."""
        missing = await self._write_pending(entry, origin, now, entered_by_user)
        await self.writer.flush()
        return missing

    async def _write_pending(
        self, entry: HotlistEntry, origin: str, now: datetime, entered_by_user: str | None
    ) -> list[str]:
        """Check a department entry and write it as pending, unflushed (an import flushes once)."""
        if entry.source != LOCAL_SOURCE:
            raise PolicyViolation("P2", f"department entries have source 'local', not {entry.source!r}")
        if entry.approved_by is not None:
            raise PolicyViolation(
                "P2", "a new entry cannot carry its own approval: approve it with 'alpr hotlist approve'"
            )
        check_entry(entry, require_p2=False, profile=self.settings.profile)  # P2 values, P5, P6
        missing = missing_p2_fields(entry)
        value = orjson.dumps(entry_to_dict(entry))
        record = {
            "entry": orjson.Fragment(value),
            "missing": missing,
            "proposed_at": now.isoformat(),
            "origin": origin,
            "entered_by_user": entered_by_user,
        }
        await self.writer.write(self.pending, entry.key.encode(), orjson.dumps(record))
        await self._entry_event(
            "HotlistEntryProposed",
            now,
            entry.key,
            entry.plate,
            value,
            missing=missing,
            origin=origin,
            by=person_to_dict(entry.entered_by),
        )
        return missing

    async def approve(
        self, key: str, approver: Person, now: datetime, *, approver_user: str | None = None
    ) -> tuple[HotlistEntry, str | None]:
        """A lieutenant (or above) approves a complete pending entry; it becomes active. Returns
        the active entry and the entering member's directory user name.

        ``approver`` and ``approver_user`` come from the approver's sign-in (the directory), never
        from what was typed (P2)."""
        if not approving_rank(approver.rank):
            raise AccessDenied(
                f"{approver.name} ({approver.rank or 'no rank'}) cannot approve: "
                "a lieutenant or above must (P2)"
            )
        entry, entered_by_user = await self._pending_of_another(
            key, approver, approver_user, "approve their own entry; another lieutenant must"
        )
        approved = msgspec.structs.replace(entry, approved_by=approver)
        check_entry(approved, profile=self.settings.profile)  # names what is still missing (P2)
        value = orjson.dumps(entry_to_dict(approved))
        partition = entry_partition(approved, await self.writer.partition_count(self.hotlist))
        await self._entry_event(
            "HotlistEntryApproved", now, key, approved.plate, value, by=person_to_dict(approver)
        )
        await self.writer.write(self.hotlist, key.encode(), value, partition)
        await self.writer.write(self.pending, key.encode(), None)
        await self.writer.flush()
        return approved, entered_by_user

    async def remove(
        self, key: str, by: Person, now: datetime, *, designee_of: str | None, reason: str
    ) -> None:
        """The entering member, or their designee, removes a department entry (active or pending)."""
        if not key.startswith(f"{LOCAL_SOURCE}:"):
            raise PolicyViolation(
                "P3", f"{key} comes from a shared feed: it leaves the list when the feed drops it"
            )
        entry, partition = await self._locate(key)
        owner = entry.entered_by.badge if entry.entered_by is not None else None
        if owner is None or by.badge != owner and designee_of != owner:
            raise AccessDenied(
                f"only the entering member (badge {owner}) or their designee may remove {key}; "
                "a designee says so with --designee-of BADGE"
            )
        await self._write_removal(
            entry.key,
            entry.plate,
            partition,
            now,
            by=person_to_dict(by),
            designee_of=designee_of,
            reason=reason,
        )
        await self.writer.flush()

    async def _locate(self, key: str) -> tuple[HotlistEntry, int | None]:
        """A department entry, active (with its hot-list partition) or pending (partition None)."""
        found = await self.entry(key)
        if found is not None:
            return found
        pending = (await self.pending_entries()).get(key)
        if pending is None:
            raise NotFound(f"no department entry {key}")
        return entry_from_dict(pending["entry"]), None

    async def reject(
        self, key: str, approver: Person, note: str, now: datetime, *, approver_user: str | None = None
    ) -> tuple[HotlistEntry, str | None]:
        """A lieutenant's other answer to a pending entry: it never becomes active. The pending
        record is removed as a withdrawal removes it (``HotlistEntryRemoved`` with the lieutenant
        as ``by``, the note as ``reason``, ``reason_code`` "rejected"). Returns the entry and the
        entering member's directory user name; the entering member cannot reject their own (P2)."""
        entry, entered_by_user = await self._pending_of_another(
            key, approver, approver_user, "reject their own entry; withdraw it with 'alpr hotlist remove'"
        )
        await self._write_removal(
            key, entry.plate, None, now, by=person_to_dict(approver), reason=note, reason_code="rejected"
        )
        await self.writer.flush()
        return entry, entered_by_user

    async def _pending_of_another(
        self, key: str, approver: Person, approver_user: str | None, instead: str
    ) -> tuple[HotlistEntry, str | None]:
        """The pending entry ``key`` and its entering member's user name, unless the approver is
        that member (P2: :class:`AccessDenied` saying what to do ``instead``)."""
        pending = (await self.pending_entries()).get(key)
        if pending is None:
            raise NotFound(f"no pending entry {key}: see 'alpr hotlist pending'")
        entry = entry_from_dict(pending["entry"])
        entered_by_user = pending.get("entered_by_user")
        own = (
            entered_by_user == approver_user
            if entered_by_user is not None and approver_user is not None
            # a record written before sign-in names no user (or a tool approves): compare badges
            else entry.entered_by is not None and entry.entered_by.badge == approver.badge
        )
        if own:
            raise AccessDenied(
                f"{approver_user or approver.name} entered {key}: the entering member cannot {instead} (P2)"
            )
        return entry, entered_by_user

    async def _write_removal(
        self, key: str, plate: str, partition: int | None, now: datetime, **extra: Any
    ) -> None:
        """The removal of an active entry (its hot-list partition) or a pending one (None), unflushed."""
        await self._entry_event("HotlistEntryRemoved", now, key, plate, None, **extra)
        if partition is not None:
            await self.writer.write(self.hotlist, key.encode(), None, partition)
        else:
            await self.writer.write(self.pending, key.encode(), None)

    async def import_pending(
        self,
        fmt: str,
        path: Path,
        entered_by: Person | None,
        now: datetime,
        *,
        entered_by_user: str | None = None,
    ) -> ImportReport:
        """Import a vendor's hot list as pending department entries: never silently activated (P2).

        The adapter gives the events in the order they happened (a change log by its times); each
        entry ends as its last event leaves it, so a plate removed after it was added stays removed
        whatever the file's order. The current department entries are read once, and everything is
        written in one batch: a removal costs what an addition costs (no read or round trip each)."""
        feed = adapter(fmt)
        if not feed.pending:
            raise ConfigError(
                f"the {fmt} format is synced, not imported: use 'alpr hotlist sync --format {fmt}'"
            )
        if isinstance(feed, FlockAdapter):
            feed = feed.for_import(entered_by, self.settings.profile, now)
        report = ImportReport()
        extract = feed.open(path, LOCAL_SOURCE)
        last: dict[str, Parsed] = {}  # each entry's last event in this file
        added_here: set[str] = set()  # entries this file adds (a later removal in it is no unknown)
        for record in extract.records:  # the whole file parses before anything is written
            if record.dropped is not None:
                report.counts["dropped_p5"] += 1
                report.problems.append(record.dropped)
            elif record.key is None or record.error is not None:
                report.counts["errors"] += 1
                report.problems.append(record.error or f"{record.line}: unusable")
            else:
                earlier = last.get(record.key)
                if earlier is not None and earlier.entry is not None:
                    report.counts["superseded"] += 1  # a later event of the same entry decides
                    added_here.add(record.key)
                if record.skipped is not None:
                    report.counts["skipped_expired"] += 1
                last[record.key] = record
        pending = await self.pending_entries()
        active = await self.active({k for k, r in last.items() if r.remove and k not in pending})
        for key, record in last.items():
            if record.entry is not None:  # what was adjusted counts for the version imported
                report.counts.update(record.tallies)
                report.problems.extend(record.notes)
                await self._import_entry(report, record, record.entry, f"{fmt}-import", now, entered_by_user)
            elif record.remove:
                stored = active.get(key)
                if stored is not None:
                    plate, partition = stored.plate, stored.partition
                elif key in pending:
                    plate, partition = str(pending[key]["entry"]["plate"]), None
                else:  # never queued: nothing to write
                    report.counts["removed" if key in added_here else "removal_of_unknown"] += 1
                    continue
                await self._write_removal(
                    key, plate, partition, now, by=None, reason="removed in the vendor's change log"
                )
                report.counts["removed"] += 1
        await self.writer.flush()
        return report

    async def _import_entry(
        self,
        report: ImportReport,
        record: Parsed,
        entry: HotlistEntry,
        origin: str,
        now: datetime,
        entered_by_user: str | None,
    ) -> None:
        try:
            missing = await self._write_pending(entry, origin, now, entered_by_user)
        except PolicyViolation as exc:
            report.counts["dropped_p5" if exc.rule == "P5" else "refused"] += 1
            report.problems.append(f"{record.line}: {exc}")
            return
        if [m for m in missing if not m.startswith("approved_by")]:
            report.counts["pending_incomplete"] += 1
            report.problems.append(f"{record.line}: {entry.key} pending, missing {', '.join(missing)}")
        else:
            report.counts["pending_approval"] += 1
