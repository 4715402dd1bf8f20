"""The alert's map (issue 18, item 2): where the read's camera stands and the trail of sightings,
with the direction of travel, drawn on the agency's own map tiles or on a plain background.

A tile server learns which tiles a page asks for, that is, where officers are looking. So there is
no default tile server: the agency configures its own (``ALPR_MAP_TILES``, usually its GIS server),
and the console's Content-Security-Policy lets pages load images from that one origin besides the
console itself. Without it the page asks no one and draws the markers on a plain background.

* :func:`alert_map`: the ``map`` field of the alert detail (streams.console.views): the camera, the
  trail in capture order with the heading between successive points (computed here, once), and how
  many points have no position;
* :func:`content_security_policy`: the console's policy, ``img-src`` naming the tile origin;
* :func:`map_routes`: ``GET /api/map-config`` (who may view alerts, P21): the tile template and
  attribution the page draws with. It carries no plate data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from streams.access.permissions import require
from streams.access.principal import Principal
from streams.alerts.lifecycle import AlertState
from streams.cameras.registry import Camera
from streams.cameras.sites import haversine_m, initial_bearing_deg
from streams.settings import Settings

__all__ = [
    "alert_map",
    "compass",
    "content_security_policy",
    "map_routes",
    "tile_origin",
]

_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
#: Two points closer than this are one place: no heading is drawn between them.
SAME_PLACE_M = 1.0
#: Tiles are 256 px squares; zoom stops at 19 (street level on common XYZ servers).
TILE_SIZE, MAX_ZOOM = 256, 19


def compass(deg: float) -> str:
    """A bearing as a dispatcher says it: one of the eight compass points."""
    return _COMPASS[round(deg / 45.0) % 8]


def _camera(camera_id: str, cameras: Mapping[str, Camera], label: Callable[[str], str]) -> dict[str, Any]:
    camera = cameras.get(camera_id)
    if camera is None:  # not in the registry (or retired and tombstoned): named by its id, not drawn
        return {"id": camera_id, "name": None, "label": label(camera_id), "registered": False,
                "kind": None, "lat": None, "lon": None, "facing_deg": None}  # fmt: skip
    return {
        "id": camera_id,
        "name": camera.name,
        "label": label(camera_id),
        "registered": True,
        "kind": camera.kind,
        # a mobile camera's registered position is where it is based, not where it read: the page
        # draws only a fixed camera's
        "lat": camera.lat,
        "lon": camera.lon,
        "facing_deg": camera.facing_deg,
    }


def alert_map(
    state: AlertState, cameras: Mapping[str, Camera], label: Callable[[str], str]
) -> dict[str, Any]:
    """The alert's map: the read's camera and the trail (the read, then every sighting, in capture
    order), numbered from 1, each point with its camera's name and, from the second on, the
    heading and distance from the point before; the latest is marked ``last``. Captures whose read
    had no position are left off the trail and counted in ``skipped``; when the latest is one of
    them, no point is marked last and ``last_unplaced`` names its camera and time instead. No
    plate: the detail shows the plates once, as today."""
    read = state.raised.read
    captures: list[tuple[datetime, int, str, str, float | None, float | None]] = [
        (read.captured_at, 0, "read", read.camera_id, read.lat, read.lon)
    ]
    for n, seen in enumerate(state.sightings, start=1):
        at = seen.captured_at if seen.captured_at is not None else seen.at
        captures.append((at, n, "sighting", seen.camera_id, seen.lat, seen.lon))
    trail: list[dict[str, Any]] = []
    skipped = 0
    unplaced_last: dict[str, str] | None = None  # the latest capture, when it had no position
    for at, _order, kind, camera_id, lat, lon in sorted(captures, key=lambda c: (c[0], c[1])):
        if lat is None or lon is None:
            skipped += 1  # "position unknown": never drawn at 0, 0
            unplaced_last = {"camera": label(camera_id), "captured_at": at.isoformat()}
            continue
        unplaced_last = None
        point: dict[str, Any] = {
            "n": len(trail) + 1,
            "kind": kind,
            "camera_id": camera_id,
            "camera": label(camera_id),
            "captured_at": at.isoformat(),
            "lat": lat,
            "lon": lon,
            "heading_deg": None,
            "heading": None,
            "distance_m": None,
            "last": False,
        }
        if trail:
            before = trail[-1]
            moved = haversine_m(before["lat"], before["lon"], lat, lon)
            point["distance_m"] = round(moved)
            if moved >= SAME_PLACE_M:
                heading = initial_bearing_deg(before["lat"], before["lon"], lat, lon)
                point["heading_deg"] = round(heading, 1)
                point["heading"] = compass(heading)
        trail.append(point)
    if trail and unplaced_last is None:
        trail[-1]["last"] = True  # the latest capture: where the vehicle was seen last
    unplaced = None
    if skipped:
        unplaced = f"{skipped} capture{'s' if skipped > 1 else ''} with position unknown not shown on the map"
    return {
        "camera": _camera(read.camera_id, cameras, label),
        "trail": trail,
        "skipped": skipped,
        "skipped_text": unplaced,
        "last_unplaced": unplaced_last,  # seen last where no position was reported: no marker says "last"
    }


def tile_origin(template: str) -> str:
    """The origin (scheme, host, port) the tile template loads from: what ``img-src`` allows."""
    parts = urlsplit(template)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = "" if parts.port is None else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


def content_security_policy(tiles: str | None) -> str:
    """Everything from the console itself; images also from the agency's tile server when one is
    configured, and from nowhere else (a tile request says where officers look)."""
    images = "'self'" if tiles is None else f"'self' {tile_origin(tiles)}"
    return f"default-src 'self'; img-src {images}; frame-ancestors 'none'; form-action 'self'"


def map_routes(settings: Settings, principal_of: Callable[[web.Request], Principal]) -> list[web.RouteDef]:
    """``GET /api/map-config``: the tile template (null: none configured) and its attribution,
    for people who may view alerts (P21); the console's guard has already required a session."""

    async def map_config(request: web.Request) -> web.Response:
        require(principal_of(request), "alert.view")
        body = {
            "tiles": settings.map_tiles,
            "attribution": settings.map_attribution,
            "tile_size": TILE_SIZE,
            "max_zoom": MAX_ZOOM,
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    return [web.get("/api/map-config", map_config)]
