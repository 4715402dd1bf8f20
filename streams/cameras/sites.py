"""Sensitive sites and the camera placement rule (P24).

Sources: the Police Chief's memo of Feb. 9 2026, recommendation (a)(2), and the amended Data
Usage Protocol (seeds/000_96c03df950862753.txt): no ALPR camera "in positions that capture data
from vehicles entering or exiting any reproductive health care services facility primarily
providing abortion services or any location primarily used for religious observance"; the
Councilmembers' memo of Mar. 6 2026, item 1 (seeds/003_d098c280776c8759.txt): nor "the premises
of Consulate General offices or embassies".

Sites come from a GeoJSON FeatureCollection (RFC 7946, positions are [longitude, latitude]) of
Points and Polygons, each with a ``name`` and a ``category``. A fixed camera violates the rule
for a site when the site is within ``max_distance_m`` (default 150 m) and the camera faces it.

Geometry, and why it is accurate enough:

* Distances are great-circle distances on a sphere of radius 6,371,008.8 m (the IUGG mean Earth
  radius), by the haversine formula. Against the WGS84 ellipsoid this is off by at most about
  0.5 % (under 0.75 m at 150 m), far below how precisely a camera's position is known.
* A polygon's nearest point is found in a local equirectangular projection centred on the camera
  (x = R cos(lat0) dlon, y = R dlat, in metres). The projection is affine in longitude and
  latitude, so GeoJSON's edges, which RFC 7946 section 3.1.1 defines as straight lines in
  longitude/latitude, stay straight and the closest point of each edge is found exactly; only the
  plane's metric differs from the sphere's, by a relative tan(lat0) * dlat (about 2e-5, i.e.
  millimetres, at 150 m near San José). The distance reported is then the haversine distance from
  the camera to that point. The tests check both against independent formulas.
* "Facing": the initial great-circle bearing from the camera to the site's nearest point lies
  within ``facing_deg`` +/- ``field_of_view_deg``/2 (bounds included, wrapping at 0/360). For a
  polygon the camera also faces the site when any part of the site within the distance lies in
  that field of view: a camera looking along a site's frontage faces its driveway even when the
  site's nearest point is off to its side. A camera inside (or on the edge of) a polygon site
  always violates, whichever way it faces.

Exclusion zones (P24 for every camera, mobile ones included): a read captured inside a polygon
site, or within ``max_distance_m`` of any site in any direction, is inside the site's exclusion
zone and is never stored (:class:`ExclusionZones`). A moving camera has no facing to judge, so
the zone is a disk (or the polygon grown by the distance), not a field of view.

Everything here is pure except :func:`load_sites`, which reads a file, and :class:`SiteWatch`,
which re-reads it when it changes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, cast

from streams.errors import InvalidRecord, PolicyViolation

__all__ = [
    "CATEGORIES",
    "DEFAULT_FIELD_OF_VIEW_DEG",
    "DEFAULT_MAX_DISTANCE_M",
    "EARTH_RADIUS_M",
    "Category",
    "ExclusionZones",
    "Nearest",
    "Point",
    "Polygon",
    "Site",
    "SiteWatch",
    "SitesInvalid",
    "Violation",
    "excluded",
    "haversine_m",
    "initial_bearing_deg",
    "load_sites",
    "nearest_point",
    "off_axis_deg",
    "parse_sites",
    "refusal",
    "violations",
]

log = logging.getLogger(__name__)

#: IUGG mean Earth radius R1, metres.
EARTH_RADIUS_M = 6_371_008.8
DEFAULT_MAX_DISTANCE_M = 150.0
DEFAULT_FIELD_OF_VIEW_DEG = 90.0
#: A camera this close to a polygon's edge is on it, i.e. at the site.
ON_EDGE_M = 0.001

Category = Literal["reproductive_health_care", "religious_observance", "consulate_or_embassy"]
CATEGORIES: dict[str, str] = {
    "reproductive_health_care": "reproductive health care facility",
    "religious_observance": "place of religious observance",
    "consulate_or_embassy": "consulate or embassy",
}

Position = tuple[float, float]  # (longitude, latitude), GeoJSON order
XY = tuple[float, float]  # metres east, metres north of the camera


@dataclass(frozen=True, slots=True)
class Point:
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Polygon:
    """The outer ring, then any holes; each ring closed (first position == last), (lon, lat)."""

    rings: tuple[tuple[Position, ...], ...]


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    category: Category
    geometry: Point | Polygon

    @property
    def label(self) -> str:
        return CATEGORIES[self.category]


@dataclass(frozen=True, slots=True)
class Nearest:
    """The site's point nearest the camera; ``bearing_deg`` is None when the camera is at the site."""

    lat: float
    lon: float
    distance_m: float
    bearing_deg: float | None
    inside: bool = False


@dataclass(frozen=True, slots=True)
class Violation:
    site: Site
    distance_m: float
    bearing_deg: float | None  # to the site's nearest point; None when the camera is at the site
    inside: bool  # the camera stands inside (or on the edge of) a polygon site

    def describe(self, camera_id: str) -> str:
        where = f"{self.site.name} ({self.site.label})"
        if self.inside:
            return f"camera {camera_id} would be inside {where}"
        if self.bearing_deg is None:
            return f"camera {camera_id} would be at {where}"
        return f"camera {camera_id} would be {self.distance_m:.0f} m from {where}, facing it"


class SitesInvalid(InvalidRecord):
    """A sensitive-sites file that cannot be used; ``problems`` names each bad feature."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            "sensitive_sites", f"sensitive sites {source} refused ({len(problems)} problem(s)):\n{lines}"
        )
        self.problems = tuple(problems)


# -- the sphere ---------------------------------------------------------------------------------


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two (lat, lon) points in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def initial_bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Compass bearing in [0, 360) of the great circle from point 1 towards point 2."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    bearing = math.degrees(math.atan2(y, x)) % 360.0
    return 0.0 if bearing >= 360.0 else bearing


def off_axis_deg(bearing: float, facing: float) -> float:
    """How far (0-180 degrees) a bearing lies from the direction faced, across 0/360."""
    return abs((bearing - facing + 180.0) % 360.0 - 180.0)


def _check_camera(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon)) or not -90.0 < lat < 90.0 or not -180 <= lon <= 180:
        raise ValueError(f"camera position lat={lat}, lon={lon} is not a latitude and longitude")


# -- the camera's plane -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plane:
    """Local equirectangular projection centred on the camera (metres east, metres north)."""

    lat0: float
    lon0: float
    kx: float  # metres per degree of longitude at lat0
    ky: float  # metres per degree of latitude

    @classmethod
    def at(cls, lat: float, lon: float) -> _Plane:
        k = EARTH_RADIUS_M * math.pi / 180.0
        return cls(lat, lon, k * math.cos(math.radians(lat)), k)

    def xy(self, pos: Position) -> XY:
        dlon = (pos[0] - self.lon0 + 180.0) % 360.0 - 180.0
        return dlon * self.kx, (pos[1] - self.lat0) * self.ky

    def lonlat(self, p: XY) -> Position:
        return self.lon0 + p[0] / self.kx, self.lat0 + p[1] / self.ky


def _closest_to_origin(a: XY, b: XY) -> XY:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(a[0] * dx + a[1] * dy) / length2))
    return a[0] + t * dx, a[1] + t * dy


def _contains_origin(rings: Sequence[Sequence[XY]]) -> bool:
    """Even-odd rule over every ring, so a point in a hole is outside."""
    inside = False
    for ring in rings:
        for a, b in pairwise(ring):
            if (a[1] > 0) != (b[1] > 0):
                x = a[0] + (0 - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
                if x > 0:
                    inside = not inside
    return inside


def _orient(a: XY, b: XY, c: XY) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _within_box(a: XY, b: XY, c: XY) -> bool:
    return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])


def _segments_meet(p1: XY, p2: XY, q1: XY, q2: XY) -> bool:
    """Do segments p1p2 and q1q2 share a point (touching counts)?"""
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and _within_box(q1, q2, p1))
        or (d2 == 0 and _within_box(q1, q2, p2))
        or (d3 == 0 and _within_box(p1, p2, q1))
        or (d4 == 0 and _within_box(p1, p2, q2))
    )


def _plane_bearing(p: XY) -> float:
    return math.degrees(math.atan2(p[0], p[1])) % 360.0


def _in_view(p: XY, radius: float, facing: float, half: float) -> bool:
    d = math.hypot(*p)
    return d <= radius and (d == 0 or off_axis_deg(_plane_bearing(p), facing) <= half)


def _sector_meets_segment(a: XY, b: XY, radius: float, facing: float, half: float) -> bool:
    """Does segment ab reach into the camera's field of view (a sector of the disk)?

    A segment entering the sector either has an end inside it or crosses its boundary: one of the
    two edge rays or the arc.
    """
    if _in_view(a, radius, facing, half) or _in_view(b, radius, facing, half):
        return True
    for side in (facing - half, facing + half):
        end = (radius * math.sin(math.radians(side)), radius * math.cos(math.radians(side)))
        if _segments_meet((0.0, 0.0), end, a, b):
            return True
    dx, dy = b[0] - a[0], b[1] - a[1]
    qa = dx * dx + dy * dy
    qb = 2 * (a[0] * dx + a[1] * dy)
    qc = a[0] ** 2 + a[1] ** 2 - radius**2
    disc = qb * qb - 4 * qa * qc
    if qa == 0 or disc < 0:
        return False
    for t in ((-qb - math.sqrt(disc)) / (2 * qa), (-qb + math.sqrt(disc)) / (2 * qa)):
        if 0.0 <= t <= 1.0 and off_axis_deg(_plane_bearing((a[0] + t * dx, a[1] + t * dy)), facing) <= half:
            return True
    return False


# -- the rule -----------------------------------------------------------------------------------


def nearest_point(camera_lat: float, camera_lon: float, site: Site) -> Nearest:
    """The site's point nearest the camera, its distance on the sphere and the bearing to it."""
    geom = site.geometry
    if isinstance(geom, Point):
        d = haversine_m(camera_lat, camera_lon, geom.lat, geom.lon)
        bearing = None if d == 0 else initial_bearing_deg(camera_lat, camera_lon, geom.lat, geom.lon)
        return Nearest(geom.lat, geom.lon, d, bearing)
    plane = _Plane.at(camera_lat, camera_lon)
    rings = [[plane.xy(pos) for pos in ring] for ring in geom.rings]
    best, best_d2 = (math.inf, math.inf), math.inf
    for ring in rings:
        for a, b in pairwise(ring):
            q = _closest_to_origin(a, b)
            d2 = q[0] ** 2 + q[1] ** 2
            if d2 < best_d2:
                best, best_d2 = q, d2
    if _contains_origin(rings) or best_d2 <= ON_EDGE_M**2:
        return Nearest(camera_lat, camera_lon, 0.0, None, inside=True)
    lon, lat = plane.lonlat(best)
    return Nearest(
        lat,
        lon,
        haversine_m(camera_lat, camera_lon, lat, lon),
        initial_bearing_deg(camera_lat, camera_lon, lat, lon),
    )


def _faces(
    camera_lat: float, camera_lon: float, site: Site, near: Nearest, facing: float, half: float, radius: float
) -> bool:
    if near.bearing_deg is None or off_axis_deg(near.bearing_deg, facing) <= half:
        return True
    if isinstance(site.geometry, Point):
        return False
    plane = _Plane.at(camera_lat, camera_lon)
    for ring in site.geometry.rings:
        for a, b in pairwise(plane.xy(pos) for pos in ring):
            if _sector_meets_segment(a, b, radius, facing, half):
                return True
    return False


def violations(
    camera_lat: float,
    camera_lon: float,
    facing_deg: float,
    sites: Iterable[Site],
    max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    field_of_view_deg: float = DEFAULT_FIELD_OF_VIEW_DEG,
) -> list[Violation]:
    """Every site within ``max_distance_m`` that a camera here, facing ``facing_deg``, faces (P24).

    Nearest first. An empty list means the position is allowed.
    """
    _check_camera(camera_lat, camera_lon)
    if not math.isfinite(facing_deg):
        raise ValueError(f"facing {facing_deg} is not a compass bearing in degrees")
    if not 0 < field_of_view_deg <= 360:
        raise ValueError(f"field of view {field_of_view_deg} must lie in (0, 360] degrees")
    if not max_distance_m > 0:
        raise ValueError(f"distance {max_distance_m} must be a positive number of metres")
    facing, half = facing_deg % 360.0, field_of_view_deg / 2
    found = []
    for site in sites:
        near = nearest_point(camera_lat, camera_lon, site)
        if near.distance_m > max_distance_m:
            continue
        if _faces(camera_lat, camera_lon, site, near, facing, half, max_distance_m):
            found.append(Violation(site, near.distance_m, near.bearing_deg, near.inside))
    return sorted(found, key=lambda v: v.distance_m)


def excluded(lat: float, lon: float, sites: Iterable[Site], max_distance_m: float) -> Site | None:
    """The nearest site in whose exclusion zone (lat, lon) lies, whatever the direction (P24): inside
    a polygon site, or within ``max_distance_m`` of the site; None when the position is outside
    every zone or is not a position at all (a read's schema check refuses those)."""
    if not (math.isfinite(lat) and math.isfinite(lon) and -90.0 < lat < 90.0 and -180 <= lon <= 180):
        return None
    best: tuple[float, Site] | None = None
    for site in sites:
        d = nearest_point(lat, lon, site).distance_m
        if d <= max_distance_m and (best is None or d < best[0]):
            best = (d, site)
    return None if best is None else best[1]


@dataclass(frozen=True, slots=True)
class _Box:
    south: float
    north: float
    west: float
    east: float

    def holds(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


def _box(site: Site, margin_m: float) -> _Box | None:
    """A latitude/longitude box holding the site's exclusion zone, grown by a 10 % margin; None
    (no shortcut: every position is measured) near the poles or the antimeridian."""
    geom = site.geometry
    positions = [(geom.lon, geom.lat)] if isinstance(geom, Point) else [p for r in geom.rings for p in r]
    lats, lons = [p[1] for p in positions], [p[0] for p in positions]
    dlat = math.degrees(1.1 * margin_m / EARTH_RADIUS_M)
    south, north = min(lats) - dlat, max(lats) + dlat
    if north >= 89.0 or south <= -89.0:
        return None
    dlon = dlat / math.cos(math.radians(max(abs(south), abs(north))))
    west, east = min(lons) - dlon, max(lons) + dlon
    if west < -180.0 or east > 180.0 or max(lons) - min(lons) > 180.0:
        return None
    return _Box(south, north, west, east)


class ExclusionZones:
    """The sites' exclusion zones, checked fast enough for every read: a position outside a site's
    bounding box is not measured (most reads are far from every site)."""

    def __init__(self, sites: Sequence[Site], max_distance_m: float = DEFAULT_MAX_DISTANCE_M) -> None:
        if not max_distance_m > 0:
            raise ValueError(f"distance {max_distance_m} must be a positive number of metres")
        self.sites = tuple(sites)
        self.max_distance_m = max_distance_m
        self._boxes = [(_box(site, max_distance_m), site) for site in self.sites]

    def __len__(self) -> int:
        return len(self.sites)

    def excluded(self, lat: float, lon: float) -> Site | None:
        """As :func:`excluded`, for these sites and distance."""
        near = [s for box, s in self._boxes if box is None or box.holds(lat, lon)]
        return excluded(lat, lon, near, self.max_distance_m) if near else None


class SiteWatch:
    """The sites of a GeoJSON file as it is now: re-read when the file changes (``alpr camera sites
    add`` replaces it at once), looked at no more than every ``every_s`` seconds. A file that becomes
    unusable is reported in the log and the last good sites stay in force: a broken edit must not
    lift the exclusion zones (P24)."""

    def __init__(
        self,
        path: Path,
        max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
        every_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.every_s = every_s
        self.clock = clock
        self.max_distance_m = max_distance_m
        self._stamp: tuple[int, int, int] | None = None
        self._checked = -math.inf
        self.version = 0  # counts the site lists taken into use
        self._zones = ExclusionZones(load_sites(path), max_distance_m)
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def zones(self) -> ExclusionZones:
        """The exclusion zones of the file's current sites."""
        now = self.clock()
        if now - self._checked < self.every_s:
            return self._zones
        self._checked = now
        stamp = self._stat()
        if stamp == self._stamp:
            return self._zones
        self._stamp = stamp
        try:
            self._zones = ExclusionZones(load_sites(self.path), self.max_distance_m)
        except SitesInvalid as exc:
            log.error("the sensitive sites file changed but cannot be used; the previous sites stay: %s", exc)
            return self._zones
        self.version += 1
        log.info("sensitive sites reloaded: %d sites in %s", len(self._zones), self.path)
        return self._zones

    def sites(self) -> tuple[Site, ...]:
        return self.zones().sites


def refusal(camera_id: str, found: Sequence[Violation]) -> PolicyViolation:
    """The error that refuses a camera position, naming each site and its distance."""
    return PolicyViolation("P24", "; ".join(v.describe(camera_id) for v in found))


# -- GeoJSON ------------------------------------------------------------------------------------


def _position(raw: object, where: str, problems: list[str]) -> Position | None:
    if (
        not isinstance(raw, list)
        or len(raw) not in (2, 3)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
    ):
        problems.append(f"{where}: {raw!r} is not a position [longitude, latitude]")
        return None
    lon, lat = float(raw[0]), float(raw[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        problems.append(f"{where}: {raw!r} holds a value that is not a finite number")
        return None
    if not -90 <= lat <= 90:
        hint = " (GeoJSON puts longitude first: [lon, lat])" if -90 <= lon <= 90 else ""
        problems.append(f"{where}: latitude {lat} is outside -90..90{hint}")
        return None
    if not -180 <= lon <= 180:
        problems.append(f"{where}: longitude {lon} is outside -180..180")
        return None
    return lon, lat


def _ring_crosses_itself(ring: Sequence[Position]) -> bool:
    edges = list(pairwise(ring))
    n = len(edges)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # the first and last edges share the closing position
            if _segments_meet(*edges[i], *edges[j]):
                return True
    return False


def _ring(raw: object, where: str, problems: list[str]) -> tuple[Position, ...] | None:
    if not isinstance(raw, list):
        problems.append(f"{where}: a ring must be a list of positions")
        return None
    count = len(problems)
    positions = [_position(p, f"{where} position {k + 1}", problems) for k, p in enumerate(raw)]
    if len(problems) > count:
        return None
    ring: tuple[Position, ...] = ()
    for pos in positions:
        if pos is not None and (not ring or pos != ring[-1]):
            ring += (pos,)  # a position repeated in a row adds no corner
    if not ring:
        problems.append(f"{where}: the ring is empty")
        return None
    if ring[0] != ring[-1]:
        problems.append(
            f"{where}: the ring is not closed: it starts at {list(ring[0])} but ends at {list(ring[-1])}; "
            "repeat the first position at the end"
        )
        return None
    if len(ring) < 4:
        problems.append(f"{where}: a ring needs 3 or more distinct corners, then the first one repeated")
        return None
    if _ring_crosses_itself(ring):
        problems.append(f"{where}: the ring crosses itself")
        return None
    if sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise(ring)) == 0:
        problems.append(f"{where}: the ring encloses no area (its corners lie on one line)")
        return None
    return ring


def _geometry(raw: object, where: str, problems: list[str]) -> Point | Polygon | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: missing geometry (a GeoJSON Point or Polygon)")
        return None
    kind, coords = raw.get("type"), raw.get("coordinates")
    if kind == "Point":
        pos = _position(coords, f"{where} Point", problems)
        return None if pos is None else Point(lon=pos[0], lat=pos[1])
    if kind == "Polygon":
        if not isinstance(coords, list) or not coords:
            problems.append(f"{where}: Polygon coordinates must be a list of rings (the outer ring first)")
            return None
        rings = [_ring(r, f"{where} Polygon ring {k + 1}", problems) for k, r in enumerate(coords)]
        if any(r is None for r in rings):
            return None
        return Polygon(tuple(r for r in rings if r is not None))
    problems.append(f"{where}: geometry type {kind!r} is not supported: use a Point or a Polygon")
    return None


def _site(raw: object, number: int, problems: list[str]) -> Site | None:
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        problems.append(f"feature {number}: not a GeoJSON Feature")
        return None
    props = raw.get("properties")
    props = props if isinstance(props, dict) else {}
    ident = raw.get("id", props.get("id"))
    where = f"feature {number}" + (f" ({ident!r})" if ident is not None else "")
    count = len(problems)
    if not isinstance(ident, str | int) or isinstance(ident, bool) or str(ident).strip() == "":
        problems.append(f"{where}: needs an id (the Feature's id, or properties.id)")
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: needs properties.name, the site's name")
    category = props.get("category")
    if category not in CATEGORIES:
        problems.append(f"{where}: unknown category {category!r}: use one of {', '.join(CATEGORIES)}")
    geometry = _geometry(raw.get("geometry"), where, problems)
    if len(problems) > count or geometry is None:
        return None
    return Site(str(ident).strip(), str(name).strip(), cast(Category, category), geometry)


def parse_sites(doc: object, source: str = "<sites>") -> tuple[Site, ...]:
    """Sites from a parsed GeoJSON FeatureCollection; every bad feature is named in one error."""
    if not isinstance(doc, Mapping) or doc.get("type") != "FeatureCollection":
        raise SitesInvalid(source, ["not a GeoJSON FeatureCollection"])
    features = doc.get("features")
    if not isinstance(features, list):
        raise SitesInvalid(source, ["the FeatureCollection has no list of features"])
    problems: list[str] = []
    sites: list[Site] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(features, 1):
        site = _site(raw, number, problems)
        if site is None:
            continue
        if site.id in seen:
            problems.append(f"feature {number}: id {site.id!r} repeats feature {seen[site.id]}")
            continue
        seen[site.id] = number
        sites.append(site)
    if problems:
        raise SitesInvalid(source, problems)
    return tuple(sites)


def _read_document(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SitesInvalid(str(path), [f"no such file: {path}"]) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SitesInvalid(str(path), [f"not valid JSON: {exc}"]) from exc


def load_sites(path: Path) -> tuple[Site, ...]:
    """Read a GeoJSON file of sensitive sites."""
    return parse_sites(_read_document(path), str(path))


# -- maintaining the sites file (alpr camera sites add|remove) ---------------------------------------


def point_feature(site_id: str, name: str, category: str, lat: float, lon: float) -> dict[str, object]:
    """A Point site as a GeoJSON Feature (coordinates are [lon, lat])."""
    return {
        "type": "Feature",
        "id": site_id,
        "properties": {"name": name, "category": category},
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def _document(path: Path) -> tuple[dict[str, object], tuple[Site, ...]]:
    """The sites file's document and its sites: it must be valid as it is before it is changed."""
    doc = _read_document(path)
    return doc, parse_sites(doc, str(path))


def with_site(path: Path, feature: Mapping[str, object]) -> tuple[dict[str, object], Site, tuple[Site, ...]]:
    """The sites file's document with ``feature`` added, the new site, and all sites; a feature
    that is not a valid site, or whose id is taken, is refused naming why (nothing is written)."""
    doc, _sites = _document(path)
    features = cast(list[object], doc["features"])
    proposed = {**doc, "features": [*features, dict(feature)]}
    sites = parse_sites(proposed, f"{path} with the new site")
    return proposed, sites[-1], sites


def without_site(path: Path, site_id: str) -> tuple[dict[str, object], Site, tuple[Site, ...]]:
    """The sites file's document without the site ``site_id``, the site removed, the sites left."""
    doc, sites = _document(path)
    removed = next((s for s in sites if s.id == site_id), None)
    if removed is None:
        raise SitesInvalid(str(path), [f"no site {site_id!r} (ids: {', '.join(s.id for s in sites)})"])
    features = cast(list[object], doc["features"])
    kept = [f for f, s in zip(features, sites, strict=True) if s.id != site_id]
    proposed = {**doc, "features": kept}
    return proposed, removed, tuple(s for s in sites if s.id != site_id)


def write_sites(path: Path, doc: Mapping[str, object]) -> None:
    """Replace the sites file at once (write beside it, then rename): a reader never sees half."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    temporary.replace(path)
