"""``alpr retention check`` on the session's Apache Kafka broker: it judges the configs the broker
actually holds, its retention check interval, and the oldest read each read-data topic still holds
(P11, P14)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.kafka.topics import create_topics, topic_specs
from streams.retention.policy import DAY_MS, HOUR_MS
from tests.conftest import alpr, make_env, settings_of

pytestmark = pytest.mark.integration


async def create_raw(bootstrap: str, topics: dict[str, dict[str, str]]) -> None:
    """Create topics with exactly these configs, as someone would by hand."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        response = await admin.create_topics([NewTopic(n, 1, 1, topic_configs=c) for n, c in topics.items()])
        assert all(code == 0 for _, code, _ in response.topic_errors), response.topic_errors
    finally:
        await admin.close()


def line_of(stdout: str, topic: str) -> str:
    [line] = [line for line in stdout.splitlines() if line.startswith(f"{topic} ")]
    return line


def test_declared_topics_pass_and_other_topics_never_fail(broker, tmp_path) -> None:
    env = make_env(broker, tmp_path)
    settings = settings_of(env)
    # someone else's topic that keeps reads forever: not ours, so it must not fail our check
    foreign = f"x{uuid.uuid4().hex[:8]}.reads"
    asyncio.run(create_raw(broker.bootstrap, {foreign: {"cleanup.policy": "compact", "retention.ms": "-1"}}))
    asyncio.run(create_topics(settings))

    result = alpr(env, "retention", "check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert line_of(result.stdout, settings.topic("reads")).endswith("OK")
    assert "30.0 d" in line_of(result.stdout, settings.topic("reads"))
    assert f"all {len(topic_specs(settings))} topics within policy for profile san_jose" in result.stdout
    assert (
        "log.retention.check.interval.ms: broker 1: 300000; the profile counts on 300000: OK" in result.stdout
    )
    assert line_of(result.stdout, settings.topic("reads-late")).endswith("OK")
    [others] = [line for line in result.stdout.splitlines() if line.startswith("other topics: ")]
    assert int(others.split()[2]) >= 1
    assert foreign not in result.stdout


def test_reads_kept_too_long_and_a_compacted_changelog_fail(broker, tmp_path) -> None:
    env = make_env(broker, tmp_path)
    settings = settings_of(env)
    reads = settings.topic("reads")
    changelog = f"{settings.app_id}-sightings-changelog"
    asyncio.run(
        create_raw(
            broker.bootstrap,
            {
                reads: {
                    "cleanup.policy": "delete",
                    "retention.ms": str(40 * DAY_MS),
                    "segment.ms": str(HOUR_MS),
                },
                changelog: {"cleanup.policy": "compact"},
            },
        )
    )
    created = asyncio.run(create_topics(settings))
    assert reads not in created  # the bad one stays as it was made

    result = alpr(env, "retention", "check")

    assert result.returncode == 1, result.stdout + result.stderr
    reads_line = line_of(result.stdout, reads)
    assert "FAIL" in reads_line and "before.max.ms is unbounded" in reads_line and "(P11)" in reads_line
    changelog_line = line_of(result.stdout, changelog)
    assert "FAIL" in changelog_line and "read data" in changelog_line
    assert "cleanup.policy=compact keeps read data forever" in changelog_line
    summary = [line for line in result.stdout.splitlines() if line.startswith("FAIL: ")]
    assert summary == [
        f"FAIL: 2 topics can keep data longer than the san_jose profile allows: {reads}, {changelog}"
    ]
    assert line_of(result.stdout, settings.topic("audit")).endswith("OK")


def test_an_unreachable_broker_is_a_clear_error(tmp_path, broker) -> None:
    env = make_env(broker, tmp_path, ALPR_BROKER_URL="kafka://127.0.0.1:1")

    result = alpr(env, "retention", "check")

    assert result.returncode == 2
    assert "cannot check retention: Kafka at 127.0.0.1:1 did not answer" in result.stderr


async def write_batch(bootstrap: str, topic: str, timestamps_ms: list[int]) -> None:
    """One record batch on partition 0 with these timestamps, in this order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        batch = producer.create_batch()
        for i, ts in enumerate(timestamps_ms):
            assert batch.append(key=b"cam", value=b'{"reads": [%d]}' % i, timestamp=ts) is not None
        batch.close()
        await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()


async def set_configs(bootstrap: str, topic: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs)])
    finally:
        await admin.close()


def test_an_expired_read_on_a_topic_with_compliant_configs_fails(broker, tmp_path) -> None:
    """P11: a reads topic made with a long retention took a read captured 35 days ago, in a batch
    with a fresh one, then got the declared configs. Kafka keeps the segment until its newest record
    expires, so the old read stays readable: the check reads it and fails, naming where it is."""
    env = make_env(broker, tmp_path)
    settings = settings_of(env)
    reads = settings.topic("reads")
    asyncio.run(create_raw(broker.bootstrap, {reads: {"retention.ms": str(40 * DAY_MS)}}))
    now = int(time.time() * 1000)
    asyncio.run(write_batch(broker.bootstrap, reads, [now - 35 * DAY_MS, now - 1000]))
    [spec] = [s for s in topic_specs(settings) if s.name == "reads"]
    asyncio.run(set_configs(broker.bootstrap, reads, spec.configs()))
    asyncio.run(create_topics(settings))

    result = alpr(env, "retention", "check")

    assert result.returncode == 1, result.stdout + result.stderr
    reads_line = line_of(result.stdout, reads)
    assert "FAIL partition 0 still holds a read 35.0 days old (offset 0)" in reads_line, reads_line
    assert "past the 30.0 days read retention" in reads_line and "(P11)" in reads_line
    assert reads_line.split()[6:10] == ["30.0", "d", "35.0", "d"]  # compliant configs, expired read
    summary = [line for line in result.stdout.splitlines() if line.startswith("FAIL: ")]
    assert summary == [f"FAIL: 1 topic can keep data longer than the san_jose profile allows: {reads}"]


def test_a_broker_checking_less_often_than_the_profile_counts_on_fails(broker, tmp_path) -> None:
    """P11: the retention-test profile's topics are sized for a 2-second check; this broker checks
    every 5 minutes, so every read could outlive the 90-second retention."""
    env = make_env(broker, tmp_path, ALPR_PROFILE="retention_test", ALPR_MAX_CLOCK_SKEW_S="2")
    asyncio.run(create_topics(settings_of(env)))

    result = alpr(env, "retention", "check")

    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "log.retention.check.interval.ms: broker 1: 300000; the profile counts on 2000: FAIL" in result.stdout
    )
    assert "FAIL: the brokers check retention less often than the retention_test profile counts on" in (
        result.stdout
    )
    assert "FAIL" in line_of(result.stdout, settings_of(env).topic("reads"))
