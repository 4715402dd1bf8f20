"""The Faust agents, driven through faust's ``test_context()`` (no broker)."""

from __future__ import annotations

import asyncio
import json
from unittest.mock import patch

import pytest

from streams.app import create_worker
from streams.cameras.registry import Camera, encode_camera
from streams.codec import dumps
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
        assert set(by_topic) == {"agents.candidates", "agents.reads-rejected"}
        exact, partial = by_topic["agents.candidates"]  # partial fits are decided where the plate is owned
        [rejected] = by_topic["agents.reads-rejected"]
        assert "lat" in json.loads(rejected["value"])["reason"]
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
