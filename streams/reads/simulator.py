"""A simulated feed of cameras, for ``make run`` and demos.

Cameras sit around downtown San José; most plates are random, a share of reads
are of listed plates, some of them misread through OCR-equivalent characters. The cameras are
mobile units, and about 5 % of their reads carry no position (as real ones do): the demo shows
alerts with "position unknown".

P24: no simulated camera stands inside a sensitive site's exclusion zone (``avoid``): a position
drawn inside one is drawn again. Reads that land in a zone anyway (sites added after the cameras
were placed) are dropped and counted by the producer (streams/reads/producer.py).
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.cameras.sites import ExclusionZones
from streams.matching.normalize import OcrClasses
from streams.reads.producer import ReadProducer

__all__ = ["CameraFeed", "run_feed"]

_CENTER = (37.3382, -121.8863)


@dataclass
class CameraFeed:
    """Generates reads; ``listed`` are (plate, state) pairs of the hot list to hit now and then."""

    cameras: int
    hit_rate: float
    listed: Sequence[tuple[str, str | None]]
    ocr: OcrClasses
    seed: int = 0
    avoid: ExclusionZones | None = None  # P24: no camera is placed inside these zones
    #: The share of reads sent without a position, as real mobile units do (issue 17: 26 % of a
    #: real week); the cameras are mobile, so these alert as "position unknown".
    unplaced_rate: float = 0.05

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - simulation, not security
        # The cameras stand where they stood in every earlier run (they are registered once).
        place = random.Random("camera-sites")  # noqa: S311 - simulation, not security
        self._camera_pos = [self._place(place) for _ in range(self.cameras)]
        self._seq = 0

    def _place(self, place: random.Random) -> tuple[float, float]:
        """A camera position outside every exclusion zone to avoid (P24)."""
        for _ in range(1000):
            lat, lon = _CENTER[0] + place.uniform(-0.08, 0.08), _CENTER[1] + place.uniform(-0.1, 0.1)
            if self.avoid is None or self.avoid.excluded(lat, lon) is None:
                return lat, lon
        raise ValueError("the sensitive sites' exclusion zones cover the whole simulated area")

    def camera_sites(self) -> list[tuple[str, float, float]]:
        """(camera id, lat, lon) of every simulated camera, for the registry."""
        return [(self.camera_id(n), lat, lon) for n, (lat, lon) in enumerate(self._camera_pos)]

    @staticmethod
    def camera_id(n: int) -> str:
        return f"cam-{n:05d}"

    def _random_plate(self) -> str:
        rng = self._rng
        return (
            str(rng.randint(1, 9))
            + "".join(rng.choices(string.ascii_uppercase, k=3))
            + "".join(rng.choices(string.digits, k=3))
        )

    def _misread(self, plate: str) -> str:
        positions = [i for i, ch in enumerate(plate) if len(self.ocr.equivalents(ch)) > 1]
        if not positions:
            return plate
        i = self._rng.choice(positions)
        options = [c for c in self.ocr.equivalents(plate[i]) if c != plate[i]]
        return plate[:i] + self._rng.choice(options) + plate[i + 1 :]

    def next_read(self, now: datetime) -> dict[str, Any]:
        rng = self._rng
        self._seq += 1
        camera = rng.randrange(self.cameras)
        state: str | None = "CA"
        if self.listed and rng.random() < self.hit_rate:
            plate, state = rng.choice(self.listed)
            if rng.random() < 0.3:
                plate = self._misread(plate)
        else:
            plate = self._random_plate()
        lat, lon = self._camera_pos[camera]
        read: dict[str, Any] = {
            "read_id": f"sim-{self.seed}-{self._seq:09d}",
            "camera_id": self.camera_id(camera),
            "captured_at": now.isoformat(),
            "plate": plate,
            "plate_state": state,
            "confidence": round(rng.uniform(0.6, 0.99), 3),
        }
        if rng.random() >= self.unplaced_rate:
            read["lat"], read["lon"] = round(lat, 6), round(lon, 6)
        return read


async def run_feed(producer: ReadProducer, feed: CameraFeed, rate: float, duration: float | None) -> int:
    """Send reads at ``rate`` per second for ``duration`` seconds (None: until cancelled)."""
    started = time.monotonic()
    sent = 0
    tick = 0.05
    while duration is None or time.monotonic() - started < duration:
        due = int((time.monotonic() - started + tick) * rate) - sent
        now = datetime.now(UTC)
        for _ in range(max(0, due)):
            await producer.send(feed.next_read(now))
            sent += 1
        await asyncio.sleep(tick)
    await producer.flush()
    return sent
