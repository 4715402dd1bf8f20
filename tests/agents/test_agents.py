"""The Faust agents, driven through faust's ``test_context()`` (no broker)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from unittest.mock import patch

import pytest

from streams.app import create_worker
from streams.cameras.registry import Camera, encode_camera
from streams.codec import dumps, rejected_reads
from streams.settings import Settings
from tests.factories import NOW, local_entry, make_entry, read_dict


@pytest.fixture()
def worker():
    settings = Settings.from_env({"ALPR_METRICS_PORT": "0", "ALPR_TOPIC_PREFIX": "agents."})
    built = create_worker(settings, clock=lambda: NOW)
    built.app.finalize()
    built.app.conf.store = "memory://"
    built.app.flow_control.resume()
    for entry in (make_entry(plate="8DOG512", entry_id="V1"), local_entry(plate="7GH?25X", entry_id="P1")):
        built.pipeline.index.upsert(entry)
    built.view._mark_ready()
    built.remembered.set()  # no alerts topic to read back here
    assert built.pipeline.cameras is not None  # the camera check is on by default (issue 9)
    camera = Camera("cam-00001", "test camera", "SJPD", "mobile", 37.33, -121.89)
    built.pipeline.cameras.apply(camera.id.encode(), encode_camera(camera))
    built.cameras_loaded.set()
    return built


async def test_agents_emit_to_the_right_topics(worker) -> None:
    """Candidates, alerts and rejections leave through their own topics; metrics count them."""
    screen = worker.app.agents["screen-reads"]
    confirm = worker.app.agents["confirm-candidates"]
    with patch("faust.topics.Topic.send", autospec=True) as send:
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        send.return_value = delivered  # what the agents wait for before the next record
        async with screen.test_context() as ctx:
            batch = {"reads": [read_dict(plate="8D0G512"), read_dict(plate="7GHK25X"), read_dict(lat=123)]}
            await ctx.put(dumps(batch))
        by_topic: dict[str, list[dict]] = {}
        for call in send.await_args_list:
            by_topic.setdefault(call.args[0].get_topic_name(), []).append(call.kwargs)
        assert set(by_topic) == {"agents.candidates"}
        exact, partial = by_topic["agents.candidates"]  # partial fits are decided where the plate is owned
        # issue 17: the rejected record waits for the commit of its source's offset (the outbox)
        [waiting] = [w for items in worker.app.rejected_outbox.waiting.values() for w in items]
        [refused] = rejected_reads(waiting.value)
        assert "lat" in refused["reason"] and refused["index"] == 2
        send.reset_mock()
        async with confirm.test_context() as ctx:
            for candidate in (exact, partial):
                await ctx.put(candidate["value"], key=candidate["key"])
        assert {call.args[0].get_topic_name() for call in send.await_args_list} == {"agents.alerts"}
        alerts = [json.loads(call.kwargs["value"]) for call in send.await_args_list]
        assert [(a["entry_id"], a["match_kind"], a["status"]) for a in alerts] == [
            ("V1", "ocr_equivalent", "unverified"),
            ("P1", "partial", "unverified"),
        ]
    metrics = worker.metrics.registry
    assert metrics.get_sample_value("alpr_reads_total") == 2
    assert metrics.get_sample_value("alpr_rejected_total", {"reason": "schema"}) == 1
    assert (
        metrics.get_sample_value(
            "alpr_hits_total", {"list_type": "stolen_vehicle", "match_kind": "ocr_equivalent"}
        )
        == 1
    )
    assert metrics.get_sample_value("alpr_bloom_positives_total") == 2
    assert metrics.get_sample_value("alpr_active_entries") == 2


async def test_derived_records_keep_the_source_timestamp_and_too_old_rejects_are_counted(worker) -> None:
    """P11: rejections are stamped with their read record's timestamp (the capture time), candidates
    with the read record's arrival (its sent-ms header; none here: when screened); a rejection whose
    source is older than the rejected topic takes (a day, profile san_jose) is counted and not
    sent, while its batch's candidates still go on."""
    screen = worker.app.agents["screen-reads"]
    fresh, old = NOW - timedelta(minutes=1), NOW - timedelta(days=2)
    started_ms = time.time() * 1000
    with patch("faust.topics.Topic.send", autospec=True) as send:
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        send.return_value = delivered
        async with screen.test_context() as ctx:
            for at, tag in ((fresh, "fresh"), (old, "old")):
                batch = {
                    "reads": [
                        read_dict(read_id=tag, plate="8D0G512"),
                        read_dict(read_id=f"{tag}-bad", lat=123),
                    ]
                }
                await ctx.put(dumps(batch), timestamp=at.timestamp())
    sent = [(call.args[0].get_topic_name(), call.kwargs) for call in send.await_args_list]
    assert [topic for topic, _ in sent] == ["agents.candidates", "agents.candidates"]
    fresh_ms, old_ms = (int(t.timestamp() * 1000) for t in (fresh, old))
    # faust sends int(timestamp * 1000) milliseconds
    stamps = [int(kw["timestamp"] * 1000) for _, kw in sent]
    assert all(started_ms - 1 <= stamp <= time.time() * 1000 for stamp in stamps)
    # the fresh record's rejection waits for its offset's commit, stamped with its source's time
    [waiting] = [w for items in worker.app.rejected_outbox.waiting.values() for w in items]
    assert waiting.timestamp_ms == fresh_ms and old_ms < fresh_ms
    assert [r["reason_code"] for r in rejected_reads(waiting.value)] == ["schema"]
    metrics = worker.metrics.registry
    assert metrics.get_sample_value("alpr_not_stored_total", {"record": "rejected"}) == 1
    assert metrics.get_sample_value("alpr_rejected_total", {"reason": "schema"}) == 2


def test_the_workers_producer_is_idempotent_and_waits_for_every_replica(worker) -> None:
    """faust enables idempotence only with transactions; the worker's producer has it anyway."""

    async def build() -> tuple[bool, int]:
        producer = worker.app.producer._new_producer()  # noqa: SLF001 - the aiokafka producer faust starts
        try:
            return producer._txn_manager is not None, producer._sender._acks  # noqa: SLF001
        finally:
            await producer.stop()  # never started

    assert asyncio.run(build()) == (True, -1)  # enable_idempotence=True, acks="all"
