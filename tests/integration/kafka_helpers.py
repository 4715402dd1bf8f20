"""Small aiokafka helpers for tests: produce raw records, read a whole topic."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.kafka.connection import Connection
from streams.kafka.log import read_topic as read_records


async def produce(
    kafka: Connection, topic: str, records: list[tuple[bytes | None, bytes | None, int | None]]
) -> None:
    producer = AIOKafkaProducer(**kafka.options(), max_request_size=16 * 1024 * 1024)
    await producer.start()
    try:
        for key, value, partition in records:
            await producer.send(topic, value, key=key, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def read_topic(kafka: Connection, topic: str) -> list[Any]:
    """Every record of a topic now, as ConsumerRecords, all partitions."""
    out: list[Any] = []
    await read_records(kafka, topic, lambda _tp, record: out.append(record))
    return out


async def wait_for_records(
    kafka: Connection, topic: str, predicate: Callable[[list[Any]], bool], timeout: float = 60.0
) -> list[Any]:
    """Decoded values of the topic once ``predicate(values)`` holds."""
    deadline = time.monotonic() + timeout
    values: list[Any] = []
    while time.monotonic() < deadline:
        values = [orjson.loads(r.value) for r in await read_topic(kafka, topic) if r.value is not None]
        if predicate(values):
            return values
        await asyncio.sleep(0.5)
    raise AssertionError(
        f"timed out after {timeout:.0f} s on {topic}; last saw {len(values)} records: {values[-3:]}"
    )


def alerts_for(values: list[dict[str, Any]], read_ids: set[str]) -> list[dict[str, Any]]:
    """What these reads raised on the alerts topic: a new alert, or a sighting of an open alert of
    the same plate and entry (P9: tests that reuse a plate within 5 minutes get sightings)."""
    return [
        v
        for v in values
        if v.get("event") in ("AlertRaised", "AlertSighted") and v.get("read_id") in read_ids
    ]


async def send_reads(settings: Any, reads: list[dict[str, Any]]) -> None:
    """Through the project's batching producer; returns once Kafka has every read."""
    from streams.reads.producer import ReadProducer

    async with ReadProducer.for_settings(settings) as producer:  # routed by the profile's lateness
        waiters = [await producer.send(r) for r in reads]
        await producer.flush()
    await asyncio.gather(*waiters)


def metric(env: dict[str, str], name: str, labels: str = "") -> float | None:
    """One sample of the worker's /metrics, or None."""
    import urllib.request

    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{env['ALPR_METRICS_PORT']}/metrics", timeout=2
        ) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    return None


@dataclass(frozen=True)
class SignInUser:
    name: str
    password: str
    totp_secret: str
    display: str
    badge: str

    def code(self) -> str:
        """The current authenticator code."""
        from datetime import UTC, datetime

        from streams.access.totp import code_at

        return code_at(self.totp_secret, datetime.now(UTC))


HOME = "SJPD"


async def add_user(
    settings: Any,
    name: str,
    role: str,
    *,
    display: str = "",
    badge: str = "B-1",
    agency: str = HOME,
    trained: bool = True,
) -> SignInUser:
    """A user in the directory (and the home agency, once), with a known password and TOTP secret."""
    from datetime import UTC, datetime

    from streams.access.directory import Agency, DirectoryStore

    store = DirectoryStore(settings)
    now = datetime.now(UTC)
    if HOME not in (await store.load()).agencies:
        home = Agency(HOME, "San José Police Department", "municipal_police", "CA", "home")
        await store.add_agency(home, "tests", now)
    password = f"pw-{name}-correct-horse"
    user = await store.add_user(
        name, password, display=display or name, badge=badge, agency=agency, role=role, by="tests", now=now
    )
    if trained:
        await store.record_training(name, "ALPR user training", "2026-10-01", "tests", now)
    return SignInUser(name, password, user.totp_secret, user.display, user.badge)


def alpr_as(env: dict[str, str], user: SignInUser, *args: str) -> Any:
    """Run ``alpr`` signed in as the user (password and a fresh code from the environment, P18)."""
    from tests.conftest import alpr

    signed = {**env, "ALPR_PASSWORD": user.password, "ALPR_TOTP_CODE": user.code()}
    return alpr(signed, *args, "--user", user.name)


def console_up(env: dict[str, str]) -> bool:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/healthz", timeout=2
        ) as resp:
            return bool(json.loads(resp.read())["following"])
    except OSError:
        return False


@contextlib.contextmanager
def running_worker(
    broker: Any, root: Any, *, console: bool = False, **extra_env: str
) -> Iterator[tuple[dict[str, str], Any, Any]]:
    """Fresh topics and a real worker process on them, ready before use (it screens and its group
    holds the partitions: streams.readiness); with ``console``, also the console process."""
    from streams.kafka.topics import create_topics
    from streams.readiness import wait_worker_ready
    from tests.conftest import AlprProcess, make_env, settings_of, wait_for

    env = make_env(broker, root, **extra_env)
    settings = settings_of(env)
    asyncio.run(create_topics(settings))
    processes = [AlprProcess(env, root / "worker.log")]
    try:
        if console:
            processes.append(AlprProcess(env, root / "console.log", "console"))
            wait_for(lambda: console_up(env), 60, "the console")
        wait_for(lambda: metric(env, "alpr_active_entries") is not None, 60, "the worker's metrics")
        asyncio.run(wait_worker_ready(settings, 60))  # hot list loaded, partitions assigned
        yield env, settings, root
    finally:
        for process in processes:
            process.stop()


async def assert_no_alert(settings: Any, silent: tuple[str, str], probe: tuple[str, str]) -> None:
    """Send a read that must not alert, then a probe that must, on the same path; see
    :func:`tests.integration.probes.assert_no_alert` (it refuses a probe on another candidates
    partition: choose one with ``probes.same_path_plate``)."""
    from tests.integration.probes import assert_no_alert as on_the_same_path

    await on_the_same_path(settings, silent, probe)


def free_ports(count: int, attempts: int = 50) -> int:
    """A free port whose next ``count - 1`` ports are free too (a cluster's nodes take port..port+n-1)."""
    import socket

    from streams.kafka.broker import free_port

    for _ in range(attempts):
        base = free_port()
        taken = False
        for port in range(base + 1, base + count):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    taken = True
                    break
        if not taken:
            return base
    raise AssertionError(f"no run of {count} free ports found in {attempts} attempts")


@dataclass(frozen=True)
class PartitionState:
    """One partition as a Metadata request describes it."""

    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


async def partition_states(
    kafka: Connection, topic: str, bootstrap: str | None = None
) -> dict[int, PartitionState]:
    """Leader, replicas and in-sync replicas of every partition of an existing topic, now, as the
    brokers of ``bootstrap`` (default: the connection's) see it. During a fault, pass only the nodes
    that answer: a frozen node accepts connections and never replies."""
    from aiokafka import AIOKafkaClient

    options = {**kafka.options(), "request_timeout_ms": 5000}
    if bootstrap is not None:
        options["bootstrap_servers"] = bootstrap
    client = AIOKafkaClient(**options)
    await client.bootstrap()
    try:
        metadata = await client.fetch_all_metadata()
        return {
            p: PartitionState(m.leader, tuple(m.replicas), tuple(m.isr))
            for p, m in metadata._partitions.get(topic, {}).items()  # noqa: SLF001 - no public accessor
        }
    finally:
        await client.close()


async def group_coordinator(kafka: Connection, group: str) -> int:
    """The node id of the broker coordinating a consumer group (FindCoordinator)."""
    from aiokafka import AIOKafkaClient
    from aiokafka.client import CoordinationType

    client = AIOKafkaClient(**kafka.options())
    await client.bootstrap()
    try:
        return int(await client.coordinator_lookup(CoordinationType.GROUP, group))
    finally:
        await client.close()
