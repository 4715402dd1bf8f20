"""The matching core: Bloom screen, exact authoritative check, partial patterns.

Pure: no faust, no aiokafka. The stream calls :func:`screen` on every read batch and
:func:`confirm` (with :func:`partial_matches`) on the partition that owns a candidate's
canonical key; ``alpr match`` calls :func:`match`, which is exactly those steps in a row.

The screen is the hot path (every read): it works on a whole batch at once, so the per-read
work happens inside C (one translate of the joined plates, one pass of the partial patterns'
automaton, the Bloom filter's ``__contains__`` mapped over the keys) rather than in Python
bytecode per read. The Bloom filter and the partial patterns are the native kernel's
(``alpr_native.Bloom`` and ``Patterns``, native/), so the kernel that checks a read batch also
normalizes its plates, makes their canonical keys, probes the filter and runs the patterns
without a Python object per read (:func:`screen_parts`, issue 19); a plate it does not normalize
leaves its record to :func:`screen`.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain, compress
from typing import Any, cast

import msgspec
from alpr_native import Bloom, Patterns

from streams.errors import InvalidRecord
from streams.hotlists.model import HotlistEntry, check_entry
from streams.matching.compact import MAX_LOAD, EntryStore, SlotTable, hash64
from streams.matching.normalize import (
    MAX_PLATE_LEN,
    OcrClasses,
    differing_positions,
    normalize_plate,
    normalize_plates,
)
from streams.reads.model import Read

__all__ = [
    "EXACT",
    "OCR_EQUIVALENT",
    "PARTIAL",
    "HotlistIndex",
    "Match",
    "MatchRules",
    "Screened",
    "confirm",
    "entry_in_force",
    "source_stale",
    "match",
    "prune_refreshes",
    "PlateQuery",
    "partial_matches",
    "screen",
    "screen_parts",
    "pattern_key",
]

EXACT = "exact"
OCR_EQUIVALENT = "ocr_equivalent"
PARTIAL = "partial"


@dataclass(frozen=True, slots=True)
class MatchRules:
    ocr: OcrClasses
    max_substitutions: int = 2
    max_staleness_s: float = 24 * 3600.0  # P4
    #: A read captured longer than this before it arrives raises a HISTORICAL alert, never a live one.
    live_alert_max_age_s: float = 15 * 60.0
    #: How far back a source's refresh history is kept: P4 is judged at each read's capture time,
    #: so the history covers the read retention plus the staleness limit.
    refresh_span_s: float = 31 * 86400.0


@dataclass(frozen=True, slots=True)
class Match:
    entry: HotlistEntry
    kind: str
    state_mismatch: bool


@dataclass(slots=True)
class Screened:
    """What the screen found for a batch of plates, by position in the batch."""

    normalized: Sequence[str]  # "" where the plate was refused
    canonical: Sequence[str]
    candidates: list[int]  # Bloom positives and partial-pattern fits, ascending
    refused: dict[int, InvalidRecord] = field(default_factory=dict)


def source_stale(fresh_at: datetime | None, at: datetime, max_staleness_s: float) -> bool:
    """P4, the one place it is decided: shared hot-list data refreshed more than
    ``max_staleness_s`` before ``at`` (or never) is stale and must not be used."""
    return fresh_at is None or (at - fresh_at).total_seconds() > max_staleness_s


#: At most this many refresh times are kept per source (a feed synced every minute for a month
#: would otherwise keep 44 000); thinning only ever makes a read's data look older, never newer.
MAX_REFRESHES = 2048


def prune_refreshes(
    times: Iterable[datetime], span_s: float, max_points: int = MAX_REFRESHES
) -> list[datetime]:
    """A source's refresh (as-of) times, ascending, bounded (P4 as of the read): those within
    ``span_s`` of the newest, thinned to ``max_points`` by dropping a time closer than
    ``span_s / max_points`` to the next kept one. The newest is always kept, so reads on time
    are judged exactly; an older read may be judged on a refresh up to one step older than its
    true latest (stricter, never looser)."""
    ordered = sorted(set(times))
    if not ordered:
        return []
    newest = ordered[-1]
    oldest = newest - timedelta(seconds=span_s)
    kept = [t for t in ordered if t >= oldest]
    if len(kept) <= max_points:
        return kept
    step = timedelta(seconds=span_s / max_points)
    thinned = [newest]
    for t in reversed(kept[:-1]):
        if thinned[-1] - t >= step:
            thinned.append(t)
    return thinned[::-1]


def entry_in_force(
    entry: HotlistEntry,
    captured_at: datetime,
    max_staleness_s: float,
    source_fresh_at: datetime | None = None,
) -> bool:
    """Whether an entry may match a read captured at ``captured_at``.

    ``effective_at <= captured_at < expires_at``. Shared data is judged as of the read (P4):
    fresh as of the later of its own ``synced_at`` and ``source_fresh_at`` (the source's latest
    refresh at or before the capture, :meth:`HotlistIndex.fresh_as_of`), each counted only when
    at or before the capture: a refresh after the read says nothing of the list the read met.
    Refreshed more than ``max_staleness_s`` before the read, it is stale and never matches.
    """
    if entry.effective_at is not None and captured_at < entry.effective_at:
        return False
    if entry.expires_at is not None and captured_at >= entry.expires_at:
        return False
    if entry.is_shared:
        known = (t for t in (entry.synced_at, source_fresh_at) if t is not None and t <= captured_at)
        if source_stale(max(known, default=None), captured_at, max_staleness_s):
            return False
    return True


def _state_mismatch(read: Read, entry: HotlistEntry) -> bool:
    return bool(read.plate_state and entry.plate_state and read.plate_state != entry.plate_state)


def pattern_key(pattern: str, ocr: OcrClasses) -> str:
    """A partial-plate pattern (``?`` one character, ``*`` any run) over canonical keys: each other
    character as its OCR class's representative, as :class:`alpr_native.Patterns` takes it."""
    return "".join(ch if ch in "?*" else ocr.representative(ch) for ch in pattern)


#: Bytes kept per exact entry for its canonical key (a plate is at most MAX_PLATE_LEN), "\n"-padded.
KEY_WIDTH = MAX_PLATE_LEN + 1
_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE = msgspec.msgpack.Decoder(HotlistEntry).decode


class HotlistIndex:
    """The active entries one worker matches against.

    A Bloom filter of canonical keys screens every read; exact entries are found by canonical
    key; partial patterns (few) are checked on every read, by one automaton (``Patterns``). Removed
    entries may linger in the Bloom filter as false positives until the next rebuild: the exact
    check never alerts on them.

    Exact entries are held compactly (:mod:`streams.matching.compact`): each one's encoded bytes
    in an :class:`EntryStore` and, per slot, its place there, its key and canonical-key hashes,
    the next slot of the same canonical key and the canonical key itself (to rebuild the Bloom
    filter). An entry is decoded only when asked for: a candidate, ``get``, ``entries``.
    Partial entries (a few hundred at most) stay objects.

    The store only grows: an entry replaced or removed leaves dead bytes behind. When they pass
    the live ones (and ``compact_at`` bytes) the live entries are copied to a fresh store
    (:meth:`compact`), so a worker following twice-daily refreshes of millions of entries keeps
    a store at most about twice its content, at the cost of about one copy per dead byte.
    """

    #: The least dead bytes worth a compaction (below, a rewrite would cost more than it frees).
    compact_at = 64 << 20
    #: How much of the old store a compaction reads at a time (entries in store order).
    COMPACT_READ = 4 << 20

    def __init__(
        self,
        rules: MatchRules,
        bloom_error_rate: float = 0.001,
        capacity: int = 100_000,
        store: EntryStore | None = None,
    ) -> None:
        self.rules = rules
        self._error_rate = bloom_error_rate
        self._store = store if store is not None else EntryStore.in_memory()
        self._loc = array("Q")  # per slot: offset of the encoded entry in the store
        self._size = array("I")  # per slot: its length (0: a free slot)
        self._khash = array("Q")  # per slot: hash64 of the entry key
        self._chash = array("Q")  # per slot: hash64 of the canonical key
        self._next = array("i")  # per slot: the next slot of the same canonical key, or -1
        self._canon = bytearray()  # per slot: the canonical key, "\n"-padded to KEY_WIDTH
        self._free = array("I")  # free slots, reused first
        self._by_key = SlotTable(self._khash)
        self._by_canon = SlotTable(self._chash)  # canonical key -> first slot of its chain
        self._count = 0  # live exact entries
        self._garbage = 0  # store bytes of replaced or removed entries
        self._partial: dict[str, HotlistEntry] = {}
        self._patterns: _PartialScreen | None = None  # None: rebuild before use
        self._capacity = capacity
        self._bloom = Bloom(capacity, bloom_error_rate)
        self._table = _screen_table(rules.ocr)
        self._bloom_keys = 0  # keys added since the filter was built
        self._stale_keys = 0
        #: Each shared source's refresh history, ascending and bounded (:func:`prune_refreshes`):
        #: what "was it fresh when this read was captured" needs (P4 as of the read).
        self._refreshes: dict[str, list[datetime]] = {}
        #: Sources taken as current at every read's capture: only ``alpr match`` on hot-list files
        #: that carry no as-of time at all (they are then the list in force when the reads were made).
        self._current: set[str] = set()

    def mark_fresh(self, source: str, fresh_as_of: datetime) -> None:
        """Record that a shared source was refreshed with data current as of ``fresh_as_of`` (P3, P4).
        Refreshes may come in any order (a worker loading its history); the history stays bounded."""
        times = self._refreshes.setdefault(source, [])
        span = timedelta(seconds=self.rules.refresh_span_s)
        if fresh_as_of in times or (times and fresh_as_of < times[-1] - span):
            return  # known, or older than any read still kept
        insort(times, fresh_as_of)
        if len(times) > MAX_REFRESHES + MAX_REFRESHES // 8 or times[0] < times[-1] - span:
            times[:] = prune_refreshes(times, self.rules.refresh_span_s)  # amortized: rarely

    @property
    def source_fresh_at(self) -> dict[str, datetime]:
        """Each shared source's newest refresh (its data's as-of time): what "is it stale now" needs,
        the last of its refresh history."""
        return {source: times[-1] for source, times in self._refreshes.items() if times}

    def assume_current(self, source: str) -> None:
        """Take ``source`` as refreshed at every read's capture (``alpr match`` on undated files)."""
        self._current.add(source)

    def fresh_as_of(self, source: str, at: datetime) -> datetime | None:
        """The as-of time of the source's latest refresh at or before ``at`` (None: none known)."""
        if source in self._current:
            return at
        times = self._refreshes.get(source, [])
        position = bisect_right(times, at)
        return times[position - 1] if position else None

    def in_force(self, entry: HotlistEntry, captured_at: datetime) -> bool:
        """Whether ``entry`` may match a read captured at ``captured_at``, P4 judged as of the read."""
        return entry_in_force(
            entry, captured_at, self.rules.max_staleness_s, self.fresh_as_of(entry.source, captured_at)
        )

    @property
    def bloom_bits(self) -> int:
        return int(self._bloom.size_in_bits)

    def __len__(self) -> int:
        return self._count + len(self._partial)

    def __contains__(self, entry_key: object) -> bool:
        return isinstance(entry_key, str) and (entry_key in self._partial or self._slot_of(entry_key) >= 0)

    def get(self, entry_key: str) -> HotlistEntry | None:
        held = self._partial.get(entry_key)
        if held is not None:
            return held
        slot = self._slot_of(entry_key)
        return self._entry(slot) if slot >= 0 else None

    def entries(self) -> Iterator[HotlistEntry]:
        for slot in range(len(self._size)):
            if self._size[slot]:
                yield self._entry(slot)
        yield from list(self._partial.values())

    @property
    def partial_count(self) -> int:
        return len(self._partial)

    @property
    def store(self) -> EntryStore:
        return self._store

    @property
    def store_garbage(self) -> int:
        """Store bytes no entry uses any more (replaced or removed entries)."""
        return self._garbage

    def compact(self) -> None:
        """Copy the live entries to a fresh store (:meth:`EntryStore.sibling`) in the order they are
        held and drop the old one: only the entries' places change, every slot and key stays."""
        old, new = self._store, self._store.sibling()
        loc, size = self._loc, self._size
        start, chunk = 0, b""  # the old store read in order, a few megabytes at a time
        for slot in sorted((s for s in range(len(size)) if size[s]), key=loc.__getitem__):
            offset, length = loc[slot], size[slot]
            if offset + length > start + len(chunk):
                start, chunk = offset, old.read(offset, max(length, self.COMPACT_READ))
            loc[slot] = new.append(chunk[offset - start : offset - start + length])
        old.close()
        self._store, self._garbage = new, 0

    def arrays(self) -> dict[str, array[int]]:
        """The compact arrays by name, as a snapshot writes them (see :meth:`restore`)."""
        return {
            "loc": self._loc,
            "size": self._size,
            "khash": self._khash,
            "chash": self._chash,
            "next": self._next,
            "free": self._free,
            "by_key": self._by_key.positions,
            "by_canon": self._by_canon.positions,
        }

    def counters(self) -> dict[str, int]:
        return {
            "count": self._count,
            "garbage": self._garbage,
            "by_key_used": self._by_key.used,
            "by_canon_used": self._by_canon.used,
        }

    @property
    def canon(self) -> bytearray:
        return self._canon

    @property
    def partial_entries(self) -> list[HotlistEntry]:
        return list(self._partial.values())

    @property
    def refreshes(self) -> dict[str, list[datetime]]:
        return self._refreshes

    def use_store(self, store: EntryStore) -> None:
        """Keep the entries in ``store`` from now on (a worker's, under its state directory, so a
        snapshot can name it). Only while the index holds no exact entry."""
        if len(self._size):
            raise ValueError("the index already holds entries in its store")
        self._store.close()
        self._store = store

    def restore(
        self,
        store: EntryStore,
        arrays: dict[str, array[int]],
        canon: bytearray,
        counters: dict[str, int],
        partial: Iterable[HotlistEntry],
        refreshes: dict[str, list[datetime]],
    ) -> None:
        """Take over what :meth:`arrays` and the rest gave in another process (a snapshot), in
        place of this index's content (the index is already shared with the pipeline). The
        Bloom filter is rebuilt from the canonical keys (it is not part of a snapshot)."""
        self._store.close()
        self._store = store
        self._loc, self._size, self._khash = arrays["loc"], arrays["size"], arrays["khash"]
        self._chash, self._next, self._free = arrays["chash"], arrays["next"], arrays["free"]
        self._canon = canon
        self._by_key = SlotTable(self._khash, arrays["by_key"], counters["by_key_used"])
        self._by_canon = SlotTable(self._chash, arrays["by_canon"], counters["by_canon_used"])
        self._count, self._garbage = counters["count"], counters["garbage"]
        self._partial = {entry.key: entry for entry in partial}
        self._patterns = None
        self._refreshes = {source: sorted(times) for source, times in refreshes.items()}
        self._rebuild_bloom()

    def reserve(self, entries: int) -> None:
        """Make room for ``entries`` exact entries at once (a load that knows its size), so the
        tables and the Bloom filter are not rebuilt again and again on the way."""
        for table in (self._by_key, self._by_canon):
            if entries > MAX_LOAD * len(table.positions):
                table.resize(entries)
        if entries > self._capacity:
            self._rebuild_bloom(entries)

    def upsert(self, entry: HotlistEntry) -> None:
        """Add or replace an entry. Raises :class:`EntryRefused` (and changes nothing) if it breaks a rule."""
        check_entry(entry)
        canonical = "" if entry.is_partial else self.rules.ocr.canonical(entry.plate)
        if len(canonical) > KEY_WIDTH - 1 or not canonical.isascii():
            raise InvalidRecord("bad_plate", f"entry {entry.key}: plate {entry.plate!r} is not a plate")
        key_hash = hash64(entry.key)
        self._remove(entry.key, key_hash)
        if entry.is_partial:
            self._partial[entry.key] = entry
            self._patterns = None
            return
        self._add(entry, canonical, key_hash)

    def _add(self, entry: HotlistEntry, canonical: str, key_hash: int) -> None:
        encoded = _ENCODE(entry)
        key_bytes = canonical.encode().ljust(KEY_WIDTH, b"\n")
        ch = hash64(canonical)
        if self._free:
            slot = self._free.pop()
            self._loc[slot] = self._store.append(encoded)
            self._size[slot] = len(encoded)
            self._khash[slot] = key_hash
            self._chash[slot] = ch
            self._next[slot] = -1
            self._canon[slot * KEY_WIDTH : (slot + 1) * KEY_WIDTH] = key_bytes
        else:
            slot = len(self._size)
            self._loc.append(self._store.append(encoded))
            self._size.append(len(encoded))
            self._khash.append(key_hash)
            self._chash.append(ch)
            self._next.append(-1)
            self._canon += key_bytes
        self._count += 1
        self._by_key.insert(self._khash[slot], slot)
        position = self._canon_position(ch, key_bytes)
        if position < 0:
            self._by_canon.insert(ch, slot)
        else:  # several lists name this plate: keep them in the order they came
            last = self._by_canon.positions[position]
            while self._next[last] >= 0:
                last = self._next[last]
            self._next[last] = slot
        if self._bloom_keys >= self._capacity:
            self._rebuild_bloom()  # drops removed keys and doubles the room; includes this key
        else:
            self._bloom.add(canonical)
            self._bloom_keys += 1

    def remove(self, entry_key: str) -> HotlistEntry | None:
        return self._remove(entry_key, hash64(entry_key))

    def _remove(self, entry_key: str, key_hash: int) -> HotlistEntry | None:
        held = self._partial.pop(entry_key, None)
        if held is not None:
            self._patterns = None
            return held
        found: list[HotlistEntry] = []
        position = self._by_key.find(key_hash, lambda slot: self._keeps(slot, entry_key, found))
        if position < 0:
            return None
        slot = self._by_key.positions[position]
        self._by_key.delete(position)
        head_at = self._canon_position(self._chash[slot], self._key_bytes(slot))
        head = self._by_canon.positions[head_at]
        if head == slot:
            if self._next[slot] >= 0:
                self._by_canon.positions[head_at] = self._next[slot]
            else:
                self._by_canon.delete(head_at)
                self._stale_keys += 1
        else:
            before = head
            while self._next[before] != slot:
                before = self._next[before]
            self._next[before] = self._next[slot]
        self._garbage += self._size[slot]
        self._size[slot] = 0
        self._khash[slot] = 0
        self._chash[slot] = 0
        self._canon[slot * KEY_WIDTH : (slot + 1) * KEY_WIDTH] = b"\n" * KEY_WIDTH
        self._free.append(slot)
        self._count -= 1
        if self._stale_keys > max(1000, self._count // 10):
            self._rebuild_bloom()
        if self._garbage >= self.compact_at and 2 * self._garbage > self._store.size:
            self.compact()  # more dead bytes than live ones
        return found[0]

    def _entry(self, slot: int) -> HotlistEntry:
        return _DECODE(self._store.read(self._loc[slot], self._size[slot]))

    def _keeps(self, slot: int, entry_key: str, found: list[HotlistEntry]) -> bool:
        entry = self._entry(slot)  # a 64-bit hash is not proof: the key itself is compared
        if entry.key != entry_key:
            return False
        found.append(entry)
        return True

    def _slot_of(self, entry_key: str) -> int:
        position = self._by_key.find(hash64(entry_key), lambda slot: self._entry(slot).key == entry_key)
        return self._by_key.positions[position] if position >= 0 else -1

    def _key_bytes(self, slot: int) -> bytes:
        return bytes(self._canon[slot * KEY_WIDTH : (slot + 1) * KEY_WIDTH])

    def _canon_position(self, h: int, key_bytes: bytes) -> int:
        return self._by_canon.find(h, lambda slot: self._key_bytes(slot) == key_bytes)

    def canonical_keys(self, chunk: int = 1 << 16) -> Iterator[list[str]]:
        """The canonical keys of the exact entries, a chunk at a time (a key once per entry)."""
        step = chunk * KEY_WIDTH
        for start in range(0, len(self._canon), step):
            yield [k for k in self._canon[start : start + step].decode().split("\n") if k]

    def _rebuild_bloom(self, capacity: int = 0) -> None:
        self._capacity = max(100_000, 2 * self._count, capacity)
        bloom = Bloom(self._capacity, self._error_rate)
        for keys in self.canonical_keys():
            bloom.update(keys)
        self._bloom = bloom
        self._bloom_keys = self._count
        self._stale_keys = 0

    def native_screen(self) -> tuple[Bloom, bytes, Patterns | None] | None:
        """What the native kernel screens a read batch's plates with (``decode_read_batches``):
        the Bloom filter, the OCR classes' table and the partial patterns (None: none); None when
        a class's representative is not an ASCII letter or digit (the table could not say it:
        the Python screen then does)."""
        if self._table is None:
            return None
        return self._bloom, self._table, self._partial_screen().patterns if self._partial else None

    def bloom_contains(self, canonical: str) -> bool:
        return canonical in self._bloom

    def bloom_positives(self, keys: list[str]) -> list[int]:
        """The positions of the keys the Bloom filter may hold."""
        return list(compress(range(len(keys)), map(self._bloom.__contains__, keys)))

    def _partial_screen(self) -> _PartialScreen:
        if self._patterns is None:
            entries = list(self._partial.values())
            ocr = self.rules.ocr
            self._patterns = _PartialScreen(Patterns([pattern_key(e.plate, ocr) for e in entries]), entries)
        return self._patterns

    def partial_lines(self, keys: str) -> list[int]:
        """The line numbers of ``keys`` (canonical keys, one per line) that some partial pattern fits."""
        return self._partial_screen().patterns.lines(keys) if self._partial else []

    def exact_candidates(self, canonical: str) -> tuple[HotlistEntry, ...]:
        if not canonical.isascii() or len(canonical) >= KEY_WIDTH:
            return ()
        position = self._canon_position(hash64(canonical), canonical.encode().ljust(KEY_WIDTH, b"\n"))
        if position < 0:
            return ()
        found = []
        slot = self._by_canon.positions[position]
        while slot >= 0:
            found.append(self._entry(slot))
            slot = self._next[slot]
        return tuple(found)

    def partial_candidates(self, canonical: str) -> list[HotlistEntry]:
        if not self._partial:
            return []
        screen = self._partial_screen()
        return [screen.entries[i] for i in screen.patterns.fitting(canonical)]


@dataclass(frozen=True)
class _PartialScreen:
    """The partial entries (in the index's order) and their patterns in the native kernel."""

    patterns: Patterns
    entries: list[HotlistEntry]


def screen(index: HotlistIndex, plates: Sequence[str]) -> Screened:
    """Normalize a batch of plates, run the Bloom screen and the partial patterns on all of them.

    A plate that cannot be a plate is in ``refused`` (its error) and is no candidate.
    """
    normalized, refused = normalize_plates(plates)
    lines = index.rules.ocr.canonical("\n".join(normalized))
    canonical = lines.split("\n")
    found = set(index.bloom_positives(canonical))
    found.update(index.partial_lines(lines))
    if refused:
        found.difference_update(refused)
    return Screened(normalized, canonical, sorted(found), refused)


def _screen_table(ocr: OcrClasses) -> bytes | None:
    """The OCR classes as the native kernel takes them: byte -> its class's representative (A-Z0-9;
    the other bytes are never looked up), None when a representative is not an ASCII letter or digit."""
    table = bytearray(range(256))
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        rep = ocr.canonical(chr(c))
        if not (len(rep) == 1 and rep.isascii() and rep.isalnum()):
            return None
        table[c] = ord(rep)
    return bytes(table)


class _KeyLines(Sequence[str]):
    """A record's canonical keys as the kernel gave them ("\n"-joined), split only when one is
    asked for (a candidate: a few reads of thousands)."""

    __slots__ = ("_count", "_keys", "_lines")

    def __init__(self, keys: str, count: int) -> None:
        self._keys, self._count = keys, count
        self._lines: list[str] | None = None

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: Any) -> Any:
        if self._lines is None:
            self._lines = self._keys.split("\n")
        return self._lines[i]


class _Normalized(Sequence[str]):
    """A record's normalized plates, each made when asked for (a candidate's) from its plate."""

    __slots__ = ("_count", "_plate_of")

    def __init__(self, plate_of: Callable[[int], str], count: int) -> None:
        self._plate_of, self._count = plate_of, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        return normalize_plate(self._plate_of(i))


#: One record's reads for :func:`screen_parts`: their plates, or what the native kernel's screen
#: found (the number of reads, their canonical keys "\n"-joined, the candidates' positions as
#: native u32s: Bloom positives and partial fits) and a way to a read's plate.
ScreenPart = list[str] | tuple[int, str, bytes, Callable[[int], str]]


def screen_parts(index: HotlistIndex, parts: Sequence[ScreenPart]) -> list[Screened]:
    """:func:`screen` of several records' reads, a :class:`Screened` each (positions within the
    record). The plates of all the records given as plates are screened in one pass; those the
    kernel screened are done (its candidates: Bloom positives and partial fits), and a candidate's
    normalized and canonical plate is made when asked for."""
    out: list[Screened | None] = [None] * len(parts)
    plain = [i for i, part in enumerate(parts) if isinstance(part, list)]
    if plain:
        whole = screen(index, list(chain.from_iterable(cast(list[str], parts[i]) for i in plain)))
        if len(plain) == 1:
            out[plain[0]] = whole
        else:
            start, found = 0, whole.candidates
            for i in plain:
                end = start + len(parts[i])
                refused = {p - start: e for p, e in whole.refused.items() if start <= p < end}
                mine = [c - start for c in found[bisect_left(found, start) : bisect_left(found, end)]]
                out[i] = Screened(whole.normalized[start:end], whole.canonical[start:end], mine, refused)
                start = end
    native = [(i, part) for i, part in enumerate(parts) if not isinstance(part, list)]
    if not native:
        return cast(list[Screened], out)
    for i, (count, keys, candidates, plate_of) in native:
        found = memoryview(candidates).cast("I").tolist()
        out[i] = Screened(_Normalized(plate_of, count), _KeyLines(keys, count), found, {})
    return cast(list[Screened], out)


def partial_matches(index: HotlistIndex, read: Read, canonical: str) -> list[Match]:
    """The partial-plate patterns in force that the read's canonical plate fits."""
    return [
        Match(entry, PARTIAL, _state_mismatch(read, entry))
        for entry in index.partial_candidates(canonical)
        if index.in_force(entry, read.captured_at)
    ]


def confirm(index: HotlistIndex, read: Read, normalized: str, canonical: str) -> list[Match]:
    """The authoritative exact check of a Bloom positive: false positives and removed entries never match."""
    matches = []
    for entry in index.exact_candidates(canonical):
        if not index.in_force(entry, read.captured_at):
            continue
        if entry.plate == normalized:
            kind = EXACT
        elif differing_positions(entry.plate, normalized) <= index.rules.max_substitutions:
            kind = OCR_EQUIVALENT
        else:
            continue
        matches.append(Match(entry, kind, _state_mismatch(read, entry)))
    return matches


def match(index: HotlistIndex, read: Read) -> list[Match]:
    """Every match of one read: the screen, then the partial patterns and the exact check of a
    candidate. Raises :class:`InvalidRecord` when the plate text cannot be a plate."""
    screened = screen(index, [read.plate])
    if screened.refused:
        raise screened.refused[0]
    if not screened.candidates:
        return []
    normalized, canonical = screened.normalized[0], screened.canonical[0]
    return partial_matches(index, read, canonical) + confirm(index, read, normalized, canonical)


class PlateQuery:
    """An investigator's search (replay, holds): one plate, matched exactly or OCR-equivalently
    under the same rules as alerts, or one partial pattern (``?`` one character, ``*`` any)."""

    def __init__(self, rules: MatchRules, plate: str | None = None, partial: str | None = None) -> None:
        if (plate is None) == (partial is None):
            raise ValueError("give a plate or a partial pattern")
        self.rules = rules
        self.plate = normalize_plate(plate) if plate is not None else None
        self._canonical = rules.ocr.canonical(self.plate) if self.plate is not None else None
        self._pattern = (
            Patterns([pattern_key(partial.upper().replace(" ", "").replace("-", ""), rules.ocr)])
            if partial is not None
            else None
        )

    def kind(self, plate_text: str) -> str | None:
        """How a read's plate fits: exact, ocr_equivalent, partial, or None."""
        try:
            normalized = normalize_plate(plate_text)
        except InvalidRecord:
            return None
        canonical = self.rules.ocr.canonical(normalized)
        if self._pattern is not None:
            return PARTIAL if self._pattern.fitting(canonical) else None
        if normalized == self.plate:
            return EXACT
        if canonical == self._canonical and (
            differing_positions(normalized, self.plate or "") <= self.rules.max_substitutions
        ):
            return OCR_EQUIVALENT
        return None
