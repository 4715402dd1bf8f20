"""Applying records of the compacted hot-list topic to a worker's index (pure)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from streams.codec import entries_from_json, entry_from_dict, loads
from streams.errors import AlprError, EntryRefused, InvalidRecord
from streams.hotlists.model import HotlistEntry, check_entry
from streams.matching.matcher import HotlistIndex
from streams.matching.normalize import partition_for
from streams.retention.policy import Profile

__all__ = [
    "Applied",
    "apply_hotlist_record",
    "apply_hotlist_records",
    "source_freshness",
    "entry_partition",
    "load_entries_file",
    "ndjson_lines",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Applied:
    outcome: str  # upserted, removed, refused
    entry_key: str
    reason: str | None = None


def apply_hotlist_record(
    index: HotlistIndex, key: bytes | None, value: bytes | None, decoded: HotlistEntry | None = None
) -> Applied:
    """Apply one hot-list topic record. A tombstone removes; a refused update removes the old version too.
    ``decoded`` is the value already decoded (:func:`apply_hotlist_records`), else it is decoded here."""
    if key is None:
        return Applied("refused", "", "hot-list record without a key")
    entry_key = key.decode("utf-8", errors="replace")
    if value is None:
        index.remove(entry_key)
        return Applied("removed", entry_key)
    try:
        entry = decoded if decoded is not None else entry_from_dict(loads(value))
        if entry.key != entry_key:
            raise InvalidRecord(
                "schema", f"record key {entry_key!r} differs from the entry's key {entry.key!r}"
            )
        index.upsert(entry)
    except (InvalidRecord, EntryRefused) as exc:
        index.remove(entry_key)  # never keep matching an older version of a refused entry
        log.warning("hot-list entry %s refused: %s", entry_key, exc)
        return Applied("refused", entry_key, str(exc))
    return Applied("upserted", entry_key)


def apply_hotlist_records(index: HotlistIndex, records: Sequence[tuple[bytes | None, bytes | None]]) -> int:
    """Apply hot-list topic records (key, value) in their order, as :func:`apply_hotlist_record`
    does one by one, with the values decoded together (:func:`~streams.codec.entries_from_json`:
    a worker loading millions); returns how many were refused."""
    values = [value for key, value in records if key is not None and value is not None]
    decoded = iter(entries_from_json(values))
    refused = 0
    for key, value in records:
        entry = next(decoded) if key is not None and value is not None else None
        refused += apply_hotlist_record(index, key, value, entry).outcome == "refused"
    return refused


def source_freshness(value: bytes | None) -> tuple[str, datetime] | None:
    """A sources-topic status: the feed and the time its data is current as of (P3, P4)."""
    if value is None:
        return None
    try:
        status = loads(value)
        fresh = status.get("fresh_as_of")
        return (str(status["source"]), datetime.fromisoformat(fresh)) if fresh else None
    except (InvalidRecord, KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("unusable hot-list source status %r: %s", value[:200], exc)
        return None


def entry_partition(entry: HotlistEntry, partitions: int) -> int:
    """An entry's partition of the compacted hot-list topic: by entry key, so it never moves.

    (Partitioning by plate would move an entry whose plate changes, and a tombstone in the old
    partition could then overtake the new value in a reader of several partitions.)
    """
    return partition_for(entry.key, partitions)


def ndjson_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line number, raw line)`` for each non-blank line of an NDJSON file."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def load_entries_file(path: Path, profile: Profile | None = None) -> tuple[list[HotlistEntry], list[str]]:
    """Entries of an NDJSON hot-list file, and one message per refused line (P1, P2, P5, P6),
    judged by the agency's ``profile`` (default: the generic rules, see :func:`check_entry`)."""
    entries: list[HotlistEntry] = []
    refused: list[str] = []
    for number, line in ndjson_lines(path):
        try:
            entry = entry_from_dict(loads(line))
            check_entry(entry, profile=profile)
        except AlprError as exc:
            refused.append(f"{path}:{number}: refused: {exc}")
            continue
        entries.append(entry)
    return entries, refused
