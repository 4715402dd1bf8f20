"""The project's own format: NDJSON hot-list entries (schemas/hotlist_entry.json).

For samples, tests and feeds converted by other tools. It has no trailer, so a
truncated file shows only as a bad last line; prefer the feed formats for
large extracts. Without ``--source`` it syncs every shared source the file names.
"""

from __future__ import annotations

from pathlib import Path

from streams.codec import entry_from_dict, loads
from streams.hotlists.adapters.base import Extract, ExtractRefused, Parsed, build, files_of
from streams.hotlists.model import LOCAL_SOURCE, SOURCES
from streams.hotlists.records import ndjson_lines

__all__ = ["ADAPTER"]


class NdjsonAdapter:
    name = "ndjson"
    sources = SOURCES
    pending = False

    def open(self, path: Path, source: str | None) -> Extract:
        files = files_of(path, "*.ndjson")
        records = [self._record(f"{f}:{n}", line) for f in files for n, line in ndjson_lines(f)]
        if not records:
            raise ExtractRefused("empty", f"{path}: the extract holds no records")
        named = {r.entry.source for r in records if r.entry is not None}
        sources = frozenset({source} if source else named)
        if LOCAL_SOURCE in sources:
            raise ExtractRefused(
                "usage",
                "department (local) entries are not synced from files: use 'alpr hotlist add' "
                "and 'alpr hotlist approve' (P2)",
            )
        if source is not None:
            records = [self._only(r, source) for r in records]
        return Extract(self.name, sources, None, iter(records), files)

    @staticmethod
    def _only(record: Parsed, source: str) -> Parsed:
        if record.entry is not None and record.entry.source != source:
            return Parsed(
                record.line, error=f"{record.line}: entry of source {record.entry.source!r}, not {source!r}"
            )
        return record

    @staticmethod
    def _record(where: str, line: bytes) -> Parsed:
        return build(where, None, lambda: entry_from_dict(loads(line)))


ADAPTER = NdjsonAdapter()
