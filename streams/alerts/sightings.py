"""Duplicate suppression: the same plate and entry seen again within a window adds a sighting to the
open alert instead of raising a new one (P9: "alerted at Curtner/Monterey, observed at Curtner/Malone").

The window runs on capture time, from the last time the plate was seen. Every read of one plate
(by its OCR-canonical key) is decided on the candidates partition that owns the key, so one
:class:`SightingWindow` per worker sees all reads of the plates it owns. An alert that a person
has closed (rejected or dispositioned) takes no more sightings: the next read raises a new alert.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from streams.alerts.lifecycle import AlertSighted
from streams.reads.model import CAMERA, POSITION_UNKNOWN, UNKNOWN, Read

__all__ = ["SightingWindow", "sighting_of"]

_SIGHTING_NAMESPACE = uuid.UUID("0b7f3f4e-2d7c-4a43-8f0e-5b1c9a0d6e21")
_PLACE_NOTES = {UNKNOWN: POSITION_UNKNOWN, CAMERA: "at the camera's registered position"}


@dataclass(slots=True)
class _Open:
    alert_id: str
    last_seen: datetime
    touched: datetime


class SightingWindow:
    """Open alerts by plate and entry, forgotten once the window has passed without a sighting."""

    def __init__(self, window: timedelta, max_size: int = 1_000_000) -> None:
        self.window = window
        self.max_size = max_size
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._by_alert: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._open)

    def route(self, key: str, alert_id: str, captured_at: datetime, now: datetime) -> str:
        """The alert this read belongs to: an open alert of the same key seen within the window,
        else ``alert_id`` (the read's own new alert, which becomes the open one)."""
        self._expire(now)
        found = self._open.get(key)
        if found is not None and abs(captured_at - found.last_seen) <= self.window:
            found.last_seen = max(found.last_seen, captured_at)
            found.touched = now
            self._open.move_to_end(key)
            return found.alert_id
        if found is not None:
            self._by_alert.pop(found.alert_id, None)
        self._open[key] = _Open(alert_id, captured_at, now)
        self._open.move_to_end(key)
        self._by_alert[alert_id] = key
        return alert_id

    def seen(self, alert_id: str, captured_at: datetime, now: datetime) -> None:
        """Another worker's (or an earlier run's) sighting of an open alert: the window runs on."""
        key = self._by_alert.get(alert_id)
        if key is not None:
            found = self._open[key]
            found.last_seen = max(found.last_seen, captured_at)
            found.touched = now
            self._open.move_to_end(key)

    def close(self, alert_id: str) -> None:
        """A person closed the alert: the next read of its plate and entry raises a new alert."""
        key = self._by_alert.pop(alert_id, None)
        if key is not None:
            del self._open[key]

    def _expire(self, now: datetime) -> None:
        # Kept twice the window by processing time, so late and out-of-order reads still find it.
        while self._open:
            key, oldest = next(iter(self._open.items()))
            if now - oldest.touched <= 2 * self.window and len(self._open) < self.max_size:
                return
            del self._open[key]
            self._by_alert.pop(oldest.alert_id, None)


def sighting_of(alert_id: str, read: Read, now: datetime) -> AlertSighted:
    """The sighting of an open alert by another read; its id is deterministic, so a redelivered
    read adds nothing the second time. A read captured where its camera is not known to be (no
    position, issue 17) is a sighting like any other; its note says where it was, never "0, 0"."""
    placed = read.placed
    return AlertSighted(
        event_id=str(uuid.uuid5(_SIGHTING_NAMESPACE, f"{alert_id}\x1f{read.read_id}")),
        alert_id=alert_id,
        at=now,
        by=None,
        read_id=read.read_id,
        camera_id=read.camera_id,
        captured_at=read.captured_at,
        plate=read.plate,
        image_ref=read.image_ref,
        lat=read.lat,
        lon=read.lon,
        note=_PLACE_NOTES.get(placed, ""),
    )
