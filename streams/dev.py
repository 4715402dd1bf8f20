"""``alpr run`` and ``alpr simulate``: the whole pipeline on one machine, for a first look."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from aiokafka import TopicPartition

from streams.access.directory import User
from streams.alerts.tail import alert_line
from streams.codec import entry_from_dict, loads
from streams.errors import AlprError, InvalidRecord
from streams.hotlists.model import Person
from streams.hotlists.records import load_entries_file, ndjson_lines
from streams.hotlists.service import HotlistStore
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.topics import create_topics
from streams.matching.normalize import OcrClasses
from streams.reads.producer import ReadProducer
from streams.reads.simulator import CameraFeed, run_feed
from streams.settings import Settings

__all__ = ["run_all", "simulate", "stop_process"]

T = TypeVar("T")

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_HOTLIST = SAMPLES / "hotlist.ndjson"
DEMO_LIEUTENANT = Person("Lt. Marcus Hale", "2210", "Southern Division", "lieutenant")


def _listed_plates(path: Path) -> list[tuple[str, str | None]]:
    entries, _ = load_entries_file(path)
    return [(e.plate, e.plate_state) for e in entries if not e.is_partial]


def _fresh_copy(sample: Path, folder: Path, now: datetime) -> Path:
    """A sample extract as the feed would deliver it now: the same records, generated now."""
    lines = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = re.sub(r"[^|,]+$", now.strftime("%Y-%m-%dT%H:%M:%SZ"), lines[0].rstrip("\r\n")) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / sample.name
    target.write_text("".join(lines), encoding="utf-8")
    return target


async def load_demo_hotlists(settings: Settings) -> list[str]:
    """Sync the sample feeds, propose the sample department entries and approve them (P2)."""
    now = datetime.now(UTC)
    feeds = settings.state_dir / "feeds"
    lines = []
    async with HotlistStore(settings) as store:
        for fmt, name in (("ncic", "ncic_lpr_extract.txt"), ("svs", "svs_slr.csv"), ("svs", "svs_sfr.csv")):
            report = await store.sync(fmt, _fresh_copy(SAMPLES / "feeds" / name, feeds, now), None, now)
            lines.append(f"  {', '.join(sorted(report.plan.sources))}: {report.plan.summary}")
            lines += [f"    {problem}" for problem in report.plan.dropped + report.plan.errors]
        for _, line in ndjson_lines(SAMPLES / "department.ndjson"):
            entry = entry_from_dict(loads(line))
            await store.propose(entry, "demo", now)
            await store.approve(entry.key, DEMO_LIEUTENANT, now)
            lines.append(
                f"  {entry.key}: proposed by {entry.entered_by.name if entry.entered_by else '?'}, "
                f"approved by {DEMO_LIEUTENANT.name}"
            )
    return lines


async def simulate(
    settings: Settings, cameras: int, rate: float, duration: float | None, hit_rate: float, hotlist: Path
) -> int:
    feed = CameraFeed(
        cameras, hit_rate, _listed_plates(hotlist), OcrClasses.of(settings.ocr_classes), seed=os.getpid()
    )
    await register_simulated_cameras(settings, feed)
    async with ReadProducer.for_settings(settings) as producer:
        return await run_feed(producer, feed, rate, duration)


#: The demo's home agency: the demo user's and the simulated cameras'.
HOME = "SJPD"
#: Who registers the simulated cameras, on the audit trail.
SIMULATOR = User("alpr simulate", "camera simulator", "-", HOME, "administrator", "", "")


async def ensure_home_agency(settings: Settings, by: str, now: datetime) -> None:
    """Register the demo's home agency (the profile's department) unless it is registered."""
    from streams.access.directory import Agency, DirectoryStore

    store = DirectoryStore(settings)
    if (await store.load()).agency(HOME) is None:
        await store.add_agency(
            Agency(HOME, settings.profile.agency, "municipal_police", "CA", "home"), by, now
        )


async def register_simulated_cameras(settings: Settings, feed: CameraFeed) -> int:
    """Register the feed's cameras (mobile units, agency SJPD) that are not registered yet: the
    worker screens reads only from registered cameras (issue 9). Returns how many were added."""
    from streams.cameras.registry import Camera, CameraStore

    now = datetime.now(UTC)
    await ensure_home_agency(settings, "alpr simulate", now)
    store = CameraStore(settings)
    registered = (await store.load()).cameras
    new = [
        Camera(camera_id, f"simulated patrol unit {camera_id}", HOME, "mobile", round(lat, 6), round(lon, 6))
        for camera_id, lat, lon in feed.camera_sites()
        if camera_id not in registered
    ]
    await store.add_many(new, SIMULATOR, now)
    return len(new)


DEMO_USER = "demo"


async def demo_user(settings: Settings) -> str:
    """The home agency and one analyst for the demo, created once per broker; the password and the
    authenticator secret are kept in a file only the operator can read."""
    import secrets

    from streams.access.directory import DirectoryStore

    store = DirectoryStore(settings)
    credentials = settings.state_dir / "demo-credentials.json"
    directory = await store.load()
    if DEMO_USER not in directory.users:
        now = datetime.now(UTC)
        await ensure_home_agency(settings, "alpr run", now)
        password = secrets.token_urlsafe(12)
        user = await store.add_user(
            DEMO_USER,
            password,
            display="Demo Analyst",
            badge="A-101",
            agency=HOME,
            role="analyst",
            by="alpr run",
            now=now,
        )
        await store.record_training(
            DEMO_USER, "ALPR user training (demo)", now.date().isoformat(), "alpr run", now
        )
        credentials.write_text(
            orjson.dumps({"user": DEMO_USER, "password": password, "totp_secret": user.totp_secret}).decode()
        )
        credentials.chmod(0o600)
    return (
        f"user {DEMO_USER}, password and authenticator secret in {credentials}; "
        "current code: .venv/bin/alpr demo-code"
    )


def demo_code(settings: Settings) -> str:
    """The demo user's current authenticator code (a development convenience)."""
    from streams.access.totp import code_at

    credentials = settings.state_dir / "demo-credentials.json"
    if not credentials.is_file():
        raise AlprError(f"{credentials} does not exist: run 'alpr run' first")
    data = orjson.loads(credentials.read_bytes())
    return code_at(str(data["totp_secret"]), datetime.now(UTC))


def _spawn(command: str, log_path: Path, settings: Settings) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, "-m", "streams.cli", *command.split()],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ALPR_BROKER_URL": settings.faust_broker},
        )


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


async def _demo(
    settings: Settings,
    processes: dict[str, tuple[subprocess.Popen[bytes], Path]],
    duration: float | None,
    rate: float,
    cameras: int,
) -> tuple[int, int]:
    """Gate, feed, drain: the feed starts when the worker screens (``--duration`` counts from then)
    and the demo ends when the worker has committed all it was sent and every alert it raised has
    been shown. A process that exits ends the demo at once, with its log named."""
    from streams.kafka.log import TopicFollower
    from streams.readiness import DRAIN_TIMEOUT_S, wait_worker_drained, wait_worker_ready

    alerts = 0

    def show(_tp: TopicPartition, record: object) -> None:
        nonlocal alerts
        value = getattr(record, "value", None)
        try:
            alert = loads(value) if value is not None else None
        except InvalidRecord:
            print(f"  (a record on {settings.topic('alerts')} that is not an alert: skipped)", flush=True)
            return
        if isinstance(alert, dict):
            alerts += alert.get("event") == "AlertRaised"
            print(alert_line(alert), flush=True)

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
    try:
        await unless_a_process_exits(wait_worker_ready(settings))
        print("worker ready: partitions assigned, hot list loaded; starting the camera feed", flush=True)
        await shown.start(since_ms=int(time.time() * 1000))  # alerts raised from now on
        following = asyncio.create_task(shown.run())
        feed = simulate(settings, cameras, rate, duration, 0.01, SAMPLE_HOTLIST)
        sent = await unless_a_process_exits(feed)
        await unless_a_process_exits(wait_worker_drained(settings))
        try:
            await unless_a_process_exits(asyncio.wait_for(shown.caught_up(), DRAIN_TIMEOUT_S))
        except TimeoutError as exc:
            raise AlprError(
                f"the alerts topic was not read to its end within {DRAIN_TIMEOUT_S:.0f} s"
            ) from exc
        return sent, alerts
    finally:
        for task in (following, watching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, AlprError):
                    await task
        await shown.stop()


def run_all(settings: Settings, *, duration: float | None, rate: float, cameras: int) -> int:
    """Broker (unless ALPR_BROKER_URL), topics, sample hot list, worker, camera feed, alerts on screen."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
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
        created = asyncio.run(create_topics(settings))
        print(f"topics ready ({len(created)} created)")
        print("sample hot lists (feeds synced as diffs, department entries approved):")
        for line in asyncio.run(load_demo_hotlists(settings)):
            print(line)
        sign_in = asyncio.run(demo_user(settings))
        sites = CameraFeed(cameras, 0.0, [], OcrClasses.of(settings.ocr_classes))
        registered = asyncio.run(register_simulated_cameras(settings, sites))
        print(f"camera registry: {registered} simulated cameras registered ({cameras} in the feed)")
        # The compacted topics' segments rolled at least every half compacted segment.ms, so that
        # released holds and replaced credentials are compacted away on time (retention/roll.py).
        roll_every = f"{settings.profile.broker.compact_segment_ms // 2000}s"
        commands = {
            "worker": "worker",
            "console": "console",
            "retro-hunt": "retro-hunt",
            "retention-roll": f"retention roll --every {roll_every}",
        }
        for name, command in commands.items():
            log_path = settings.state_dir / f"{name}.log"
            processes[name] = (_spawn(command, log_path, settings), log_path)
        worker, console = processes["worker"][0], processes["console"][0]
        print(
            "\n"
            f"  worker        pid {worker.pid}, log {settings.state_dir / 'worker.log'}\n"
            f"  metrics       http://{settings.metrics_host}:{settings.metrics_port}/metrics\n"
            f"  console       http://{settings.console_host}:{settings.console_port}/  pid {console.pid}\n"
            f"                {sign_in}\n"
            f"  retro-hunt    new entries looked up in the last {settings.retro_hunt_hours} h of reads\n"
            f"  retention     compacted topics' segments rolled every {roll_every} (alpr retention roll)\n"
            f"  alerts topic  {settings.topic('alerts')}   (also: .venv/bin/alpr alerts)\n"
            f"  rejected      {settings.topic('reads-rejected')}\n"
            f"  camera feed   {cameras} cameras, {rate:g} reads/s, 1% of reads of listed plates\n"
            "  stop          Ctrl-C (stops the feed, the worker, the console and the embedded broker)\n"
        )
        sent, alerts = asyncio.run(_demo(settings, processes, duration, rate, cameras))
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
