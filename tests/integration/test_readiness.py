"""The conditions ``alpr run`` waits on (streams/readiness.py), against a real broker and worker.

Ready means the worker says it screens and Kafka's coordinator says its group holds the partitions;
drained means the group has committed everything it holds, so every alert is already written when
the wait returns (issue 14, item 9: conditions, not sleeps).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.errors import AlprError
from streams.hotlists.service import HotlistStore
from streams.kafka.groups import describe_group, group_lag
from streams.kafka.log import started_reader
from streams.readiness import screening, wait_worker_drained, wait_worker_ready
from tests.conftest import settings_of
from tests.factories import read_dict
from tests.integration.kafka_helpers import alerts_for, read_topic, running_worker, send_reads
from tests.integration.probes import worker_follows
from tests.integration.test_hotlists import NCIC_ROWS, ncic_extract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(broker, tmp_path_factory):
    with running_worker(broker, tmp_path_factory.mktemp("readiness")) as running:
        yield running


async def test_without_a_worker_the_gate_says_what_is_missing(topics_env) -> None:
    settings = settings_of(topics_env)
    with pytest.raises(AlprError) as info:
        await wait_worker_ready(settings, timeout=2)
    message = str(info.value)
    assert "not ready to screen within 2 s" in message
    assert f"group {settings.app_id}" in message and "holding 0 of 36 partitions" in message
    assert "hot list not loaded yet" in message


async def test_a_ready_worker_screens_and_its_group_holds_every_partition(worker) -> None:
    _env, settings, _root = worker
    await wait_worker_ready(settings, timeout=10)  # running_worker waited already: at once now
    assert screening(settings)
    admin = AIOKafkaAdminClient(**settings.kafka.options())
    await admin.start()
    try:
        group = await describe_group(admin, settings.app_id)
    finally:
        await admin.close()
    assert group.state == "Stable" and group.members == 1
    assert {tp.topic for tp in group.assigned} >= {settings.topic("reads"), settings.topic("candidates")}


async def test_once_drained_every_alert_is_already_on_the_topic(worker) -> None:
    """No wait after the drain: the alerts of every read sent are there, and the group's lag is 0."""
    _env, settings, root = worker
    async with HotlistStore(settings) as store:
        await store.sync("ncic", ncic_extract(root / "n.txt", NCIC_ROWS[:4]), None, datetime.now(UTC))
    await worker_follows(settings, ["hotlist", "hotlist-sources"])
    now = datetime.now(UTC).isoformat()
    listed = ["7ABC123", "8DOG512", "6SZB180", "4KMN733"]
    reads = [
        read_dict(read_id=f"drain-{n}", plate=listed[n % 4] if n % 50 == 0 else f"1Q{n:05d}", captured_at=now)
        for n in range(2000)
    ]
    for n, read in enumerate(reads):
        read["camera_id"] = f"cam-{n % 40:05d}"  # many reads partitions
    await send_reads(settings, reads)
    await wait_worker_drained(settings, timeout=60)
    values = [orjson.loads(r.value) for r in await read_topic(settings.kafka, settings.topic("alerts"))]
    expected = {r["read_id"] for r in reads if r["plate"] in listed}
    assert len(expected) == 40
    assert {a["read_id"] for a in alerts_for(values, expected)} == expected
    admin = AIOKafkaAdminClient(**settings.kafka.options())
    await admin.start()
    consumer = await started_reader(settings.kafka)
    try:
        group = await describe_group(admin, settings.app_id)
        assert sum((await group_lag(admin, consumer, settings.app_id, group.assigned)).values()) == 0
    finally:
        await consumer.stop()
        await admin.close()


def test_drain_refuses_to_wait_forever_on_a_group_that_holds_nothing(topics_env) -> None:
    with pytest.raises(AlprError, match="had not caught up 1 s after the feed stopped"):
        asyncio.run(wait_worker_drained(settings_of(topics_env), timeout=1))
