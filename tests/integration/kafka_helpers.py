"""Small aiokafka helpers for tests: produce raw records, read a whole topic."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
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


def audit_records(settings: Any) -> list[dict[str, Any]]:
    """Every record of the audit topic, decoded, in partition order (P15)."""
    return [orjson.loads(r.value) for r in asyncio.run(read_topic(settings.kafka, settings.topic("audit")))]


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
        await asyncio.sleep(0.2)  # each look reads the whole topic: a coarser step only adds waiting
    raise AssertionError(
        f"timed out after {timeout:.0f} s on {topic}; last saw {len(values)} records: {values[-3:]}"
    )


def refused_reads(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The refusals in decoded messages of reads-rejected (each holds the rejected records of one
    or more source records, each listing its refused reads), one object each with where its source
    record was and when (codec.rejected_reads)."""
    where = ("topic", "partition", "offset", "rejected_at")
    return [
        {**item, **{k: record[k] for k in where}}
        for message in values
        for record in message["records"]
        for item in record["refused"]
    ]


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


#: TOTP secret -> the newest TOTP step a sign-in of this test process used
_USED_STEPS: dict[str, int] = {}


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

    def fresh_code(self) -> str:
        """A code of a time step no sign-in of this user has used yet in this test process (a
        code signs in once, system-wide): waits for the next 30-second step when needed."""
        import time
        from datetime import UTC, datetime

        from streams.access.totp import STEP_S, code_at

        while True:
            now = datetime.now(UTC)
            step = int(now.timestamp()) // STEP_S
            if _USED_STEPS.get(self.totp_secret, -1) < step:
                _USED_STEPS[self.totp_secret] = step
                return code_at(self.totp_secret, now)
            time.sleep(STEP_S - now.timestamp() % STEP_S + 0.05)  # noqa: TID251 - the clock's next step


HOME = "SJPD"


def admin_principal() -> Any:
    from streams.access.principal import Principal

    return Principal("tests-admin", "Tests Admin", HOME, "administrator", badge="ADM-1")


async def ensure_home(settings: Any) -> None:
    from datetime import UTC, datetime

    from streams.access.directory import Agency, DirectoryStore

    store = DirectoryStore(settings)
    if HOME not in (await store.load()).agencies:
        home = Agency(HOME, "San José Police Department", "municipal_police", settings.profile.state, "home")
        await store.add_agency(home, admin_principal(), datetime.now(UTC))


async def add_user(
    settings: Any,
    name: str,
    role: str,
    *,
    display: str = "",
    badge: str = "B-1",
    agency: str = HOME,
    trained: bool = True,
    rank: str | None = None,
) -> SignInUser:
    """A user in the directory (and the home agency, once), with a known password and TOTP secret."""
    from datetime import UTC, datetime

    from streams.access.directory import DirectoryStore

    store = DirectoryStore(settings)
    now = datetime.now(UTC)
    await ensure_home(settings)
    password = f"correct-horse-battery-{len(name)}"
    user, secret = await store.add_user(
        name,
        password,
        display=display or name,
        badge=badge,
        agency=agency,
        role=role,
        by=admin_principal(),
        now=now,
        rank=rank,
    )
    if trained:
        await store.record_training(name, "ALPR user training", "2026-10-01", admin_principal(), now)
    return SignInUser(name, password, secret, user.display, user.badge)


async def register_cameras(settings: Any, cameras: dict[str, str]) -> None:
    """Mobile cameras (no P24 placement to check) operated by the given agencies (P19 scope)."""
    from datetime import UTC, datetime

    from streams.cameras.registry import Camera, CameraStore

    store = CameraStore(settings)
    known = (await store.load()).cameras
    fresh = [
        Camera(camera_id, camera_id, agency, "mobile", 37.33, -121.89)
        for camera_id, agency in cameras.items()
        if camera_id not in known
    ]
    if fresh:
        await store.add_many(fresh, admin_principal(), datetime.now(UTC))


def feed_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` acting as a feed-sync service account: automation syncs feeds with its own token,
    never a person's session (P18)."""
    return service_env(env, "feed-sync")


def service_env(env: dict[str, str], role: str) -> dict[str, str]:
    """``env`` acting as a service account of ``role`` (created once per topic prefix)."""
    from tests.conftest import settings_of

    key = (env["ALPR_TOPIC_PREFIX"], role)
    if key not in _SERVICE_TOKENS:
        _SERVICE_TOKENS[key] = asyncio.run(service_token(settings_of(env), role))
    return {**env, "ALPR_SERVICE_TOKEN": _SERVICE_TOKENS[key]}


async def service_token(settings: Any, role: str) -> str:
    """A new service account of ``role`` in the home agency; its token."""
    import uuid
    from datetime import UTC, datetime

    from streams.access.directory import DirectoryStore

    await ensure_home(settings)
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    return await DirectoryStore(settings).add_service(name, role, HOME, admin_principal(), datetime.now(UTC))


#: (topic prefix, service account) -> its token
_SERVICE_TOKENS: dict[tuple[str, str], str] = {}


def session_env(env: dict[str, str], user: SignInUser) -> dict[str, str]:
    """The environment of ``user``'s CLI session: its own session file (``alpr login`` writes it)."""
    from pathlib import Path

    state = Path(env.get("ALPR_STATE_DIR", ".alpr"))
    return {**env, "ALPR_SESSION_FILE": str(state / f"session-{user.name}")}


def login(env: dict[str, str], user: SignInUser) -> dict[str, str]:
    """``alpr login`` as the user (password and code from the environment, P18); returns the
    environment whose commands run in that session. A code signs in once: wait for a fresh one."""
    from tests.conftest import alpr

    signed = session_env(env, user)
    result = alpr(
        {**signed, "ALPR_PASSWORD": user.password, "ALPR_TOTP_CODE": user.fresh_code()},
        "login",
        "--user",
        user.name,
    )
    assert result.returncode == 0, result.stderr
    return signed


def alpr_as(env: dict[str, str], user: SignInUser, *args: str) -> Any:
    """Run ``alpr`` in the user's session, signing in first if it has none yet."""
    from pathlib import Path

    from tests.conftest import alpr

    signed = session_env(env, user)
    if not Path(signed["ALPR_SESSION_FILE"]).exists():
        signed = login(env, user)
    return alpr(signed, *args)


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
    holds the partitions: streams.readiness); with ``console``, also the console process. The
    topics are deleted when it ends."""
    from streams.readiness import wait_worker_ready
    from tests.conftest import AlprProcess, TopicSets, make_env, settings_of, wait_for

    sets = TopicSets.of(broker.bootstrap)
    env = sets.fresh(make_env(broker, root, **extra_env))
    settings = settings_of(env)
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
        sets.delete(env)


async def assert_no_alert(settings: Any, silent: tuple[str, str], probe: tuple[str, str]) -> None:
    """Send a read that must not alert, then a probe that must, on the same path; see
    :func:`tests.integration.probes.assert_no_alert` (it refuses a probe on another candidates
    partition: choose one with ``probes.same_path_plate``)."""
    from tests.integration.probes import assert_no_alert as on_the_same_path

    await on_the_same_path(settings, silent, probe)


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


@dataclass(frozen=True)
class TopicRecord:
    """One record of a topic as a copy needs it: where it was (topic without the prefix, partition)
    and what it was (key, value, timestamp, headers)."""

    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...]


async def snapshot_topics(settings: Any) -> list[TopicRecord]:
    """Every record of every declared topic of ``settings``, in each partition's order: what
    :func:`restore_topics` writes to another prefix. One consumer reads them all."""
    from streams.kafka.log import assign_all, read_to_end, started_reader
    from streams.kafka.topics import topic_specs

    names = {settings.topic(spec.name): spec.name for spec in topic_specs(settings)}
    out: list[TopicRecord] = []
    consumer = await started_reader(settings.kafka)
    try:
        await assign_all(consumer, *names)
        await read_to_end(
            consumer,
            lambda tp, r: out.append(
                TopicRecord(names[tp.topic], tp.partition, r.key, r.value, r.timestamp, tuple(r.headers))
            ),
        )
    finally:
        await consumer.stop()
    return out


async def topics_are_empty(settings: Any, names: Iterable[str]) -> bool:
    """Whether the declared topics ``names`` (without the prefix) of ``settings`` hold no record yet."""
    from aiokafka import TopicPartition

    from streams.kafka.log import started_reader
    from streams.kafka.topics import existing_partitions

    consumer = await started_reader(settings.kafka)
    try:
        tps = [
            TopicPartition(settings.topic(name), p)
            for name in names
            for p in await existing_partitions(consumer._client, settings.topic(name))  # noqa: SLF001
        ]
        return not any((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def restore_topics(settings: Any, records: list[TopicRecord]) -> None:
    """Write ``records`` (a :func:`snapshot_topics`) to the same topics and partitions under the
    prefix of ``settings``, in order, with their timestamps: the topics then read as the snapshot's
    did (an audit chain copied whole onto an empty audit topic still verifies). Returns once Kafka
    has them all."""
    producer = AIOKafkaProducer(**settings.kafka.options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [
            await producer.send(
                settings.topic(r.topic),
                r.value,
                key=r.key,
                partition=r.partition,
                timestamp_ms=r.timestamp_ms,
                headers=list(r.headers) or None,
            )
            for r in records
        ]
        await producer.flush()
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
