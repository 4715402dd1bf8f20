"""``alpr run`` and ``alpr simulate``: the whole pipeline on one machine, for a first look."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import orjson
from aiokafka import TopicPartition

from streams.access.principal import Principal
from streams.access.secretbox import private_dir, private_file
from streams.alerts.tail import alert_line
from streams.cameras.sites import ExclusionZones, Violation
from streams.codec import entry_from_dict, loads
from streams.errors import AlprError, ConfigError, InvalidRecord, PolicyViolation
from streams.hotlists.records import load_entries_file, ndjson_lines
from streams.images.store import open_store
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.topics import create_topics
from streams.matching.normalize import OcrClasses
from streams.reads.producer import ReadProducer
from streams.reads.simulator import CameraFeed, FixedCamera, run_feed, street_place
from streams.settings import Settings

__all__ = [
    "Tally",
    "demo_alert_line",
    "load_demo_cameras",
    "run_all",
    "simulate",
    "stop_process",
    "summary_line",
]

T = TypeVar("T")

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_HOTLIST = SAMPLES / "hotlist.ndjson"
SAMPLE_SITES = SAMPLES / "sensitive-sites.geojson"
DEMO_CAMERAS = SAMPLES / "demo-cameras.toml"
#: How often the demo prints its summary of what happened (when something did).
SUMMARY_EVERY_S = 30.0


def _listed_plates(path: Path) -> list[tuple[str, str | None]]:
    entries, _ = load_entries_file(path)
    return [(e.plate, e.plate_state) for e in entries if not e.is_partial]


def _fresh_copy(sample: Path, folder: Path, now: datetime) -> Path:
    """A sample extract as the feed would deliver it now: the same records, generated now."""
    lines = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = re.sub(r"[^|,]+$", now.strftime("%Y-%m-%dT%H:%M:%SZ"), lines[0].rstrip("\r\n")) + "\n"
    target = folder / sample.name
    private_file(target, "".join(lines).encode())  # plates: owner-only, like the rest of .alpr/
    return target


async def load_demo_hotlists(settings: Settings, admin: Principal | None) -> list[str]:
    """Sync the sample feeds (as the demo administrator), propose the sample department entries
    (as the demo analyst) and approve them (as the demo lieutenant), through the use cases (P2)."""

    from streams.access.directory import DirectoryStore
    from streams.hotlists import usecases

    if admin is None:
        return ["  (the directory has its own users: sync and approve with yours)"]
    now = datetime.now(UTC)
    feeds = settings.state_dir / "feeds"
    lines = []
    for fmt, name in (("ncic", "ncic_lpr_extract.txt"), ("svs", "svs_slr.csv"), ("svs", "svs_sfr.csv")):
        copy = _fresh_copy(SAMPLES / "feeds" / name, feeds, now)
        report = await usecases.sync(admin, settings, fmt, copy, None, now)
        lines.append(f"  {', '.join(sorted(report.plan.sources))}: {report.plan.summary}")
        lines += [f"    {problem}" for problem in report.plan.dropped + report.plan.errors]
    directory = await DirectoryStore(settings).load()
    analyst = directory.user(DEMO_USER).principal()
    lieutenant = directory.user(DEMO_LIEUTENANT_USER).principal()
    pending = await usecases.pending(lieutenant, settings, now)
    for _, line in ndjson_lines(SAMPLES / "department.ndjson"):
        # the sample names its own officers; in the demo the analyst enters it (P2: never typed)
        entry = msgspec.structs.replace(entry_from_dict(loads(line)), entered_by=None)
        if entry.key not in pending:
            await usecases.propose(analyst, settings, entry, "demo", now)
        await usecases.approve(lieutenant, settings, entry.key, now)
        lines.append(f"  {entry.key}: proposed by {analyst.display}, approved by {lieutenant.display}")
    return lines


async def demo_service(settings: Settings, admin: Principal, name: str, role: str) -> str:
    """A demo service account's token (automation never runs as a person, P18), created once and
    kept in the owner-only credentials file."""
    from streams.access.directory import DirectoryStore

    path = _credentials_path(settings)
    saved: dict[str, Any] = orjson.loads(path.read_bytes()) if path.is_file() else {}
    tokens: dict[str, str] = dict(saved.get("services", {}))
    store = DirectoryStore(settings)
    account = (await store.load()).services.get(name)
    if name not in tokens or account is None or not account.active:
        tokens[name] = await store.add_service(name, role, HOME, admin, datetime.now(UTC))
        private_file(path, orjson.dumps({**saved, "services": tokens}, option=orjson.OPT_INDENT_2))
    return tokens[name]


async def simulate(
    settings: Settings,
    cameras: int,
    rate: float,
    duration: float | None,
    hit_rate: float,
    hotlist: Path,
    by: Principal | None,
) -> int:
    """A simulated feed of mobile units; its cameras are registered first by the signed-in
    administrator ``by`` (None: they are registered already)."""
    feed = demo_feed(settings, cameras, hit_rate, hotlist)
    if by is not None:
        await register_simulated_cameras(settings, feed, by)
    async with ReadProducer.for_settings(settings) as producer:
        return await run_feed(producer, feed, rate, duration, open_store(settings))


def demo_feed(
    settings: Settings, cameras: int, hit_rate: float, hotlist: Path, fixed: Sequence[FixedCamera] = ()
) -> CameraFeed:
    """The simulated feed: its mobile units based outside the exclusion zones of the configured
    sensitive sites (P24: a base inside one would be refused at registration)."""
    from streams.cameras.registry import sensitive_sites

    avoid = (
        ExclusionZones(sensitive_sites(settings), settings.sensitive_site_distance_m)
        if settings.sensitive_sites is not None
        else None
    )
    listed = _listed_plates(hotlist) if hit_rate > 0 else []
    ocr = OcrClasses.of(settings.ocr_classes)
    return CameraFeed(cameras, hit_rate, listed, ocr, seed=os.getpid(), avoid=avoid, fixed=fixed)


#: The demo's home agency: the demo users' and the simulated cameras'.
HOME = "SJPD"


async def ensure_home_agency(settings: Settings, by: Principal, now: datetime) -> None:
    """Register the demo's home agency (the profile's department) unless it is registered."""
    from streams.access.directory import Agency, DirectoryStore

    store = DirectoryStore(settings)
    if (await store.load()).agency(HOME) is None:
        await store.add_agency(
            Agency(HOME, settings.profile.agency, "municipal_police", settings.profile.state, "home"), by, now
        )


async def register_simulated_cameras(settings: Settings, feed: CameraFeed, by: Principal) -> int:
    """Register the feed's cameras (mobile units, agency SJPD) that are not registered yet: the
    worker screens reads only from registered cameras (issue 9). Returns how many were added."""
    from streams.cameras.registry import Camera, CameraStore

    now = datetime.now(UTC)
    await ensure_home_agency(settings, by, now)
    store = CameraStore(settings)
    registered = (await store.load()).cameras
    new = [
        Camera(camera_id, f"simulated patrol unit {camera_id}", HOME, "mobile", round(lat, 6), round(lon, 6))
        for camera_id, lat, lon in feed.camera_sites()
        if camera_id not in registered
    ]
    await store.add_many(new, by, now)
    return len(new)


def load_demo_cameras(path: Path = DEMO_CAMERAS) -> list[FixedCamera]:
    """The demo's fixed cameras from their sample file (``[[camera]]`` tables: id, name, lat, lon,
    facing_deg)."""
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8")).get("camera", [])
        return [
            FixedCamera(
                str(t["id"]), str(t["name"]), float(t["lat"]), float(t["lon"]), float(t["facing_deg"])
            )
            for t in tables
        ]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{path}: not a list of demo cameras ({exc}); give [[camera]] tables with id, name, lat, "
            "lon and facing_deg"
        ) from exc


def refusal_line(camera: FixedCamera, found: Sequence[Violation]) -> str:
    """The demo's one plain line for a fixed camera refused at registration (P24)."""
    nearest = min(found, key=lambda v: v.distance_m)
    where = "inside" if nearest.inside else f"within {nearest.distance_m:.0f} m of"
    return (
        f"camera {camera.name} ({camera.id}) not registered: {where} a {nearest.site.label} site "
        f"({nearest.site.name}), facing it (P24)"
    )


async def register_fixed_cameras(
    settings: Settings, cameras: Sequence[FixedCamera], by: Principal | None
) -> tuple[list[FixedCamera], list[str]]:
    """Register the demo's fixed cameras through the registry's use case, one by one, so that the
    ones facing a sensitive site are refused (P24) and the others still placed. Returns the
    cameras registered and active (in the feed) and a line for each refused."""
    from streams.cameras.registry import Camera, CameraStore, placement_violations

    store = CameraStore(settings)
    registry = (await store.load()).cameras
    lines = []
    if by is not None:
        now = datetime.now(UTC)
        await ensure_home_agency(settings, by, now)
        for fixed in cameras:
            if fixed.id in registry:
                continue
            camera = Camera(fixed.id, fixed.name, HOME, "fixed", fixed.lat, fixed.lon, fixed.facing_deg)
            try:
                await store.add(camera, by, now)
            except PolicyViolation as exc:
                found = placement_violations(camera, store.sites(), settings.sensitive_site_distance_m)
                lines.append(
                    refusal_line(fixed, found) if found else f"camera {fixed.id} not registered: {exc}"
                )
        registry = (await store.load()).cameras
    placed = [c for c in cameras if c.id in registry and registry[c.id].active]
    return placed, lines


async def camera_names(settings: Settings) -> tuple[dict[str, str], frozenset[str]]:
    """Camera id -> its registered name, and the ids of the mobile cameras, for the alert lines."""
    from streams.cameras.registry import CameraStore

    cameras = (await CameraStore(settings).load()).cameras.values()
    return {c.id: c.name for c in cameras}, frozenset(c.id for c in cameras if c.kind == "mobile")


def with_demo_sites(settings: Settings) -> Settings:
    """The settings with the sample sensitive sites unless ALPR_SENSITIVE_SITES names others: the
    demo's fixed cameras can then be placed, and judged (P24)."""
    if settings.sensitive_sites is not None:
        return settings
    return dataclasses.replace(settings, sensitive_sites=SAMPLE_SITES)


DEMO_ADMIN = "demo-admin"
DEMO_USER = "demo"
DEMO_LIEUTENANT_USER = "demo-lt"
#: The demo's people: (name, display, badge, role, rank, assignment). The administrator is
#: bootstrapped; the others are added by it through the directory's use cases (P18, P21).
DEMO_PEOPLE = (
    (DEMO_USER, "Demo Analyst", "A-101", "analyst", None, "Crime Analysis Unit"),
    (
        DEMO_LIEUTENANT_USER,
        "Lt. Marcus Hale",
        "2210",
        "lieutenant",
        "lieutenant",
        "Southern Division",
    ),
)


def _credentials_path(settings: Settings) -> Path:
    return settings.state_dir / "demo-credentials.json"


async def demo_people(settings: Settings) -> tuple[str, Principal | None]:
    """The demo's directory, created once per broker: bootstrap a demo administrator while the
    directory is empty, then add the demo analyst and lieutenant acting as that administrator.
    Passwords go to an owner-only file (0600 in the 0700 state directory); authenticator secrets
    stay sealed in the directory (``alpr demo-code`` opens them). Returns the line to print and
    the administrator's principal (None when the directory belongs to someone else)."""
    import secrets

    from streams.access.directory import Agency, DirectoryStore

    store = DirectoryStore(settings)
    path = _credentials_path(settings)
    saved: dict[str, Any] = orjson.loads(path.read_bytes()) if path.is_file() else {}
    passwords: dict[str, str] = dict(saved.get("passwords", {}))
    directory = await store.load()
    now = datetime.now(UTC)
    training = ("ALPR user training (demo)", now.date().isoformat())
    if not directory.users:
        home = Agency(HOME, settings.profile.agency, "municipal_police", settings.profile.state, "home")
        passwords[DEMO_ADMIN] = secrets.token_urlsafe(12)
        admin, _secret = await store.bootstrap(
            home, DEMO_ADMIN, passwords[DEMO_ADMIN], display="Demo Administrator", badge="ADM-100",
            rank=None, now=now,
        )  # fmt: skip
        await store.record_training(DEMO_ADMIN, *training, admin.principal(), now)
        directory = await store.load()
    admin_user = directory.users.get(DEMO_ADMIN)
    if admin_user is None or admin_user.role != "administrator" or not admin_user.active:
        return "the directory has its own users: sign in with yours (alpr login)", None
    by = admin_user.principal()
    for name, display, badge, role, rank, assignment in DEMO_PEOPLE:
        if name in directory.users:
            continue
        passwords[name] = secrets.token_urlsafe(12)
        await store.add_user(
            name, passwords[name], display=display, badge=badge, agency=HOME, role=role, by=by,
            now=now, rank=rank, assignment=assignment,
        )  # fmt: skip
        await store.record_training(name, *training, by, now)
    if passwords != saved.get("passwords"):
        demo = {"user": DEMO_USER, "password": passwords.get(DEMO_USER), "passwords": passwords}
        private_file(path, orjson.dumps(demo, option=orjson.OPT_INDENT_2))
    line = (
        f"user {DEMO_USER} (analyst; also {DEMO_LIEUTENANT_USER}, {DEMO_ADMIN}), passwords in {path}; "
        "current code: .venv/bin/alpr demo-code [--user NAME]"
    )
    return line, by


def demo_code(settings: Settings, user: str = DEMO_USER) -> str:
    """A demo user's current authenticator code (a development convenience): the secret is opened
    from the directory with the directory key, or read from an older credentials file."""
    from streams.access.directory import DirectoryStore
    from streams.access.totp import code_at

    credentials = _credentials_path(settings)
    if not credentials.is_file():
        raise AlprError(f"{credentials} does not exist: run 'alpr run' first")
    data = orjson.loads(credentials.read_bytes())
    if user == data.get("user") and data.get("totp_secret"):
        return code_at(str(data["totp_secret"]), datetime.now(UTC))
    if user not in data.get("passwords", {}):
        raise AlprError(f"{user} is not a demo user of {credentials}")
    store = DirectoryStore(settings)
    secret = store.totp_secret(asyncio.run(store.load()).user(user))
    return code_at(secret, datetime.now(UTC))


def _spawn(
    command: str, log_path: Path, settings: Settings, extra: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # owner-only from creation
    with os.fdopen(fd, "ab") as log:
        return subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, "-m", "streams.cli", *command.split()],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **_demo_env(settings), **(extra or {})},
        )


def _demo_env(settings: Settings) -> dict[str, str]:
    """What every process the demo starts is told: its broker, and the sensitive sites (P24)."""
    env = {"ALPR_BROKER_URL": settings.faust_broker}
    if settings.sensitive_sites is not None:
        env["ALPR_SENSITIVE_SITES"] = str(settings.sensitive_sites)
    return env


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM (a worker commits and leaves its group), then SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass(frozen=True, slots=True)
class Tally:
    """What the demo has seen so far: its summary lines are made from two of these."""

    open_alerts: int = 0
    sightings: int = 0  # sightings added to open alerts, since the demo started (P9)
    screened: int | None = None  # reads the worker screened (None: its metrics did not answer)
    rejected: int | None = None  # reads and records the worker rejected
    excluded: int = 0  # reads not sent: captured inside a sensitive site's exclusion zone (P24)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def summary_line(at: datetime, now: Tally, last: Tally | None) -> str | None:
    """The periodic summary that stands in for a line per sighting; None when nothing changed
    since ``last`` (the previous summary's tally; None: there was none)."""
    if now == last:
        return None
    parts = [
        _plural(now.open_alerts, "open alert"),
        f"{_plural(now.sightings - (last.sightings if last else 0), 'sighting')} since the last summary",
    ]
    if now.screened is not None:
        parts.append(f"{_plural(now.screened, 'read')} screened")
    if now.rejected is not None:
        parts.append(f"{now.rejected:,} rejected")
    if now.excluded:
        parts.append(f"{now.excluded:,} not stored: inside a sensitive site's zone (P24)")
    return f"[{at:%H:%M:%S}] summary: {', '.join(parts)}"


def _local_time(value: object) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return str(value)


def demo_alert_line(
    alert: Mapping[str, Any], names: Mapping[str, str], mobile: Collection[str] = frozenset()
) -> str:
    """One line per new alert: when it was read, the plate, the list, the camera by name (and, for
    a patrol unit, the street it was on) and the match kind; unverified until a person compares
    the read with the entry (P7)."""
    read, listed = alert.get("plate_read"), alert.get("plate_listed")
    plate = f"{listed} (read {read})" if read != listed else str(listed)
    flags = []
    if alert.get("state_mismatch"):
        flags.append("STATE DIFFERS")
    if alert.get("historical") or alert.get("captured_age_s") is not None:
        flags.append("HISTORICAL READ")
    camera = str(alert.get("camera_id"))
    where = names.get(camera, camera)
    lat, lon = alert.get("lat"), alert.get("lon")
    if camera in mobile and isinstance(lat, float) and isinstance(lon, float):
        # A patrol unit's name says nothing of where it was (a fixed camera's name is its place).
        place = street_place(lat, lon)
        if place:
            where += f" {place}" if place.startswith("near ") else f" on {place}"
    extra = f" [{', '.join(flags)}]" if flags else ""
    return (
        f"ALERT ({str(alert.get('status', '?')).upper()}) {_local_time(alert.get('captured_at'))} "
        f"{plate} ({alert.get('plate_state_listed') or '--'}) {alert.get('list_type')} "
        f"at {where}: {alert.get('match_kind')} match{extra} | id {alert.get('alert_id')}"
    )


def _worker_counts(settings: Settings) -> tuple[int | None, int | None]:
    """Reads screened and rejected, from the worker's /metrics (None, None: it did not answer)."""
    if not settings.metrics_port:
        return None, None
    host = "127.0.0.1" if settings.metrics_host in ("", "0.0.0.0") else settings.metrics_host  # noqa: S104
    try:
        with urllib.request.urlopen(f"http://{host}:{settings.metrics_port}/metrics", timeout=2) as resp:  # noqa: S310
            text = resp.read().decode()
    except OSError:
        return None, None
    screened = rejected = 0.0
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == "alpr_reads_total":
            screened += float(value)
        elif name.startswith("alpr_rejected_total{"):
            rejected += float(value)
    return int(screened), int(rejected)


#: Alert events that close an alert (P8, P9).
_CLOSING = ("AlertRejected", "AlertDispositioned")


async def _demo(
    settings: Settings,
    processes: dict[str, tuple[subprocess.Popen[bytes], Path]],
    duration: float | None,
    rate: float,
    feed: CameraFeed,
    names: Mapping[str, str],
    mobile: Collection[str],
) -> tuple[int, int]:
    """Gate, feed, drain: the feed starts when the worker screens (``--duration`` counts from then)
    and the demo ends when the worker has committed all it was sent and every alert it raised has
    been shown. A process that exits ends the demo at once, with its log named. New alerts are
    shown as they come; sightings are counted into a summary every SUMMARY_EVERY_S seconds."""
    from streams.kafka.log import TopicFollower
    from streams.readiness import DRAIN_TIMEOUT_S, wait_worker_drained, wait_worker_ready

    alerts = sightings = 0
    open_alerts: set[str] = set()
    producer = ReadProducer.for_settings(settings)

    def show(_tp: TopicPartition, record: object) -> None:
        nonlocal alerts, sightings
        value = getattr(record, "value", None)
        try:
            alert = loads(value) if value is not None else None
        except InvalidRecord:
            print(f"  (a record on {settings.topic('alerts')} that is not an alert: skipped)", flush=True)
            return
        if not isinstance(alert, dict):
            return
        event = alert.get("event")
        if event == "AlertSighted":
            sightings += 1  # counted into the summary: a line each would bury the alerts
            return
        if event == "AlertRaised":
            alerts += 1
            open_alerts.add(str(alert.get("alert_id")))
            print(demo_alert_line(alert, names, mobile), flush=True)
            return
        if event in _CLOSING:
            open_alerts.discard(str(alert.get("alert_id")))
        print(alert_line(alert), flush=True)

    async def tally() -> Tally:
        screened, rejected = await asyncio.to_thread(_worker_counts, settings)
        excluded = sum(producer.reads_excluded.values())
        return Tally(len(open_alerts), sightings, screened, rejected, excluded)

    last: Tally | None = None

    async def summarize() -> None:
        nonlocal last
        now = await tally()
        line = summary_line(datetime.now(UTC).astimezone(), now, last)
        if line is not None:
            print(line, flush=True)
        last = now

    async def summaries() -> None:
        while True:
            await asyncio.sleep(SUMMARY_EVERY_S)
            await summarize()

    async def watch_processes() -> None:
        while True:
            for name, (proc, log_path) in processes.items():
                if proc.poll() is not None:
                    raise AlprError(f"the {name} exited with status {proc.returncode}; see {log_path}")
            await asyncio.sleep(0.5)

    async def unless_a_process_exits(step: Coroutine[Any, Any, T]) -> T:
        task = asyncio.create_task(step)
        try:
            await asyncio.wait({task, watching}, return_when=asyncio.FIRST_COMPLETED)
            if watching.done():
                watching.result()  # raises: a process exited
            return task.result()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    shown = TopicFollower(settings.kafka, [settings.topic("alerts")], show)
    watching = asyncio.create_task(watch_processes())
    following: asyncio.Task[None] | None = None
    summarizing: asyncio.Task[None] | None = None
    try:
        await unless_a_process_exits(wait_worker_ready(settings))
        print("worker ready: partitions assigned, hot list loaded; starting the camera feed", flush=True)
        await shown.start(since_ms=int(time.time() * 1000))  # alerts raised from now on
        following = asyncio.create_task(shown.run())
        summarizing = asyncio.create_task(summaries())
        async with producer:
            sent = await unless_a_process_exits(
                run_feed(producer, feed, rate, duration, open_store(settings))
            )
        await unless_a_process_exits(wait_worker_drained(settings))
        try:
            await unless_a_process_exits(asyncio.wait_for(shown.caught_up(), DRAIN_TIMEOUT_S))
        except TimeoutError as exc:
            raise AlprError(
                f"the alerts topic was not read to its end within {DRAIN_TIMEOUT_S:.0f} s"
            ) from exc
        summarizing.cancel()
        await summarize()  # the last word: everything the feed sent has been screened
        return sent, alerts
    finally:
        for task in (summarizing, following, watching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, AlprError):
                    await task
        await shown.stop()


def _stop_on_signal(_signum: int, _frame: object) -> None:
    """SIGTERM or SIGHUP (``kill``, a closed terminal) stop the demo as Ctrl-C does: the children
    and the embedded broker, which runs in a session of its own, are stopped, not left behind.

    It is turned into a SIGINT, not raised here: inside the demo's event loop asyncio's own SIGINT
    handling cancels the running step, so every ``finally`` (the feed's producer, the alert
    follower) runs and the loop ends; a KeyboardInterrupt raised at a random point of the loop
    left tasks that never finished cancelling, and the demo hung instead of stopping."""
    signal.raise_signal(signal.SIGINT)


def run_all(settings: Settings, *, duration: float | None, rate: float, cameras: int) -> int:
    """Broker (unless ALPR_BROKER_URL), topics, sample hot list, sensitive sites, cameras, worker,
    camera feed; alerts and a periodic summary on screen."""
    settings = with_demo_sites(settings)
    private_dir(settings.state_dir)  # 0700: session, keys, credentials and logs live here
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _stop_on_signal)
    broker = None
    if settings.broker_url is None:
        broker = EmbeddedBroker(settings.state_dir, settings.embedded_port)
        started_broker = broker.pid() is None
        broker.start()
        print(f"embedded broker on {broker.bootstrap} (log {broker.log_file})")
    else:
        started_broker = False
        print(f"using Kafka at {settings.bootstrap_servers} (ALPR_BROKER_URL)")
    processes: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        created = asyncio.run(create_topics(settings, serving=started_broker))
        print(f"topics ready ({len(created)} created)")
        sign_in, admin = asyncio.run(demo_people(settings))
        print("sample hot lists (feeds synced as diffs, department entries approved):")
        for line in asyncio.run(load_demo_hotlists(settings, admin)):
            print(line)
        print(f"sensitive sites: {settings.sensitive_sites} (ALPR_SENSITIVE_SITES, P24)")
        fixed, refused = asyncio.run(register_fixed_cameras(settings, load_demo_cameras(), admin))
        feed = demo_feed(settings, cameras, 0.01, SAMPLE_HOTLIST, fixed)
        if admin is not None:
            registered = asyncio.run(register_simulated_cameras(settings, feed, admin))
            print(
                f"camera registry: {registered} mobile units registered ({cameras} in the feed), "
                f"{len(fixed)} fixed cameras in the feed"
            )
            for line in refused:
                print(line)
        else:
            print(
                "camera registry: not changed (the directory has its own users; register cameras with yours)"
            )
        names, mobile = asyncio.run(camera_names(settings))
        # The compacted topics' segments rolled at least every half compacted segment.ms, so that
        # released holds and replaced credentials are compacted away on time (retention/roll.py).
        roll_every = f"{settings.profile.broker.compact_segment_ms // 2000}s"
        commands = {
            "worker": "worker",
            "console": "console",
            "retro-hunt": "retro-hunt",
            "retention-roll": f"retention roll --every {roll_every}",
            "hold-review": "hold review --every 1h",
            "image-sweep": "images sweep --every 1m",  # read images past the retention (P11, P12)
        }
        # automation runs as service accounts, never as a person: the retro-hunt (role retro-hunt) and
        # the periodic review that ends unrenewed evidence holds (role retention, P12)
        tokens = (
            {
                "retro-hunt": asyncio.run(demo_service(settings, admin, "demo-retro-hunt", "retro-hunt")),
                "hold-review": asyncio.run(demo_service(settings, admin, "demo-retention", "retention")),
            }
            if admin
            else {}
        )
        if "hold-review" in tokens:  # the same retention service account sweeps the images
            tokens["image-sweep"] = tokens["hold-review"]
        for name, command in commands.items():
            log_path = settings.state_dir / f"{name}.log"
            token = tokens.get(name)
            if name in {"hold-review", "image-sweep"} and not token:
                continue  # the directory has its own users: its administrators run the review
            extra = {"ALPR_SERVICE_TOKEN": token} if token else None
            processes[name] = (_spawn(command, log_path, settings, extra), log_path)
        worker, console = processes["worker"][0], processes["console"][0]
        print(
            "\n"
            f"  worker        pid {worker.pid}, log {settings.state_dir / 'worker.log'}\n"
            f"  metrics       http://{settings.metrics_host}:{settings.metrics_port}/metrics\n"
            f"  console       http://{settings.console_host}:{settings.console_port}/  pid {console.pid}\n"
            f"                {sign_in}\n"
            f"  retro-hunt    new entries looked up in the last {settings.retro_hunt_hours} h of reads\n"
            f"  retention     compacted topics' segments rolled every {roll_every} (alpr retention roll)\n"
            "  hold review   evidence holds not renewed in time end, hourly (alpr hold review, P12)\n"
            f"  images        plate crops and overviews in {settings.state_dir / 'images'}; past the read\n"
            "                retention deleted every minute unless held (alpr images sweep, P11, P12)\n"
            f"  alerts topic  {settings.topic('alerts')}   (also: .venv/bin/alpr alerts)\n"
            f"  rejected      {settings.topic('reads-rejected')}\n"
            f"  camera feed   {cameras} mobile units and {len(fixed)} fixed cameras, {rate:g} reads/s; "
            "vehicles drive San José's arterials\n"
            f"  on screen     each new alert; a summary every {SUMMARY_EVERY_S:.0f} s if anything changed\n"
            "  stop          Ctrl-C (stops the feed, the worker, the console and the embedded broker)\n"
        )
        sent, alerts = asyncio.run(_demo(settings, processes, duration, rate, feed, names, mobile))
        print(f"\nsent {sent} reads, {alerts} alerts shown")
        return 0
    except KeyboardInterrupt:
        print("\nstopping")
        return 0
    finally:
        for proc, _log in processes.values():
            stop_process(proc)
        if broker is not None and started_broker:
            broker.stop()
