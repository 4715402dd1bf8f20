"""The camera registry (issue 9, item 1), and where a fixed camera may stand (P24).

Each camera is one record on the compacted ``cameras`` topic, keyed by its id and holding its whole
current state: compaction keeps only a key's newest record, so no record may depend on an earlier
one. Retiring a camera rewrites its record with status ``retired`` instead of deleting it, so that
a read from a retired camera can be told from one from a camera that was never registered.

Changes are made by administrators (P21). As in the directory, the record is written first and the
change then goes to the audit trail; a refused command writes nothing.

P24: registering a *fixed* camera, or giving one a new position or facing, within
``ALPR_SENSITIVE_SITE_DISTANCE_M`` (default 150 m) of a sensitive site, facing it, is refused with
:func:`streams.cameras.sites.refusal`'s message. A *mobile* camera has no standing direction; its
lat/lon is where it is based, and a base inside a site's exclusion zone (any direction) is refused;
where it drives is judged read by read: a read captured inside an exclusion zone is never stored
(:class:`streams.cameras.sites.ExclusionZones`, at the ingest, the producer and the worker).

Suspension (P24 after a site-list change): an active fixed camera that faces a site of the *current*
sites file is **suspended**, a state distinct from retired: its reads are refused
(``camera_suspended``) without keeping the plate. The state is derived from the camera record and
the sites file, never stored apart from them, so it cannot drift from the sites, however the file
was changed (``alpr camera sites add``, or a file put in place by hand). ``alpr camera sites add``
audits one ``camera_suspend`` record per camera it suspends, by the administrator who added the
site, and names each. Moving the camera (``alpr camera update`` with a position and facing that
pass) reinstates it, audited as ``camera_reinstate``. Removing a site would reinstate the cameras
it suspended: ``alpr camera sites remove`` refuses unless given ``--reinstate`` naming that
decision, and then audits one ``camera_reinstate`` record per camera, so no camera comes back
silently. Renaming a camera or changing its agency does not move it and is not checked.

The sites are read from the GeoJSON file named by ``ALPR_SENSITIVE_SITES``. With none configured no
fixed camera can be placed (an agency without sensitive sites says so with an empty
FeatureCollection), so the rule cannot be skipped by leaving the setting out.

Everything but :func:`sensitive_sites` and :class:`CameraStore` is pure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import fastjsonschema

from streams.access.audit import AccessRecorded, record_access, write_audited
from streams.access.directory import DirectoryStore
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.cameras.ids import camera_id_problem
from streams.cameras.sites import (
    Site,
    SiteWatch,
    Violation,
    excluded,
    load_sites,
    refusal,
    violations,
    with_site,
    without_site,
    write_sites,
)
from streams.codec import dumps, loads, validator
from streams.errors import ConfigError, InvalidRecord, NotFound, PolicyViolation
from streams.kafka.log import fold_latest, read_latest
from streams.settings import Settings

__all__ = [
    "CHANGEABLE",
    "Camera",
    "CameraRegistry",
    "CameraStore",
    "SiteEdit",
    "SiteSource",
    "SitesChanged",
    "add_site",
    "camera_problems",
    "camera_to_dict",
    "changes_between",
    "check_camera",
    "decode_camera",
    "encode_camera",
    "fold",
    "placement_violations",
    "register",
    "remove_site",
    "retire",
    "sensitive_sites",
    "sites_file",
    "site_change",
    "site_watch",
    "sites_changed",
    "standing_line",
    "status_of",
    "suspended_for",
    "update",
    "violating",
]

Kind = Literal["fixed", "mobile"]
Status = Literal["active", "retired"]
KINDS = ("fixed", "mobile")
STATUSES = ("active", "retired")
MAX_NAME = 128
MAX_AGENCY = 64
#: What ``alpr camera update`` may change. Not the kind: a fixed camera turned mobile would leave
#: the sensitive-site rule, so a camera that changes kind is retired and registered anew.
CHANGEABLE = ("name", "agency", "lat", "lon", "facing_deg", "install_date")
#: A change to any of these moves the camera: P24 is checked again.
PLACEMENT = ("lat", "lon", "facing_deg")
#: The audit trail's purpose of every registry change.
PURPOSE = "camera registry"

#: The sensitive sites, asked for only when a fixed camera is placed.
SiteSource = Callable[[], Sequence[Site]]


@dataclass(frozen=True, slots=True)
class Camera:
    id: str
    name: str
    agency: str  # the operating agency's id in the agencies topic
    kind: Kind
    lat: float
    lon: float
    facing_deg: float | None = None  # compass bearing it looks along; required when fixed
    install_date: date | None = None  # None: not known
    status: Status = "active"
    retired_on: date | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def line(self, suspended: Sequence[Violation] = ()) -> str:
        """One row of ``alpr camera list``; ``suspended``: the sites it faces now (P24)."""
        facing = "-" if self.facing_deg is None else f"{self.facing_deg:g}"
        installed = self.install_date.isoformat() if self.install_date else "-"
        state = status_of(self, suspended)
        return (
            f"{self.id:<16} {self.kind:<6} {self.lat:>10.5f} {self.lon:>11.5f} {facing:>6} "
            f"{installed:<10} {self.agency:<10} {state:<18} {self.name}"
        )


# -- validation and the wire ----------------------------------------------------------------------


def camera_problems(camera: Camera) -> list[str]:
    """Everything wrong with a camera record, each saying what to give instead; empty when valid."""
    found: list[str] = []
    id_problem = camera_id_problem(camera.id)  # the one grammar, as the reads and the ingest use it
    if id_problem is not None:
        found.append(id_problem)
    if not isinstance(camera.name, str) or not camera.name.strip() or len(camera.name) > MAX_NAME:
        found.append(f"name: say where the camera is in 1-{MAX_NAME} characters")
    if not isinstance(camera.agency, str) or not camera.agency.strip() or len(camera.agency) > MAX_AGENCY:
        found.append("agency: give the id of the agency that operates the camera")
    if camera.kind not in KINDS:
        found.append(f"kind {camera.kind!r}: use fixed or mobile")
    lat_ok = _number(camera.lat) and -90 < camera.lat < 90
    lon_ok = _number(camera.lon) and -180 <= camera.lon <= 180
    if not lat_ok:
        swapped = _number(camera.lon) and -90 < camera.lon < 90 and _number(camera.lat)
        found.append(
            f"lat {camera.lat}: a latitude lies between -90 and 90"
            + (" (latitude and longitude swapped?)" if swapped else "")
        )
    if not lon_ok:
        found.append(f"lon {camera.lon}: a longitude lies between -180 and 180")
    if camera.facing_deg is None:
        if camera.kind == "fixed":
            found.append("facing: a fixed camera needs the compass bearing it faces (0-360, 0 is north)")
    elif not (_number(camera.facing_deg) and 0 <= camera.facing_deg <= 360):
        found.append(f"facing {camera.facing_deg}: a compass bearing lies between 0 and 360 degrees")
    if camera.status not in STATUSES:
        found.append(f"status {camera.status!r}: use active or retired")
    elif (camera.status == "retired") != (camera.retired_on is not None):
        found.append("retired_on: the date is set exactly when the camera is retired")
    return found


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_camera(camera: Camera) -> Camera:
    """The camera, if valid; otherwise :class:`InvalidRecord` naming every problem."""
    found = camera_problems(camera)
    if found:
        raise InvalidRecord("camera", f"camera {camera.id!r} refused: " + "; ".join(found))
    return camera


def camera_to_dict(camera: Camera) -> dict[str, Any]:
    return {
        "id": camera.id,
        "name": camera.name,
        "agency": camera.agency,
        "kind": camera.kind,
        "lat": camera.lat,
        "lon": camera.lon,
        "facing_deg": camera.facing_deg,
        "install_date": camera.install_date.isoformat() if camera.install_date else None,
        "status": camera.status,
        "retired_on": camera.retired_on.isoformat() if camera.retired_on else None,
    }


def _schema_checked(data: object) -> None:
    try:
        validator("camera")(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise InvalidRecord("schema", f"camera: {exc.message}") from exc


def encode_camera(camera: Camera) -> bytes:
    """The record's value on the cameras topic; a camera that is not valid is never written."""
    data = camera_to_dict(check_camera(camera))
    _schema_checked(data)
    return dumps(data)


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRecord("schema", f"camera: {name}={value!r} is not a date") from exc


def decode_camera(key: bytes | None, value: bytes) -> Camera:
    """A record of the cameras topic, checked against schemas/camera.json and against its key."""
    data = loads(value)
    _schema_checked(data)
    camera = Camera(
        data["id"],
        data["name"],
        data["agency"],
        data["kind"],
        float(data["lat"]),
        float(data["lon"]),
        None if data["facing_deg"] is None else float(data["facing_deg"]),
        _day(data["install_date"], "install_date"),
        data["status"],
        _day(data["retired_on"], "retired_on"),
    )
    if key is not None and key != camera.id.encode():
        raise InvalidRecord("key", f"the record of camera {camera.id!r} is under key {key!r}")
    return check_camera(camera)


# -- the registry: a fold over the topic ----------------------------------------------------------


@dataclass(frozen=True)
class CameraRegistry:
    cameras: Mapping[str, Camera] = field(default_factory=dict)
    #: key -> why its newest record cannot be used (the camera is then unknown, not its older state)
    invalid: Mapping[str, str] = field(default_factory=dict)

    def get(self, camera_id: str) -> Camera:
        found = self.cameras.get(camera_id)
        if found is None:
            why = self.invalid.get(camera_id)
            raise NotFound(
                f"no camera {camera_id}"
                + (f" (its record cannot be read: {why})" if why else ": register it with 'alpr camera add'")
            )
        return found

    def listed(self, include_retired: bool = False) -> list[Camera]:
        return sorted((c for c in self.cameras.values() if include_retired or c.active), key=lambda c: c.id)


def fold(
    records: Iterable[tuple[bytes | None, bytes | None]], registry: CameraRegistry | None = None
) -> CameraRegistry:
    """The registry after these (key, value) records of the cameras topic, in log order.

    A key's newest record decides, as after compaction: a tombstone removes the camera, and so
    does a record that cannot be used (its reason is kept in ``invalid``) rather than leaving the
    camera as an older record said, which compaction may already have removed.
    """
    cameras = dict(registry.cameras) if registry else {}
    invalid = dict(registry.invalid) if registry else {}
    fold_latest(records, decode_camera, cameras, invalid)
    return CameraRegistry(cameras, invalid)


# -- the commands (pure) --------------------------------------------------------------------------


def placement_violations(camera: Camera, sites: Sequence[Site], max_distance_m: float) -> list[Violation]:
    """P24 for one camera: the sites it faces within the distance; none for a mobile or retired one."""
    if camera.kind != "fixed" or camera.facing_deg is None or not camera.active:
        return []
    return violations(camera.lat, camera.lon, camera.facing_deg, sites, max_distance_m)


def suspended_for(camera: Camera, sites: Sequence[Site], max_distance_m: float) -> list[Violation]:
    """The sites an active fixed camera faces now: non-empty means it is suspended (P24)."""
    return placement_violations(camera, sites, max_distance_m)


def status_of(camera: Camera, suspended: Sequence[Violation] = ()) -> str:
    """The camera's state in words: active, ``suspended (P24: faces <site>)``, or retired."""
    if camera.retired_on is not None:
        return f"retired {camera.retired_on.isoformat()}"
    if suspended:
        return f"suspended (P24: faces {', '.join(v.site.name for v in suspended)})"
    return camera.status


def _placed(camera: Camera, sites: SiteSource, max_distance_m: float) -> None:
    if camera.kind != "fixed":
        try:
            listed = sites()
        except ConfigError:
            return  # no sites configured: no zone to judge the base by (a fixed camera is refused)
        site = excluded(camera.lat, camera.lon, listed, max_distance_m)
        if site is not None:
            raise PolicyViolation(
                "P24",
                f"camera {camera.id} would be based within {max_distance_m:g} m of {site.name} "
                f"({site.label}), inside its exclusion zone: base the camera elsewhere",
            )
        return
    found = placement_violations(camera, sites(), max_distance_m)
    if found:
        raise refusal(camera.id, found)


def register(registry: CameraRegistry, camera: Camera, sites: SiteSource, max_distance_m: float) -> Camera:
    """A new camera as it is to be written: valid, not registered yet, and not facing a site (P24)."""
    check_camera(camera)
    if not camera.active:
        raise ConfigError(f"camera {camera.id}: a camera is registered active (retire it afterwards)")
    existing = registry.cameras.get(camera.id)
    if existing is not None and existing.active:
        raise ConfigError(
            f"camera {camera.id} is registered already: change it with 'alpr camera update {camera.id}'"
        )
    if existing is not None:
        raise ConfigError(
            f"camera {camera.id} was retired on {existing.retired_on}: a retired camera's id is not reused"
        )
    _placed(camera, sites, max_distance_m)
    return camera


def update(
    registry: CameraRegistry,
    camera_id: str,
    changes: Mapping[str, Any],
    sites: SiteSource,
    max_distance_m: float,
) -> Camera:
    """The camera with ``changes`` (fields of :data:`CHANGEABLE`); a new position or facing of a
    fixed camera is checked against the sensitive sites again (P24)."""
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise ConfigError(f"camera {camera_id}: {', '.join(unknown)} cannot be changed")
    before = registry.get(camera_id)
    if not before.active:
        raise ConfigError(
            f"camera {camera_id} was retired on {before.retired_on}: a retired camera is not changed"
        )
    after = dataclasses.replace(before, **changes)
    if after == before:
        raise ConfigError(f"camera {camera_id}: nothing to change (every value given is the current one)")
    check_camera(after)
    if any(getattr(after, f) != getattr(before, f) for f in PLACEMENT):
        _placed(after, sites, max_distance_m)
    return after


def retire(registry: CameraRegistry, camera_id: str, on: date) -> Camera:
    before = registry.get(camera_id)
    if not before.active:
        raise ConfigError(f"camera {camera_id} was retired already, on {before.retired_on}")
    return dataclasses.replace(before, status="retired", retired_on=on)


def changes_between(before: Camera, after: Camera) -> dict[str, list[Any]]:
    """field -> [old, new], as JSON values, for the audit trail and the command's answer."""
    old, new = camera_to_dict(before), camera_to_dict(after)
    return {k: [old[k], new[k]] for k in old if old[k] != new[k]}


def violating(
    registry: CameraRegistry, sites: Sequence[Site], max_distance_m: float
) -> list[tuple[Camera, list[Violation]]]:
    """Every active fixed camera that faces a sensitive site within the distance (P24), by id: the
    cameras a site added since they were placed puts in violation."""
    found = []
    for camera in registry.listed():
        near = placement_violations(camera, sites, max_distance_m)
        if near:
            found.append((camera, near))
    return found


@dataclass(frozen=True, slots=True)
class SitesChanged:
    """What a change of the sites list does to the registry (P24): the cameras it suspends and
    those it would reinstate, each with the sites it faces (before the change, for the latter)."""

    suspended: list[tuple[Camera, list[Violation]]]
    reinstated: list[tuple[Camera, list[Violation]]]


def sites_changed(
    registry: CameraRegistry, before: Sequence[Site], after: Sequence[Site], max_distance_m: float
) -> SitesChanged:
    """The cameras suspended by going from the sites ``before`` to ``after``, and those reinstated."""
    was = {c.id: found for c, found in violating(registry, before, max_distance_m)}
    now = {c.id: found for c, found in violating(registry, after, max_distance_m)}
    cameras = registry.cameras
    return SitesChanged(
        [(cameras[i], found) for i, found in now.items() if i not in was],
        [(cameras[i], found) for i, found in was.items() if i not in now],
    )


def standing_line(camera: Camera, violation: Violation) -> str:
    """An existing camera's violation, in words (:meth:`Violation.describe` speaks of a proposal)."""
    where = f"{violation.site.name} ({violation.site.label})"
    who = f"camera {camera.id} ({camera.name})"
    if violation.inside:
        return f"{who} is inside {where} (P24)"
    if violation.bearing_deg is None:
        return f"{who} is at {where} (P24)"
    return f"{who} is {violation.distance_m:.0f} m from {where}, facing it (P24)"


# -- I/O ------------------------------------------------------------------------------------------


def sites_file(settings: Settings) -> Path:
    """The file of ``ALPR_SENSITIVE_SITES``; a fixed camera cannot be placed without it."""
    if settings.sensitive_sites is None:
        raise ConfigError(
            "ALPR_SENSITIVE_SITES is not set: placing a fixed camera needs the sensitive sites (P24). "
            "Set it to the GeoJSON file of sensitive sites (an empty FeatureCollection if there are none)"
        )
    return settings.sensitive_sites


def sensitive_sites(settings: Settings) -> tuple[Site, ...]:
    """The sites of ``ALPR_SENSITIVE_SITES``."""
    return load_sites(sites_file(settings))


def site_watch(settings: Settings) -> SiteWatch | None:
    """The sites of ``ALPR_SENSITIVE_SITES`` followed as the file changes, for the processes that
    screen reads (ingest, producers, worker); None when the setting is not given."""
    if settings.sensitive_sites is None:
        return None
    return SiteWatch(settings.sensitive_sites, settings.sensitive_site_distance_m)


def _audit(
    now: datetime, by: Principal, action: str, camera_id: str, detail: dict[str, Any]
) -> AccessRecorded:
    # "registered_camera", not "camera": audit_tools counts a query naming a camera as a search (P23).
    return by.audit(now, action, {"registered_camera": camera_id, **detail}, 1, purpose=PURPOSE)


def site_change(now: datetime, by: Principal, action: str, site: Site) -> AccessRecorded:
    """The audit record of an administrator's change to the sensitive sites (P24, P14)."""
    require(by, "camera.admin")  # P21, P24: only administrators change the sites
    query = {"sensitive_site": site.id, "name": site.name, "category": site.category}
    return by.audit(now, action, query, 1, purpose="sensitive sites")


class CameraStore:
    """The registry on the cameras topic; each change is checked against the state read just before."""

    def __init__(self, settings: Settings, sites: SiteSource | None = None) -> None:
        self.settings = settings
        self.topic = settings.topic("cameras")
        self.sites: SiteSource = sites or (lambda: sensitive_sites(settings))

    async def load(self) -> CameraRegistry:
        latest = await read_latest(self.settings.kafka, self.topic)
        return fold((key, record.value) for key, record in latest.items())

    async def _known_agency(self, agency: str) -> None:
        if (await DirectoryStore(self.settings).load()).agency(agency) is None:
            raise NotFound(f"no agency {agency}: add it first with 'alpr agency add'")

    async def _write(
        self,
        cameras: Sequence[Camera],
        audit: AccessRecorded,
        also: Sequence[tuple[str, bytes, bytes]] = (),
    ) -> None:
        """The cameras' records (and ``also``), acknowledged, then the audit record."""
        values = [encode_camera(camera) for camera in cameras]  # nothing is written if one is invalid
        records = [(self.topic, c.id.encode(), v) for c, v in zip(cameras, values, strict=True)]
        await write_audited(self.settings, [*records, *also], audit)

    async def add(
        self,
        camera: Camera,
        by: Principal,
        now: datetime,
        *,
        also: Sequence[tuple[str, bytes, bytes]] = (),
        detail: Mapping[str, Any] | None = None,
    ) -> Camera:
        """Register the camera. ``also``: (topic, key, value) records written with the camera's, before
        the audit record, which gets ``detail`` too (the first ingest key, streams/cameras/keys.py).
        Administrators only (P21), checked before anything is read."""
        require(by, "camera.admin")
        placed = register(await self.load(), camera, self.sites, self.settings.sensitive_site_distance_m)
        await self._known_agency(placed.agency)
        audited = {k: v for k, v in camera_to_dict(placed).items() if k not in ("id", "status", "retired_on")}
        audited.update(detail or {})
        await self._write([placed], _audit(now, by, "camera_add", placed.id, audited), also)
        return placed

    async def add_many(self, cameras: Sequence[Camera], by: Principal, now: datetime) -> list[Camera]:
        """Register a fleet in one batch (an import, a simulation): each camera is checked as by
        :meth:`add`, a refusal of any one refuses them all and writes nothing, and one audit
        record names them. Returns the cameras written (none when the list is empty)."""
        require(by, "camera.admin")
        ids = [c.id for c in cameras]
        doubled = sorted(i for i, n in Counter(ids).items() if n > 1)
        if doubled:
            raise ConfigError(f"camera ids given twice: {', '.join(doubled[:10])}")
        registry = await self.load()
        distance = self.settings.sensitive_site_distance_m
        placed = [register(registry, camera, self.sites, distance) for camera in cameras]
        if not placed:
            return []
        for agency in sorted({c.agency for c in placed}):
            await self._known_agency(agency)
        detail = {"count": len(placed), "ids": ids}
        await self._write(placed, _audit(now, by, "camera_import", f"{len(ids)} cameras", detail))
        return placed

    async def update(
        self, camera_id: str, changes: Mapping[str, Any], by: Principal, now: datetime
    ) -> tuple[Camera, Camera]:
        """The camera before and after the change (administrators, P21). Moving a suspended camera
        to a position and facing that pass P24 reinstates it: audited as ``camera_reinstate``,
        naming the sites it faced."""
        require(by, "camera.admin")
        registry = await self.load()
        distance = self.settings.sensitive_site_distance_m
        after = update(registry, camera_id, changes, self.sites, distance)
        before = registry.get(camera_id)
        if after.agency != before.agency:
            await self._known_agency(after.agency)
        detail: dict[str, Any] = {"changes": changes_between(before, after)}
        action = "camera_update"
        if before.kind == "fixed" and any(getattr(after, f) != getattr(before, f) for f in PLACEMENT):
            faced = suspended_for(before, self.sites(), distance)
            if faced:  # the move passed _placed: the camera faces no site now
                action = "camera_reinstate"
                detail["was_suspended_for"] = [v.site.id for v in faced]
        await self._write([after], _audit(now, by, action, camera_id, detail))
        return before, after

    async def audit_sites_change(
        self, change: SitesChanged, by: Principal, now: datetime, site: Site
    ) -> None:
        """One audit record per camera a change of the sites suspends (``camera_suspend``) or
        reinstates (``camera_reinstate``), by the administrator who changed the sites (P24, P14)."""
        require(by, "camera.admin")
        acts = (("camera_suspend", change.suspended), ("camera_reinstate", change.reinstated))
        for action, cameras in acts:
            for camera, faced in cameras:
                detail = {
                    "sensitive_site": site.id,
                    "faces": [v.site.id for v in faced],
                    "reason": "; ".join(standing_line(camera, v) for v in faced),
                }
                await record_access(self.settings, _audit(now, by, action, camera.id, detail))

    async def retire(self, camera_id: str, by: Principal, now: datetime) -> Camera:
        require(by, "camera.admin")
        retired = retire(await self.load(), camera_id, now.date())
        await self._write([retired], _audit(now, by, "camera_retire", camera_id, {}))
        return retired


# -- the sensitive sites' use cases: alpr camera sites add|remove, the console's /admin page ----------


@dataclass(frozen=True, slots=True)
class SiteEdit:
    """A change of the sensitive sites: the site, the file changed, and the cameras it suspended or
    reinstated (P24)."""

    site: Site
    path: Path
    change: SitesChanged


async def _edit_sites(
    settings: Settings,
    by: Principal,
    now: datetime,
    action: str,
    edited: tuple[dict[str, object], Site, tuple[Site, ...]],
    reinstate: bool,
) -> SiteEdit:
    """Check what the edited sites file does to the registry, then write it and audit the change
    and each camera it suspends or reinstates (P24, P14). Reinstating a camera needs ``reinstate``:
    without it nothing is written."""
    doc, site, sites = edited
    path = sites_file(settings)
    audit = site_change(now, by, action, site)
    store = CameraStore(settings)
    registry = await store.load()
    before = await asyncio.to_thread(load_sites, path)
    change = sites_changed(registry, before, sites, settings.sensitive_site_distance_m)
    if change.reinstated and not reinstate:
        names = ", ".join(camera.id for camera, _faced in change.reinstated)
        raise ConfigError(
            f"removing site {site.id} would reinstate suspended camera(s) {names} (P24): confirm the "
            "reinstatement (alpr camera sites remove --reinstate) to remove it, or move them first; "
            "nothing was changed"
        )
    await asyncio.to_thread(write_sites, path, doc)
    await record_access(settings, audit)
    await store.audit_sites_change(change, by, now, site)
    return SiteEdit(site, path, change)


async def add_site(
    principal: Principal | None, settings: Settings, feature: Mapping[str, object], now: datetime
) -> SiteEdit:
    """Add a sensitive site to ALPR_SENSITIVE_SITES (administrators, P21): every active fixed camera
    that now faces a site is suspended, one audit record per camera, by this administrator (P24).
    A feature that breaks the file's rules is refused and nothing is written."""
    by = require(principal, "camera.admin")
    edited = await asyncio.to_thread(with_site, sites_file(settings), feature)
    return await _edit_sites(settings, by, now, "sensitive_site_add", edited, reinstate=False)


async def remove_site(
    principal: Principal | None, settings: Settings, site_id: str, now: datetime, *, reinstate: bool
) -> SiteEdit:
    """Remove a sensitive site (administrators, P21). Cameras it alone suspended would be reinstated:
    refused, writing nothing, unless ``reinstate`` confirms it; each reinstatement is audited (P24)."""
    by = require(principal, "camera.admin")
    edited = await asyncio.to_thread(without_site, sites_file(settings), site_id)
    return await _edit_sites(settings, by, now, "sensitive_site_remove", edited, reinstate)
