"""The stream app as a real worker process on the embedded broker.

One worker serves the module; each test uses its own read ids and plates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from streams.codec import entry_to_dict
from streams.hotlists.model import Person
from streams.hotlists.service import HotlistStore
from streams.kafka.topics import create_topics
from streams.readiness import wait_worker_drained
from tests.conftest import AlprProcess, alpr, make_env, settings_of, wait_for
from tests.factories import local_entry, make_entry, read_dict
from tests.integration.kafka_helpers import (
    alerts_for,
    assert_no_alert,
    metric,
    produce,
    read_topic,
    send_reads,
    wait_for_records,
)
from tests.integration.probes import same_path_plate

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
ENTRIES = [
    make_entry(entry_id="V-STREAM-1", plate="7ABC123", synced_at=None),
    make_entry(entry_id="V-STREAM-2", plate="8DOG512", synced_at=None),
    make_entry(
        entry_id="V-STREAM-3", plate="4KMN733", plate_state="NV", list_type="missing_person", synced_at=None
    ),
    make_entry(entry_id="V-GONE", plate="9GONE99", synced_at=None),
    local_entry(entry_id="P-STREAM-1", plate="7GH?25X"),
]
LIEUTENANT = Person("Lt. Ana Ortiz", "1875", rank="lieutenant")


def write_feed(path: Path, entries) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(entry_to_dict(e)) for e in entries if e.source != "local"))
    return path


@pytest.fixture(scope="module")
def stream(broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    env = make_env(broker, root)
    settings = settings_of(env)

    async def setup() -> None:
        """Through the real paths: a feed sync, and a department entry proposed then approved (P2)."""
        await create_topics(settings)
        async with HotlistStore(settings) as store:
            await store.sync("ndjson", write_feed(root / "feed.ndjson", ENTRIES), None, NOW)
            for entry in (e for e in ENTRIES if e.source == "local"):
                await store.propose(dataclasses.replace(entry, approved_by=None), "test", NOW)
                await store.approve(entry.key, LIEUTENANT, NOW)

    asyncio.run(setup())
    worker = AlprProcess(env, root / "worker.log")
    yield env, settings, worker, root
    worker.stop()


async def test_read_batches_become_alerts_matching_offline_match(stream, tmp_path: Path) -> None:
    """Produce read batches; the alerts on the topic equal what ``alpr match`` gives for the same input."""
    env, settings, worker, root = stream
    captured = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    reads = [
        read_dict(read_id="eq-1", plate="7ABC123", captured_at=captured),
        read_dict(read_id="eq-2", plate="8D0G5I2", captured_at=captured),
        read_dict(read_id="eq-3", plate="4KMN733", plate_state="CA", captured_at=captured),
        read_dict(read_id="eq-4", plate="7GHK25X", captured_at=captured),
        read_dict(read_id="eq-5", plate="6KTP118", captured_at=captured),
        read_dict(read_id="eq-6", plate="BD0G5I2", captured_at=captured),  # 3 substitutions: no alert
    ]
    await send_reads(settings, reads)
    ids = {r["read_id"] for r in reads}
    values = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: len(alerts_for(v, ids)) >= 4
    )
    await wait_worker_drained(settings)  # every read screened, every candidate confirmed: all is here
    values = alerts_for(await _values(settings, "alerts"), ids)

    hotlist = tmp_path / "hotlist.ndjson"
    hotlist.write_bytes(b"\n".join(orjson.dumps(entry_to_dict(e)) for e in ENTRIES))
    reads_file = tmp_path / "reads.ndjson"
    reads_file.write_bytes(orjson.dumps({"reads": reads}))
    offline = alpr(env, "match", "--hotlist", str(hotlist), "--reads", str(reads_file))
    assert offline.returncode == 0, offline.stderr
    expected = [json.loads(line) for line in offline.stdout.splitlines()]

    def essence(alerts: list[dict]) -> set[tuple]:
        return {
            (a["alert_id"], a["read_id"], a["entry_key"], a["match_kind"], a["state_mismatch"])
            for a in alerts
        }

    assert essence(values) == essence(expected)
    assert {(a["read_id"], a["match_kind"]) for a in values} == {
        ("eq-1", "exact"),
        ("eq-2", "ocr_equivalent"),
        ("eq-3", "exact"),
        ("eq-4", "partial"),
    }
    assert all(a["status"] == "unverified" for a in values)  # P7
    assert [a["state_mismatch"] for a in values if a["read_id"] == "eq-3"] == [True]


async def _values(settings, name: str) -> list[dict]:
    return [orjson.loads(r.value) for r in await read_topic(settings.kafka, settings.topic(name))]


async def test_malformed_record_is_rejected_and_processing_continues(stream) -> None:
    env, settings, worker, root = stream
    good = read_dict(read_id="after-garbage", plate="7ABC123", captured_at=datetime.now(UTC).isoformat())
    await produce(
        settings.kafka,
        settings.topic("reads"),
        [
            (None, b"\x00garbage\xff", 0),
            (None, orjson.dumps({"reads": [read_dict(read_id="bad-conf", confidence=9)]}), 0),
            (None, orjson.dumps({"reads": [good]}), 0),
        ],
    )
    rejected = await wait_for_records(
        settings.kafka,
        settings.topic("reads-rejected"),
        lambda v: {"undecodable", "schema"} <= {r["reason_code"] for r in v},
    )
    garbage = next(r for r in rejected if r["reason_code"] == "undecodable")
    assert garbage["topic"] == settings.topic("reads") and garbage["partition"] == 0
    assert isinstance(garbage["offset"], int) and garbage["payload_encoding"] == "base64"
    schema = next(r for r in rejected if r["reason_code"] == "schema")
    assert "confidence" in schema["reason"] and json.loads(schema["payload"])["read_id"] == "bad-conf"
    alerts = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {"after-garbage"}))
    )
    assert len(alerts_for(alerts, {"after-garbage"})) == 1


async def test_same_read_delivered_twice_gives_one_alert(stream) -> None:
    env, settings, worker, root = stream
    read = read_dict(read_id="twice", plate="8DOG512", captured_at=datetime.now(UTC).isoformat())
    for _ in range(2):
        await send_reads(settings, [read])
    values = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {"twice"}))
    )
    await wait_worker_drained(settings)  # both deliveries screened and confirmed
    values = alerts_for(await _values(settings, "alerts"), {"twice"})
    assert len({a["alert_id"] for a in values}) == 1
    assert len(values) == 1


async def test_removed_entry_stops_alerting(stream) -> None:
    env, settings, worker, root = stream
    remaining = [e for e in ENTRIES if e.entry_id != "V-GONE"]
    async with HotlistStore(settings) as store:  # 1 of 4 ncic entries: more than the 20% guard allows
        report = await store.sync(
            "ndjson", write_feed(root / "feed-2.ndjson", remaining), None, datetime.now(UTC), force=True
        )
    assert report.plan.counts["removed"] == 1

    def entries_loaded() -> bool:
        return metric(env, "alpr_active_entries") == len(ENTRIES) - 1

    wait_for(entries_loaded, 30, "the worker to apply the tombstone")
    probe = same_path_plate(settings, "9GONE99", [e.plate for e in remaining])  # its candidates partition
    await assert_no_alert(settings, ("gone-read", "9GONE99"), ("probe-after-removal", probe))


async def test_metrics_endpoint_counts_the_work(stream) -> None:
    env, settings, worker, root = stream
    await send_reads(
        settings, [read_dict(read_id="metrics-1", plate="7ABC123", captured_at=datetime.now(UTC).isoformat())]
    )
    await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {"metrics-1"}))
    )
    assert (metric(env, "alpr_reads_total") or 0) >= 1
    assert (metric(env, "alpr_read_batches_total") or 0) >= 1
    assert (metric(env, "alpr_hits_total", '{list_type="stolen_vehicle",match_kind="exact"}') or 0) >= 1
    assert metric(env, "alpr_batch_processing_seconds_count") is not None
    assert worker.proc.poll() is None, worker.log()[-3000:]
