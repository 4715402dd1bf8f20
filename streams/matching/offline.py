"""``alpr match``: the stream's matching, offline, on files. No broker needed.

It uses the same core as the stream (:func:`~streams.matching.matcher.match`
is the screen and the exact check in a row) and the same alert ids; a read
repeated in the input raises its alert once, as in the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from streams.alerts.model import raise_alert
from streams.codec import alert_to_dict, decode_read_record, dumps
from streams.errors import InvalidRecord
from streams.hotlists.records import load_entries_file, ndjson_lines
from streams.matching.matcher import HotlistIndex, match

__all__ = ["MatchReport", "match_files"]


@dataclass(frozen=True, slots=True)
class MatchReport:
    entries: int
    refused: int
    reads: int
    rejected: int
    alerts: int


def match_files(
    index: HotlistIndex,
    hotlists: Sequence[Path],
    reads: Path,
    out: IO[bytes],
    err: IO[str],
    now: datetime,
) -> MatchReport:
    refused = 0
    for path in hotlists:
        entries, problems = load_entries_file(path)
        for entry in entries:
            index.upsert(entry)
            index.mark_fresh(entry.source, now)  # the files are the extracts, current as of now
        for problem in problems:
            print(problem, file=err)
        refused += len(problems)
    seen: set[str] = set()
    read_count = rejected = alerts = 0
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
                found = match(index, item)
            except InvalidRecord as exc:
                print(f"{reads}:{number}[{position}]: rejected ({exc.code}): {exc}", file=err)
                rejected += 1
                continue
            read_count += 1
            for hit in found:
                alert = raise_alert(item, hit, now)
                if alert.alert_id in seen:
                    continue
                seen.add(alert.alert_id)
                out.write(dumps(alert_to_dict(alert)) + b"\n")
                alerts += 1
    return MatchReport(len(index), refused, read_count, rejected, alerts)
