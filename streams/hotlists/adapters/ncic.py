"""The NCIC LPR extract (layout: schemas/feeds/ncic_lpr_extract.md).

Pipe-delimited, NCIC field codes as column names, one header, one trailer
with the record count (a missing or wrong trailer means a truncated file).
Records of the Immigration Violator File are dropped here (P5).
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from datetime import datetime
from pathlib import Path

import alpr_native

from streams.access.purpose import classify_fields
from streams.hotlists.adapters.base import (
    Extract,
    ExtractRefused,
    Parsed,
    Ready,
    Same,
    build,
    check_count,
    feed_entry,
    files_of,
    parse_time,
    record_digest,
)
from streams.hotlists.model import IMMIGRATION_LIST_TYPES, LIST_TYPES, SOURCES
from streams.matching.normalize import MAX_PLATE_LEN

__all__ = ["ADAPTER", "COLUMNS", "FILES"]

COLUMNS = [
    "FILE",
    "NIC",
    "ORI",
    "LIC",
    "LIS",
    "LIY",
    "LIT",
    "VIN",
    "VYR",
    "VMA",
    "VMO",
    "VST",
    "VCO",
    "OCA",
    "MIS",
]
#: NCIC file code -> (list type, description). IV is refused (P5), never mapped.
FILES = {
    "V": ("stolen_vehicle", "NCIC Vehicle File: stolen vehicle"),
    "F": ("felony_vehicle", "NCIC Vehicle File: felony vehicle"),
    "L": ("stolen_plate", "NCIC License Plate File: stolen plate"),
    "W": ("wanted_person", "NCIC Wanted Person File: vehicle of a wanted person"),
    "M": ("missing_person", "NCIC Missing Person File: vehicle of a missing person"),
    "P": ("protection_order", "NCIC Protection Order File: vehicle of a restrained person"),
    "G": ("gang", "NCIC Gang File"),
    "S": ("sex_offender", "NCIC National Sex Offender Registry"),
}
IMMIGRATION_FILES = {"IV", "IVF"}


class NcicAdapter:
    name = "ncic"
    sources = frozenset({"ncic"})
    pending = False

    def open(self, path: Path, source: str | None) -> Extract:
        if source not in (None, "ncic"):
            raise ExtractRefused("usage", f"the ncic format feeds source 'ncic', not {source!r}")
        files = files_of(path, "*.txt")
        headers = [self._header(f) for f in files]
        check_parts(path, files, headers)
        return Extract(
            self.name,
            self.sources,
            headers[0][0],
            (r for r in self._records(files, (), ready=False) if isinstance(r, Parsed)),
            files,
            digested=lambda known: self._records(files, known, ready=True),
        )

    @staticmethod
    def _header(path: Path) -> tuple[datetime, tuple[int, int] | None]:
        """The extract's generation time, and (n, N) when the file is part n of N."""
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = handle.readline().rstrip("\r\n")
        if not first:
            raise ExtractRefused("empty", f"{path}: the extract is empty")
        parts = first.split("|")
        if len(parts) not in (4, 5) or parts[0] != "HDR" or parts[1] != "NCIC-LPR" or parts[2] != "1":
            raise ExtractRefused(
                "unparseable",
                f"{path}:1: expected 'HDR|NCIC-LPR|1|<generated>[|<part>/<parts>]', got {first[:80]!r}",
            )
        generated = parse_time(parts[3], f"{path}:1")
        if len(parts) == 4:
            return generated, None
        n, slash, total = parts[4].partition("/")
        if not (slash and n.isdigit() and total.isdigit() and 1 <= int(n) <= int(total)):
            raise ExtractRefused(
                "unparseable", f"{path}:1: part {parts[4]!r} is not '<n>/<N>' with 1 <= n <= N"
            )
        return generated, (int(n), int(total))

    def _records(
        self, files: list[Path], known: Container[bytes], *, ready: bool
    ) -> Iterator[Parsed | Same | Ready]:
        for path in files:
            yield from self._file(path, known, ready)

    def _file(self, path: Path, known: Container[bytes], ready: bool) -> Iterator[Parsed | Same | Ready]:
        """The records of one file; one whose digest is ``known`` comes as :class:`Same`, unparsed
        (an entry is a function of its line alone: the header's time is the extract's, never an
        entry's). With ``ready``, one the kernel makes and the classifier finds nothing in comes
        as :class:`Ready`. The whole-file checks run after the last record all the same."""
        count = 0
        trailer: int | None = None
        name = str(path)
        with path.open(encoding="utf-8", errors="replace") as handle:
            handle.readline()
            columns = handle.readline().rstrip("\r\n").split("|")
            if columns != COLUMNS:
                raise ExtractRefused("unparseable", f"{path}:2: columns must be {'|'.join(COLUMNS)}")
            for number, raw in enumerate(handle, start=3):
                line = raw.rstrip("\r\n")
                if not line:
                    continue
                if trailer is not None:
                    raise ExtractRefused("unparseable", f"{path}:{number}: data after the trailer")
                if line.startswith("TRL|"):
                    try:
                        trailer = int(line[4:])
                    except ValueError as exc:
                        raise ExtractRefused("unparseable", f"{path}:{number}: bad trailer {line!r}") from exc
                    continue
                count += 1
                digest = record_digest(line)
                where = f"{name}:{number}"
                if digest in known:
                    yield Same(digest, where)
                    continue
                made = _KERNEL.made(line) if ready else None
                # what check_entry asks of the entry last: P5/P22, decided in Python alone
                if made is not None and classify_fields(made[4], made[5]) is None:
                    yield Ready(where, made[0], made[1], made[2], made[3], digest)
                else:
                    yield _parse(where, line, digest)
        check_count(path, count, trailer, "TRL|count")


#: The vehicle's fields as an entry names them, in name order (HotlistEntry.vehicle), with the
#: column of each.
_VEHICLE_COLUMNS = sorted(
    {
        "vin": "VIN",
        "year": "VYR",
        "make": "VMA",
        "model": "VMO",
        "style": "VST",
        "color": "VCO",
        "plate_type": "LIT",
        "plate_year": "LIY",
    }.items()
)
_VEHICLE = tuple((name, COLUMNS.index(column)) for name, column in _VEHICLE_COLUMNS)


def _kernel() -> alpr_native.NcicLines:
    """The native kernel for a full sync's lines (issue 19), given this layout. It vouches only for
    lines :func:`_parse` makes into an entry that check_entry passes but for the purpose classifier
    (which the caller runs): a file code whose list type check_entry would refuse is left out of
    its table, so such a line goes the Python way and is refused there."""
    files = {
        code: (list_type, description)
        for code, (list_type, description) in FILES.items()
        if "ncic" in SOURCES and list_type in LIST_TYPES and list_type not in IMMIGRATION_LIST_TYPES
    }
    columns = {column: at for at, column in enumerate(COLUMNS)}
    return alpr_native.NcicLines("ncic", columns, _VEHICLE_COLUMNS, files, IMMIGRATION_FILES, MAX_PLATE_LEN)


_KERNEL = _kernel()


def _parse(where: str, line: str, digest: bytes) -> Parsed:
    """One data record of an extract."""
    fields = line.split("|")
    if len(fields) != len(COLUMNS):
        return Parsed(where, error=f"{where}: {len(fields)} fields, expected {len(COLUMNS)}")
    # the columns in COLUMNS' order (checked against the header): a million records, no dict each
    stripped = list(map(str.strip, fields))
    file, nic, ori, lic, lis, _liy, _lit, _vin, _vyr, _vma, _vmo, _vst, _vco, oca, mis = stripped
    key = f"ncic:{nic}" if nic else None
    if file in IMMIGRATION_FILES:
        return Parsed(where, key=key, dropped=f"{where}: NCIC Immigration Violator File record dropped (P5)")
    if file not in FILES:
        return Parsed(where, key=key, error=f"{where}: unknown NCIC file code {file!r}")
    if key is None:
        return Parsed(where, error=f"{where}: no NIC")
    if not lic:
        return Parsed(where, key=key, error=f"{where}: no plate (LIC)")
    list_type, description = FILES[file]
    vehicle = tuple([(name, stripped[at]) for name, at in _VEHICLE if stripped[at]])  # the fields given
    return build(
        where,
        key,
        feed_entry,
        where,
        "ncic",
        nic,
        lic,
        lis,
        "LIS",
        list_type,
        description,
        mis,
        oca,
        ori,
        vehicle,
        digest=digest,
    )


ADAPTER = NcicAdapter()


def check_parts(
    path: Path, files: list[Path], headers: list[tuple[datetime, tuple[int, int] | None]]
) -> None:
    """An extract in several files is whole only when it says so: every file numbers itself
    ``n/N`` in its header, all of one generation time, and parts 1..N are each there once. A
    part that never arrived would otherwise read as the removal of its entries (schemas/feeds/
    ncic_lpr_extract.md); it is refused as truncated, like a file cut off, and nothing changes."""
    numbered = [(f, h[1]) for f, h in zip(files, headers, strict=True) if h[1] is not None]
    if len(files) == 1 and not numbered:
        return
    if len(numbered) < len(files):
        bare = ", ".join(f.name for f, h in zip(files, headers, strict=True) if h[1] is None)
        raise ExtractRefused(
            "truncated",
            f"{path}: {len(files)} files but {bare} carry no part number: each part of an extract "
            "in several files says 'HDR|NCIC-LPR|1|<generated>|<n>/<N>', so a missing part is seen",
        )
    if len({h[0] for h in headers}) > 1:
        raise ExtractRefused(
            "unparseable", f"{path}: the parts carry different generation times: they are not one extract"
        )
    totals = {part[1] for _f, part in numbered}
    if len(totals) > 1:
        raise ExtractRefused("unparseable", f"{path}: the parts disagree on their number ({sorted(totals)})")
    (total,) = totals
    seen: dict[int, Path] = {}
    for file, (n, _total) in numbered:
        if n in seen:
            raise ExtractRefused(
                "unparseable", f"{path}: part {n} of {total} is both {seen[n].name} and {file.name}"
            )
        seen[n] = file
    missing = sorted(set(range(1, total + 1)) - set(seen))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ExtractRefused(
            "truncated", f"{path}: part {shown} of {total} missing ({len(seen)} of {total} parts arrived)"
        )
