"""``alpr retention check`` on the embedded broker: it judges the configs the broker actually holds."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

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
    assert "embedded broker" in result.stdout
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
    assert "FAIL" in reads_line and "40.0 days" in reads_line and "(P11)" in reads_line
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
