"""``alpr camera``: the camera registry, sensitive sites (P24) and cameras' ingest keys."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from streams.cli.common import Subparsers, _day, _needs, _now, register_commands
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.cameras.registry import CameraStore
    from streams.cameras.sites import Site


def _camera_add(settings: Settings, args: argparse.Namespace) -> int:
    """Register a camera (administrators, P21); a fixed one facing a sensitive site is refused (P24).
    The camera's first ingest key is issued with it and printed once."""
    from streams.cameras.keys import CameraKeyStore
    from streams.cameras.registry import Camera

    installed = _day(args.installed, "--installed") if args.installed else None
    camera = Camera(args.id, args.name, args.agency, args.kind, args.lat, args.lon, args.facing, installed)
    added, issued = asyncio.run(CameraKeyStore(settings).add_camera(camera, args.signed_in, _now()))
    print(f"added camera {added.id}: {added.kind}, {added.name}, {added.agency}")
    print(f"  {added.line()}")
    _print_key(issued.key, issued.record.fingerprint)
    return 0


def _print_key(key: str, fingerprint: str) -> None:
    print(f"ingest key {fingerprint} (shown only now: it cannot be shown again; put it in the camera):")
    print(f"  {key}")


def _camera_key_issue(settings: Settings, args: argparse.Namespace) -> int:
    """A new ingest key for the camera (administrators, P21); the old key stops working."""
    from streams.cameras.keys import CameraKeyStore

    issued, old = asyncio.run(CameraKeyStore(settings).issue(args.id, args.signed_in, _now()))
    replaced = f"; key {old.fingerprint} no longer works" if old is not None else ""
    print(f"issued a new ingest key for camera {args.id}{replaced}")
    _print_key(issued.key, issued.record.fingerprint)
    return 0


def _camera_key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """Revoke the camera's ingest key (administrators, P21): its reads are refused until a new one."""
    from streams.cameras.keys import CameraKeyStore

    revoked = asyncio.run(CameraKeyStore(settings).revoke(args.id, args.signed_in, _now()))
    print(
        f"revoked ingest key {revoked.fingerprint} of camera {args.id}: its reads are refused "
        f"until 'alpr camera key issue {args.id}'"
    )
    return 0


def _camera_update(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cameras.registry import CameraStore, changes_between

    given = {
        "name": args.name,
        "agency": args.agency,
        "lat": args.lat,
        "lon": args.lon,
        "facing_deg": args.facing,
        "install_date": _day(args.installed, "--installed") if args.installed else None,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        from streams.errors import ConfigError

        raise ConfigError("nothing to change: give --name, --agency, --lat, --lon, --facing or --installed")
    store = CameraStore(settings)
    faced = _suspension(settings, store, args.id)
    before, after = asyncio.run(store.update(args.id, changes, args.signed_in, _now()))
    done = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changes_between(before, after).items())
    print(f"updated camera {after.id}: {done}")
    moved = any(getattr(before, f) != getattr(after, f) for f in ("lat", "lon", "facing_deg"))
    if faced and moved:
        print(f"reinstated camera {after.id}: it no longer faces {', '.join(faced)}; reads accepted (P24)")
    return 0


def _suspension(settings: Settings, store: CameraStore, camera_id: str) -> list[str]:
    """The names of the sites a camera faces now (P24): it is suspended when there are any."""
    from streams.cameras.registry import suspended_for

    if settings.sensitive_sites is None:
        return []
    camera = asyncio.run(store.load()).cameras.get(camera_id)
    if camera is None:
        return []
    return [v.site.name for v in suspended_for(camera, store.sites(), settings.sensitive_site_distance_m)]


def _camera_retire(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cameras.registry import CameraStore

    retired = asyncio.run(CameraStore(settings).retire(args.id, args.signed_in, _now()))
    print(f"retired camera {retired.id} ({retired.name}) on {retired.retired_on}")
    return 0


def _camera_list(settings: Settings, args: argparse.Namespace) -> int:
    """The registry; a fixed camera facing a site of ALPR_SENSITIVE_SITES shows as suspended (P24)."""
    from streams.cameras.registry import CameraStore, sensitive_sites, suspended_for

    registry = asyncio.run(CameraStore(settings).load())
    sites = sensitive_sites(settings) if settings.sensitive_sites is not None else ()
    distance = settings.sensitive_site_distance_m
    for key, why in sorted(registry.invalid.items()):
        print(f"camera record {key} cannot be used: {why}", file=sys.stderr)
    cameras = registry.listed(include_retired=args.all)
    print(f"{'id':<16} {'kind':<6} {'lat':>10} {'lon':>11} {'facing':>6} {'installed':<10} {'agency':<10} "
          f"{'status':<18} name")  # fmt: skip
    suspended = 0
    for camera in cameras:
        faced = suspended_for(camera, sites, distance)
        suspended += bool(faced)
        print(camera.line(faced))
    active = sum(1 for c in registry.cameras.values() if c.active)
    retired = len(registry.cameras) - active
    print(
        f"cameras: {active} active"
        + (f" ({suspended} suspended, P24)" if suspended else "")
        + (f", {retired} retired" if retired else "")
    )
    return 0


def _print_standing(settings: Settings, sites: tuple[Site, ...]) -> tuple[int, int]:
    """Print each registered camera's violation of these sites (P24); (cameras in violation,
    active fixed cameras)."""
    from streams.cameras.registry import CameraStore, standing_line, violating

    registry = asyncio.run(CameraStore(settings).load())
    found = violating(registry, sites, settings.sensitive_site_distance_m)
    for camera, near in found:
        for violation in near:
            print(standing_line(camera, violation))
    return len(found), sum(1 for c in registry.listed() if c.kind == "fixed")


def _camera_sites_check(settings: Settings, args: argparse.Namespace) -> int:
    """P24: every active fixed camera facing a sensitive site within the distance; exit 1 if any."""
    from streams.cameras.registry import sites_file
    from streams.cameras.sites import load_sites

    source = Path(args.file) if args.file else sites_file(settings)
    sites = load_sites(source)
    found, fixed = _print_standing(settings, sites)
    distance = settings.sensitive_site_distance_m
    print(
        f"{found} of {fixed} active fixed cameras face a sensitive site within {distance:g} m "
        f"({len(sites)} sites in {source})"
    )
    return 1 if found else 0


def _camera_sites_add(settings: Settings, args: argparse.Namespace) -> int:
    """Add a sensitive site (administrators); every fixed camera that now faces a site is suspended,
    audited one record per camera and named (P24); exit 1 if any."""
    import orjson

    from streams.cameras.registry import add_site, standing_line
    from streams.cameras.sites import point_feature
    from streams.errors import ConfigError

    if args.feature:
        feature = orjson.loads(Path(args.feature).read_bytes())
    elif args.lat is not None and args.lon is not None and args.id and args.name and args.category:
        feature = point_feature(args.id, args.name, args.category, args.lat, args.lon)
    else:
        raise ConfigError(
            "give --feature FILE (a GeoJSON Feature), or --id, --name, --category, --lat and --lon"
        )
    edit = asyncio.run(add_site(args.signed_in, settings, feature, _now()))
    site, suspended = edit.site, edit.change.suspended
    print(f"added site {site.id}: {site.name} ({site.label}) to {edit.path}")
    for camera, faced in suspended:
        for violation in faced:
            print(f"suspended: {standing_line(camera, violation)}")
    if suspended:
        print(
            f"{len(suspended)} camera(s) suspended: their reads are refused until they are moved "
            "('alpr camera update ID --lat --lon --facing') or retired (P24)"
        )
        return 1
    distance = settings.sensitive_site_distance_m
    print(f"no camera suspended: no active fixed camera newly faces a sensitive site within {distance:g} m")
    return 0


def _camera_sites_remove(settings: Settings, args: argparse.Namespace) -> int:
    """Remove a sensitive site (administrators). Cameras it suspended would be reinstated: that is
    refused, writing nothing, unless ``--reinstate`` says so; each is then audited (P24)."""
    from streams.cameras.registry import remove_site

    edit = asyncio.run(remove_site(args.signed_in, settings, args.id, _now(), reinstate=args.reinstate))
    site = edit.site
    print(f"removed site {site.id}: {site.name} ({site.label}) from {edit.path}")
    if edit.change.reinstated:
        names = ", ".join(camera.id for camera, _faced in edit.change.reinstated)
        print(
            f"reinstated camera(s) {names}: they face no sensitive site now; their reads are accepted (P24)"
        )
    return 0


def _camera_sites_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cameras.registry import sensitive_sites

    sites = sensitive_sites(settings)
    for site in sites:
        print(f"{site.id:<20} {site.category:<26} {type(site.geometry).__name__:<8} {site.name}")
    print(f"{len(sites)} sensitive sites in {settings.sensitive_sites}")
    return 0


def _add_camera(sub: Subparsers) -> None:
    p = sub.add_parser("camera", help="the camera registry; sensitive sites (P24)")
    cams = p.add_subparsers(dest="action", required=True)
    c = cams.add_parser(
        "add",
        help="register a camera (administrators); a fixed camera facing a sensitive site is refused (P24)",
        description="A fixed camera within ALPR_SENSITIVE_SITE_DISTANCE_M (default 150 m) of a site of "
        "ALPR_SENSITIVE_SITES, facing it, is refused (exit 2) naming the site and the distance.",
    )
    c.add_argument(
        "--id",
        required=True,
        help="the camera_id its reads carry: 1-64 letters, digits, '.', '_', ':', '-' and single inner "
        "spaces (quote an id with spaces: --id 'BXH9904 SPD2020627MDC')",
    )
    c.add_argument("--name", required=True, help="where it is, e.g. 'N 1st St & E Santa Clara St, NB'")
    c.add_argument("--agency", required=True, help="id of the operating agency (alpr agency list)")
    c.add_argument(
        "--kind",
        required=True,
        choices=["fixed", "mobile"],
        help="fixed (a pole: its facing is checked against sensitive sites, P24) or mobile (a car)",
    )
    c.add_argument("--lat", required=True, type=float, help="latitude, degrees (WGS84)")
    c.add_argument("--lon", required=True, type=float, help="longitude, degrees (WGS84)")
    c.add_argument(
        "--facing", type=float, help="compass bearing it faces, 0-360 (0 north, 90 east); fixed: required"
    )
    c.add_argument("--installed", help="install date, YYYY-MM-DD (default: not recorded)")
    _needs(c, "camera.admin")
    c.set_defaults(func=_camera_add)
    c = cams.add_parser(
        "update", help="change a camera (administrators); a new position or facing is checked again (P24)"
    )
    c.add_argument("id", help="the camera's id (alpr camera list)")
    c.add_argument("--name", help="new description of where it is")
    c.add_argument("--agency", help="new operating agency's id")
    c.add_argument("--lat", type=float, help="new latitude, degrees (WGS84)")
    c.add_argument("--lon", type=float, help="new longitude, degrees (WGS84)")
    c.add_argument("--facing", type=float, help="new compass bearing it faces, 0-360 (0 north, 90 east)")
    c.add_argument("--installed", help="YYYY-MM-DD")
    _needs(c, "camera.admin")
    c.set_defaults(func=_camera_update)
    c = cams.add_parser("retire", help="retire a camera (administrators): it stays listed with --all")
    c.add_argument("id", help="the camera's id")
    _needs(c, "camera.admin")
    c.set_defaults(func=_camera_retire)
    c = cams.add_parser("list", help="active cameras (--all: retired ones too)")
    c.add_argument("--all", action="store_true", help="include retired cameras")
    _needs(c, "camera.view")
    c.set_defaults(func=_camera_list)
    c = cams.add_parser("sites", help="sensitive sites (P24)")
    sites = c.add_subparsers(dest="sites_action", required=True)
    c = sites.add_parser(
        "check",
        help="name every active fixed camera facing a sensitive site within the distance; exit 1 if any",
        description="Run after changing the sensitive sites, or with --file on a proposed sites file "
        "before putting it in place at ALPR_SENSITIVE_SITES.",
    )
    c.add_argument("--file", help="a GeoJSON sites file to check instead of ALPR_SENSITIVE_SITES")
    _needs(c, "camera.view")
    c.set_defaults(func=_camera_sites_check)
    c = sites.add_parser(
        "add",
        help="add a sensitive site to ALPR_SENSITIVE_SITES (administrators); every fixed camera that now "
        "faces it is suspended (its reads refused until moved, P24), audited and named; exit 1 if any",
    )
    c.add_argument("--id", help="the site's id")
    c.add_argument("--name", help="the site's name, e.g. 'Clinic, 100 Example Ave'")
    c.add_argument(
        "--category", help="reproductive_health_care, religious_observance or consulate_or_embassy"
    )
    c.add_argument("--lat", type=float, help="the site's latitude, degrees (WGS84)")
    c.add_argument("--lon", type=float, help="the site's longitude, degrees (WGS84)")
    c.add_argument("--feature", help="a GeoJSON Feature file (a Polygon site) instead of the fields above")
    _needs(c, "camera.admin")
    c.set_defaults(func=_camera_sites_add)
    c = sites.add_parser(
        "remove",
        help="remove a sensitive site (administrators); cameras it suspended are reinstated only "
        "with --reinstate",
    )
    c.add_argument("id", help="the site's id (alpr camera sites list)")
    c.add_argument(
        "--reinstate",
        action="store_true",
        help="confirm that cameras suspended for this site alone are reinstated (P24)",
    )
    _needs(c, "camera.admin")
    c.set_defaults(func=_camera_sites_remove)
    c = sites.add_parser("list", help="the sensitive sites of ALPR_SENSITIVE_SITES")
    _needs(c, "camera.view")
    c.set_defaults(func=_camera_sites_list)
    c = cams.add_parser("key", help="a camera's key for alpr ingest (administrators)")
    keys = c.add_subparsers(dest="key_action", required=True)
    c = keys.add_parser("issue", help="a new key, printed once; the camera's old key stops working")
    c.add_argument("id", help="the camera's id")
    _needs(c, "camera.admin")
    c.set_defaults(func=_camera_key_issue)
    c = keys.add_parser("revoke", help="revoke the camera's key: its reads are refused (403)")
    c.add_argument("id", help="the camera's id")
    _needs(c, "camera.admin")
    c.set_defaults(func=_camera_key_revoke)


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "camera": _add_camera,
}


def register(sub: Subparsers, *names: str) -> None:
    """Add the commands named (all of this module's by default), in the order given: `alpr --help`
    lists the commands in the order build_parser registers them."""
    register_commands(sub, _COMMANDS, names)
