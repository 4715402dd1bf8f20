"""``alpr``: the one command-line entry point."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from streams.access.directory import User
from streams.access.rules import Justification
from streams.alerts.lifecycle import AlertState
from streams.errors import AccessDenied, AlprError
from streams.hotlists.model import Person
from streams.hotlists.service import HotlistStore
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.cameras.sites import Site

__all__ = ["main"]

T = TypeVar("T")

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _broker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.broker import EmbeddedBroker

    if settings.broker_url is not None and args.action == "start":
        print(f"ALPR_BROKER_URL={settings.broker_url} is set: using that Kafka, no embedded broker started")
        return 0
    broker = EmbeddedBroker(settings.state_dir, args.port or settings.embedded_port, nodes=args.brokers)
    if args.action == "start":
        started = time.monotonic()
        pid = broker.start()
        print(
            f"embedded Kafka running on {broker.bootstrap} (pid {pid}, {args.brokers} node(s), ready in "
            f"{time.monotonic() - started:.1f} s); data and logs in {broker.folder}"
        )
        if args.brokers > 1:
            print(f"use ALPR_BROKER_URL=kafka://{broker.bootstrap} ALPR_REPLICATION_FACTOR=3 with it")
    elif args.action == "stop":
        print("stopped" if broker.stop() else "not running")
    else:
        print(broker.status())
        return 0 if broker.pid() is not None else 3
    return 0


def _topics(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.topics import create_topics, describe_topics, topic_specs

    if args.create:
        created = asyncio.run(create_topics(settings))
        print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))
    described = asyncio.run(describe_topics(settings))
    specs = {settings.topic(s.name): s for s in topic_specs(settings)}
    print(f"{'topic':<28} {'parts':>5} {'cleanup':<8} {'retention.ms':>14} {'segment.ms':>11}  holds")
    for name, spec in specs.items():
        cfg = described.get(name, {})
        if not cfg:
            print(
                f"{name:<28} {'-':>5} MISSING (declared: {spec.cleanup_policy}); run 'alpr topics --create'"
            )
            continue
        print(
            f"{name:<28} {cfg.get('partitions', '?'):>5} {cfg.get('cleanup.policy', '?'):<8} "
            f"{cfg.get('retention.ms', '-'):>14} {cfg.get('segment.ms', '-'):>11}  {spec.holds}"
        )
    return 0


def _topics_render(settings: Settings, args: argparse.Namespace) -> int:
    """The topic declaration as deployment files; no broker is contacted."""
    from streams.errors import ConfigError
    from streams.kafka.render import render
    from streams.retention.policy import load_profile

    if args.profile:
        try:
            settings = settings.with_(profile=load_profile(args.profile))
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("ALPR_PROFILE=", "--profile ", 1)) from exc
    sys.stdout.write(render(settings, args.format, cluster=args.cluster))
    return 0


def _retention_check(settings: Settings, args: argparse.Namespace) -> int:
    from streams.retention.check import run_check

    return asyncio.run(run_check(settings))


def _retention_roll(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists.feeder import parse_duration
    from streams.retention.roll import roll_every, roll_once

    if args.every is None:
        written = asyncio.run(roll_once(settings))
        print(f"rolled: a tombstone of the roll key on {written} partitions of the compacted topics")
        return 0
    every = parse_duration(args.every)
    print(f"rolling the compacted topics' segments every {args.every} (Ctrl-C stops)", flush=True)

    def report(written: int) -> None:
        print(f"{datetime.now(UTC).isoformat(timespec='seconds')} rolled {written} partitions", flush=True)

    try:
        asyncio.run(roll_every(settings, every, report))
    except KeyboardInterrupt:
        pass
    return 0


def _when(text: str, name: str) -> datetime:
    """An RFC 3339 time (a naive one is UTC), or ``now``, or ``now-2h`` style."""
    from streams.errors import ConfigError
    from streams.hotlists.feeder import parse_duration

    if text.startswith("now"):
        rest = text[3:]
        return _now() - parse_duration(rest[1:]) if rest.startswith("-") else _now()
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(
            f"{name} {text!r}: use an RFC 3339 time such as 2026-11-23T08:00:00Z, or now-2h"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _sign_in(settings: Settings, args: argparse.Namespace, permission: str) -> User:
    """P18: every command that reads ALPR data signs its user in with a password and a TOTP code
    (from ALPR_PASSWORD / ALPR_TOTP_CODE, else prompted); the sign-in is audited."""
    import getpass
    import os
    from datetime import timedelta

    from streams.access.directory import may
    from streams.console.auth import DirectoryAuthenticator

    password = os.environ.get("ALPR_PASSWORD") or getpass.getpass(f"password for {args.user}: ")
    code = os.environ.get("ALPR_TOTP_CODE") or input("authenticator code: ")
    auth = DirectoryAuthenticator(settings, timedelta(minutes=10))
    user = asyncio.run(auth.sign_in(args.user, password, code, _now(), "cli")).user
    if not may(user, permission):
        raise AccessDenied(f"P21: the {user.role} role may not {permission}")
    return user


def _justified(
    settings: Settings, args: argparse.Namespace, action: str, purpose: str, query: dict[str, object]
) -> Justification:
    """P15-P17, P19-P22: refuse (and audit the refusal) before any data is read."""
    from datetime import date

    from streams.access.audit import record_access
    from streams.access.directory import DirectoryStore
    from streams.access.rules import access_record, authorize

    why = Justification(
        purpose,
        args.crime_type,
        args.case,
        args.on_behalf_of,
        args.commander,
        date.fromisoformat(args.approved_on) if args.approved_on else None,
    )
    decision = authorize(args.signed_in, action, why, asyncio.run(DirectoryStore(settings).load()))
    if not decision.allowed:
        refusal = access_record(_now(), args.signed_in, action, why, dict(query), 0, decision)
        asyncio.run(record_access(settings, refusal))
        raise AccessDenied(f"refused: {decision.reason}")
    return why


def _hold_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.retention.holds import HoldDesk

    desk = HoldDesk(settings)
    now = _now()
    by = args.signed_in.name
    query = (
        {"read_id": args.read_id}
        if args.read_id
        else {"plate": args.plate, "from": args.start, "to": args.end}
    )
    _justified(settings, args, "hold", args.reason, query)
    if args.read_id:
        near = _when(args.captured_at, "--captured-at") if args.captured_at else None

        async def one() -> list[str]:
            read = await desk.find_read(args.read_id, near, now)
            return await desk.add(
                [read],
                args.case,
                args.reason,
                by,
                now,
                query={"read_id": args.read_id},
                agency=args.signed_in.agency,
                crime_type=args.crime_type,
            )

        placed = asyncio.run(one())
    else:
        start, end = _when(args.start, "--from"), _when(args.end, "--to")
        placed = asyncio.run(
            desk.add_by_plate(
                args.plate,
                start,
                end,
                args.case,
                args.reason,
                by,
                now,
                agency=args.signed_in.agency,
                crime_type=args.crime_type,
            )
        )
    print(f"held {len(placed)} reads for case {args.case}" + (f": {', '.join(placed)}" if placed else ""))
    return 0


def _hold_release(settings: Settings, args: argparse.Namespace) -> int:
    from streams.retention.holds import HoldDesk

    by = args.signed_in.name
    gone = asyncio.run(HoldDesk(settings).release(args.read_id, args.case, args.reason, by, _now()))
    print(f"released {args.read_id} from case {args.case}" + ("; no case holds it now" if gone else ""))
    return 0


def _hold_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.retention.holds import HoldDesk

    now = _now()
    holds = asyncio.run(HoldDesk(settings).holds())
    for read_id, held in sorted(holds.items(), key=lambda kv: kv[1].read.captured_at):
        cases = ", ".join(f"{c['case_number']} ({c['held_by']}: {c['reason']})" for c in held.cases)
        print(
            f"{read_id}  {held.read.plate:<8} {held.read.camera_id} {held.read.captured_at.isoformat()}  "
            f"held {held.age(now).days} d  {len(held.alerts)} alert records  cases: {cases}"
        )
    print(f"{len(holds)} held reads")
    return 0


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.audit import record_access
    from streams.access.rules import access_record
    from streams.codec import dumps
    from streams.hotlists.feeder import parse_duration
    from streams.replay.rematch import load_history, rematch
    from streams.replay.replay import ReplayQuery, print_progress, replay, write_outputs

    now = _now()
    why = _justified(
        settings,
        args,
        "replay",
        args.purpose,
        {
            "from": args.start,
            "to": args.end,
            "plate": args.plate,
            "partial": args.partial,
            "cameras": args.camera,
        },
    )
    query = ReplayQuery(
        _when(args.start, "--from"),
        _when(args.end, "--to"),
        args.case,
        args.purpose,
        plate=args.plate,
        partial=args.partial,
        cameras=frozenset(args.camera or ()),
        late=parse_duration(args.late),
    )
    out = Path(args.out) if args.out else Path("replays") / now.strftime("%Y%m%dT%H%M%SZ")

    async def run() -> int:
        result = await replay(settings, query, now, print_progress)
        print(file=sys.stderr)
        files = write_outputs(result, query, out)
        matches = []
        if args.rematch:
            from streams.app import new_index

            matches = rematch(
                new_index(settings), [s.read for s in result.sightings], await load_history(settings)
            )
            rematched = out / "rematch.ndjson"
            rematched.write_bytes(b"".join(dumps(m.to_dict()) + b"\n" for m in matches))
            files.append(rematched)
        asked = {
            "from": query.start.isoformat(),
            "to": query.end.isoformat(),
            "plate": args.plate,
            "partial": args.partial,
            "cameras": sorted(query.cameras),
            "rematch": bool(args.rematch),
        }
        await record_access(
            settings, access_record(now, args.signed_in, "replay", why, asked, len(result.sightings))
        )
        rate = result.reads_scanned / result.seconds if result.seconds else 0.0
        print(
            f"{len(result.sightings)} sightings from {result.reads_scanned:,} reads scanned in "
            f"{result.seconds:.1f} s ({rate:,.0f} reads/s); "
            f"{result.expired_skipped} past the retention left out (P11)"
        )
        if args.rematch:
            print(f"rematch: {len(matches)} would have alerted against the hot list of their time")
        for path in files:
            print(f"  {path}")
        return 0

    return asyncio.run(run())


def _audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.audit_tools import run_verify

    return asyncio.run(run_verify(settings))


def _audit_report(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.audit_tools import run_report

    return asyncio.run(run_report(settings, _when(args.start, "--from"), _when(args.end, "--to")))


def _audit_sample(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.audit_tools import run_sample

    return asyncio.run(run_sample(settings, args.n, args.months, args.seed, _now()))


def _audit_vendor(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.vendor import run_vendor_audit

    return run_vendor_audit(
        args.format,
        Path(args.file),
        Path(args.sharing) if args.sharing else None,
        sample=args.sample,
        seed=args.seed,
        out=Path(args.out) if args.out else None,
    )


def _retro_hunt(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from streams.replay.retrohunt import run_retro_hunt

    asyncio.run(run_retro_hunt(settings, timedelta(hours=settings.retro_hunt_hours), _now))
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.app import run_worker

    run_worker(settings)
    return 0


def _now() -> datetime:
    return datetime.now(UTC)


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cameras.ingest import serve

    asyncio.run(serve(settings, _now))
    return 0


def _console(settings: Settings, args: argparse.Namespace) -> int:
    from streams.console.server import serve

    asyncio.run(serve(settings, _now))
    return 0


def _demo_code(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev import demo_code

    print(demo_code(settings))
    return 0


def _agency_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import Agency, DirectoryStore

    agency = Agency(args.id, args.name, args.type, args.state, args.agreement, args.agreement_date)
    asyncio.run(DirectoryStore(settings).add_agency(agency, args.by, _now()))
    print(f"added agency {args.id} ({args.name}, {args.type}, {args.state}, agreement {args.agreement})")
    return 0


def _agency_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    directory = asyncio.run(DirectoryStore(settings).load())
    for agency in sorted(directory.agencies.values(), key=lambda a: a.agency_id):
        print(f"{agency.agency_id:<12} {agency.name:<40} {agency.type:<22} {agency.state} {agency.agreement}")
    return 0


def _user_add(settings: Settings, args: argparse.Namespace) -> int:
    import getpass
    import os

    from streams.access.directory import DirectoryStore
    from streams.access.totp import provisioning_uri

    password = os.environ.get("ALPR_NEW_PASSWORD") or getpass.getpass(f"password for {args.name}: ")
    user = asyncio.run(
        DirectoryStore(settings).add_user(
            args.name,
            password,
            display=args.display or args.name,
            badge=args.badge,
            agency=args.agency,
            role=args.role,
            by=args.by,
            now=_now(),
        )
    )
    issuer = f"ALPR {settings.profile.agency}"
    print(f"added {user.name} ({user.role}, {user.agency})")
    print(f"authenticator secret (shown once): {user.totp_secret}")
    print(f"  {provisioning_uri(user.totp_secret, user.name, issuer)}")
    if not user.trained:
        print(
            f"before the first sign-in, record the training (P21): alpr user train {user.name} --course ..."
        )
    return 0


def _user_train(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    asyncio.run(
        DirectoryStore(settings).record_training(args.name, args.course, args.completed, args.by, _now())
    )
    print(f"recorded {args.course} ({args.completed}) for {args.name}")
    return 0


def _user_disable(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    asyncio.run(DirectoryStore(settings).set_active(args.name, False, args.by, _now()))
    print(f"disabled {args.name}")
    return 0


def _user_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.directory import DirectoryStore

    directory = asyncio.run(DirectoryStore(settings).load())
    for user in sorted(directory.users.values(), key=lambda u: u.name):
        training = ", ".join(f"{c} {d}" for c, d in user.training) or "NO TRAINING ON RECORD"
        state = "" if user.active else "  DISABLED"
        print(f"{user.name:<16} {user.role:<13} {user.agency:<10} badge {user.badge:<8} {training}{state}")
    return 0


def _day(text: str, name: str) -> date:
    from streams.errors import ConfigError

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{name} {text!r}: use a date such as 2026-11-02") from exc


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
    before, after = asyncio.run(CameraStore(settings).update(args.id, changes, args.signed_in, _now()))
    done = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changes_between(before, after).items())
    print(f"updated camera {after.id}: {done}")
    return 0


def _camera_retire(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cameras.registry import CameraStore

    retired = asyncio.run(CameraStore(settings).retire(args.id, args.signed_in, _now()))
    print(f"retired camera {retired.id} ({retired.name}) on {retired.retired_on}")
    return 0


def _camera_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cameras.registry import CameraStore

    registry = asyncio.run(CameraStore(settings).load())
    for key, why in sorted(registry.invalid.items()):
        print(f"camera record {key} cannot be used: {why}", file=sys.stderr)
    cameras = registry.listed(include_retired=args.all)
    print(f"{'id':<16} {'kind':<6} {'lat':>10} {'lon':>11} {'facing':>6} {'installed':<10} {'agency':<10} "
          f"{'status':<18} name")  # fmt: skip
    for camera in cameras:
        print(camera.line())
    active = sum(1 for c in registry.cameras.values() if c.active)
    retired = len(registry.cameras) - active
    print(f"cameras: {active} active" + (f", {retired} retired" if retired else ""))
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


def _report_standing(settings: Settings, sites: tuple[Site, ...], what: str) -> int:
    """After a change of the sites: the cameras that now face one (P24); exit 1 if any."""
    found, _fixed = _print_standing(settings, sites)
    if found:
        print(f"{what}; {found} camera(s) now face a sensitive site: move or retire them (P24)")
        return 1
    distance = settings.sensitive_site_distance_m
    print(f"{what}; no active fixed camera faces a sensitive site within {distance:g} m")
    return 0


def _camera_sites_add(settings: Settings, args: argparse.Namespace) -> int:
    """Add a sensitive site (administrators) and name the cameras it puts in violation (P24)."""
    import orjson

    from streams.access.audit import record_access
    from streams.cameras.registry import site_change, sites_file
    from streams.cameras.sites import point_feature, with_site, write_sites
    from streams.errors import ConfigError

    path = sites_file(settings)
    if args.feature:
        feature = orjson.loads(Path(args.feature).read_bytes())
    elif args.lat is not None and args.lon is not None and args.id and args.name and args.category:
        feature = point_feature(args.id, args.name, args.category, args.lat, args.lon)
    else:
        raise ConfigError(
            "give --feature FILE (a GeoJSON Feature), or --id, --name, --category, --lat and --lon"
        )
    doc, site, sites = with_site(path, feature)
    write_sites(path, doc)
    asyncio.run(record_access(settings, site_change(_now(), args.signed_in, "sensitive_site_add", site)))
    return _report_standing(settings, sites, f"added site {site.id}: {site.name} ({site.label}) to {path}")


def _camera_sites_remove(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.audit import record_access
    from streams.cameras.registry import site_change, sites_file
    from streams.cameras.sites import without_site, write_sites

    path = sites_file(settings)
    doc, site, _sites = without_site(path, args.id)
    write_sites(path, doc)
    asyncio.run(record_access(settings, site_change(_now(), args.signed_in, "sensitive_site_remove", site)))
    print(f"removed site {site.id}: {site.name} ({site.label}) from {path}")
    return 0


def _camera_sites_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cameras.registry import sensitive_sites

    sites = sensitive_sites(settings)
    for site in sites:
        print(f"{site.id:<20} {site.category:<26} {type(site.geometry).__name__:<8} {site.name}")
    print(f"{len(sites)} sensitive sites in {settings.sensitive_sites}")
    return 0


def _member(
    name: str | None, badge: str | None, assignment: str | None = None, rank: str | None = None
) -> Person | None:
    if not name or not badge:
        return None
    return Person(name, badge, assignment, rank)


def _with_store(settings: Settings, call: Callable[[HotlistStore], Awaitable[T]]) -> T:
    """Run one hot-list operation with a store opened for it."""

    async def run() -> T:
        async with HotlistStore(settings) as store:
            return await call(store)

    return asyncio.run(run())


def _hotlist_sync(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists.feeder import keep_in_sync, parse_duration

    if args.every:
        asyncio.run(
            keep_in_sync(
                settings, args.format, Path(args.path), args.source, parse_duration(args.every), clock=_now
            )
        )
        return 0

    report = _with_store(
        settings,
        lambda store: store.sync(args.format, Path(args.path), args.source, _now(), force=args.force),
    )
    for problem in report.plan.errors + report.plan.dropped:
        print(problem, file=sys.stderr)
    print(f"synced {', '.join(sorted(report.plan.sources))} from {args.path}: {report.plan.summary}")
    return 0


def _hotlist_sources(settings: Settings, args: argparse.Namespace) -> int:
    statuses = _with_store(settings, lambda store: store.source_status())
    if not statuses:
        print("no feed has been synced yet")
        return 0
    max_age = settings.profile.hotlist_max_staleness_s
    now = _now()
    print(f"{'source':<8} {'entries':>8} {'fresh as of':<26} {'last success':<26} {'state':<8} last error")
    for name, st in sorted(statuses.items()):
        fresh = st.get("fresh_as_of")
        stale = fresh is None or (now - datetime.fromisoformat(fresh)).total_seconds() > max_age
        print(
            f"{name:<8} {st.get('entry_count', 0):>8} {fresh or '-':<26} {st.get('last_success') or '-':<26} "
            f"{'STALE' if stale else 'fresh':<8} {st.get('last_error') or '-'}"
        )
        print(f"         checksum {st.get('checksum') or '-'}")
    return 0


def _hotlist_pending(settings: Settings, args: argparse.Namespace) -> int:
    pending = _with_store(settings, lambda store: store.pending_entries())
    for key, record in sorted(pending.items()):
        missing = ", ".join(record["missing"]) or "nothing but approval"
        print(
            f"{key}  plate {record['entry']['plate']}  proposed {record['proposed_at']}  missing: {missing}"
        )
    print(f"{len(pending)} pending")
    return 0


def _hotlist_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists.feeder import parse_duration
    from streams.hotlists.model import HotlistEntry
    from streams.matching.normalize import normalize_plate

    now = _now()
    if args.expires == "never":
        expires = None
    elif args.expires[-1] in "smhd" and args.expires[:-1].replace(".", "").isdigit():
        expires = now + parse_duration(args.expires)
    else:
        expires = datetime.fromisoformat(args.expires)
    plate = args.plate.upper() if "?" in args.plate or "*" in args.plate else normalize_plate(args.plate)
    entry = HotlistEntry(
        source="local",
        entry_id=args.entry_id or f"BOLO-{now:%Y%m%d%H%M%S}-{plate}",
        plate=plate,
        plate_state=args.state,
        list_type=args.list_type,
        reason=args.reason,
        case_number=args.case,
        expires_at=expires,
        entered_by=_member(args.entered_by, args.badge, args.assignment),
    )

    missing = _with_store(settings, lambda store: store.propose(entry, "cli", now))
    waiting = ", ".join(missing) if missing else "nothing"
    print(f"{entry.key} pending; still missing: {waiting}. It becomes active when a lieutenant approves it:")
    print(f"  alpr hotlist approve {entry.key} --by NAME --badge BADGE --rank lieutenant")
    return 0


def _hotlist_approve(settings: Settings, args: argparse.Namespace) -> int:
    _with_store(
        settings, lambda store: store.approve(args.key, Person(args.by, args.badge, rank=args.rank), _now())
    )
    print(f"{args.key} approved by {args.by} ({args.rank}): active")
    return 0


def _hotlist_remove(settings: Settings, args: argparse.Namespace) -> int:
    _with_store(
        settings,
        lambda store: store.remove(
            args.key, Person(args.by, args.badge), _now(), designee_of=args.designee_of, reason=args.reason
        ),
    )
    print(f"{args.key} removed by {args.by}")
    return 0


def _hotlist_import(settings: Settings, args: argparse.Namespace) -> int:
    member = _member(args.entered_by, args.badge, args.assignment)
    report = _with_store(
        settings, lambda store: store.import_pending(args.format, Path(args.path), member, _now())
    )
    for problem in report.problems:
        print(problem, file=sys.stderr)
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(report.counts.items()))
    print(f"imported {args.path}: {counts or 'nothing'}; nothing was activated (approval needed, P2)")
    return 0


def _hotlist_serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from streams.hotlists.http import make_app

    web.run_app(make_app(settings), host=args.host, port=args.port)
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev import simulate

    sent = asyncio.run(
        simulate(settings, args.cameras, args.rate, args.duration, args.hit_rate, Path(args.hotlist))
    )
    print(f"sent {sent} reads")
    return 0


def _alerts(settings: Settings, args: argparse.Namespace) -> int:
    from streams.alerts.tail import alert_line, follow_topic

    async def run() -> int:
        count = 0
        async for _key, alert in follow_topic(
            settings.kafka,
            settings.topic("alerts"),
            from_beginning=not args.new,
            idle_timeout=args.timeout,
        ):
            if alert is None:
                continue
            print(alert_line(alert), flush=True)
            count += 1
            if args.max and count >= args.max:
                break
        return count

    asyncio.run(run())
    return 0


def _alert_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.alerts.desk import AlertDesk

    async def fold() -> list[AlertState]:
        async with AlertDesk(settings) as desk:
            return list(desk.board.states.values())

    now = _now()
    shown = 0
    for state in sorted(asyncio.run(fold()), key=lambda s: s.raised.raised_at, reverse=True):
        if args.open and not state.is_open:
            continue
        raised = state.raised
        left = state.time_left(now)
        clock = (
            "" if left is None else (" OVERDUE" if left.total_seconds() < 0 else f" confirm within {left}")
        )
        print(
            f"{state.alert_id}  {state.status:<13} {raised.entry.list_type} {raised.match_kind}: "
            f"{raised.read.plate} ~ {raised.entry.plate} at {raised.read.camera_id} "
            f"{raised.read.captured_at.isoformat()} ({len(state.sightings)} sightings){clock}"
        )
        shown += 1
    print(f"{shown} alerts")
    return 0


def _alert_transition(settings: Settings, args: argparse.Namespace) -> int:
    from streams.alerts.desk import AlertDesk
    from streams.alerts.lifecycle import Actor

    options = {
        "reason": "reason",
        "priority": "priority",
        "agency": "confirming_agency",
        "outcome": "disposition",
    }
    fields = {name: getattr(args, o) for o, name in options.items() if getattr(args, o, None) is not None}

    async def apply() -> AlertState:
        async with AlertDesk(settings) as desk:
            return await desk.transition(
                args.alert_id,
                args.action,
                Actor(args.signed_in.display, args.signed_in.badge),
                _now(),
                args.note,
                **fields,
            )

    state = asyncio.run(apply())
    print(f"{args.alert_id}: {state.status.replace('_', ' ')}")
    return 0


def _match(settings: Settings, args: argparse.Namespace) -> int:
    from streams.app import new_index
    from streams.matching.offline import match_files

    index = new_index(settings)
    now = datetime.now(UTC)
    hotlists = [Path(p) for p in args.hotlist]
    if args.out:
        with open(args.out, "wb") as out:
            report = match_files(index, hotlists, Path(args.reads), out, sys.stderr, now)
    else:
        report = match_files(index, hotlists, Path(args.reads), sys.stdout.buffer, sys.stderr, now)
        sys.stdout.flush()
    print(
        f"{report.entries} entries ({report.refused} refused), {report.reads} reads "
        f"({report.rejected} rejected), {report.alerts} alerts",
        file=sys.stderr,
    )
    return 0


def _breach_notice(settings: Settings, args: argparse.Namespace) -> int:
    """P27: the breach notice with the parking policy's fields; an incomplete incident writes nothing."""
    from streams.reports.breach import council_memo_reminder, write_notice

    out = Path(args.out) if args.out else None
    text, incident = write_notice(Path(args.incident), out, args.format, settings.profile, _now().date())
    if out is None:
        sys.stdout.write(text)
    else:
        print(f"wrote {out}")
    print(council_memo_reminder(incident), file=sys.stderr)
    return 0


def _aggregate(settings: Settings, args: argparse.Namespace) -> int:
    """P26 over P11: the daily counts (no plates) that outlive the reads, recomputed by whole days."""
    from streams.hotlists.feeder import parse_duration
    from streams.reports.aggregates import aggregate, keep_aggregating

    late = parse_duration(args.late)
    if args.every:
        asyncio.run(keep_aggregating(settings, parse_duration(args.every), _now, late))
        return 0
    day = _day(args.day, "--day") if args.day else None
    through = _day(args.through, "--through") if args.through else None
    asyncio.run(aggregate(settings, _now(), day=day, through=through, late=late))
    return 0


def _report_annual(settings: Settings, args: argparse.Namespace) -> int:
    """P26: the Annual Data Usage Report from the aggregates, the audit trail and the registries."""
    from streams.reports.annual import run_annual

    return asyncio.run(run_annual(settings, args.year, Path(args.out) if args.out else None, _now()))


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev import run_all

    return run_all(settings, duration=args.duration, rate=args.rate, cameras=args.cameras)


def _needs(parser: argparse.ArgumentParser, permission: str) -> None:
    """The command reads ALPR data: its user signs in with a password and a TOTP code (P18)."""
    parser.add_argument(
        "--user",
        required=True,
        help="your user name (password and code: prompted, or ALPR_PASSWORD and ALPR_TOTP_CODE)",
    )
    parser.set_defaults(needs=permission)


def _justification(parser: argparse.ArgumentParser) -> None:
    """P15-P17: why, what crime, which case; for another agency, the Commander's approval."""
    parser.add_argument("--case", required=True, help="case or incident number (P16)")
    parser.add_argument("--crime-type", required=True, help="the crime investigated, e.g. 'PC 211 robbery'")
    parser.add_argument("--on-behalf-of", help="agency id, when searching for another agency (P17)")
    parser.add_argument(
        "--commander", help="the Commander who approved a search for an agency without access"
    )
    parser.add_argument("--approved-on", help="date of the Commander's approval (YYYY-MM-DD)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alpr", description="ALPR streaming hot-list matcher")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "run", help="everything for a demo: broker, topics, worker, sample hot list, camera feed"
    )
    p.add_argument("--duration", type=float, default=None, help="seconds, then stop (default: until Ctrl-C)")
    p.add_argument("--rate", type=float, default=200.0, help="reads per second of the simulated feed")
    p.add_argument("--cameras", type=int, default=490)
    p.set_defaults(func=_run)

    p = sub.add_parser("broker", help="the embedded Apache Kafka broker on 127.0.0.1 (KRaft)")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--port", type=int, default=None, help="default: ALPR_EMBEDDED_PORT or 19092")
    p.add_argument(
        "--brokers",
        type=int,
        choices=[1, 3],
        default=1,
        help="nodes: 1, or 3 (on ports PORT..PORT+2: replication factor 3, min.insync.replicas 2)",
    )
    p.set_defaults(func=_broker)

    p = sub.add_parser(
        "topics", help="print the topics as the broker reports them; 'topics render' for deployment files"
    )
    p.add_argument("--create", action="store_true", help="create missing topics with their configs first")
    p.set_defaults(func=_topics)
    top = p.add_subparsers(dest="action", metavar="render")
    t = top.add_parser(
        "render",
        help="print the declared topics or Kafka users as deployment files (deploy/kafka/); needs no broker",
        description="Render the topic declaration (streams/kafka/topics.py) for ALPR_TOPIC_PREFIX, "
        "ALPR_PARTITIONS and the profile, with replication factor 3 and min.insync.replicas 2; or the "
        "services' Kafka principals and ACLs (streams/kafka/principals.py) for ALPR_TOPIC_PREFIX and "
        "ALPR_APP_ID.",
    )
    t.add_argument(
        "--format",
        required=True,
        choices=["strimzi", "kafka-configs", "strimzi-users", "kafka-acls"],
        help="strimzi: KafkaTopic resources (kafka.strimzi.io/v1); kafka-configs: a kafka-topics.sh "
        "script; strimzi-users: KafkaUser resources (SCRAM-SHA-512, ACLs); kafka-acls: a kafka-acls.sh "
        "script",
    )
    t.add_argument("--profile", help="agency profile to render for (default: ALPR_PROFILE, else san_jose)")
    t.add_argument("--cluster", default="alpr", help="Strimzi Kafka cluster name (default: alpr)")
    t.set_defaults(func=_topics_render)

    p = sub.add_parser(
        "retention", help="retention: check the cluster's topics against the profile (P11, P14)"
    )
    ret = p.add_subparsers(dest="action", required=True)
    r = ret.add_parser(
        "check", help="exit non-zero naming every topic that can keep data longer than allowed"
    )
    r.set_defaults(func=_retention_check)
    r = ret.add_parser(
        "roll",
        help="append a no-op tombstone to every compacted topic's partitions so that quiet ones "
        "roll their segments and released holds, old credentials and keys get compacted away",
    )
    r.add_argument("--every", help="repeat at this interval (e.g. 1h; at most the compacted segment.ms)")
    r.set_defaults(func=_retention_roll)

    p = sub.add_parser(
        "hold", help="evidence holds: reads tied to an investigation, kept past retention (P12)"
    )
    holds = p.add_subparsers(dest="action", required=True)
    h = holds.add_parser("add", help="hold a read (by id) or every read of a plate in a time range")
    which = h.add_mutually_exclusive_group(required=True)
    which.add_argument("--read-id")
    which.add_argument("--plate")
    h.add_argument("--captured-at", help="about when the read was captured: narrows the search")
    h.add_argument("--from", dest="start", help="with --plate: start of the range (RFC 3339 or now-2h)")
    h.add_argument("--to", dest="end", help="with --plate: end of the range")
    h.add_argument("--reason", required=True, help="why the read is evidence (the purpose, P15)")
    _justification(h)
    _needs(h, "hold")
    h.set_defaults(func=_hold_add)
    h = holds.add_parser("release", help="release a case's hold (the last release deletes the copy)")
    h.add_argument("--read-id", required=True)
    h.add_argument("--case", required=True)
    h.add_argument("--reason", required=True)
    _needs(h, "hold")
    h.set_defaults(func=_hold_release)
    h = holds.add_parser("list", help="held reads with their cases and age")
    _needs(h, "hold")
    h.set_defaults(func=_hold_list)

    p = sub.add_parser("replay", help="reconstruct an incident: the sightings of a time window (P11, P12)")
    p.add_argument("--from", dest="start", required=True, help="RFC 3339 time or now-2h")
    p.add_argument("--to", dest="end", required=True, help="RFC 3339 time or now")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--plate", help="one plate (OCR-equivalent reads included)")
    what.add_argument("--partial", help="a partial plate: ? one character, * any")
    p.add_argument("--camera", action="append", help="only these cameras (repeatable)")
    p.add_argument("--purpose", required=True, help="why (P15)")
    _justification(p)
    _needs(p, "replay")
    p.add_argument("--late", default="1h", help="how late a camera may upload a read (default 1h)")
    p.add_argument(
        "--rematch", action="store_true", help="what would have alerted, on the hot list of the time"
    )
    p.add_argument("--out", help="output folder (default replays/<time>)")
    p.set_defaults(func=_replay)

    p = sub.add_parser("audit", help="the audit trail: verify, report, sample (P14, P15, P23); vendor audits")
    aud = p.add_subparsers(dest="action", required=True)
    a = aud.add_parser("verify", help="check the audit trail's hash chains; name the first broken link")
    a.set_defaults(func=_audit_verify)
    a = aud.add_parser("report", help="access by user, agency, purpose over a period")
    a.add_argument("--from", dest="start", required=True, help="RFC 3339 time or now-30d")
    a.add_argument("--to", dest="end", default="now")
    a.set_defaults(func=_audit_report)
    a = aud.add_parser("sample", help="a random sample of searches for the periodic audit (P23)")
    a.add_argument("--n", type=int, default=10)
    a.add_argument("--months", type=int, default=6)
    a.add_argument("--seed", type=int, default=None, help="for a reproducible sample")
    a.set_defaults(func=_audit_sample)
    a = aud.add_parser("vendor", help="audit a vendor's search-history export (Flock)")
    a.add_argument("--format", choices=["flock"], required=True)
    a.add_argument("file", help="the search-audit export (CSV)")
    a.add_argument("--sharing", help="the sharing-agencies export (CSV)")
    a.add_argument("--sample", type=int, default=10, help="size of the P23 random sample")
    a.add_argument("--seed", type=int, default=None)
    a.add_argument("--out", help="also write the report (Markdown) and the offending rows (CSV) here")
    a.set_defaults(func=_audit_vendor)

    p = sub.add_parser("retro-hunt", help="look back through recent reads for each newly listed plate")
    p.set_defaults(func=_retro_hunt)

    p = sub.add_parser("worker", help="run the stream worker")
    p.set_defaults(func=_worker)

    p = sub.add_parser("hotlist", help="hot lists: feeds, department entries, imports")
    hot = p.add_subparsers(dest="action", required=True)
    h = hot.add_parser("sync", help="sync a feed extract as a diff (P3)")
    h.add_argument("--format", required=True, help="ncic, svs or ndjson")
    h.add_argument("--from", dest="path", required=True, help="extract file or directory")
    h.add_argument("--source", help="the source it feeds (default: what the extract says)")
    h.add_argument(
        "--force", action="store_true", help="apply even if it removes more than the allowed share"
    )
    h.add_argument(
        "--every", help="keep syncing at this interval, e.g. 12h (retries with backoff on failure)"
    )
    h.set_defaults(func=_hotlist_sync)
    h = hot.add_parser("sources", help="sync status of each feed")
    h.set_defaults(func=_hotlist_sources)
    h = hot.add_parser("pending", help="department entries awaiting completion or approval")
    h.set_defaults(func=_hotlist_pending)
    h = hot.add_parser("add", help="propose a department entry (P2): active after a lieutenant approves it")
    h.add_argument("--plate", required=True, help="plate, or a partial pattern with ? and * (P6)")
    h.add_argument("--state", default=None)
    h.add_argument("--list-type", default="bolo")
    h.add_argument("--reason", required=True, help="synopsis naming the presumed crime or other purpose")
    h.add_argument("--case", default=None, help="case number")
    h.add_argument("--entered-by", required=True, help="name of the entering member")
    h.add_argument("--badge", required=True)
    h.add_argument("--assignment", required=True)
    h.add_argument("--expires", default="30d", help="duration (30d), RFC 3339 time, or never")
    h.add_argument("--entry-id", default=None)
    h.set_defaults(func=_hotlist_add)
    h = hot.add_parser("approve", help="a lieutenant (or above) approves a pending entry")
    h.add_argument("key")
    h.add_argument("--by", required=True)
    h.add_argument("--badge", required=True)
    h.add_argument("--rank", required=True)
    h.set_defaults(func=_hotlist_approve)
    h = hot.add_parser("remove", help="the entering member or their designee removes a department entry")
    h.add_argument("key")
    h.add_argument("--by", required=True)
    h.add_argument("--badge", required=True)
    h.add_argument("--designee-of", default=None, help="badge of the entering member you act for")
    h.add_argument("--reason", required=True)
    h.set_defaults(func=_hotlist_remove)
    h = hot.add_parser("import", help="import a vendor's hot list as pending department entries")
    h.add_argument("--format", required=True, help="flock")
    h.add_argument("path")
    h.add_argument("--entered-by", default=None, help="member the imported entries are attributed to")
    h.add_argument("--badge", default=None)
    h.add_argument("--assignment", default=None)
    h.set_defaults(func=_hotlist_import)
    h = hot.add_parser("serve", help="HTTP endpoint for department entries (bind to 127.0.0.1)")
    h.add_argument("--host", default="127.0.0.1")
    h.add_argument("--port", type=int, default=8081)
    h.set_defaults(func=_hotlist_serve)

    p = sub.add_parser("simulate", help="a simulated feed of cameras")
    p.add_argument("--cameras", type=int, default=490)
    p.add_argument("--rate", type=float, default=200.0, help="reads per second")
    p.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    p.add_argument("--hit-rate", type=float, default=0.01, help="share of reads of listed plates")
    p.add_argument("--hotlist", default=str(SAMPLES / "hotlist.ndjson"))
    p.set_defaults(func=_simulate)

    p = sub.add_parser("alerts", help="print alerts from the alerts topic")
    p.add_argument("--new", action="store_true", help="only alerts raised from now on")
    p.add_argument("--max", type=int, default=0, help="stop after this many")
    p.add_argument("--timeout", type=float, default=None, help="stop after this many idle seconds")
    _needs(p, "alerts")
    p.set_defaults(func=_alerts)

    p = sub.add_parser("alert", help="work alerts: verify, validate, confirm, disposition (P7-P9)")
    acts = p.add_subparsers(dest="action", required=True)
    a = acts.add_parser("list", help="alerts, newest first, with their state and confirmation clock")
    a.add_argument("--open", action="store_true", help="only alerts still open")
    _needs(a, "alerts")
    a.set_defaults(func=_alert_list)
    for name, text in (
        ("verify", "the plate characters and state match the image: Tentative Hit"),
        ("reject", "close the alert: misread, wrong state, not the vehicle, entry no longer active"),
        ("validate", "the entry is active per CLETS/dispatch: Live Query Transaction"),
        ("confirm", "the entering agency confirmed: Confirmed Hit"),
        ("disposition", "record what happened (P9)"),
    ):
        a = acts.add_parser(name, help=text)
        a.add_argument("alert_id")
        a.add_argument("--note", default="")
        _needs(a, "alerts")
        if name == "reject":
            a.add_argument("--reason", required=True)
        if name == "validate":
            a.add_argument("--priority", choices=["urgent", "routine"], default="routine")
        if name == "confirm":
            a.add_argument("--agency", required=True, help="confirming agency (ORI)")
        if name == "disposition":
            a.add_argument("--outcome", required=True)
        a.set_defaults(func=_alert_transition)

    p = sub.add_parser("console", help="the dispatch console and CAD API (http://127.0.0.1:8080)")
    p.set_defaults(func=_console)

    p = sub.add_parser("demo-code", help="the 'alpr run' demo user's current authenticator code")
    p.set_defaults(func=_demo_code)

    p = sub.add_parser("agency", help="agencies and sharing agreements (P19)")
    ag = p.add_subparsers(dest="action", required=True)
    g = ag.add_parser("add", help="register an agency: California law enforcement only (P19)")
    g.add_argument("id", help="agency id (its ORI where it has one)")
    g.add_argument("--name", required=True)
    g.add_argument(
        "--type", required=True, help="municipal_police, county_sheriff, state_law_enforcement, ..."
    )
    g.add_argument("--state", default="CA")
    g.add_argument("--agreement", choices=["home", "signed", "none"], default="none")
    g.add_argument("--agreement-date", help="when the sharing agreement was signed")
    g.add_argument("--by", required=True, help="the administrator")
    g.set_defaults(func=_agency_add)
    g = ag.add_parser("list")
    g.set_defaults(func=_agency_list)

    p = sub.add_parser("user", help="users: individual credentials, role, agency, training (P18, P21)")
    us = p.add_subparsers(dest="action", required=True)
    u = us.add_parser(
        "add", help="add a user (password from ALPR_NEW_PASSWORD or a prompt); prints the TOTP secret"
    )
    u.add_argument("name")
    u.add_argument(
        "--role",
        required=True,
        choices=["dispatcher", "officer", "analyst", "administrator", "auditor", "external"],
    )
    u.add_argument("--agency", required=True)
    u.add_argument("--badge", required=True)
    u.add_argument("--display", help="name shown on what the user does (default: the name)")
    u.add_argument("--by", required=True, help="the administrator")
    u.set_defaults(func=_user_add)
    u = us.add_parser("train", help="record completed ALPR training (P21): required before sign-in")
    u.add_argument("name")
    u.add_argument("--course", required=True)
    u.add_argument("--completed", required=True, help="date, e.g. 2026-11-02")
    u.add_argument("--by", required=True)
    u.set_defaults(func=_user_train)
    u = us.add_parser("disable", help="disable a user")
    u.add_argument("name")
    u.add_argument("--by", required=True)
    u.set_defaults(func=_user_disable)
    u = us.add_parser("list")
    u.set_defaults(func=_user_list)

    p = sub.add_parser("camera", help="the camera registry; sensitive sites (P24)")
    cams = p.add_subparsers(dest="action", required=True)
    c = cams.add_parser(
        "add",
        help="register a camera (administrators); a fixed camera facing a sensitive site is refused (P24)",
        description="A fixed camera within ALPR_SENSITIVE_SITE_DISTANCE_M (default 150 m) of a site of "
        "ALPR_SENSITIVE_SITES, facing it, is refused (exit 2) naming the site and the distance.",
    )
    c.add_argument("--id", required=True, help="the camera_id its reads carry")
    c.add_argument("--name", required=True, help="where it is, e.g. 'N 1st St & E Santa Clara St, NB'")
    c.add_argument("--agency", required=True, help="id of the operating agency (alpr agency list)")
    c.add_argument("--kind", required=True, choices=["fixed", "mobile"])
    c.add_argument("--lat", required=True, type=float, help="latitude, degrees (WGS84)")
    c.add_argument("--lon", required=True, type=float, help="longitude, degrees (WGS84)")
    c.add_argument(
        "--facing", type=float, help="compass bearing it faces, 0-360 (0 north, 90 east); fixed: required"
    )
    c.add_argument("--installed", help="install date, YYYY-MM-DD (default: not recorded)")
    _needs(c, "admin")
    c.set_defaults(func=_camera_add)
    c = cams.add_parser(
        "update", help="change a camera (administrators); a new position or facing is checked again (P24)"
    )
    c.add_argument("id")
    c.add_argument("--name")
    c.add_argument("--agency")
    c.add_argument("--lat", type=float)
    c.add_argument("--lon", type=float)
    c.add_argument("--facing", type=float)
    c.add_argument("--installed", help="YYYY-MM-DD")
    _needs(c, "admin")
    c.set_defaults(func=_camera_update)
    c = cams.add_parser("retire", help="retire a camera (administrators): it stays listed with --all")
    c.add_argument("id")
    _needs(c, "admin")
    c.set_defaults(func=_camera_retire)
    c = cams.add_parser("list", help="active cameras (--all: retired ones too)")
    c.add_argument("--all", action="store_true", help="include retired cameras")
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
    c.set_defaults(func=_camera_sites_check)
    c = sites.add_parser(
        "add",
        help="add a sensitive site to ALPR_SENSITIVE_SITES (administrators); exit 1 naming the cameras "
        "that now face it",
    )
    c.add_argument("--id", help="the site's id")
    c.add_argument("--name")
    c.add_argument(
        "--category", help="reproductive_health_care, religious_observance or consulate_or_embassy"
    )
    c.add_argument("--lat", type=float)
    c.add_argument("--lon", type=float)
    c.add_argument("--feature", help="a GeoJSON Feature file (a Polygon site) instead of the fields above")
    _needs(c, "admin")
    c.set_defaults(func=_camera_sites_add)
    c = sites.add_parser("remove", help="remove a sensitive site (administrators)")
    c.add_argument("id")
    _needs(c, "admin")
    c.set_defaults(func=_camera_sites_remove)
    c = sites.add_parser("list", help="the sensitive sites of ALPR_SENSITIVE_SITES")
    c.set_defaults(func=_camera_sites_list)
    c = cams.add_parser("key", help="a camera's key for alpr ingest (administrators)")
    keys = c.add_subparsers(dest="key_action", required=True)
    c = keys.add_parser("issue", help="a new key, printed once; the camera's old key stops working")
    c.add_argument("id")
    _needs(c, "admin")
    c.set_defaults(func=_camera_key_issue)
    c = keys.add_parser("revoke", help="revoke the camera's key: its reads are refused (403)")
    c.add_argument("id")
    _needs(c, "admin")
    c.set_defaults(func=_camera_key_revoke)
    p = sub.add_parser(
        "ingest",
        help="the HTTP endpoint cameras post reads to (POST /v1/reads on ALPR_INGEST_HOST:ALPR_INGEST_PORT)",
    )
    p.set_defaults(func=_ingest)

    p = sub.add_parser("match", help="match reads against hot lists offline (no broker)")
    p.add_argument("--hotlist", action="append", required=True, help="NDJSON hot-list entries (repeatable)")
    p.add_argument("--reads", required=True, help="NDJSON reads or read batches")
    p.add_argument("--out", help="write alerts here (NDJSON) instead of standard output")
    p.set_defaults(func=_match)

    p = sub.add_parser(
        "aggregate",
        help="daily counts without plates for the annual report (P26), kept after reads expire (P11)",
        description="Recompute whole closed UTC days from the reads, alerts and audit topics and write "
        "their counts to the aggregates topic (re-running writes the same records). Without --day or "
        "--through: every closed day within the read retention not aggregated yet. Run it daily.",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--day", help="recompute this UTC day (YYYY-MM-DD)")
    when.add_argument("--through", help="recompute every day within the read retention up to this one")
    when.add_argument("--every", help="keep running: aggregate the missing days at this interval, e.g. 24h")
    p.add_argument(
        "--late", default="6h", help="uploads up to this long after a day's end count in it (default 6h)"
    )
    p.set_defaults(func=_aggregate)

    p = sub.add_parser("report", help="reports the program owes the public (P26)")
    rep = p.add_subparsers(dest="action", required=True)
    r = rep.add_parser(
        "annual",
        help="the Annual Data Usage Report: reads and hits by location, records accessed, accuracy",
    )
    r.add_argument("--year", type=int, required=True)
    r.add_argument("--out", help="output folder (default ./annual-report-YYYY)")
    r.set_defaults(func=_report_annual)

    p = sub.add_parser("breach", help="data breach notification (P27)")
    br = p.add_subparsers(dest="action", required=True)
    b = br.add_parser(
        "notice",
        help="the 'Notification of Data Breach' text from an incident description (TOML)",
        description="Write the notice with every field of the parking policy's DATA BREACH NOTIFICATION "
        "REQUIREMENTS, from an incident file like samples/breach-incident.toml. An incomplete or "
        "inconsistent incident is refused (exit 2) naming each problem, and nothing is written.",
    )
    b.add_argument("--incident", required=True, help="the incident description (TOML)")
    b.add_argument("--out", help="write the notice here instead of standard output")
    b.add_argument(
        "--format", choices=["md", "txt"], default="md", help="Markdown or plain text (default md)"
    )
    b.set_defaults(func=_breach_notice)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        if getattr(args, "needs", None):
            args.signed_in = _sign_in(settings, args, args.needs)
        return int(args.func(settings, args))
    except AlprError as exc:
        print(f"alpr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
