"""California Stolen Vehicle System extracts: SVS, SFR and SLR (layout: schemas/feeds/ca_svs_extract.md).

CSV with a header line naming the list and its generation time, a column
line, and a trailer with the record count. One file holds one list.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from streams.hotlists.adapters.base import (
    Extract,
    ExtractRefused,
    Parsed,
    build,
    check_count,
    feed_entry,
    files_of,
    parse_time,
    vehicle_fields,
)

__all__ = ["ADAPTER", "COLUMNS", "LISTS"]

COLUMNS = [
    "LIST",
    "RECORD_ID",
    "PLATE",
    "STATE",
    "PLATE_TYPE",
    "PLATE_YEAR",
    "VIN",
    "YEAR",
    "MAKE",
    "MODEL",
    "STYLE",
    "COLOR",
    "ORI",
    "CASE",
    "REASON",
]
#: list -> (source, list type, description)
LISTS = {
    "SVS": ("svs", "stolen_vehicle", "CA SVS: stolen vehicle"),
    "SFR": ("sfr", "felony_vehicle", "CA SVS SFR: stolen/felony vehicle"),
    "SLR": ("slr", "stolen_plate", "CA SVS SLR: lost or stolen plate"),
}
_VEHICLE = {
    "VIN": "vin",
    "YEAR": "year",
    "MAKE": "make",
    "MODEL": "model",
    "STYLE": "style",
    "COLOR": "color",
    "PLATE_TYPE": "plate_type",
    "PLATE_YEAR": "plate_year",
}


class SvsAdapter:
    name = "svs"
    sources = frozenset(source for source, _, _ in LISTS.values())
    pending = False

    def open(self, path: Path, source: str | None) -> Extract:
        files = files_of(path, "*.csv")
        headers = [self._header(f) for f in files]
        lists = {name for name, _ in headers}
        if len(lists) != 1:
            raise ExtractRefused("unparseable", f"{path}: one sync takes one list, found {sorted(lists)}")
        (name,) = lists
        list_source = LISTS[name][0]
        if source not in (None, list_source):
            raise ExtractRefused(
                "usage", f"{path}: the file holds list {name} (source {list_source}), not {source!r}"
            )
        return Extract(
            self.name, frozenset({list_source}), min(t for _, t in headers), self._records(files, name), files
        )

    @staticmethod
    def _header(path: Path) -> tuple[str, datetime]:
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            first = handle.readline().rstrip("\r\n")
        if not first:
            raise ExtractRefused("empty", f"{path}: the extract is empty")
        parts = [p.strip() for p in first.split(",")]
        if len(parts) != 3 or parts[0] != "# CA-SVS-EXTRACT" or parts[1] not in LISTS:
            raise ExtractRefused(
                "unparseable",
                f"{path}:1: expected '# CA-SVS-EXTRACT,SVS|SFR|SLR,<generated>', got {first[:80]!r}",
            )
        return parts[1], parse_time(parts[2], f"{path}:1")

    def _records(self, files: list[Path], name: str) -> Iterator[Parsed]:
        for path in files:
            yield from self._file(path, name)

    def _file(self, path: Path, name: str) -> Iterator[Parsed]:
        count = 0
        trailer: int | None = None
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            handle.readline()
            rows = csv.reader(handle)
            header = next(rows, None)
            if header != COLUMNS:
                raise ExtractRefused("unparseable", f"{path}:2: columns must be {','.join(COLUMNS)}")
            for row in rows:
                number = rows.line_num + 1
                if not row or not any(row):
                    continue
                if trailer is not None:
                    raise ExtractRefused("unparseable", f"{path}:{number}: data after the trailer")
                if row[0].startswith("# END"):
                    try:
                        trailer = int(row[1])
                    except (IndexError, ValueError) as exc:
                        raise ExtractRefused("unparseable", f"{path}:{number}: bad trailer {row!r}") from exc
                    continue
                count += 1
                yield self._record(f"{path}:{number}", row, name)
        check_count(path, count, trailer, "'# END,count'")

    @staticmethod
    def _record(where: str, fields: list[str], name: str) -> Parsed:
        if len(fields) != len(COLUMNS):
            return Parsed(where, error=f"{where}: {len(fields)} fields, expected {len(COLUMNS)}")
        row = dict(zip(COLUMNS, (f.strip() for f in fields), strict=True))
        source, list_type, description = LISTS[name]
        key = f"{source}:{row['RECORD_ID']}" if row["RECORD_ID"] else None
        if row["LIST"] != name:
            return Parsed(where, key=key, error=f"{where}: LIST {row['LIST']!r} in a {name} extract")
        if key is None:
            return Parsed(where, error=f"{where}: no RECORD_ID")

        return build(
            where,
            key,
            feed_entry,
            where,
            source,
            row["RECORD_ID"],
            row["PLATE"],
            row["STATE"],
            "STATE",
            list_type,
            description,
            row["REASON"],
            row["CASE"],
            row["ORI"],
            vehicle_fields({name: row[column] for column, name in _VEHICLE.items()}),
        )


ADAPTER = SvsAdapter()
