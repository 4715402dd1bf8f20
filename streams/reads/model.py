"""A plate read, as a camera reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Read"]


@dataclass(frozen=True, slots=True)
class Read:
    """One plate read. ``captured_at`` is timezone-aware (the camera's clock, with offset)."""

    read_id: str
    camera_id: str
    captured_at: datetime
    plate: str  # OCR text as the camera sent it
    plate_state: str | None
    confidence: float
    lat: float
    lon: float
    image_ref: str | None = None
    vehicle_make: str | None = None
    vehicle_model: str | None = None
    vehicle_color: str | None = None
