"""The matching core: Bloom screen, exact authoritative check, partial patterns.

Pure: no faust, no aiokafka. The stream calls :func:`screen` on every read batch and
:func:`confirm` (with :func:`partial_matches`) on the partition that owns a candidate's
canonical key; ``alpr match`` calls :func:`match`, which is exactly those steps in a row.

The screen is the hot path (every read): it works on a whole batch at once, so the per-read
work happens inside C (one translate of the joined plates, one regex scan for the partial
patterns, the Bloom filter's ``__contains__`` mapped over the keys) rather than in Python
bytecode per read. The Bloom filter is rbloom: measured here, pybloom-live (the first choice)
cost 1.6 us per key, 80% of the whole budget per read at the 500 k reads/s target, and rbloom
0.1 us (loadtest/results/ceiling.summary.json).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress

from rbloom import Bloom

from streams.errors import InvalidRecord
from streams.hotlists.model import HotlistEntry, check_entry
from streams.matching.normalize import OcrClasses, differing_positions, normalize_plate, normalize_plates
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
    "PlateQuery",
    "partial_matches",
    "screen",
]

EXACT = "exact"
OCR_EQUIVALENT = "ocr_equivalent"
PARTIAL = "partial"


@dataclass(frozen=True, slots=True)
class MatchRules:
    ocr: OcrClasses
    max_substitutions: int = 2
    max_staleness_s: float = 24 * 3600.0  # P4


@dataclass(frozen=True, slots=True)
class Match:
    entry: HotlistEntry
    kind: str
    state_mismatch: bool


@dataclass(slots=True)
class Screened:
    """What the screen found for a batch of plates, by position in the batch."""

    normalized: list[str]  # "" where the plate was refused
    canonical: list[str]
    candidates: list[int]  # Bloom positives and partial-pattern fits, ascending
    refused: dict[int, InvalidRecord] = field(default_factory=dict)


def source_stale(fresh_at: datetime | None, at: datetime, max_staleness_s: float) -> bool:
    """P4, the one place it is decided: shared hot-list data refreshed more than
    ``max_staleness_s`` before ``at`` (or never) is stale and must not be used."""
    return fresh_at is None or (at - fresh_at).total_seconds() > max_staleness_s


def entry_in_force(
    entry: HotlistEntry,
    captured_at: datetime,
    max_staleness_s: float,
    source_fresh_at: datetime | None = None,
) -> bool:
    """Whether an entry may match a read captured at ``captured_at``.

    ``effective_at <= captured_at < expires_at``. Shared data is fresh as of the
    later of its own ``synced_at`` and its source's last refresh; refreshed more
    than ``max_staleness_s`` before the read, it is stale and never matches (P4).
    """
    if entry.effective_at is not None and captured_at < entry.effective_at:
        return False
    if entry.expires_at is not None and captured_at >= entry.expires_at:
        return False
    if entry.is_shared:
        fresh = max((t for t in (entry.synced_at, source_fresh_at) if t is not None), default=None)
        if source_stale(fresh, captured_at, max_staleness_s):
            return False
    return True


def _state_mismatch(read: Read, entry: HotlistEntry) -> bool:
    return bool(read.plate_state and entry.plate_state and read.plate_state != entry.plate_state)


_Trie = dict[str, "_Trie"]  # a token -> what may follow it ("" marks a pattern's end)


def _pattern_tokens(regex: str) -> list[str]:
    tokens, i = [], 0
    while i < len(regex):
        size = 2 if regex.startswith((".*", "\\"), i) else 1
        tokens.append(regex[i : i + size])
        i += size
    return tokens


def patterns_by_line(regexes: Sequence[str]) -> re.Pattern[str]:
    """One regex that finds the lines (``\\n``-separated canonical keys) some pattern fits whole.

    The patterns are merged into a trie, so a line is tried against each shared prefix once and
    literal branches are skipped on their first character (twice as fast as an alternation of
    the patterns, measured with 200).
    """
    end = ""
    trie: _Trie = {}
    for regex in regexes:
        node = trie
        for token in _pattern_tokens(regex):
            node = node.setdefault(token, {})
        node[end] = {}

    def emit(node: _Trie) -> str:
        branches = ["$" if token == end else token + emit(child) for token, child in node.items()]
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return re.compile("^" + emit(trie), re.MULTILINE)


def pattern_regex(pattern: str, ocr: OcrClasses) -> str:
    """A partial-plate pattern (``?`` one character, ``*`` any) as a regex over canonical keys."""
    parts = []
    for ch in pattern:
        if ch == "?":
            parts.append(".")
        elif ch == "*":
            parts.append(".*")
        else:
            parts.append(re.escape(ocr.representative(ch)))
    return "".join(parts)


class HotlistIndex:
    """The active entries one worker matches against.

    A Bloom filter of canonical keys screens every read; exact entries are
    indexed by canonical key; partial patterns (few) are checked on every read,
    behind one combined regex. Removed entries may linger in the Bloom filter as
    false positives until the next rebuild: the exact check never alerts on them.
    """

    def __init__(self, rules: MatchRules, bloom_error_rate: float = 0.001, capacity: int = 100_000) -> None:
        self.rules = rules
        self._error_rate = bloom_error_rate
        self._entries: dict[str, HotlistEntry] = {}
        # canonical key -> its entry, or a tuple of them (several lists may name one plate);
        # a worker holds millions, so no container per key where one entry is the rule.
        self._exact: dict[str, HotlistEntry | tuple[HotlistEntry, ...]] = {}
        self._partial: dict[str, tuple[re.Pattern[str], HotlistEntry]] = {}
        self._partial_lines: re.Pattern[str] | None = None  # None: rebuild before use
        self._capacity = capacity
        self._bloom = Bloom(capacity, bloom_error_rate)
        self._bloom_keys = 0  # keys added since the filter was built
        self._stale_keys = 0
        self.source_fresh_at: dict[str, datetime] = {}

    def mark_fresh(self, source: str, fresh_as_of: datetime) -> None:
        """Record that a shared source was refreshed with data current as of ``fresh_as_of`` (P3, P4)."""
        self.source_fresh_at[source] = fresh_as_of

    def in_force(self, entry: HotlistEntry, captured_at: datetime) -> bool:
        return entry_in_force(
            entry, captured_at, self.rules.max_staleness_s, self.source_fresh_at.get(entry.source)
        )

    @property
    def bloom_bits(self) -> int:
        return int(self._bloom.size_in_bits)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_key: object) -> bool:
        return entry_key in self._entries

    def get(self, entry_key: str) -> HotlistEntry | None:
        return self._entries.get(entry_key)

    def entries(self) -> Iterator[HotlistEntry]:
        return iter(self._entries.values())

    @property
    def partial_count(self) -> int:
        return len(self._partial)

    def upsert(self, entry: HotlistEntry) -> None:
        """Add or replace an entry. Raises :class:`EntryRefused` (and changes nothing) if it breaks a rule."""
        check_entry(entry)
        if entry.key in self._entries:
            self.remove(entry.key)
        self._entries[entry.key] = entry
        if entry.is_partial:
            regex = re.compile(pattern_regex(entry.plate, self.rules.ocr))
            self._partial[entry.key] = (regex, entry)
            self._partial_lines = None
            return
        canonical = self.rules.ocr.canonical(entry.plate)
        held = self._exact.get(canonical)
        if held is None:
            self._exact[canonical] = entry
        else:
            self._exact[canonical] = (*(held if isinstance(held, tuple) else (held,)), entry)
        if self._bloom_keys >= self._capacity:
            self._rebuild_bloom()  # drops removed keys and doubles the room; includes this key
        else:
            self._bloom.add(canonical)
            self._bloom_keys += 1

    def remove(self, entry_key: str) -> HotlistEntry | None:
        entry = self._entries.pop(entry_key, None)
        if entry is None:
            return None
        if entry.is_partial:
            del self._partial[entry_key]
            self._partial_lines = None
            return entry
        canonical = self.rules.ocr.canonical(entry.plate)
        held = self._exact[canonical]
        rest = tuple(e for e in held if e.key != entry_key) if isinstance(held, tuple) else ()
        if len(rest) > 1:
            self._exact[canonical] = rest
        elif rest:
            self._exact[canonical] = rest[0]
        else:
            del self._exact[canonical]
            self._stale_keys += 1
            if self._stale_keys > max(1000, len(self._exact) // 10):
                self._rebuild_bloom()
        return entry

    def _rebuild_bloom(self) -> None:
        self._capacity = max(100_000, 2 * len(self._exact))
        bloom = Bloom(self._capacity, self._error_rate)
        bloom.update(self._exact)
        self._bloom = bloom
        self._bloom_keys = len(self._exact)
        self._stale_keys = 0

    def bloom_contains(self, canonical: str) -> bool:
        return canonical in self._bloom

    def bloom_positives(self, keys: list[str]) -> list[int]:
        """The positions of the keys the Bloom filter may hold."""
        return list(compress(range(len(keys)), map(self._bloom.__contains__, keys)))

    def partial_lines(self, keys: str) -> list[int]:
        """The line numbers of ``keys`` (canonical keys, one per line) that some partial pattern fits."""
        if not self._partial:
            return []
        if self._partial_lines is None:
            self._partial_lines = patterns_by_line([rx.pattern for rx, _ in self._partial.values()])
        return [keys.count("\n", 0, m.start()) for m in self._partial_lines.finditer(keys)]

    def exact_candidates(self, canonical: str) -> tuple[HotlistEntry, ...]:
        held = self._exact.get(canonical)
        if held is None:
            return ()
        return held if isinstance(held, tuple) else (held,)

    def partial_candidates(self, canonical: str) -> list[HotlistEntry]:
        return [entry for rx, entry in self._partial.values() if rx.fullmatch(canonical)]


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
        self._regex = (
            re.compile(pattern_regex(partial.upper().replace(" ", "").replace("-", ""), rules.ocr))
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
        if self._regex is not None:
            return PARTIAL if self._regex.fullmatch(canonical) else None
        if normalized == self.plate:
            return EXACT
        if canonical == self._canonical and (
            differing_positions(normalized, self.plate or "") <= self.rules.max_substitutions
        ):
            return OCR_EQUIVALENT
        return None
