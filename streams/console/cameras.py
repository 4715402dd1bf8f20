"""The camera registry in the console (issue 9, item 1): the ``/cameras`` page and its JSON API.

Administrators only (P21): the console's guard refuses ``/api/cameras`` to every other role, and the
page answers them 403 saying why. Every change goes through :class:`CameraStore`, exactly as
``alpr camera add|update|retire`` does: the same checks, the same P24 refusal naming the site and its
distance, the same audit record; a refused change writes nothing.

* ``GET /api/cameras``: ``{"cameras": [...], "invalid": {...}, "agencies": [...]}``, retired ones too;
  each camera's ``suspended`` says why it is suspended (``suspended (P24: faces <site>)``: a fixed
  camera facing a site of the current sensitive sites, its reads refused until it is moved), or is
  null; the page lists the suspended cameras above the table;
* ``POST /api/cameras`` (a camera): 201 ``{"camera", "ingest_key"}``, the camera's first ingest key
  (shown once, as the CLI prints it); 409 for a P24 refusal, 400 bad input, 404 unknown agency;
* ``POST /api/cameras/{id}`` (the fields to change): ``{"camera", "changes", "reinstated"}``; a move
  is checked against the sensitive sites again (P24), and ``reinstated`` is true when it ends a
  suspension;
* ``POST /api/cameras/{id}/retire`` ``{}``: ``{"camera"}``.

Requests are JSON (the guard refuses anything else, so a cross-site form cannot send them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib import resources
from typing import Any, cast

from aiohttp import web

from streams.access.directory import DirectoryStore
from streams.access.permissions import may
from streams.access.principal import Principal
from streams.cameras.keys import CameraKeyStore
from streams.cameras.registry import (
    CHANGEABLE,
    Camera,
    CameraStore,
    camera_to_dict,
    changes_between,
    sensitive_sites,
    status_of,
    suspended_for,
)
from streams.console.http import (
    date_field,
    forbidden_page,
    json_object,
    number_field,
    refused,
    reply,
    text_field,
)
from streams.errors import BrokerError, ConfigError, InvalidRecord, NotFound, PolicyViolation
from streams.settings import Settings

__all__ = ["camera_from_json", "camera_routes", "changes_from_json", "register_camera"]

log = logging.getLogger("alpr.access")
#: The role permission the registry needs (P21).
PERMISSION = "camera.admin"


def camera_from_json(body: Mapping[str, Any]) -> Camera:
    """The camera a request asks to register; :func:`streams.cameras.registry.register` checks it."""
    return Camera(
        id=text_field(body, "id") or "",
        name=text_field(body, "name") or "",
        agency=text_field(body, "agency") or "",
        kind=cast(Any, text_field(body, "kind")),  # check_camera names a kind that is not fixed or mobile
        lat=number_field(body, "lat"),
        lon=number_field(body, "lon"),
        facing_deg=number_field(body, "facing_deg", required=False),
        install_date=date_field(body, "install_date"),
    )


def changes_from_json(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of :data:`CHANGEABLE` a request gives, typed; an unknown field is refused."""
    unknown = sorted(set(body) - set(CHANGEABLE))
    if unknown:
        raise ConfigError(f"{', '.join(unknown)} cannot be changed: give {', '.join(CHANGEABLE)}")
    changes: dict[str, Any] = {}
    for name in ("name", "agency"):
        if name in body:
            changes[name] = text_field(body, name)
    for name in ("lat", "lon", "facing_deg"):
        if name in body:
            changes[name] = number_field(body, name)
    if "install_date" in body:
        changes["install_date"] = date_field(body, "install_date")
    if not changes:
        raise ConfigError(f"nothing to change: give one of {', '.join(CHANGEABLE)}")
    return changes


async def register_camera(
    settings: Settings, camera: Camera, by: Principal, now: datetime
) -> tuple[Camera, str]:
    """Register the camera as ``alpr camera add`` does: with its first ingest key
    (:mod:`streams.cameras.keys`), the same P24 check and the same audit record. The key is returned
    to be shown once; only its hash is stored."""
    added, issued = await CameraKeyStore(settings).add_camera(camera, by, now)
    return added, issued.key


def camera_routes(
    settings: Settings,
    clock: Callable[[], datetime],
    user_of: Callable[[web.Request], Principal],
) -> list[web.RouteDef]:
    """The page and the API; ``user_of`` gives the signed-in user the console's guard found."""

    def cameras() -> CameraStore:
        return CameraStore(settings)

    static = resources.files("streams.console").joinpath("static")

    async def page(request: web.Request) -> web.Response:
        user = user_of(request)
        if not may(user, PERMISSION):
            return forbidden_page(user, "administer cameras (the camera registry is for administrators)")
        return web.Response(
            text=static.joinpath("cameras.html").read_text(encoding="utf-8"), content_type="text/html"
        )

    async def listing(request: web.Request) -> web.Response:
        user = user_of(request)
        if not may(user, "camera.view"):  # P21: administrators, analysts, auditors
            return reply({"error": f"P21: the {user.role} role may not camera.view"}, 403)
        try:
            registry = await cameras().load()
            directory = await DirectoryStore(settings).load()
            sites = sensitive_sites(settings) if settings.sensitive_sites is not None else ()
        except (BrokerError, InvalidRecord) as exc:
            return refused(exc)
        distance = settings.sensitive_site_distance_m

        def shown(camera: Camera) -> dict[str, Any]:
            faced = suspended_for(camera, sites, distance)
            return {**camera_to_dict(camera), "suspended": status_of(camera, faced) if faced else None}

        return reply(
            {
                "cameras": [shown(c) for c in registry.listed(include_retired=True)],
                "invalid": dict(registry.invalid),
                "agencies": [
                    {"agency_id": a.agency_id, "name": a.name}
                    for a in sorted(directory.agencies.values(), key=lambda a: a.agency_id)
                ],
            }
        )

    async def add(request: web.Request) -> web.Response:
        user = user_of(request)
        try:
            camera = camera_from_json(await json_object(request))
            placed, key = await register_camera(settings, camera, user, clock())
        except (ConfigError, InvalidRecord, NotFound, PolicyViolation, BrokerError) as exc:
            log.info("camera add refused for %s: %s", user.name, exc)
            return refused(exc)
        log.info("camera %s added by %s (badge %s)", placed.id, user.name, user.badge)
        # The key is in this answer only (the page shows it once); it is never logged.
        return reply({"camera": camera_to_dict(placed), "ingest_key": key}, 201)

    async def change(request: web.Request) -> web.Response:
        user, camera_id = user_of(request), request.match_info["camera_id"]
        try:
            changes = changes_from_json(await json_object(request))
            store = cameras()
            sites = sensitive_sites(settings) if settings.sensitive_sites is not None else ()
            current = (await store.load()).cameras.get(camera_id)
            faced = suspended_for(current, sites, settings.sensitive_site_distance_m) if current else []
            before, after = await store.update(camera_id, changes, user, clock())
        except (ConfigError, InvalidRecord, NotFound, PolicyViolation, BrokerError) as exc:
            log.info("camera update of %s refused for %s: %s", camera_id, user.name, exc)
            return refused(exc)
        moved = any(getattr(before, f) != getattr(after, f) for f in ("lat", "lon", "facing_deg"))
        return reply(
            {
                "camera": camera_to_dict(after),
                "changes": changes_between(before, after),
                "reinstated": bool(faced) and moved,
            }
        )

    async def retire(request: web.Request) -> web.Response:
        user, camera_id = user_of(request), request.match_info["camera_id"]
        try:
            await json_object(request)
            retired = await cameras().retire(camera_id, user, clock())
        except (ConfigError, InvalidRecord, NotFound, PolicyViolation, BrokerError) as exc:
            log.info("camera retire of %s refused for %s: %s", camera_id, user.name, exc)
            return refused(exc)
        return reply({"camera": camera_to_dict(retired)})

    return [
        web.get("/cameras", page),
        web.get("/api/cameras", listing),
        web.post("/api/cameras", add),
        web.post("/api/cameras/{camera_id}", change),
        web.post("/api/cameras/{camera_id}/retire", retire),
    ]
