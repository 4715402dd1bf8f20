"""Replay for incident reconstruction: the sightings of a time window, from the read topics and the
evidence holds, as a timeline (P11, P12).

Reads are found by their capture time whatever their lateness: ``streams.kafka.timeseek``'s
:func:`capture_ranges` gives each read topic's record times that can hold a read captured in the
window (``reads``: stamped with the earliest capture of its batch, up to the lateness bound before
a read's own; ``reads-late``: stamped when sent, up to ``too_late`` after), seeking by record
timestamp with the broker's offsets_for_times, and the window is applied to each read's own capture
time. Nothing stored is left out: a read later than the profile's ``too_late_ms`` was never stored
(counted by the ingest, P11). Reads older than the read retention are never returned, even if a
broker that does not enforce retention still has them; held reads are (P12), marked with their
cases.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from streams.codec import read_from_dict, read_to_dict, stored_reads
from streams.errors import ConfigError, InvalidRecord
from streams.kafka.log import read_latest
from streams.kafka.timeseek import Progress, capture_ranges, scan_ranges
from streams.matching.matcher import PlateQuery
from streams.reads.model import Read
from streams.settings import Settings

__all__ = ["ReplayQuery", "ReplayResult", "Sighting", "replay", "write_outputs"]

CSV_FIELDS = (
    "captured_at",
    "read_id",
    "camera_id",
    "plate",
    "plate_state",
    "confidence",
    "lat",
    "lon",
    "position_source",  # read, camera (a fixed camera's registered position) or unknown: lat/lon empty
    "image_ref",
    "match_kind",
    "held",
    "cases",
    "partition",
    "offset",
)


@dataclass(frozen=True)
class ReplayQuery:
    start: datetime
    end: datetime
    case_number: str
    purpose: str
    plate: str | None = None
    partial: str | None = None
    cameras: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ConfigError(f"--to {self.end.isoformat()} must be after --from {self.start.isoformat()}")
        if not self.case_number.strip() or not self.purpose.strip():
            raise ConfigError("a replay needs a case number and a purpose (P15)")
        if self.plate is not None and self.partial is not None:
            raise ConfigError("give --plate or --partial, not both")


@dataclass(frozen=True, slots=True)
class Sighting:
    read: Read
    match_kind: str | None  # how the plate fits the query (None: no plate asked)
    held: bool
    cases: tuple[str, ...]
    partition: int | None
    offset: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            **read_to_dict(self.read),
            "lat": self.read.lat,  # null when the read has no position (issue 17), never 0
            "lon": self.read.lon,
            "position_source": self.read.placed,
            "match_kind": self.match_kind,
            "held": self.held,
            "cases": list(self.cases),
            "partition": self.partition,
            "offset": self.offset,
        }


@dataclass
class ReplayResult:
    sightings: list[Sighting] = field(default_factory=list)
    records_scanned: int = 0
    reads_scanned: int = 0
    expired_skipped: int = 0  # in the window but older than the read retention (P11)
    seconds: float = 0.0
    #: The start of the read retention at the time of the replay: reads captured before it are gone
    #: (P11); only held reads (P12) of that part of the window are returned.
    retained_from: datetime | None = None

    def bounds(self, query: ReplayQuery) -> list[str]:
        """What the replay could not cover, each with what to do, for the person who asked."""
        out = []
        if self.retained_from is not None and query.start < self.retained_from:
            out.append(
                f"the window begins before the read retention: reads captured before "
                f"{self.retained_from.isoformat(timespec='seconds')} are purged (P11) and only held reads "
                "(P12) of that part are shown; hold reads while they are retained to keep them"
            )
        return out


class _Filter:
    def __init__(self, settings: Settings, query: ReplayQuery, now: datetime) -> None:
        from streams.app import match_rules

        self.query = query
        self.oldest = now - timedelta(days=settings.profile.read_retention_days)
        rules = match_rules(settings)
        has_plate = query.plate is not None or query.partial is not None
        self.plates = PlateQuery(rules, query.plate, query.partial) if has_plate else None

    def fits(self, raw: dict[str, Any]) -> tuple[bool, str | None]:
        """Cheap checks on the raw read first: camera, plate, then time."""
        q = self.query
        if q.cameras and raw.get("camera_id") not in q.cameras:
            return False, None
        kind = None
        if self.plates is not None:
            plate = raw.get("plate")
            kind = self.plates.kind(plate) if isinstance(plate, str) else None
            if kind is None:
                return False, None
        return True, kind

    def in_window(self, read: Read) -> bool:
        return self.query.start <= read.captured_at <= self.query.end


async def replay(
    settings: Settings,
    query: ReplayQuery,
    now: datetime,
    progress: Callable[[Progress], None] | None = None,
) -> ReplayResult:
    import time

    started = time.monotonic()
    check = _Filter(settings, query, now)
    result = ReplayResult(retained_from=check.oldest)
    found: dict[str, Sighting] = {}

    held = await _holds(settings)
    for read_id, (read, cases) in held.items():
        fits, kind = check.fits(read_to_dict(read))
        if fits and check.in_window(read):
            found[read_id] = Sighting(read, kind, True, cases, None, None)

    ranges = capture_ranges(settings, _ms(query.start), _ms(query.end))
    state: Progress | None = None

    def seen(p: Progress) -> None:
        nonlocal state
        state = p
        if progress is not None:
            progress(p)

    async for tp, record in scan_ranges(settings.kafka, ranges, seen):
        for raw in stored_reads(record.value):
            result.reads_scanned += 1
            fits, kind = check.fits(raw)
            if not fits:
                continue
            try:
                read = read_from_dict(raw)
            except InvalidRecord:
                continue
            if not check.in_window(read) or read.read_id in found:
                continue
            if read.captured_at < check.oldest:
                result.expired_skipped += 1  # P11: past the retention, even if the broker kept it
                continue
            found[read.read_id] = Sighting(read, kind, False, (), tp.partition, record.offset)
    result.records_scanned = state.records if state is not None else 0
    result.sightings = sorted(found.values(), key=lambda s: (s.read.captured_at, s.read.read_id))
    result.seconds = time.monotonic() - started
    return result


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


async def _holds(settings: Settings) -> dict[str, tuple[Read, tuple[str, ...]]]:
    latest = await read_latest(settings.kafka, settings.topic("evidence-holds"))
    out: dict[str, tuple[Read, tuple[str, ...]]] = {}
    for key, record in latest.items():
        data = orjson.loads(record.value)
        out[key.decode()] = (
            read_from_dict(data["read"]),
            tuple(c["case_number"] for c in data.get("cases", [])),
        )
    return out


def write_outputs(result: ReplayResult, query: ReplayQuery, folder: Path) -> list[Path]:
    """timeline.ndjson, timeline.csv and sightings.png in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [s.to_dict() for s in result.sightings]
    ndjson = folder / "timeline.ndjson"
    with ndjson.open("wb") as out:
        for row in rows:
            out.write(orjson.dumps(row) + b"\n")
    table = folder / "timeline.csv"
    with table.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "cases": ";".join(row["cases"])})
    chart = folder / "sightings.png"
    plot_sightings(result.sightings, query, chart)
    return [ndjson, table, chart]


def plot_sightings(sightings: Iterable[Sighting], query: ReplayQuery, path: Path) -> None:
    """Sightings over time, one row per camera (the 40 cameras with the most sightings)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_camera: dict[str, list[datetime]] = {}
    for s in sightings:
        by_camera.setdefault(s.read.camera_id, []).append(s.read.captured_at)
    cameras = sorted(by_camera, key=lambda c: -len(by_camera[c]))[:40]
    fig, ax = plt.subplots(figsize=(11, max(3.0, 0.3 * len(cameras) + 1.5)))
    for row, camera in enumerate(cameras):
        times = by_camera[camera]
        ax.scatter(times, [row] * len(times), s=14)  # type: ignore[arg-type]
    ax.set_yticks(range(len(cameras)), cameras)
    ax.set_xlim(query.start, query.end)  # type: ignore[arg-type]
    what = query.plate or query.partial or "all plates"
    ax.set_title(f"Sightings of {what}, case {query.case_number} ({sum(map(len, by_camera.values()))} reads)")
    ax.set_xlabel("capture time (UTC)")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_progress(p: Progress) -> None:
    print(f"\rreplay: {p.line()}", end="", file=sys.stderr, flush=True)
