"""``alpr`` commands as a user runs them, against real processes."""

from __future__ import annotations

import asyncio
import socket

import pytest

from streams.kafka.broker import KAFKA_VERSION, free_port
from streams.kafka.log import TopicWriter, read_latest
from streams.settings import Settings
from tests.conftest import ROOT, alpr
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_broker_start_status_stop_and_a_restart_keeps_the_records(env_factory, tmp_path) -> None:
    """`alpr broker` runs Apache Kafka with its log under ALPR_STATE_DIR: a record written before a
    stop is there after the next start (an event-sourced system's state survives a restart)."""
    port = free_port()
    env = env_factory(ALPR_STATE_DIR=str(tmp_path / "state"))
    del env["ALPR_BROKER_URL"]
    env["ALPR_EMBEDDED_PORT"] = str(port)
    node = tmp_path / "state" / f"kafka-{port}" / "node-1"
    stopped = alpr(env, "broker", "status")
    assert stopped.returncode == 3 and "not running" in stopped.stdout
    try:
        started = alpr(env, "broker", "start")
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.1:{port}" in started.stdout and "ready in" in started.stdout
        assert (node / "broker.pid").exists() and (node / "data" / "meta.properties").exists()
        status = alpr(env, "broker", "status")
        assert status.returncode == 0 and "1 of 1 node(s) answering Metadata" in status.stdout
        assert f"Kafka {KAFKA_VERSION}" in status.stdout
        again = alpr(env, "broker", "start")  # idempotent: the same broker
        assert again.returncode == 0 and pid_of(started.stdout) == pid_of(again.stdout)
        created = alpr(env, "topics", "--create")
        assert created.returncode == 0, created.stderr
        settings = Settings.from_env(env)
        asyncio.run(write_one(settings, b"kept across a restart"))
        assert alpr(env, "broker", "stop").returncode == 0
        assert not listening(port)
        restarted = alpr(env, "broker", "start")
        assert restarted.returncode == 0, restarted.stderr
        assert pid_of(restarted.stdout) != pid_of(started.stdout)
        assert asyncio.run(values(settings)) == [b"kept across a restart"]
    finally:
        stop = alpr(env, "broker", "stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not listening(port)
    assert not (node / "broker.pid").exists()


def test_broker_start_brokers_3_runs_a_replicated_cluster(env_factory, tmp_path) -> None:
    """`alpr broker start --brokers 3`: three KRaft nodes on PORT..PORT+2 (the fault tests' cluster)."""
    port = free_port_run(3)
    env = env_factory(ALPR_STATE_DIR=str(tmp_path / "state"), ALPR_EMBEDDED_PORT=str(port))
    del env["ALPR_BROKER_URL"]
    try:
        started = alpr(env, "broker", "start", "--brokers", "3")
        assert started.returncode == 0, started.stderr
        bootstrap = ",".join(f"127.0.0.1:{port + i}" for i in range(3))
        assert bootstrap in started.stdout and "ALPR_REPLICATION_FACTOR=3" in started.stdout
        status = alpr(env, "broker", "status", "--brokers", "3")
        assert "3 of 3 node(s) answering Metadata" in status.stdout
    finally:
        stop = alpr(env, "broker", "stop", "--brokers", "3")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not any(listening(port + i) for i in range(3))


def pid_of(stdout: str) -> str:
    return stdout.split("(pid ")[1].split(",")[0]


def free_port_run(n: int) -> int:
    """A port whose next ``n - 1`` ports are free too."""
    while True:
        port = free_port()
        if port + n < 65536 and not any(listening(port + i) for i in range(n)):
            return port


async def write_one(settings: Settings, value: bytes) -> None:
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        await writer.write(settings.topic("cameras"), b"cam-restart", value)
        await writer.flush()
    finally:
        await writer.stop()


async def values(settings: Settings) -> list[bytes]:
    latest = await read_latest(settings.kafka, settings.topic("cameras"))
    return [latest[b"cam-restart"].value]


def test_broker_start_with_broker_url_starts_nothing(env_factory) -> None:
    result = alpr(env_factory(), "broker", "start")
    assert result.returncode == 0 and "no embedded broker started" in result.stdout


def test_topics_show_configs_as_the_broker_reports_them(env_factory) -> None:
    env = env_factory()
    missing = alpr(env, "topics")
    assert missing.returncode == 0 and "MISSING" in missing.stdout
    result = alpr(env, "topics", "--create")
    assert result.returncode == 0, result.stderr
    prefix = env["ALPR_TOPIC_PREFIX"]
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith(prefix)}
    # 30 d less 1 day of lateness, 5 min of clock skew, 1 h segments and the 5 min check (P11)
    assert lines[f"{prefix}reads"][1:5] == ["12", "delete", "2501400000", "3600000"]
    assert lines[f"{prefix}hotlist"][2] == "compact"
    assert lines[f"{prefix}audit"][3] == str(731 * 24 * 3600 * 1000)


def test_match_reports_refused_entries_and_rejected_reads(env_factory, tmp_path) -> None:
    out = tmp_path / "alerts.ndjson"
    result = alpr(
        env_factory(),
        "match",
        "--hotlist",
        str(ROOT / "samples" / "hotlist.ndjson"),
        "--reads",
        str(ROOT / "samples" / "reads.ndjson"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "3 refused" in result.stderr and "3 rejected" in result.stderr
    assert "reads.ndjson:9: rejected (undecodable)" in result.stderr
    assert len(out.read_text().splitlines()) == 9


def test_retention_roll_appends_a_no_op_tombstone_to_every_compacted_partition(topics_env) -> None:
    """`alpr retention roll` (P11, P12): one tombstone of the roll key per compacted partition, so a
    quiet partition's segment rolls and the cleaner can compact it; the state read back is unchanged."""
    from streams.kafka.topics import topic_specs
    from streams.retention.roll import ROLL_KEY

    settings = Settings.from_env(topics_env)
    asyncio.run(write_one(settings, b"unchanged"))
    result = alpr(topics_env, "retention", "roll")
    assert result.returncode == 0, result.stderr
    compacted = [s for s in topic_specs(settings) if "compact" in s.cleanup_policy]
    assert f"on {sum(s.partitions for s in compacted)} partitions" in result.stdout
    records = asyncio.run(read_topic(settings.kafka, settings.topic("cameras")))
    assert [(r.key, r.value) for r in records][-1] == (ROLL_KEY, None)
    assert asyncio.run(values(settings)) == [b"unchanged"]
