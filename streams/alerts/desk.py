"""The alert desk: the alerts topic folded into alert states, and people's transitions written back.

Lifecycle events go to the alerts topic on the partition of their AlertRaised, so each
alert's history stays in order. Validation re-checks the entry against the current hot list
(issue: alert lifecycle, item 2): an entry removed, expired or stale since the alert refuses the
validation with "entry no longer active: do not act".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiokafka import TopicPartition

from streams.alerts.lifecycle import (
    Actor,
    AlertConfirmed,
    AlertDispositioned,
    AlertEvent,
    AlertRejected,
    AlertSighted,
    AlertState,
    AlertStatusValidated,
    AlertVisuallyVerified,
    TransitionRefused,
    evolve,
)
from streams.alerts.model import AlertRaised
from streams.errors import NotFound
from streams.hotlists.model import HotlistEntry
from streams.kafka.log import TopicWriter, assign_all, read_to_end, reader
from streams.matching.matcher import entry_in_force
from streams.reads.model import Read
from streams.settings import Settings

__all__ = ["AlertDesk", "event_from_dict", "event_to_dict", "raised_from_dict"]

_EVENTS: dict[str, type[AlertEvent]] = {
    cls.__name__: cls
    for cls in (
        AlertSighted,
        AlertVisuallyVerified,
        AlertRejected,
        AlertStatusValidated,
        AlertConfirmed,
        AlertDispositioned,
    )
}
_EXTRA = ("reason", "priority", "confirming_agency", "disposition", "read_id", "camera_id", "lat", "lon")


def raised_from_dict(data: dict[str, Any]) -> AlertRaised:
    read = Read(
        read_id=data["read_id"],
        camera_id=data["camera_id"],
        captured_at=datetime.fromisoformat(data["captured_at"]),
        plate=data["plate_read"],
        plate_state=data["plate_state_read"],
        confidence=float(data.get("confidence", 0.0)),
        lat=float(data["lat"]),
        lon=float(data["lon"]),
        image_ref=data.get("image_ref"),
    )
    entry = HotlistEntry(
        source=data["source"],
        entry_id=data["entry_id"],
        plate=data["plate_listed"],
        plate_state=data["plate_state_listed"],
        list_type=data["list_type"],
        reason=data["reason"],
        case_number=data["case_number"],
        ori=data.get("ori"),
        vehicle=tuple(sorted((data.get("vehicle") or {}).items())),
    )
    return AlertRaised(
        alert_id=data["alert_id"],
        raised_at=datetime.fromisoformat(data["raised_at"]),
        read=read,
        entry=entry,
        match_kind=data["match_kind"],
        state_mismatch=bool(data["state_mismatch"]),
    )


def event_to_dict(event: AlertEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "event": type(event).__name__,
        "event_id": event.event_id,
        "alert_id": event.alert_id,
        "at": event.at.isoformat(),
        "by": None if event.by is None else {"user": event.by.user, "badge": event.by.badge},
        "note": event.note,
    }
    for name in _EXTRA:
        if hasattr(event, name):
            out[name] = getattr(event, name)
    if isinstance(event, AlertSighted) and event.captured_at is not None:
        out["captured_at"] = event.captured_at.isoformat()
    return out


def event_from_dict(data: dict[str, Any]) -> AlertEvent:
    cls = _EVENTS[data["event"]]
    by = data.get("by")
    fields: dict[str, Any] = {
        "event_id": data["event_id"],
        "alert_id": data["alert_id"],
        "at": datetime.fromisoformat(data["at"]),
        "by": None if by is None else Actor(by["user"], by["badge"]),
        "note": data.get("note", ""),
    }
    fields.update({k: data[k] for k in _EXTRA if k in data and k in cls.__dataclass_fields__})
    if cls is AlertSighted and data.get("captured_at"):
        fields["captured_at"] = datetime.fromisoformat(data["captured_at"])
    return cls(**fields)


@dataclass
class Folded:
    states: dict[str, AlertState]
    partitions: dict[str, int]


class AlertDesk:
    """One per command: reads the alerts topic, applies a person's transition, writes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic("alerts")

    async def fold(self) -> Folded:
        states: dict[str, AlertState] = {}
        partitions: dict[str, int] = {}

        def apply(tp: TopicPartition, record: Any) -> None:
            if record.value is None:
                return
            data = orjson.loads(record.value)
            if data.get("event") == "AlertRaised":
                event: AlertRaised | AlertEvent = raised_from_dict(data)
                partitions.setdefault(data["alert_id"], tp.partition)
            elif data.get("event") in _EVENTS:
                event = event_from_dict(data)
            else:
                return
            try:
                states[event.alert_id] = evolve(states.get(event.alert_id), event)
            except TransitionRefused:
                pass  # an event that raced another: the log keeps it, the state does not take it

        consumer = reader(self.settings.bootstrap_servers)
        await consumer.start()
        try:
            await assign_all(consumer, self.topic)
            await read_to_end(consumer, apply)
        finally:
            await consumer.stop()
        return Folded(states, partitions)

    async def state(self, alert_id: str) -> AlertState:
        folded = await self.fold()
        if alert_id not in folded.states:
            raise NotFound(f"no alert {alert_id}")
        return folded.states[alert_id]

    async def transition(
        self, alert_id: str, kind: type[AlertEvent], by: Actor, now: datetime, **fields: Any
    ) -> AlertState:
        """Apply and record a person's transition; raise :class:`TransitionRefused` and write nothing
        when it does not fit the alert's state (or, for a validation, the current hot list)."""
        folded = await self.fold()
        state = folded.states.get(alert_id)
        if state is None:
            raise NotFound(f"no alert {alert_id}")
        event = kind(str(uuid.uuid4()), alert_id, now, by, **fields)
        after = evolve(state, event)  # refuses out-of-order transitions
        if kind is AlertStatusValidated:
            await self._recheck(state, now)
        writer = TopicWriter(self.settings.bootstrap_servers)
        await writer.start()
        try:
            await writer.write(
                self.topic, alert_id.encode(), orjson.dumps(event_to_dict(event)), folded.partitions[alert_id]
            )
            await writer.flush()
        finally:
            await writer.stop()
        return after

    async def _recheck(self, state: AlertState, now: datetime) -> None:
        from streams.hotlists.service import HotlistStore

        entry = state.raised.entry
        async with HotlistStore(self.settings) as store:
            found = await store.entry(entry.key)
            status = (await store.source_status()).get(entry.source, {}) if found else {}
        fresh = status.get("fresh_as_of")
        if found is None or not entry_in_force(
            found[0],
            now,
            self.settings.profile.hotlist_max_staleness_s,
            datetime.fromisoformat(fresh) if fresh else None,
        ):
            raise TransitionRefused(
                f"entry {entry.key} is no longer active (removed, expired or not refreshed): do not act. "
                "Reject the alert with reason entry_no_longer_active"
            )
