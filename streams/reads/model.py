"""A plate read, as a camera reports it.

A read may carry no position (issue 17): many cameras, mostly mobile ones, never report one. Such
a read is accepted, matched and alerted like any other; only where it was captured is unknown. A
fixed camera's read without one is placed at the camera's registered position by the ingest
(``position_source`` "camera"); a mobile camera's stays "position unknown" and cannot be screened
against the sensitive sites' exclusion zones (P24: accepted, documented in the README).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["CAMERA", "POSITION_UNKNOWN", "READ", "UNKNOWN", "PositionSource", "Read", "position_problem"]

#: Where an alert's position comes from (schemas/alert.json position_source).
PositionSource = Literal["read", "camera", "unknown"]
READ: PositionSource = "read"
CAMERA: PositionSource = "camera"
UNKNOWN: PositionSource = "unknown"
#: How every front end shows a read without a position (never "0, 0" or "null").
POSITION_UNKNOWN = "position unknown"


def position_problem(lat: object, lon: object, source: object = None) -> str | None:
    """Why a read's lat, lon and position_source do not go together; None when they do.
    lat and lon come together or not at all; "camera" names a position that is there."""
    if (lat is None) != (lon is None):
        given, missing = ("lat", "lon") if lon is None else ("lon", "lat")
        return (
            f"read: {given} without {missing}: lat and lon come together; give both (where the read "
            "was captured) or neither (position unknown)"
        )
    if lat is None and source == CAMERA:
        return "read: position_source 'camera' without lat and lon: give the camera's position or neither"
    return None


@dataclass(frozen=True, slots=True)
class Read:
    """One plate read. ``captured_at`` is timezone-aware (the camera's clock, with offset).
    ``lat``/``lon`` are both None when the camera reported no position."""

    read_id: str
    camera_id: str
    captured_at: datetime
    plate: str  # OCR text as the camera sent it
    plate_state: str | None
    confidence: float
    lat: float | None
    lon: float | None
    image_ref: str | None = None
    vehicle_make: str | None = None
    vehicle_model: str | None = None
    vehicle_color: str | None = None
    #: As on the wire: None or "read" (the camera's report), "camera" (the registered position of
    #: a fixed camera, set by the ingest for a read that had none).
    position_source: str | None = None

    @property
    def placed(self) -> PositionSource:
        """Where this read's position comes from: the read, its fixed camera, or nowhere."""
        if self.lat is None or self.lon is None:
            return UNKNOWN
        return CAMERA if self.position_source == CAMERA else READ

    @property
    def where(self) -> str:
        """The position as people read it: "lat, lon", or "position unknown"."""
        if self.lat is None or self.lon is None:
            return POSITION_UNKNOWN
        text = f"{self.lat:.5f}, {self.lon:.5f}"
        return text + " (camera's registered position)" if self.placed == CAMERA else text
