"""A simulated feed of cameras, for ``make run`` and demos.

The sample city is San José: vehicles and mobile patrol units drive along a network of its
arterial streets (:data:`STREETS`, synthetic but plausible positions), and fixed cameras given by
the caller (``fixed``, the demo's come from samples/demo-cameras.toml) stand at intersections.

Every listed plate (``listed``) is a simulated vehicle that keeps a position and a heading and
advances at an urban arterial speed between reads: it never jumps across the city. A listed
vehicle is read only by a camera near it (a mobile unit within :data:`MOBILE_REACH_M`, a fixed
camera within :data:`FIXED_REACH_M`), at most once per camera per pass (:data:`PASS_S`), and a
share of those reads are misread through OCR-equivalent characters. The rest of the traffic is
passing vehicles of random plates, each read once, at the reading camera's current position.
Each listed vehicle starts beside a patrol unit, so a demo shows its first alerts at once.

About 5 % of reads carry no position (as real mobile units' do, issue 17: 26 % of a real week):
the demo shows alerts with "position unknown"; a fixed camera's read without one is placed at
the camera by the pipeline.

Deterministic: the same seed and the same sequence of capture times give the same reads. The
mobile units' bases (their registered positions, :meth:`CameraFeed.camera_sites`) do not depend
on the seed: they are registered once and stay where they were in every earlier run.

P24: no mobile unit is based inside a sensitive site's exclusion zone (``avoid``): a base drawn
inside one is drawn again. Reads captured in a zone while a unit drives through it are dropped
and counted by the producer (streams/reads/producer.py), as real ones are.
"""

from __future__ import annotations

import asyncio
import math
import random
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from streams.cameras.sites import ExclusionZones, initial_bearing_deg
from streams.images.attach import store_rendered
from streams.images.store import ImageStore, image_ref
from streams.matching.normalize import OcrClasses
from streams.reads.producer import ReadProducer

__all__ = [
    "FIXED_REACH_M",
    "MAX_SPEED_MPS",
    "MOBILE_REACH_M",
    "PASS_S",
    "STREETS",
    "street_place",
    "CameraFeed",
    "FixedCamera",
    "run_feed",
]

#: Intersections of the sample city's arterials, (lat, lon): synthetic, placed where the streets
#: run in San José.
INTERSECTIONS: dict[str, tuple[float, float]] = {
    "The Alameda & Race St": (37.3335, -121.9115),
    "Santa Clara St & Stockton Ave": (37.3340, -121.9025),
    "Santa Clara St & 1st St": (37.3360, -121.8903),
    "Santa Clara St & 10th St": (37.3405, -121.8825),
    "Alum Rock Ave & US 101": (37.3470, -121.8690),
    "Alum Rock Ave & King Rd": (37.3534, -121.8492),
    "Alum Rock Ave & White Rd": (37.3630, -121.8263),
    "N 1st St & Hedding St": (37.3505, -121.9010),
    "N 1st St & Brokaw Rd": (37.3745, -121.9200),
    "S 1st St & San Carlos St": (37.3312, -121.8866),
    "S 1st St & Keyes St": (37.3238, -121.8792),
    "S 1st St & Alma Ave": (37.3144, -121.8713),
    "Monterey Rd & Tully Rd": (37.3032, -121.8590),
    "Monterey Rd & Curtner Ave": (37.3005, -121.8610),
    "Monterey Rd & Capitol Expwy": (37.2805, -121.8410),
    "San Carlos St & Bird Ave": (37.3262, -121.9003),
    "San Carlos St & Meridian Ave": (37.3235, -121.9128),
    "San Carlos St & Bascom Ave": (37.3228, -121.9320),
    "Stevens Creek Blvd & Winchester Blvd": (37.3232, -121.9475),
    "Bascom Ave & Hamilton Ave": (37.2945, -121.9305),
    "Curtner Ave & Almaden Expwy": (37.2955, -121.8795),
    "Curtner Ave & Lincoln Ave": (37.2918, -121.8955),
    "Almaden Expwy & Alma Ave": (37.3118, -121.8770),
    "Almaden Expwy & Capitol Expwy": (37.2720, -121.8765),
    "Story Rd & Senter Rd": (37.3290, -121.8650),
    "Story Rd & McLaughlin Ave": (37.3320, -121.8555),
    "Story Rd & King Rd": (37.3372, -121.8425),
    "Story Rd & White Rd": (37.3450, -121.8230),
    "Tully Rd & Senter Rd": (37.3080, -121.8475),
    "Tully Rd & McLaughlin Ave": (37.3118, -121.8380),
    "Tully Rd & King Rd": (37.3165, -121.8270),
    "Tully Rd & Capitol Expwy": (37.3225, -121.8115),
    "Capitol Expwy & Senter Rd": (37.2880, -121.8290),
}

#: The arterials, each a run of intersections it passes through, in order.
STREETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "The Alameda / Santa Clara St / Alum Rock Ave",
        (
            "The Alameda & Race St",
            "Santa Clara St & Stockton Ave",
            "Santa Clara St & 1st St",
            "Santa Clara St & 10th St",
            "Alum Rock Ave & US 101",
            "Alum Rock Ave & King Rd",
            "Alum Rock Ave & White Rd",
        ),
    ),
    (
        "1st St / Monterey Rd",
        (
            "N 1st St & Brokaw Rd",
            "N 1st St & Hedding St",
            "Santa Clara St & 1st St",
            "S 1st St & San Carlos St",
            "S 1st St & Keyes St",
            "S 1st St & Alma Ave",
            "Monterey Rd & Tully Rd",
            "Monterey Rd & Curtner Ave",
            "Monterey Rd & Capitol Expwy",
        ),
    ),
    (
        "San Carlos St / Stevens Creek Blvd",
        (
            "S 1st St & San Carlos St",
            "San Carlos St & Bird Ave",
            "San Carlos St & Meridian Ave",
            "San Carlos St & Bascom Ave",
            "Stevens Creek Blvd & Winchester Blvd",
        ),
    ),
    ("Bascom Ave", ("San Carlos St & Bascom Ave", "Bascom Ave & Hamilton Ave")),
    ("Race St / Bird Ave", ("The Alameda & Race St", "San Carlos St & Bird Ave")),
    (
        "Curtner Ave",
        ("Monterey Rd & Curtner Ave", "Curtner Ave & Almaden Expwy", "Curtner Ave & Lincoln Ave"),
    ),
    ("Lincoln Ave / Bascom Ave", ("Curtner Ave & Lincoln Ave", "Bascom Ave & Hamilton Ave")),
    (
        "Almaden Expwy",
        (
            "S 1st St & Alma Ave",
            "Almaden Expwy & Alma Ave",
            "Curtner Ave & Almaden Expwy",
            "Almaden Expwy & Capitol Expwy",
        ),
    ),
    (
        "Capitol Expwy",
        (
            "Almaden Expwy & Capitol Expwy",
            "Monterey Rd & Capitol Expwy",
            "Capitol Expwy & Senter Rd",
            "Tully Rd & Capitol Expwy",
        ),
    ),
    (
        "Keyes St / Story Rd",
        (
            "S 1st St & Keyes St",
            "Story Rd & Senter Rd",
            "Story Rd & McLaughlin Ave",
            "Story Rd & King Rd",
            "Story Rd & White Rd",
        ),
    ),
    (
        "Tully Rd",
        (
            "Monterey Rd & Tully Rd",
            "Tully Rd & Senter Rd",
            "Tully Rd & McLaughlin Ave",
            "Tully Rd & King Rd",
            "Tully Rd & Capitol Expwy",
        ),
    ),
    ("Senter Rd", ("Story Rd & Senter Rd", "Tully Rd & Senter Rd", "Capitol Expwy & Senter Rd")),
    ("McLaughlin Ave", ("Story Rd & McLaughlin Ave", "Tully Rd & McLaughlin Ave")),
    ("King Rd", ("Alum Rock Ave & King Rd", "Story Rd & King Rd", "Tully Rd & King Rd")),
    ("White Rd", ("Alum Rock Ave & White Rd", "Story Rd & White Rd")),
)

#: Speeds, metres per second: traffic on the arterials 11-17 m/s (40-60 km/h), patrols 7-13 m/s.
VEHICLE_SPEED_MPS = (11.0, 17.0)
PATROL_SPEED_MPS = (7.0, 13.0)
MAX_SPEED_MPS = max(VEHICLE_SPEED_MPS[1], PATROL_SPEED_MPS[1])
#: How near a camera a vehicle is read: a patrol car's cameras, a fixed camera over the lanes.
MOBILE_REACH_M = 40.0
FIXED_REACH_M = 50.0
#: One read per camera per pass: the same camera reads the same vehicle again after this long.
PASS_S = 30.0
#: The world advances in steps of at least this long (and at most _MAX_STEPS steps per read).
_TICK_S = 0.5
_MAX_STEPS = 20
#: The share of passing traffic read by the fixed cameras (they read every lane of a junction).
_FIXED_SHARE = 0.1
#: The share of listed vehicles' reads that are misread through OCR-equivalent characters.
_MISREAD_RATE = 0.3
_M_PER_DEG = 111_195.0  # metres per degree of latitude (on the sphere of sites.EARTH_RADIUS_M)


@dataclass(frozen=True, slots=True)
class FixedCamera:
    """A fixed camera of the feed, as registered: it reads the vehicles passing within reach."""

    id: str
    name: str
    lat: float
    lon: float
    facing_deg: float


class _Network:
    """The streets as a graph of intersections; edges are straight between two intersections."""

    def __init__(self) -> None:
        self.names = list(INTERSECTIONS)
        self.pos = [INTERSECTIONS[n] for n in self.names]
        index = {n: i for i, n in enumerate(self.names)}
        self.next: dict[int, list[int]] = {i: [] for i in range(len(self.names))}
        for _street, run in STREETS:
            for a, b in pairwise(run):
                self.next[index[a]].append(index[b])
                self.next[index[b]].append(index[a])
        self.edges = [(a, b) for a, nbs in self.next.items() for b in nbs]
        self._length = {(a, b): _distance_m(self.pos[a], self.pos[b]) for a, b in self.edges}

    def length(self, a: int, b: int) -> float:
        return self._length[(a, b)]


def _distance_m(p: tuple[float, float], q: tuple[float, float]) -> float:
    """Metres between two nearby positions (equirectangular: well under 0.1 % off across the city)."""
    dy = (p[0] - q[0]) * _M_PER_DEG
    dx = (p[1] - q[1]) * _M_PER_DEG * math.cos(math.radians((p[0] + q[0]) / 2))
    return math.hypot(dx, dy)


#: How far from a street a position may be and still be described as on it (a patrol unit's GPS
#: is a few metres off; farther away the demo says nothing rather than name a wrong street).
ON_STREET_M = 120.0


def street_place(lat: float, lon: float) -> str | None:
    """Where a position is, as a dispatcher says it: "Santa Clara St between 1st St and 10th St",
    or "near Alum Rock Ave & US 101" where the two ends share no street name; None when it is
    farther than :data:`ON_STREET_M` from every street of the sample city."""
    best: tuple[float, str, str] | None = None
    for _street, run in STREETS:
        for a, b in zip(run, run[1:], strict=False):
            gap = _distance_to_segment_m((lat, lon), INTERSECTIONS[a], INTERSECTIONS[b])
            if best is None or gap < best[0]:
                best = (gap, a, b)
    if best is None or best[0] > ON_STREET_M:
        return None
    _gap, a, b = best
    ends_a, ends_b = a.split(" & "), b.split(" & ")
    shared = [name for name in ends_a if name in ends_b]
    if len(shared) == 1:
        cross_a = next(name for name in ends_a if name != shared[0])
        cross_b = next(name for name in ends_b if name != shared[0])
        return f"{shared[0]} between {cross_a} and {cross_b}"
    here = (lat, lon)
    nearer = min((a, b), key=lambda corner: _distance_m(here, INTERSECTIONS[corner]))
    return f"near {nearer}"


def _distance_to_segment_m(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres from ``p`` to the straight segment ``a``-``b`` (local plane, as :func:`_distance_m`)."""
    scale = math.cos(math.radians(p[0]))

    def plane(q: tuple[float, float]) -> tuple[float, float]:
        return ((q[1] - p[1]) * _M_PER_DEG * scale, (q[0] - p[0]) * _M_PER_DEG)

    (ax, ay), (bx, by) = plane(a), plane(b)
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return math.hypot(ax + t * dx, ay + t * dy)


class _Mover:
    """A vehicle or a patrol unit on the network: on the edge ``src`` -> ``dst``, ``offset`` metres
    along it, at ``speed``; at an intersection it turns onto any street but the one it came by."""

    __slots__ = ("dst", "offset", "rng", "speed", "src")

    def __init__(self, src: int, dst: int, offset: float, speed: float, rng: random.Random) -> None:
        self.src, self.dst, self.offset, self.speed, self.rng = src, dst, offset, speed, rng

    def advance(self, net: _Network, seconds: float) -> None:
        left = self.speed * seconds
        while self.offset + left >= net.length(self.src, self.dst):
            left -= net.length(self.src, self.dst) - self.offset
            onward = [n for n in net.next[self.dst] if n != self.src] or [self.src]  # a dead end: turn
            self.src, self.dst, self.offset = self.dst, self.rng.choice(onward), 0.0
        self.offset += left

    def position(self, net: _Network) -> tuple[float, float]:
        (lat1, lon1), (lat2, lon2) = net.pos[self.src], net.pos[self.dst]
        f = self.offset / net.length(self.src, self.dst)
        return lat1 + (lat2 - lat1) * f, lon1 + (lon2 - lon1) * f

    def heading(self, net: _Network) -> float:
        """Compass bearing it drives along, degrees."""
        return initial_bearing_deg(*net.pos[self.src], *net.pos[self.dst])


@dataclass
class CameraFeed:
    """Generates reads from ``cameras`` mobile units and the ``fixed`` cameras; ``listed`` are the
    (plate, state) pairs of the hot list, each a simulated vehicle. ``hit_rate``: the share of
    reads that are of a listed vehicle in view of a camera, when one is (none in view: a passing
    vehicle is read instead)."""

    cameras: int
    hit_rate: float
    listed: Sequence[tuple[str, str | None]]
    ocr: OcrClasses
    seed: int = 0
    avoid: ExclusionZones | None = None  # P24: no mobile unit is based inside these zones
    #: The share of reads sent without a position, as real mobile units do (issue 17: 26 % of a
    #: real week); these alert as "position unknown".
    unplaced_rate: float = 0.05
    fixed: Sequence[FixedCamera] = ()

    def __post_init__(self) -> None:
        if self.cameras < 1 and not self.fixed:
            raise ValueError("a camera feed needs at least one camera: give --cameras 1 or more")
        self._net = _Network()
        self._rng = random.Random(self.seed)  # noqa: S311 - simulation, not security
        # The units are based where they were in every earlier run (they are registered once).
        place = random.Random("camera-sites")  # noqa: S311 - simulation, not security
        self._units = [self._base(place, n) for n in range(self.cameras)]
        self._bases = [u.position(self._net) for u in self._units]
        self._vehicles = [self._vehicle(n) for n in range(len(self.listed))]
        self._fixed_pos = [(c.lat, c.lon) for c in self.fixed]
        self._clock: float | None = None  # epoch seconds the world stands at
        self._last_read: dict[tuple[int, int], float] = {}  # (vehicle, camera) -> when last read
        self._in_view: list[tuple[int, int]] = []
        self._seq = 0
        self.last_listed = False  # whether the last read was of a listed vehicle (it may alert)

    def _base(self, place: random.Random, n: int) -> _Mover:
        """A patrol unit on a random street, outside every exclusion zone to avoid (P24)."""
        net = self._net
        rng = random.Random(f"unit:{self.seed}:{n}")  # noqa: S311 - simulation, not security
        for _ in range(1000):
            src, dst = place.choice(net.edges)
            unit = _Mover(src, dst, place.uniform(0, net.length(src, dst)), 0.0, rng)
            if self.avoid is None or self.avoid.excluded(*unit.position(net)) is None:
                unit.speed = rng.uniform(*PATROL_SPEED_MPS)
                return unit
        raise ValueError("the sensitive sites' exclusion zones cover the whole simulated area")

    def _vehicle(self, n: int) -> _Mover:
        """Listed vehicle ``n``: on the road beside a patrol unit (or at a fixed camera)."""
        rng = random.Random(f"vehicle:{self.seed}:{n}")  # noqa: S311 - simulation, not security
        speed = rng.uniform(*VEHICLE_SPEED_MPS)
        if self._units:
            unit = self._units[n % len(self._units)]
            return _Mover(unit.src, unit.dst, unit.offset, speed, rng)
        camera = self.fixed[n % len(self.fixed)]
        net = self._net
        src = min(range(len(net.pos)), key=lambda i: _distance_m(net.pos[i], (camera.lat, camera.lon)))
        return _Mover(src, rng.choice(net.next[src]), 0.0, speed, rng)

    def camera_sites(self) -> list[tuple[str, float, float]]:
        """(camera id, lat, lon) of every mobile unit's base, for the registry."""
        return [(self.camera_id(n), lat, lon) for n, (lat, lon) in enumerate(self._bases)]

    @staticmethod
    def camera_id(n: int) -> str:
        return f"cam-{n:05d}"

    def vehicle_positions(self) -> dict[str, tuple[float, float, float]]:
        """Listed plate -> (lat, lon, heading) of its vehicle now."""
        net = self._net
        return {
            plate: (*v.position(net), v.heading(net))
            for (plate, _state), v in zip(self.listed, self._vehicles, strict=True)
        }

    def _camera_at(self, camera: int) -> tuple[str, float, float]:
        if camera < len(self._units):
            return self.camera_id(camera), *self._units[camera].position(self._net)
        fixed = self.fixed[camera - len(self._units)]
        return fixed.id, fixed.lat, fixed.lon

    def _advance(self, now: datetime) -> None:
        """Move every vehicle and unit on to ``now``, then see which listed vehicles are in view."""
        t = now.timestamp()
        if self._clock is None:
            self._clock = t
            self._look()
            return
        elapsed = t - self._clock
        if elapsed < _TICK_S:
            return  # too soon to move (time standing still, or going back, moves nothing)
        steps = min(_MAX_STEPS, math.ceil(elapsed / _TICK_S))
        for _ in range(steps):
            for mover in (*self._units, *self._vehicles):
                mover.advance(self._net, elapsed / steps)
        self._clock = t
        self._look()

    def _look(self) -> None:
        """The (listed vehicle, camera) pairs within the camera's reach and not read on this pass."""
        net, now = self._net, self._clock or 0.0
        cameras = [(u.position(net), MOBILE_REACH_M) for u in self._units]
        cameras += [(at, FIXED_REACH_M) for at in self._fixed_pos]
        self._in_view = []
        for v, vehicle in enumerate(self._vehicles):
            here = vehicle.position(net)
            for c, (there, reach) in enumerate(cameras):
                if _distance_m(here, there) <= reach and now - self._last_read.get((v, c), -PASS_S) >= PASS_S:
                    self._in_view.append((v, c))

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
        self._advance(now)
        self._seq += 1
        state: str | None = "CA"
        if self._in_view and rng.random() < self.hit_rate:
            vehicle, camera = self._in_view.pop(rng.randrange(len(self._in_view)))
            self.last_listed = True
            self._last_read[(vehicle, camera)] = self._clock or 0.0
            plate, state = self.listed[vehicle]
            if rng.random() < _MISREAD_RATE:
                plate = self._misread(plate)
        else:
            self.last_listed = False
            if self.fixed and (not self._units or rng.random() < _FIXED_SHARE):
                camera = len(self._units) + rng.randrange(len(self.fixed))
            else:
                camera = rng.randrange(len(self._units))
            plate = self._random_plate()
        camera_id, lat, lon = self._camera_at(camera)
        read: dict[str, Any] = {
            "read_id": f"sim-{self.seed}-{self._seq:09d}",
            "camera_id": camera_id,
            "captured_at": now.isoformat(),
            "plate": plate,
            "plate_state": state,
            "confidence": round(rng.uniform(0.6, 0.99), 3),
        }
        if rng.random() >= self.unplaced_rate:
            read["lat"], read["lon"] = round(lat, 6), round(lon, 6)
        return read


#: With an image store, one passing read in this many gets images (every listed vehicle's read does).
PICTURED_EVERY = 20


async def run_feed(
    producer: ReadProducer,
    feed: CameraFeed,
    rate: float,
    duration: float | None,
    images: ImageStore | None = None,
) -> int:
    """Send reads at ``rate`` per second for ``duration`` seconds (None: until cancelled).

    With ``images``, the reads of listed vehicles (those that can alert) and one passing read in
    :data:`PICTURED_EVERY` carry a rendered plate crop and overview (streams/images/render.py), so
    the demo has images to verify against (P7) at a rate the disk keeps up with. They are stored
    once the producer has taken the read: a read dropped in an exclusion zone (P24) or too late to
    be kept (P11) never has its images written."""
    started = time.monotonic()
    sent = 0
    tick = 0.05
    while duration is None or time.monotonic() - started < duration:
        due = int((time.monotonic() - started + tick) * rate) - sent
        now = datetime.now(UTC)
        for _ in range(max(0, due)):
            read = feed.next_read(now)
            pictured = images is not None and (feed.last_listed or sent % PICTURED_EVERY == 0)
            if pictured:
                read["image_ref"] = image_ref(read["read_id"], now)
            taken = await producer.send(read)
            if images is not None and pictured and not (taken.done() and taken.exception() is not None):
                await store_rendered(images, read)
            sent += 1
        await asyncio.sleep(tick)
    await producer.flush()
    return sent
