"""The per-record work of the stream, as plain functions over bytes (no faust, no aiokafka).

:class:`Pipeline` turns one record of the reads topic into its rejected record (every refused
read of it, with the reason) and candidates (reads that pass the Bloom screen or fit a partial
pattern), and one candidate into alerts or
sightings of an open alert. Every alert decision about a plate is made on the candidates
partition that owns its canonical key, so duplicate suppression (P9) sees all reads of the plate.
P4 is judged as of each read's capture (the source's latest refresh at or before it), and a read
captured longer than the profile's live-alert age before the worker raises its alert is a late
read: a HISTORICAL READ alert with its age, never "follow the vehicle".
Agents only move its output to topics; tests drive it directly.

Rejected records carry their source record's Kafka timestamp (the capture time of its earliest
read), candidates the time their read arrived (streams/reads/lateness.py); a rejection of a late
read, and a derived record whose source is already older than its topic accepts, is counted, not
stored (P11), so no copy of a read outlives the read.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

import msgspec

from streams.alerts.lifecycle import AlertDispositioned, AlertRejected, AlertSighted
from streams.alerts.model import AlertRaised, alert_id_for, raise_alert
from streams.alerts.sightings import SightingWindow, sighting_of
from streams.cameras.active import ActiveCameras
from streams.cameras.sites import SiteWatch
from streams.codec import (
    ReadBatch,
    alert_record_from_dict,
    alert_to_dict,
    decode_read_batches,
    dumps,
    event_to_dict,
    loads,
    read_from_dict,
    read_to_dict,
    rejected_item,
    rejected_record,
    sent_object,
)
from streams.errors import InvalidRecord
from streams.matching.matcher import HotlistIndex, Match, Screened, confirm, partial_matches, screen_parts
from streams.matching.normalize import normalize_plate, partition_for
from streams.reads.lateness import StoreBounds, capture_time_refusal, check_capture_time, storable
from streams.reads.model import CAMERA, Read

__all__ = ["Outcome", "Pipeline", "RecentIds", "Source", "check_capture_time"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_CAPTURED = attrgetter("captured_at")
_FIRST = itemgetter(0)
#: What a rejected record keeps of a read refused for these reasons (P11, P24): never the plate.
_KEPT_OF = {
    "expired": ("read_id", "camera_id", "captured_at"),
    "camera_suspended": ("camera_id", "captured_at"),
}


@dataclass(slots=True)
class Outcome:
    """What one input record produced. Values are encoded, ready for Kafka."""

    reads: int = 0
    #: The record for the rejected topic (none or one: every refusal of the source record together,
    #: issue 17): key, value, the reason code of each refused read.
    rejected: list[tuple[bytes | None, bytes, list[str]]] = field(default_factory=list)
    candidates: list[tuple[bytes, int, bytes]] = field(default_factory=list)  # key, partition, value
    alerts: list[tuple[bytes, bytes, AlertRaised]] = field(default_factory=list)  # key, value, alert
    sightings: list[tuple[bytes, bytes, AlertSighted]] = field(default_factory=list)  # key, value, event
    suppressed: int = 0  # alerts or sightings already emitted for the same read and entry
    oldest_read_age_s: float | None = None  # how long after capture the batch's oldest read was screened
    #: The Kafka timestamp of rejected records (their source record's: the capture time of reads
    #: on time), None: send time.
    timestamp_ms: int | None = None
    #: The Kafka timestamp of candidates: when their source read arrived (None: send time).
    candidate_ms: int | None = None
    #: False when rejected records may not be stored at all: their source is a late read (its
    #: lateness plus the rejected topic's retention would outlive P11) or a candidate.
    rejected_storable: bool = True
    unstored_rejected: list[str] = field(default_factory=list)  # reason codes, counted not stored (P11)
    #: Whether this source's rejected records may be stored, and when they were refused: judged at
    #: its first refused read (None: none yet), the same for all of them.
    rejected_kept: bool | None = None
    rejected_at: datetime | None = None
    #: The refusals made so far (rejected_item), their reason codes and cameras: :meth:`seal` makes
    #: them the one rejected record.
    refused_items: list[bytes] = field(default_factory=list)
    refused_codes: list[str] = field(default_factory=list)
    refused_cameras: set[str | None] = field(default_factory=set)
    unstored_candidates: int = 0  # Bloom positives whose source was too old to be passed on (P11)
    #: P24: categories of the sites whose exclusion zone held a read; those reads are dropped
    #: (counted, never stored, not even on the rejected topic).
    excluded: list[str] = field(default_factory=list)

    def seal(self, where: tuple[str, int, int]) -> Outcome:
        """Make the refusals so far the source record's one rejected record (keyed by their camera
        when they name one camera)."""
        if self.refused_items:
            assert self.rejected_at is not None  # noqa: S101 - set with the first refusal
            topic, partition, offset = where
            value = rejected_record(
                self.refused_items, topic=topic, partition=partition, offset=offset, now=self.rejected_at
            )
            cameras = self.refused_cameras
            camera = next(iter(cameras)) if len(cameras) == 1 else None
            self.rejected.append((None if camera is None else camera.encode(), value, self.refused_codes))
            self.refused_items, self.refused_codes, self.refused_cameras = [], [], set()
        return self


class Source(NamedTuple):
    """One record of the reads or reads-late (``late``) topic as the screen takes it: its value,
    where it is, its Kafka timestamp ``source_ms`` and the time it was written ``arrival_ms``
    (which its candidates carry; None: its timestamp)."""

    payload: bytes | None
    where: tuple[str, int, int]
    source_ms: int | None = None
    arrival_ms: int | None = None
    late: bool = False


def _not_stored(what: str, read: dict[str, Any]) -> None:
    """Log a record not stored because its source is too old to keep (P11): only what "expired"
    keeps of the read, never its plate."""
    log.warning(
        "%s not stored, its source record is too old to keep (P11): read %s, camera %s, captured_at %s",
        what,
        *(read.get(k) for k in ("read_id", "camera_id", "captured_at")),
    )


class RecentIds:
    """Alert ids raised recently, so a redelivered read does not emit its alert again."""

    def __init__(self, ttl: timedelta, max_size: int = 1_000_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._seen: OrderedDict[str, datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, alert_id: str, now: datetime) -> bool:
        """Record the id; False when it was already seen within the TTL."""
        while self._seen:
            oldest_id, at = next(iter(self._seen.items()))
            if now - at <= self.ttl and len(self._seen) < self.max_size:
                break
            del self._seen[oldest_id]
        if alert_id in self._seen:
            return False
        self._seen[alert_id] = now
        return True


def _place_at_cameras(cameras: ActiveCameras, batch: ReadBatch) -> None:
    """Issue 17, P24: a fixed camera's read without a position takes the camera's registered
    position (``position_source`` "camera"), so it is screened against the exclusion zones and
    alerted with a place like any other. The ingest does the same; this covers reads written
    straight to Kafka. A mobile camera's read stays "position unknown"."""
    if not batch.unplaced():
        return
    if batch.payload is not None and not any(_fixed(cameras, c) for c in batch.cameras()):
        return  # checked by the native kernel, and no read to place: its reads stay undecoded
    wires = batch.wires
    for i, wire in enumerate(wires):
        camera = None if wire.lat is not None else cameras.get(wire.camera_id)
        if camera is not None and camera.kind == "fixed":
            batch.structs()  # the read changes: it is sent on as its struct says
            wires[i] = msgspec.structs.replace(wire, lat=camera.lat, lon=camera.lon, position_source=CAMERA)


def _fixed(cameras: ActiveCameras, camera_id: str) -> bool:
    camera = cameras.get(camera_id)
    return camera is not None and camera.kind == "fixed"


class Pipeline:
    def __init__(
        self,
        index: HotlistIndex,
        *,
        partitions: int,
        retention: timedelta,
        max_skew: timedelta,
        clock: Clock,
        sighting_window: timedelta = timedelta(minutes=5),
        dedup_ttl: timedelta = timedelta(hours=1),
        cameras: ActiveCameras | None = None,
        bounds: StoreBounds | None = None,
        sites: SiteWatch | None = None,
    ) -> None:
        self.index = index
        self.partitions = partitions
        self.retention = retention
        self.max_skew = max_skew
        self.clock = clock
        self.recent = RecentIds(dedup_ttl)
        self.open_alerts = SightingWindow(sighting_window)
        #: The registry reads must come from; None: reads from any camera are screened.
        self.cameras = cameras
        #: How old a source record may be for what it produces to be stored; None: no bound.
        self.bounds = bounds
        #: The sensitive sites whose exclusion zones drop reads (P24); None: none configured.
        self.sites = sites

    def _storable(self, out: Outcome, *, rejected: bool) -> bool:
        """Whether a record made from this outcome's source may be stored with its timestamp on the
        rejected topic (``rejected``) or the candidates topic."""
        if rejected and not out.rejected_storable:
            return False
        stamp = out.timestamp_ms if rejected else out.candidate_ms
        if stamp is None or self.bounds is None:
            return True
        bound = self.bounds.rejected_ms if rejected else self.bounds.candidates_ms
        return storable(stamp, int(self.clock().timestamp() * 1000), bound)

    def _reject(
        self, out: Outcome, error: InvalidRecord, payload: Any, where: tuple[str, int, int], index: int | None
    ) -> None:
        camera = payload.get("camera_id") if isinstance(payload, dict) else None
        self._reject_all(out, [(index, error, payload, camera if isinstance(camera, str) else None)], where)

    def _reject_all(
        self,
        out: Outcome,
        refused: Sequence[tuple[int | None, InvalidRecord, Any, str | None]],
        where: tuple[str, int, int],
    ) -> None:
        """Refusals of reads of one source record, (position, error, the read as sent, its camera
        id) each: added to the outcome, which makes them its one rejected record (:meth:`Outcome.seal`).
        Whether they may be stored (P11) is judged once for the source record (issue 17)."""
        if not refused:
            return
        if out.rejected_kept is None:  # judged once per source record, not per refused read
            out.rejected_kept = self._storable(out, rejected=True)
            out.rejected_at = self.clock()
        if not out.rejected_kept:
            # P11: the source is older than the rejected topic keeps: counted, not stored, logged
            # with what "expired" keeps (no plate).
            for _index, error, payload, _camera in refused:
                out.unstored_rejected.append(error.code)
                sent = sent_object(payload) if isinstance(payload, msgspec.Raw) else payload
                _not_stored(f"rejected ({error.code})", sent if isinstance(sent, dict) else {})
            return
        items, codes, cameras = out.refused_items, out.refused_codes, out.refused_cameras
        for index, error, payload, camera in refused:
            code = error.code
            kept_fields = _KEPT_OF.get(code)
            if kept_fields is not None:
                # P11: an expired read is not stored again, not even on the rejected topic; P24: a
                # suspended camera faces a sensitive site: no plate and no position are kept.
                sent = sent_object(payload) if isinstance(payload, msgspec.Raw) else payload
                payload = {k: sent.get(k) for k in kept_fields} if isinstance(sent, dict) else {}
            items.append(rejected_item(error, payload, index, camera))
            codes.append(code)
            cameras.add(camera)

    def _alerts(self, out: Outcome, read: Read, canonical: str, matches: list[Match], now: datetime) -> None:
        for found in matches:
            own_id = alert_id_for(read.read_id, found.entry.key)
            alert_id = self.open_alerts.route(
                f"{canonical}\x1f{found.entry.key}", own_id, read.captured_at, now
            )
            if alert_id == own_id:
                if self.recent.add(own_id, now):
                    # Arrival is this worker's clock as it raises the alert: a read uploaded late and
                    # a read held up in a backlog are both old news to whoever receives the alert.
                    alert = raise_alert(
                        read, found, now, live_max_age_s=self.index.rules.live_alert_max_age_s
                    )
                    out.alerts.append((own_id.encode(), dumps(alert_to_dict(alert)), alert))
                    continue
            else:
                sighting = sighting_of(alert_id, read, now)
                if self.recent.add(sighting.event_id, now):
                    out.sightings.append((alert_id.encode(), dumps(event_to_dict(sighting)), sighting))
                    continue
            out.suppressed += 1

    @property
    def memory_span(self) -> timedelta:
        """How far back the alerts topic holds what :meth:`remember` must know."""
        return max(self.recent.ttl, 2 * self.open_alerts.window)

    def remember(self, value: bytes | None) -> None:
        """A record of the alerts topic, from this worker, another, or an earlier run of this one
        (read back at start): a redelivered read raises nothing again, a plate's next read within
        the window is a sighting of its open alert, and a closed alert takes no more sightings.
        So a worker restarted after a crash, or taking over another's partitions, decides as the
        one before it would have."""
        try:
            record = alert_record_from_dict(loads(value or b""))
        except (InvalidRecord, KeyError, TypeError, ValueError):
            return  # the console and the audit tools report unreadable alert records
        now = self.clock()
        if isinstance(record, AlertRaised):
            self.recent.add(record.alert_id, now)
            try:
                canonical = self.index.rules.ocr.canonical(normalize_plate(record.read.plate))
            except InvalidRecord:
                return
            key = f"{canonical}\x1f{record.entry.key}"
            self.open_alerts.route(key, record.alert_id, record.read.captured_at, now)
        elif isinstance(record, AlertSighted):
            self.recent.add(record.event_id, now)
            if record.captured_at is not None:
                self.open_alerts.seen(record.alert_id, record.captured_at, now)
        elif isinstance(record, AlertRejected | AlertDispositioned):
            self.open_alerts.close(record.alert_id)

    def screen_record(
        self,
        payload: bytes | None,
        where: tuple[str, int, int],
        source_ms: int | None = None,
        *,
        arrival_ms: int | None = None,
        late: bool = False,
    ) -> Outcome:
        """One record of the reads or reads-late (``late``) topic: :meth:`screen_records` of one."""
        return self.screen_records([Source(payload, where, source_ms, arrival_ms, late)])[0]

    def screen_records(self, records: Sequence[Source]) -> list[Outcome]:
        """Records of the reads or reads-late topics taken together (the stream takes what was
        fetched together), an outcome each: reject, screen, forward Bloom positives and partial fits.

        Each record is checked on its own (its refused reads make its one rejected record, P11 is
        judged on its own timestamps), and the common case (every read good and within the time
        bounds) costs a few C calls per record; only a record with something wrong in it is looked
        at read by read. The camera registry is asked once per camera of all the records, and the
        plates of all of them go through the matcher's screen in one pass: what a record of 20
        reads would otherwise pay 50 times over for a thousand reads. The native kernel screens
        the plates of the records it checks as it checks them (``HotlistIndex.native_screen``).
        """
        now = self.clock()
        outs = []
        checked: list[tuple[Outcome, ReadBatch, tuple[str, int, int]]] = []
        decoded = decode_read_batches([record.payload for record in records], self.index.native_screen())
        for record, batch in zip(records, decoded, strict=True):
            out = Outcome(
                timestamp_ms=record.source_ms,
                candidate_ms=record.source_ms if record.arrival_ms is None else record.arrival_ms,
                rejected_storable=not record.late,
            )
            outs.append(out)
            kept = self._checked(out, batch, record.payload, record.where, now)
            if kept is not None:
                checked.append((out, kept, record.where))
        if checked and self.cameras is not None:
            checked = self._from_registered(self.cameras, checked)
        if checked:
            found = screen_parts(self.index, [batch.screen_part() for _, batch, _ in checked])
            for (out, batch, where), screened in zip(checked, found, strict=True):
                self._forward(out, batch, screened, where, now)
        for out, record in zip(outs, records, strict=True):
            out.seal(record.where)
        return outs

    def _checked(
        self,
        out: Outcome,
        batch: ReadBatch | InvalidRecord,
        payload: bytes | None,
        where: tuple[str, int, int],
        now: datetime,
    ) -> ReadBatch | None:
        """The good reads of one record (``batch``: decoded, or the error that refuses ``payload``
        whole), placed, outside the exclusion zones and within the time bounds (the others refused
        or dropped on ``out``); None when none is left."""
        if isinstance(batch, InvalidRecord):
            self._reject(out, batch, payload or b"", where, None)
            return None
        if batch.failed:
            self._reject_all(out, batch.failed, where)
        if self.cameras is not None:
            _place_at_cameras(self.cameras, batch)
        if batch.earliest is not None and self.sites is not None:
            batch = self._outside_zones(out, self.sites, batch)
        if batch.earliest is None or batch.latest is None:
            return None
        if batch.latest > now + self.max_skew or batch.earliest < now - self.retention:
            batch = self._within_time(out, batch, now, where)
            if batch.earliest is None:
                return None
        return batch

    def _forward(
        self,
        out: Outcome,
        batch: ReadBatch,
        screened: Screened,
        where: tuple[str, int, int],
        now: datetime,
    ) -> None:
        """What the screen found for one record's reads: its refused plates rejected, its Bloom
        positives and partial fits made candidates."""
        count = len(batch)
        refusals = sorted(screened.refused.items())  # mostly none
        if refusals:
            positions = batch.positions
            refused = [(positions[i], error, batch.as_sent(i), batch.camera(i)) for i, error in refusals]
            self._reject_all(out, refused, where)
        out.reads += count - len(refusals)
        assert batch.earliest is not None  # noqa: S101 - only batches with reads are screened
        out.oldest_read_age_s = (now - batch.earliest).total_seconds()
        mine = screened.candidates
        if not mine:
            return
        if not self._storable(out, rejected=False):
            out.unstored_candidates = len(mine)
            for i in mine:
                _not_stored("a Bloom positive", read_to_dict(batch.read(i)))
            return
        for i in mine:
            canonical = screened.canonical[i]
            value = dumps(
                {
                    "canonical": canonical,
                    "normalized": screened.normalized[i],
                    "read": read_to_dict(batch.read(i)),
                }
            )
            out.candidates.append((canonical.encode(), partition_for(canonical, self.partitions), value))

    def _within_time(
        self, out: Outcome, batch: ReadBatch, now: datetime, where: tuple[str, int, int]
    ) -> ReadBatch:
        """The reads of the batch captured within the bounds; the others are rejected. Their times
        are parsed together and the batch is cut once (issue 17: a refusal costs little)."""
        oldest, newest = now - self.retention, now + self.max_skew
        times = list(map(datetime.fromisoformat, map(_CAPTURED, batch.wires)))
        kept = [i for i, captured in enumerate(times) if oldest <= captured <= newest]
        refused = []
        for i in set(range(len(times))).difference(kept):
            wire = batch.wires[i]
            error = capture_time_refusal(times[i], now, self.max_skew, self.retention)
            assert error is not None  # noqa: S101 - outside the bounds it words
            # P11: an expired read keeps only what says which read it was
            sent = (
                {"read_id": wire.read_id, "camera_id": wire.camera_id, "captured_at": wire.captured_at}
                if error.code == "expired"
                else batch.as_sent(i)
            )
            refused.append((batch.positions[i], error, sent, wire.camera_id))
        refused.sort(key=_FIRST)
        self._reject_all(out, refused, where)
        return batch.subset(kept, [times[i] for i in kept])

    def _outside_zones(self, out: Outcome, sites: SiteWatch, batch: ReadBatch) -> ReadBatch:
        """The reads of the batch captured outside every sensitive site's exclusion zone (P24); the
        others are dropped before anything else looks at them: counted by the site's category and
        logged with camera, site and time only, never their plate or position (P24, P11)."""
        zones = sites.zones()
        if not len(zones):
            return batch
        # A read without a position cannot be placed in a zone (P24): it is screened on (README).
        # A fixed camera's read reaches here placed at the camera (the ingest, _place_at_cameras).
        inside = [None if at is None else zones.excluded(*at) for at in batch.coordinates()]
        if not any(inside):
            return batch
        kept = []
        for i, site in enumerate(inside):
            wire = batch.wires[i]
            if site is not None:
                out.excluded.append(site.category)
                log.warning(
                    "read of camera %s captured %s inside the exclusion zone of site %s (%s) dropped (P24)",
                    wire.camera_id,
                    wire.captured_at,
                    site.id,
                    site.category,
                )
                continue
            kept.append(i)
        return batch.subset(kept, [datetime.fromisoformat(batch.wires[i].captured_at) for i in kept])

    def _from_registered(
        self, cameras: ActiveCameras, checked: list[tuple[Outcome, ReadBatch, tuple[str, int, int]]]
    ) -> list[tuple[Outcome, ReadBatch, tuple[str, int, int]]]:
        """The records' reads from registered cameras in service; the others are rejected
        (``unknown_camera``, ``retired_camera``, ``camera_suspended``), each on its own record.
        Each camera of the records is looked up once, at the latest capture time of them all: a
        camera that accepts a read accepts every earlier one (retirement is the only rule in time)."""
        latest = max(batch.latest for _, batch, _ in checked if batch.latest is not None)
        distinct = set(chain.from_iterable(batch.cameras() for _, batch, _ in checked))
        refusal = cameras.refusal
        if all(refusal(c, latest) is None for c in distinct):
            return checked
        kept = []
        for out, batch, where in checked:
            assert batch.latest is not None  # noqa: S101 - checked batches have reads
            if all(refusal(c, batch.latest) is None for c in batch.cameras()):
                kept.append((out, batch, where))
                continue
            good, times, refused = [], [], []
            for i, position in enumerate(batch.positions):
                read = batch.read(i)
                error = refusal(read.camera_id, read.captured_at)
                if error is not None:
                    refused.append((position, error, batch.as_sent(i), read.camera_id))
                    continue
                good.append(i)
                times.append(read.captured_at)
            self._reject_all(out, refused, where)
            if good:
                kept.append((out, batch.subset(good, times), where))
        return kept

    def confirm_record(
        self, payload: bytes | None, where: tuple[str, int, int], source_ms: int | None = None
    ) -> Outcome:
        """One candidate (Kafka timestamp ``source_ms``), on the partition that owns its plate: the
        authoritative exact check, the partial patterns, and the decision between a new alert and
        a sighting of an open one. Alerts are stamped when sent (the alerts topic's own retention)."""
        return self._confirm(payload, where, source_ms).seal(where)

    def _confirm(self, payload: bytes | None, where: tuple[str, int, int], source_ms: int | None) -> Outcome:
        # A candidate that cannot be read is the worker's own fault, not a camera's: its read may be
        # late, so it is counted and logged without the plate, never stored (P11).
        out = Outcome(timestamp_ms=source_ms, rejected_storable=False)
        try:
            data = loads(payload or b"")
            read = read_from_dict(data["read"])
            normalized, canonical = str(data["normalized"]), str(data["canonical"])
        except (InvalidRecord, KeyError, TypeError) as exc:
            error = (
                exc if isinstance(exc, InvalidRecord) else InvalidRecord("schema", f"bad candidate: {exc!r}")
            )
            self._reject(out, error, payload or b"", where, None)
            return out
        now = self.clock()
        matches = partial_matches(self.index, read, canonical) + confirm(
            self.index, read, normalized, canonical
        )
        self._alerts(out, read, canonical, matches, now)
        return out
