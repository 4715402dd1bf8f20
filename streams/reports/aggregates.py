"""Durable daily counts for the Annual Data Usage Report (P26), kept after the reads expire (P11).

Reads expire after the profile's read retention (30 days in San José), but the annual report needs
a year of counts. ``alpr aggregate`` keeps them on the ``aggregates`` topic, **counts only, no
plates, no read ids**, one record per key (kind, UTC day, subject):

- ``camera_day|<day>|<camera>``: reads the worker accepted (distinct read ids), reads rejected
  (``reads-rejected``, by the day they were rejected), hits (alerts raised for the day's reads) by
  match kind, and how many of them the retro-hunt found (historical);
- ``outcomes_day|<day>|``: alerts confirmed, and rejected by reason, on that day, by match kind;
- ``accesses_day|<day>|``: searches of ALPR data on that day (audit trail), by purpose;
- ``day|<day>|``: written last, once the day's other records are on the topic: the day is done.

Counts are exact under redelivery because nothing is incremented: a run recomputes whole closed
UTC days from the source topics and writes each key's full count, so running it again, or after a
crash half-way, writes the same records (the last value of a key wins when reading; the topic is
compacted). Reads delivered twice count once (by read id), an alert once (its id is deterministic)
and an alert's outcome once (the lifecycle fold: the first step in the log wins).

A day is aggregated only when it is *closed* (its end plus the ``late`` margin for uploads has
passed) and only while *all its reads are still kept* (its start is within the read retention):
re-counting a day whose reads have begun to expire would replace good counts by smaller ones, so
it is refused and the counts on the topic are kept. Run without a day, the job aggregates every
closed day within the retention that has no ``day`` record yet: run it daily (``--every 24h``, a
cron job or a systemd timer); the retention leaves weeks to catch up after an outage.

Everything above :func:`aggregate` is pure.
"""

from __future__ import annotations

import asyncio
import logging
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson

from streams.access.audit import AccessRecorded
from streams.access.audit_tools import checked_trail, is_search
from streams.access.purpose import normalize_purpose
from streams.alerts.lifecycle import (
    AlertConfirmed,
    AlertEvent,
    AlertRejected,
    AlertState,
    TransitionRefused,
    evolve,
)
from streams.alerts.model import AlertRaised
from streams.codec import alert_record_from_dict, decode_read_batch, dumps, rejected_reads
from streams.errors import AlprError, ConfigError, InvalidRecord
from streams.kafka.log import TopicWriter, read_latest
from streams.kafka.timeseek import scan_by_time
from streams.settings import Settings

__all__ = [
    "CAMERA_DAY",
    "DAY",
    "DEFAULT_LATE",
    "MATCH_KINDS",
    "OUTCOMES_DAY",
    "ACCESSES_DAY",
    "AggregateSet",
    "AlertTally",
    "ReadTally",
    "aggregate",
    "count_rejected",
    "day_records",
    "days_to_aggregate",
    "keep_aggregating",
    "purpose_label",
    "record_key",
    "tally_accesses",
    "tally_alerts",
    "utc_day",
]

log = logging.getLogger(__name__)

CAMERA_DAY = "camera_day"
OUTCOMES_DAY = "outcomes_day"
ACCESSES_DAY = "accesses_day"
DAY = "day"
KINDS = (CAMERA_DAY, OUTCOMES_DAY, ACCESSES_DAY, DAY)
MATCH_KINDS = ("exact", "ocr_equivalent", "partial")
#: The match kind of an outcome whose AlertRaised is no longer on the alerts topic.
UNKNOWN_KIND = "unknown"
#: Uploads later than this after the end of their capture day are not counted in that day.
DEFAULT_LATE = timedelta(hours=6)
_DAY = timedelta(days=1)


def record_key(kind: str, day: date, subject: str = "") -> bytes:
    return f"{kind}|{day.isoformat()}|{subject}".encode()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def utc_day(text: str) -> date:
    """The UTC calendar day of an RFC 3339 time (a camera may write a local offset)."""
    if text.endswith(("Z", "+00:00")):
        return date.fromisoformat(text[:10])
    return datetime.fromisoformat(text).astimezone(UTC).date()


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


# -- reads (pure) ---------------------------------------------------------------------------------


class ReadTally:
    """Distinct reads per camera captured on one UTC day, from records of the reads topic.

    A read counts when the worker would have screened it: it decodes and passes the schema, and its
    capture time is neither more than ``max_skew`` after the record's time (a wrong camera clock)
    nor older than the retention then (P11). Duplicates (a producer's retry, a camera re-sending)
    count once: each camera keeps the 64-bit hashes of its read ids, 8 bytes a read.
    """

    def __init__(self, day: date, max_skew: timedelta, retention: timedelta) -> None:
        self.day = day
        self.max_skew = max_skew
        self.retention = retention
        self._ids: dict[str, array[int]] = defaultdict(lambda: array("q"))
        #: The reads without a position (issue 17), per camera: P26's "reads by location" counts
        #: them in a "position unknown" bucket (a mobile camera's), not at the camera's base.
        self._unplaced: dict[str, array[int]] = defaultdict(lambda: array("q"))
        self.undecodable = 0  # records the worker would reject as a whole

    def add_record(self, value: bytes | None, record_ms: int) -> None:
        try:
            batch = decode_read_batch(value)
        except InvalidRecord:
            self.undecodable += 1
            return
        if batch.earliest is None or batch.latest is None:
            return
        sent = datetime.fromtimestamp(record_ms / 1000, UTC)
        screen_all = batch.latest <= sent + self.max_skew and batch.earliest >= sent - self.retention
        for wire in batch.wires:
            captured = wire.captured_at
            try:
                if utc_day(captured) != self.day:
                    continue
                if not screen_all:
                    when = datetime.fromisoformat(captured)
                    if when > sent + self.max_skew or when < sent - self.retention:
                        continue
            except ValueError:
                continue
            self._ids[wire.camera_id].append(hash(wire.read_id))
            if wire.lat is None:
                self._unplaced[wire.camera_id].append(hash(wire.read_id))

    def counts(self) -> dict[str, int]:
        return {camera: len(set(ids)) for camera, ids in self._ids.items()}

    def unplaced(self) -> dict[str, int]:
        """Distinct reads without a position, per camera (those with any)."""
        return {camera: len(set(ids)) for camera, ids in self._unplaced.items()}


def count_rejected(values: Iterable[bytes | None], day: date) -> Counter[str]:
    """Reads (or whole records) of ``reads-rejected`` rejected on ``day``, by camera ("(unknown)"
    without one)."""
    out: Counter[str] = Counter()
    for value in values:
        try:
            refused = rejected_reads(value)
        except (InvalidRecord, TypeError, KeyError, AttributeError):
            continue
        for item in refused:
            try:
                if utc_day(item["rejected_at"]) != day:
                    continue
            except (TypeError, ValueError):
                continue
            camera = item.get("camera_id")
            out[camera if isinstance(camera, str) and camera else "(unknown)"] += 1
    return out


# -- alerts (pure) --------------------------------------------------------------------------------


@dataclass
class AlertTally:
    """Hits by (capture day, camera) and match kind; outcomes by (decision day, match kind)."""

    hits: dict[tuple[date, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    historical: Counter[tuple[date, str]] = field(default_factory=Counter)
    confirmed: Counter[tuple[date, str]] = field(default_factory=Counter)
    rejected: dict[tuple[date, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    undecodable: int = 0

    def outcomes(self, day: date) -> dict[str, dict[str, Any]]:
        kinds = {k for d, k in self.confirmed if d == day} | {k for d, k in self.rejected if d == day}
        return {
            kind: {
                "confirmed": self.confirmed[(day, kind)],
                "rejected": dict(sorted(self.rejected.get((day, kind), Counter()).items())),
            }
            for kind in sorted(kinds)
        }


def tally_alerts(values: Iterable[Any]) -> AlertTally:
    """Count decoded records of the alerts topic (JSON objects), in log order per alert.

    Each alert id is folded through the lifecycle (``evolve``), so a redelivered AlertRaised or
    event counts once and a step refused by the fold (someone else's step came first) not at all.
    An outcome whose AlertRaised is no longer on the topic counts once, under match kind "unknown".
    """
    tally = AlertTally()
    states: dict[str, AlertState] = {}
    orphans: set[str] = set()
    for data in values:
        try:
            record = alert_record_from_dict(data)
        except (KeyError, TypeError, ValueError, AlprError):
            tally.undecodable += 1
            continue
        if isinstance(record, AlertRaised):
            if record.alert_id not in states:
                states[record.alert_id] = evolve(None, record)
                where = (record.read.captured_at.astimezone(UTC).date(), record.read.camera_id)
                tally.hits[where][record.match_kind] += 1
                if record.historical:
                    tally.historical[where] += 1
            continue
        if not isinstance(record, AlertEvent):
            continue
        state = states.get(record.alert_id)
        if state is None:
            if isinstance(record, AlertConfirmed | AlertRejected) and record.alert_id not in orphans:
                orphans.add(record.alert_id)
                _outcome(tally, record, UNKNOWN_KIND)
            continue
        try:
            after = evolve(state, record)
        except TransitionRefused:
            continue
        if after is not state and isinstance(record, AlertConfirmed | AlertRejected):
            _outcome(tally, record, state.raised.match_kind)
        states[record.alert_id] = after
    return tally


def _outcome(tally: AlertTally, event: AlertEvent, kind: str) -> None:
    day = event.at.astimezone(UTC).date()
    if isinstance(event, AlertConfirmed):
        tally.confirmed[(day, kind)] += 1
    elif isinstance(event, AlertRejected):
        tally.rejected[(day, kind)][event.reason] += 1


# -- accesses (pure) ------------------------------------------------------------------------------


def purpose_label(text: str | None) -> str:
    """The purpose as a row of the report: folded like ``alpr audit report`` does, with every word
    that holds a digit (a case number, or a plate someone typed into the purpose) replaced by ``#``,
    so that no plate reaches the aggregates."""
    words = ["#" if any(c.isdigit() for c in word) else word for word in normalize_purpose(text).split()]
    label = " ".join(words)[:80].strip()
    return label or "(none)"


def tally_accesses(records: Iterable[AccessRecorded]) -> dict[date, dict[str, Counter[str]]]:
    """Searches of ALPR data (``audit_tools.is_search``) by UTC day and purpose: allowed, refused and
    the records they returned (P15, P26)."""
    out: dict[date, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for record in records:
        if not is_search(record):
            continue
        tally = out[record.at.astimezone(UTC).date()][purpose_label(record.purpose)]
        tally["refused" if record.decision == "refused" else "allowed"] += 1
        tally["results"] += record.result_count
    return out


# -- the records of one day (pure) ----------------------------------------------------------------


def day_records(
    day: date,
    reads: Mapping[str, int],
    rejected: Mapping[str, int],
    alerts: AlertTally,
    accesses: Mapping[str, Mapping[str, int]],
    computed_at: datetime,
    unplaced: Mapping[str, int] | None = None,
) -> list[tuple[bytes, dict[str, Any]]]:
    """Every record of one day, the ``day`` record last; counts only. Only the ``day`` record says
    when it was computed, so a re-run writes the other records byte for byte again."""
    stamp = computed_at.astimezone(UTC).isoformat()
    cameras = set(reads) | set(rejected) | {c for d, c in alerts.hits if d == day}
    out: list[tuple[bytes, dict[str, Any]]] = []
    for camera in sorted(cameras):
        hits = alerts.hits.get((day, camera), Counter())
        out.append(
            (
                record_key(CAMERA_DAY, day, camera),
                {
                    "kind": CAMERA_DAY,
                    "day": day.isoformat(),
                    "camera_id": camera,
                    "reads": int(reads.get(camera, 0)),
                    "unplaced_reads": int((unplaced or {}).get(camera, 0)),  # of reads: no position
                    "rejected": int(rejected.get(camera, 0)),
                    "hits": {k: hits[k] for k in sorted(set(MATCH_KINDS) | set(hits))},
                    "historical_hits": alerts.historical[(day, camera)],
                },
            )
        )
    out.append(
        (
            record_key(OUTCOMES_DAY, day),
            {
                "kind": OUTCOMES_DAY,
                "day": day.isoformat(),
                "by_match_kind": alerts.outcomes(day),
            },
        )
    )
    purposes = {
        purpose: {
            "allowed": t.get("allowed", 0),
            "refused": t.get("refused", 0),
            "results": t.get("results", 0),
        }
        for purpose, t in sorted(accesses.items())
    }
    out.append(
        (
            record_key(ACCESSES_DAY, day),
            {"kind": ACCESSES_DAY, "day": day.isoformat(), "by_purpose": purposes},
        )
    )
    total_hits = sum(sum(c.values()) for (d, _), c in alerts.hits.items() if d == day)
    out.append(
        (
            record_key(DAY, day),
            {
                "kind": DAY,
                "day": day.isoformat(),
                "cameras": len(cameras),
                "reads": sum(reads.values()),
                "rejected": sum(rejected.values()),
                "hits": total_hits,
                "computed_at": stamp,
            },
        )
    )
    return out


# -- which days (pure) ----------------------------------------------------------------------------


def _bounds(now: datetime, retention: timedelta, late: timedelta) -> tuple[date, date]:
    """The oldest day whose reads are all still kept, and the newest closed day."""
    oldest_kept = now - retention
    first = oldest_kept.date() if oldest_kept == day_start(oldest_kept.date()) else oldest_kept.date() + _DAY
    last = (now - late).date() - _DAY
    return first, last


def days_to_aggregate(
    now: datetime,
    retention: timedelta,
    late: timedelta,
    done: Iterable[date],
    *,
    day: date | None = None,
    through: date | None = None,
) -> list[date]:
    """The days a run works on; :class:`ConfigError` naming why when a requested day cannot be.

    No ``day`` nor ``through``: every closed day within the retention without a ``day`` record.
    ``day``: that day, again. ``through``: every day within the retention up to it, again.
    """
    first, last = _bounds(now, retention, late)
    if day is not None:
        if day > last:
            raise ConfigError(
                f"--day {day}: the day is not closed yet; reads uploaded up to {late} after its end "
                f"still count, so aggregate it from {day_start(day) + _DAY + late:%Y-%m-%d %H:%M} UTC"
            )
        if day < first:
            raise ConfigError(
                f"--day {day}: its reads have begun to expire (read retention {retention.days} days, "
                f"P11); the counts already on the aggregates topic are kept, not replaced"
            )
        return [day]
    if through is not None:
        if through < first:
            raise ConfigError(
                f"--through {through}: every day up to it has reads that have begun to expire (read "
                f"retention {retention.days} days, P11); the oldest day that can be aggregated is {first}"
            )
        last = min(last, through)
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    finished = set(done)
    return [
        d for d in (first + timedelta(days=i) for i in range((last - first).days + 1)) if d not in finished
    ]


# -- reading the topic back (pure) ----------------------------------------------------------------


@dataclass
class AggregateSet:
    """The aggregates topic's current records, by kind."""

    days: dict[date, dict[str, Any]] = field(default_factory=dict)
    cameras: dict[tuple[date, str], dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[date, dict[str, Any]] = field(default_factory=dict)
    accesses: dict[date, dict[str, Any]] = field(default_factory=dict)
    keys_by_day: dict[date, set[bytes]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, latest: Mapping[bytes, bytes]) -> AggregateSet:
        found = cls()
        for key, value in latest.items():
            try:
                data = orjson.loads(value)
                day = date.fromisoformat(data["day"])
                kind = data["kind"]
            except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
                log.warning("aggregates: record %r cannot be read; left out", key)
                continue
            found.keys_by_day[day].add(key)
            if kind == DAY:
                found.days[day] = data
            elif kind == CAMERA_DAY:
                found.cameras[(day, data["camera_id"])] = data
            elif kind == OUTCOMES_DAY:
                found.outcomes[day] = data
            elif kind == ACCESSES_DAY:
                found.accesses[day] = data
        return found


# -- the job (Kafka I/O) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayDone:
    day: date
    cameras: int
    reads: int
    rejected: int
    hits: int

    def line(self) -> str:
        return (
            f"aggregated {self.day}: {self.reads} reads from {self.cameras} cameras, "
            f"{self.rejected} rejected, {self.hits} hits"
        )


async def load_aggregates(settings: Settings) -> AggregateSet:
    latest = await read_latest(settings.kafka, settings.topic("aggregates"))
    return AggregateSet.of({k: v.value for k, v in latest.items()})


async def _scan(
    settings: Settings, topic: str, start: datetime, end: datetime
) -> list[tuple[int, bytes | None]]:
    out: list[tuple[int, bytes | None]] = []
    async for _tp, record in scan_by_time(settings.kafka, topic, _ms(start), _ms(end)):
        out.append((int(record.timestamp), record.value))
    return out


async def _read_day(settings: Settings, day: date, late: timedelta, skew: timedelta) -> ReadTally:
    retention = timedelta(days=settings.profile.read_retention_days)
    tally = ReadTally(day, skew, retention)
    start, end = day_start(day) - skew, day_start(day) + _DAY + late
    async for _tp, record in scan_by_time(settings.kafka, settings.read_topics, _ms(start), _ms(end)):
        tally.add_record(record.value, int(record.timestamp))
    return tally


async def aggregate(
    settings: Settings,
    now: datetime,
    *,
    day: date | None = None,
    through: date | None = None,
    late: timedelta = DEFAULT_LATE,
    report: Callable[[str], None] = print,
) -> list[DayDone]:
    """Recompute and write the days :func:`days_to_aggregate` picks; return what each holds."""
    retention = timedelta(days=settings.profile.read_retention_days)
    skew = timedelta(seconds=settings.max_clock_skew_s)
    existing = await load_aggregates(settings)
    days = days_to_aggregate(now, retention, late, existing.days, day=day, through=through)
    if not days:
        report("aggregates: every closed day within the read retention is aggregated already")
        return []

    trail = await checked_trail(settings, now)  # the hash chains, held to their signed checkpoints (P14)
    if not trail.intact:
        report(
            f"WARNING: the audit trail does not verify ({len(trail.problems)} broken links); accesses "
            "are counted from the records its chains vouch for: run 'alpr audit verify'"
        )
    accesses = tally_accesses(trail.accepted)
    alerts_from = day_start(days[0]) - retention - skew
    alerts = tally_alerts(
        orjson.loads(value)
        for _ts, value in await _scan(settings, settings.topic("alerts"), alerts_from, now + skew)
        if value
    )

    done: list[DayDone] = []
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        topic = settings.topic("aggregates")
        for one in days:
            reads = await _read_day(settings, one, late, skew)
            rejected_records = await _scan(
                settings,
                settings.topic("reads-rejected"),
                day_start(one) - skew,
                day_start(one) + _DAY + late,
            )
            rejected = count_rejected((v for _ts, v in rejected_records), one)
            records = day_records(
                one, reads.counts(), rejected, alerts, accesses.get(one, {}), now, reads.unplaced()
            )
            *counts, (marker_key, marker) = records
            for key in sorted(existing.keys_by_day.get(one, set()) - {k for k, _ in records}):
                await writer.write(topic, key, None)  # a camera no longer in the day's counts
            for key, value in counts:
                await writer.write(topic, key, dumps(value))
            await writer.flush()  # the day's counts are on the topic before it is marked done
            await writer.write(topic, marker_key, dumps(marker))
            await writer.flush()
            finished = DayDone(one, marker["cameras"], marker["reads"], marker["rejected"], marker["hits"])
            report(finished.line())
            done.append(finished)
    finally:
        await writer.stop()
    return done


async def keep_aggregating(
    settings: Settings, every: timedelta, clock: Callable[[], datetime], late: timedelta = DEFAULT_LATE
) -> None:
    """``alpr aggregate --every 24h``: aggregate the missing days, then again after each interval.
    A run that fails (the broker away) is logged and the next one catches up."""
    while True:
        try:
            await aggregate(settings, clock(), late=late)
        except AlprError as exc:
            log.error("aggregate failed, next try in %s: %s", every, exc)
        await asyncio.sleep(every.total_seconds())
