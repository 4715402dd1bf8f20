"""``alpr match``: the stream's matching, offline, on files. No broker needed.

It uses the same core as the stream (:func:`~streams.matching.matcher.match`
is the screen and the exact check in a row) and the same alert ids; a read
repeated in the input raises its alert once, as in the stream.

The reads are taken to arrive at ``as_of`` (``--as-of``), and every rule the stream applies at
arrival is applied relative to it, so both agree on the same input: a read too late to be stored
or older than the read retention is rejected (P11), one from the future beyond the clock skew
too, and one captured more than the profile's live-alert age before ``as_of`` raises a
HISTORICAL READ alert. P4 is judged as of each read's capture, as in the stream: each hot-list
file is an extract as old as its oldest ``synced_at`` (the sync's rule), and a refresh after a read
never counts for it. Files whose entries carry no ``synced_at`` at all say nothing of their age:
they are taken as the list in force when each read was captured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from streams.alerts.model import raise_alert
from streams.codec import alert_to_dict, decode_read_record, dumps
from streams.errors import InvalidRecord
from streams.hotlists.model import HotlistEntry
from streams.hotlists.records import load_entries_file, ndjson_lines
from streams.matching.matcher import HotlistIndex, match
from streams.reads.lateness import Lateness, capture_ms, check_capture_time, too_late
from streams.reads.model import Read

__all__ = ["Arrival", "MatchReport", "match_files"]


@dataclass(frozen=True, slots=True)
class MatchReport:
    entries: int
    refused: int
    reads: int
    rejected: int
    alerts: int
    historical: int = 0  # of the alerts, late reads (HISTORICAL READ)


@dataclass(frozen=True, slots=True)
class Arrival:
    """When the reads are taken to arrive, and the profile's bounds the stream applies then."""

    as_of: datetime
    retention: timedelta
    max_skew: timedelta
    lateness: Lateness

    def check(self, read: Read) -> None:
        """Raise the stream's :class:`InvalidRecord` for a read it would not screen at ``as_of``:
        too late to be stored (the producer's P11 refusal), expired, or from the future."""
        captured = capture_ms(read)
        now_ms = int(self.as_of.timestamp() * 1000)
        if self.lateness.route(captured, now_ms) is None and captured is not None:
            raise too_late(captured, now_ms, self.lateness.too_late_ms)
        check_capture_time(read, self.as_of, self.max_skew, self.retention)


def _load(index: HotlistIndex, hotlists: Sequence[Path], err: IO[str]) -> int:
    """Load the hot-list files in order, each a refresh of its shared sources as of its oldest
    ``synced_at``; sources no file dates are taken as current at every read. The refused count."""
    refused = 0
    dated: set[str] = set()
    undated: set[str] = set()
    for path in hotlists:
        entries, problems = load_entries_file(path)
        for entry in entries:
            index.upsert(entry)
        for problem in problems:
            print(problem, file=err)
        refused += len(problems)
        shared: list[HotlistEntry] = [e for e in entries if e.is_shared]
        times = [e.synced_at for e in shared if e.synced_at is not None]
        sources = {e.source for e in shared}
        if times:
            for source in sources:
                index.mark_fresh(source, min(times))
            dated |= sources
        else:
            undated |= sources
    for source in undated - dated:
        index.assume_current(source)
    return refused


def match_files(
    index: HotlistIndex,
    hotlists: Sequence[Path],
    reads: Path,
    out: IO[bytes],
    err: IO[str],
    arrival: Arrival,
) -> MatchReport:
    refused = _load(index, hotlists, err)
    live_max_age_s = index.rules.live_alert_max_age_s
    seen: set[str] = set()
    read_count = rejected = alerts = historical = 0
    for number, line in ndjson_lines(reads):
        try:
            decoded = decode_read_record(line.strip())
        except InvalidRecord as exc:
            print(f"{reads}:{number}: rejected ({exc.code}): {exc}", file=err)
            rejected += 1
            continue
        for position, item in enumerate(decoded):
            if isinstance(item, tuple):
                print(f"{reads}:{number}[{position}]: rejected ({item[0].code}): {item[0]}", file=err)
                rejected += 1
                continue
            try:
                arrival.check(item)
                found = match(index, item)
            except InvalidRecord as exc:
                print(f"{reads}:{number}[{position}]: rejected ({exc.code}): {exc}", file=err)
                rejected += 1
                continue
            read_count += 1
            for hit in found:
                alert = raise_alert(item, hit, arrival.as_of, live_max_age_s=live_max_age_s)
                if alert.alert_id in seen:
                    continue
                seen.add(alert.alert_id)
                out.write(dumps(alert_to_dict(alert)) + b"\n")
                alerts += 1
                historical += alert.late
    return MatchReport(len(index), refused, read_count, rejected, alerts, historical)
