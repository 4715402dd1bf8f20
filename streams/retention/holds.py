"""Evidence holds (P12): reads tied to a criminal investigation, kept past the read retention.

A hold copies the full read, and every record of its alerts, into the compacted evidence-holds
topic keyed by read id, with the cases that hold it. Releasing the last case writes a tombstone.
A read already past the retention cannot be held: it must already be gone (P11). Every hold
action - placing, renewing, releasing, listing (it shows plates) - is done by a :class:`Principal`
whose role may ``hold`` (P21), checked first, and is written to the audit trail with who did it
(user, badge, agency) before the command reports success (P15).

A hold keeps a read past the retention only for a justification an auditor can check (P12, P16):
a case number in one of the agency's formats, a crime type naming the presumed crime and a reason
that says something ("keep", "test" or "." are refused, :mod:`streams.access.justification`),
none of them naming immigration enforcement or reproductive care (P22). A refusal is audited and
changes nothing.

Holds do not last forever on one decision: each case carries ``review_due`` (placed or last
renewed + the profile's ``hold_review_days``). ``alpr hold renew`` moves it on; a case not
renewed in time ends at the next sweep (:func:`lapse_unreviewed`, ``alpr hold review``): it is
removed like a release (a tombstone when it was the last case, so compaction removes the copy and
the read follows the normal retention, P11) and a ``hold_lapsed`` audit record - the notice -
names the case, who placed it and when its review was due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from streams.access.audit import AccessRecorded, record_access
from streams.access.justification import check_case_number, check_crime_type, check_purpose
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.access.purpose import forbidden_purpose
from streams.codec import dumps, read_from_dict, read_to_dict, stored_reads, validator
from streams.errors import InvalidRecord, JustificationRefused, NotFound, PolicyViolation
from streams.kafka.log import TopicWriter, read_latest, read_topic
from streams.kafka.timeseek import capture_ranges, scan_by_time, scan_ranges
from streams.reads.model import Read
from streams.replay.replay import ReplayQuery, replay
from streams.retention.judge import duration
from streams.settings import Settings

__all__ = [
    "REVIEW_NOTICE",
    "RECENT_LAPSES",
    "Held",
    "HoldDesk",
    "Lapse",
    "lapse_unreviewed",
    "lapsed_cases",
    "review_due",
]

#: P12: ``alpr hold list`` flags a case whose review is due within this time.
REVIEW_NOTICE = timedelta(days=14)
#: ``alpr hold list`` shows the holds that lapsed within this time (from the audit trail).
RECENT_LAPSES = timedelta(days=30)


def review_due(case: Mapping[str, Any], review_days: int) -> datetime:
    """When the case's hold must have been renewed by (P12): its ``review_due``, or - a hold placed
    before reviews existed - ``held_at`` + ``review_days``."""
    due = case.get("review_due")
    if due:
        return datetime.fromisoformat(due)
    return datetime.fromisoformat(case["held_at"]) + timedelta(days=review_days)


def lapsed_cases(cases: tuple[dict[str, Any], ...], now: datetime, review_days: int) -> list[dict[str, Any]]:
    """The cases whose review was due at or before ``now`` and that were not renewed: they end."""
    return [c for c in cases if review_due(c, review_days) <= now]


@dataclass(frozen=True, slots=True)
class Lapse:
    """A case whose hold ended because its review lapsed (P12); ``gone``: no case holds the read now."""

    read_id: str
    case_number: str
    held_by: str
    held_at: datetime
    review_due: datetime
    gone: bool


@dataclass(frozen=True, slots=True)
class Held:
    read: Read
    cases: tuple[dict[str, Any], ...]
    alerts: tuple[dict[str, Any], ...]

    def age(self, now: datetime) -> timedelta:
        return now - min(datetime.fromisoformat(c["held_at"]) for c in self.cases)


class HoldDesk:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic("evidence-holds")
        self._alert_records: list[dict[str, Any]] | None = None  # read once per desk (one command)

    @property
    def review_period(self) -> timedelta:
        """P12: how long a hold lasts without renewal (the profile's ``hold_review_days``)."""
        return timedelta(days=self.settings.profile.hold_review_days)

    def review_due(self, case: Mapping[str, Any]) -> datetime:
        return review_due(case, self.settings.profile.hold_review_days)

    async def _justified(
        self,
        action: str,
        case_number: str,
        reason: str,
        crime_type: str | None,
        by: Principal,
        now: datetime,
        query: Mapping[str, Any],
    ) -> tuple[str, str, str | None]:
        """The case number (normalized), reason and crime type of a hold, if they give an auditor
        something to check (P12, P16): the agency's case-number format, a crime type naming the
        presumed crime, a reason in words ("keep", "test" or "." say nothing), none naming
        immigration enforcement or reproductive care (P22).
        ``crime_type`` None: not asked (a renewal keeps the case's own). A refusal is audited, like
        a refused search, and raised before anything is read or written."""
        profile = self.settings.profile
        try:
            case = check_case_number(case_number, profile, rule="P12")
            why = check_purpose(reason, profile, field="reason", rule="P12")
            crime = check_crime_type(crime_type, profile, rule="P12") if crime_type is not None else None
            forbidden = forbidden_purpose(why, crime)  # the case number: check_case_number's
            if forbidden:
                raise JustificationRefused("P22", forbidden)
        except JustificationRefused as exc:
            await record_access(
                self.settings,
                by.audit(
                    now,
                    action,
                    dict(query),
                    0,
                    case_number=case_number,
                    purpose="evidence hold",
                    decision="refused",
                    reason=str(exc),
                    crime_type=crime_type,
                ),
            )
            raise
        return case, why, crime

    async def listing(self, by: Principal, now: datetime) -> dict[str, Held]:
        """The held reads, for a person who may see them (P21); the listing shows plates, so it is
        audited with how many reads it showed (P15)."""
        require(by, "hold")
        held = await self.holds()
        await record_access(
            self.settings, by.audit(now, "hold_list", {}, len(held), purpose="evidence hold review")
        )
        return held

    async def holds(self) -> dict[str, Held]:
        """Every held read, as stored (no permission check: for the use cases here and tools)."""
        latest = await read_latest(self.settings.kafka, self.topic)
        out = {}
        for key, record in latest.items():
            data = orjson.loads(record.value)
            out[key.decode()] = Held(
                read_from_dict(data["read"]), tuple(data["cases"]), tuple(data.get("alerts", []))
            )
        return out

    async def _alerts_by_read(self, read_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
        """Every record of the alerts of these reads (the raised alert and its lifecycle)."""
        if self._alert_records is None:
            records: list[dict[str, Any]] = []

            def keep(_tp: Any, record: Any) -> None:
                if record.value is not None:
                    records.append(orjson.loads(record.value))

            await read_topic(self.settings.kafka, self.settings.topic("alerts"), keep)
            self._alert_records = records
        records = self._alert_records
        alert_read = {
            r["alert_id"]: r["read_id"]
            for r in records
            if r.get("event") == "AlertRaised" and r.get("read_id") in read_ids
        }
        out: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            read_id = alert_read.get(r.get("alert_id", ""))
            if read_id is not None:
                out.setdefault(read_id, []).append(r)
        return out

    async def find_read(self, read_id: str, captured_near: datetime | None, now: datetime) -> Read:
        """The read, from the reads topic: searched around its capture time when an alert or the
        caller knows it, else through the whole topic."""
        alerts = (await self._alerts_by_read({read_id})).get(read_id, [])
        raised = [a for a in alerts if a.get("event") == "AlertRaised"]
        near = datetime.fromisoformat(raised[0]["captured_at"]) if raised else captured_near
        skew = timedelta(seconds=self.settings.max_clock_skew_s) + timedelta(minutes=1)
        start = near - skew if near else datetime.fromtimestamp(0, now.tzinfo)
        end = near + timedelta(days=1) if near else now + skew
        # By capture time, whatever the read's lateness: both read topics (issue 17).
        ranges = capture_ranges(self.settings, int(start.timestamp() * 1000), int(end.timestamp() * 1000))
        async for _tp, record in scan_ranges(self.settings.kafka, ranges):
            if record.value is None or read_id.encode() not in record.value:
                continue
            for raw in stored_reads(record.value):
                if raw.get("read_id") == read_id:
                    try:
                        return read_from_dict(raw)
                    except InvalidRecord:
                        continue
        raise NotFound(
            f"no read {read_id} on {self.settings.topic('reads')}"
            + ("" if near else " (searched the whole topic; --captured-at narrows the search)")
        )

    async def add(
        self,
        reads: list[Read],
        case_number: str,
        reason: str,
        by: Principal,
        now: datetime,
        *,
        query: dict[str, Any],
        crime_type: str,
    ) -> list[str]:
        """Hold these reads for the case; returns the read ids newly held for it. The case gets
        its first review date (P12): placed + the profile's ``hold_review_days``."""
        require(by, "hold")  # P21, before anything is read
        case_number, reason, crime = await self._justified(
            "hold_add", case_number, reason, crime_type, by, now, query
        )
        oldest = now - self.settings.profile.read_retention
        expired = [r.read_id for r in reads if r.captured_at < oldest]
        if expired:
            raise PolicyViolation(
                "P11",
                f"read {expired[0]} is older than the {duration(self.settings.profile.read_retention_ms)} "
                "read retention: it must already be gone and cannot be held",
            )
        current = await self.holds()
        alerts = await self._alerts_by_read({r.read_id for r in reads})
        placed = []
        writer = TopicWriter(self.settings.kafka)
        await writer.start()
        try:
            for read in reads:
                held = current.get(read.read_id)
                cases = list(held.cases) if held else []
                if any(_same_case(c, case_number) for c in cases):
                    continue  # already held for this case
                cases.append(
                    {
                        "case_number": case_number,
                        "reason": reason,
                        **({"crime_type": crime} if crime else {}),
                        "held_by": by.name,
                        "held_at": now.isoformat(),
                        "review_due": (now + self.review_period).isoformat(),
                    }
                )
                value = {"read": read_to_dict(read), "cases": cases, "alerts": alerts.get(read.read_id, [])}
                validator("evidence_hold")(value)
                await writer.write(self.topic, read.read_id.encode(), dumps(value))
                placed.append(read.read_id)
            await writer.flush()
            await record_access(
                self.settings,
                by.audit(
                    now,
                    "hold_add",
                    query,
                    len(placed),
                    case_number=case_number,
                    purpose="evidence hold",
                    reason=reason,
                    crime_type=crime,
                ),
                writer,
            )
        finally:
            await writer.stop()
        return placed

    async def add_by_plate(
        self,
        plate: str,
        start: datetime,
        end: datetime,
        case_number: str,
        reason: str,
        by: Principal,
        now: datetime,
        *,
        crime_type: str,
    ) -> list[str]:
        """Hold every read of a plate (exact or OCR-equivalent) captured in the window."""
        require(by, "hold")  # P21, before the reads are searched
        asked = {"plate": plate, "from": start.isoformat(), "to": end.isoformat()}
        case_number, reason, _ = await self._justified(  # P12, P16, P22: before the search
            "hold_add", case_number, reason, crime_type, by, now, asked
        )
        query = ReplayQuery(start, end, case_number, f"evidence hold: {reason}", plate=plate)
        found = await replay(self.settings, query, now)
        reads = [
            s.read
            for s in found.sightings
            if s.read.captured_at >= now - self.settings.profile.read_retention
        ]
        return await self.add(
            reads,
            case_number,
            reason,
            by,
            now,
            query=asked,
            crime_type=crime_type,
        )

    async def release(
        self, read_id: str, case_number: str, reason: str, by: Principal, now: datetime
    ) -> bool:
        """Release the case's hold; True when no case holds the read any more (tombstone written)."""
        require(by, "hold")  # P21, before anything is read
        held = (await self.holds()).get(read_id)
        if held is None or not any(_same_case(c, case_number) for c in held.cases):
            raise NotFound(f"read {read_id} is not held for case {case_number}")
        cases = [c for c in held.cases if not _same_case(c, case_number)]
        audit = by.audit(
            now,
            "hold_release",
            {"read_id": read_id},
            1,
            case_number=case_number,
            purpose="evidence hold",
            reason=reason,
        )
        await self._store(held, cases, audit)
        return not cases

    async def _store(self, held: Held, cases: list[dict[str, Any]], audit: AccessRecorded) -> None:
        """Rewrite one read's hold with these cases, then its audit record (P15): the change is
        stored before the record says it was made."""
        writer = TopicWriter(self.settings.kafka)
        await writer.start()
        try:
            await self._rewrite(writer, held, cases)
            await writer.flush()
            await record_access(self.settings, audit, writer)
        finally:
            await writer.stop()

    async def _rewrite(self, writer: TopicWriter, held: Held, cases: list[dict[str, Any]]) -> None:
        """Store the read's hold with these cases; none left: a tombstone, so that compaction removes
        the copy and the read follows the normal retention (P11)."""
        value = None
        if cases:
            record = {"read": read_to_dict(held.read), "cases": cases, "alerts": list(held.alerts)}
            validator("evidence_hold")(record)
            value = dumps(record)
        await writer.write(self.topic, held.read.read_id.encode(), value)

    async def renew(
        self, read_id: str, case_number: str, reason: str, by: Principal, now: datetime
    ) -> datetime:
        """The periodic review (P12): the case still needs the read, so its hold runs another
        ``hold_review_days`` from now; returns the new review date. Only for a case holding the read
        whose review has not lapsed yet (a lapsed hold has ended: place a new one while the read is
        within the retention). Justified like a new hold (P12, P16, P22) and audited (P15)."""
        require(by, "hold")  # P21, before anything is read
        query = {"read_id": read_id}
        case_number, reason, _ = await self._justified(
            "hold_renew", case_number, reason, None, by, now, query
        )
        held = (await self.holds()).get(read_id)
        case = next((c for c in held.cases if _same_case(c, case_number)), None) if held else None
        if held is None or case is None:
            raise NotFound(f"read {read_id} is not held for case {case_number}: nothing to renew")
        due = self.review_due(case)
        if due <= now:
            raise PolicyViolation(
                "P12",
                f"the hold of read {read_id} for case {case_number} lapsed on {due.isoformat()} "
                "(not renewed in time) and ends at the next review sweep; hold the read again with "
                "alpr hold add if it is still within the read retention",
            )
        new_due = now + self.review_period
        renewed = {
            **case,
            "review_due": new_due.isoformat(),
            "renewed_by": by.name,
            "renewed_at": now.isoformat(),
        }
        cases = [renewed if c is case else c for c in held.cases]
        audit = by.audit(
            now,
            "hold_renew",
            {**query, "review_due": new_due.isoformat(), "was_due": due.isoformat()},
            1,
            case_number=case_number,
            purpose="evidence hold review",
            reason=reason,
            crime_type=case.get("crime_type"),
        )
        await self._store(held, cases, audit)
        return new_due

    async def lapse(self, now: datetime, by: Principal) -> list[Lapse]:
        """End every case whose review lapsed (P12); see :func:`lapse_unreviewed`."""
        require(by, "hold.review")  # P21, before anything is read
        days = self.settings.profile.hold_review_days
        lapses: list[Lapse] = []
        writer = TopicWriter(self.settings.kafka)
        await writer.start()
        try:
            for read_id, held in sorted((await self.holds()).items()):
                ended = lapsed_cases(held.cases, now, days)
                if not ended:
                    continue
                cases = [c for c in held.cases if all(c is not e for e in ended)]
                await self._rewrite(writer, held, cases)
                await writer.flush()  # the hold has ended before its notice says so
                for case in ended:
                    lapse = Lapse(
                        read_id,
                        case["case_number"],
                        case["held_by"],
                        datetime.fromisoformat(case["held_at"]),
                        review_due(case, days),
                        not cases,
                    )
                    await record_access(self.settings, _notice(by, now, lapse, case), writer)
                    lapses.append(lapse)
        finally:
            await writer.stop()
        return lapses

    async def recent_lapses(self, by: Principal, now: datetime) -> list[dict[str, Any]]:
        """The ``hold_lapsed`` notices of the last :data:`RECENT_LAPSES` (P12), oldest first, from
        the audit trail (the notices are the record of a lapse: the hold itself is gone)."""
        require(by, "hold")
        since = now - RECENT_LAPSES
        skew = timedelta(seconds=self.settings.max_clock_skew_s) + timedelta(minutes=1)
        notices = []
        async for _tp, record in scan_by_time(
            self.settings.kafka,
            self.settings.topic("audit"),
            int((since - skew).timestamp() * 1000),
            int((now + skew).timestamp() * 1000),
        ):
            if record.value is None or b'"hold_lapsed"' not in record.value:
                continue
            data = orjson.loads(record.value)
            if data.get("action") == "hold_lapsed" and datetime.fromisoformat(data["at"]) >= since:
                notices.append(data)
        return sorted(notices, key=lambda d: str(d["at"]))


def _same_case(case: Mapping[str, Any], case_number: str) -> bool:
    """Case numbers compare trimmed and upper-cased, as :func:`check_case_number` stores them."""
    return str(case["case_number"]).strip().upper() == case_number.strip().upper()


def _notice(by: Principal, now: datetime, lapse: Lapse, case: Mapping[str, Any]) -> Any:
    """The audit record that is the notice of a lapsed hold (P12, P15): which read and case, who
    placed the hold and when, when its review was due, and whether the read's copy is gone."""
    ends = "last case: the copy is deleted (P11)" if lapse.gone else "other cases still hold the read"
    return by.audit(
        now,
        "hold_lapsed",
        {
            "read_id": lapse.read_id,
            "held_by": lapse.held_by,
            "held_at": lapse.held_at.isoformat(),
            "review_due": lapse.review_due.isoformat(),
            "released": lapse.gone,
        },
        1,
        case_number=lapse.case_number,
        purpose="evidence hold review",
        # the audit trail caps a text at 200 characters: this one stays well within
        reason=(
            f"P12 review lapsed: case {lapse.case_number[:24]} placed by {lapse.held_by[:24]} on "
            f"{lapse.held_at.date().isoformat()}, due for review on {lapse.review_due.date().isoformat()}, "
            f"not renewed; {ends}"
        ),
        crime_type=case.get("crime_type"),
    )


async def lapse_unreviewed(settings: Settings, now: datetime, by: Principal) -> list[Lapse]:
    """The review sweep (P12): every hold case whose ``review_due`` is at or before ``now`` ends,
    as a release would (a tombstone when it was the read's last case), and a ``hold_lapsed`` audit
    record - the notice - names it. Run by an administrator or the retention service account
    (``hold.review``): ``alpr hold review``, on a timer with ``--every``."""
    return await HoldDesk(settings).lapse(now, by)
