"""Evidence holds (P12): reads tied to a criminal investigation, kept past the read retention.

A hold copies the full read, and every record of its alerts, into the compacted evidence-holds
topic keyed by read id, with the cases that hold it. Releasing the last case writes a tombstone.
A read already past the retention cannot be held: it must already be gone (P11). Every hold
action - placing, releasing, listing (it shows plates) - is done by a :class:`Principal` whose role
may ``hold`` (P21), checked first, and is written to the audit trail with who did it (user, badge,
agency) before the command reports success (P15).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from streams.access.audit import record_access
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.codec import dumps, read_from_dict, read_to_dict, stored_reads, validator
from streams.errors import InvalidRecord, NotFound, PolicyViolation
from streams.kafka.log import TopicWriter, read_latest, read_topic
from streams.kafka.timeseek import scan_by_time
from streams.reads.model import Read
from streams.replay.replay import ReplayQuery, replay
from streams.retention.judge import duration
from streams.settings import Settings

__all__ = ["Held", "HoldDesk"]


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
        async for _tp, record in scan_by_time(
            self.settings.kafka,
            self.settings.read_topics,
            int(start.timestamp() * 1000),
            int(end.timestamp() * 1000),
        ):
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
        crime_type: str | None = None,
    ) -> list[str]:
        """Hold these reads for the case; returns the read ids newly held for it."""
        require(by, "hold")  # P21, before anything is read
        if not case_number.strip() or not reason.strip():
            raise PolicyViolation("P12", "a hold needs a case number and a reason")
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
                if any(c["case_number"] == case_number for c in cases):
                    continue  # already held for this case
                cases.append(
                    {
                        "case_number": case_number,
                        "reason": reason,
                        "held_by": by.name,
                        "held_at": now.isoformat(),
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
                    crime_type=crime_type,
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
        crime_type: str | None = None,
    ) -> list[str]:
        """Hold every read of a plate (exact or OCR-equivalent) captured in the window."""
        require(by, "hold")  # P21, before the reads are searched
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
            query={"plate": plate, "from": start.isoformat(), "to": end.isoformat()},
            crime_type=crime_type,
        )

    async def release(
        self, read_id: str, case_number: str, reason: str, by: Principal, now: datetime
    ) -> bool:
        """Release the case's hold; True when no case holds the read any more (tombstone written)."""
        require(by, "hold")  # P21, before anything is read
        held = (await self.holds()).get(read_id)
        if held is None or not any(c["case_number"] == case_number for c in held.cases):
            raise NotFound(f"read {read_id} is not held for case {case_number}")
        cases = [c for c in held.cases if c["case_number"] != case_number]
        writer = TopicWriter(self.settings.kafka)
        await writer.start()
        try:
            value = None
            if cases:
                value = dumps({"read": read_to_dict(held.read), "cases": cases, "alerts": list(held.alerts)})
            await writer.write(self.topic, read_id.encode(), value)
            await writer.flush()
            await record_access(
                self.settings,
                by.audit(
                    now,
                    "hold_release",
                    {"read_id": read_id},
                    1,
                    case_number=case_number,
                    purpose="evidence hold",
                    reason=reason,
                ),
                writer,
            )
        finally:
            await writer.stop()
        return not cases
