"""The worker screens reads only from registered cameras in service (issue 9, item 1), with a real
worker process, the real ``alpr camera`` commands and the embedded broker, and the camera check at
its default (on)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.codec import entry_to_dict
from tests.conftest import AlprProcess, alpr, settings_of
from tests.factories import make_entry, read_dict
from tests.integration.kafka_helpers import (
    add_user,
    alerts_for,
    alpr_as,
    feed_env,
    send_reads,
    wait_for_records,
)

pytestmark = pytest.mark.integration

PLATE = "5CAM123"


def test_reads_of_unknown_and_retired_cameras_are_rejected_and_a_new_camera_is_screened_at_once(
    topics_env, tmp_path
) -> None:
    """A listed plate read by a registered camera alerts; read by a camera never registered it is
    rejected as ``unknown_camera`` and raises nothing; a camera registered while the worker runs
    is screened from its first read (the worker catches its registry up before it rejects); after
    ``alpr camera retire`` the camera's new reads are rejected as ``retired_camera``. Every
    rejected read is kept whole on reads-rejected with its reason."""
    env = {**topics_env, "ALPR_REQUIRE_REGISTERED_CAMERA": "true"}
    settings = settings_of(env)
    ada = asyncio.run(add_user(settings, "ada", "administrator", display="Admin Ada", badge="A-1"))

    def register(camera_id: str) -> None:
        added = alpr_as(
            env, ada, "camera", "add", "--id", camera_id, "--name", f"{camera_id} unit", "--agency", "SJPD",
            "--kind", "mobile", "--lat", "37.3382", "--lon", "-121.8863",
        )  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr

    register("cam-reg")
    feed = tmp_path / "feed.ndjson"
    feed.write_bytes(orjson.dumps(entry_to_dict(make_entry(entry_id="V-CAM-1", plate=PLATE, synced_at=None))))
    synced = alpr(
        feed_env(env), "hotlist", "sync", "--format", "ndjson", "--from", str(feed), "--source", "ncic"
    )
    assert synced.returncode == 0, synced.stderr

    def reads(camera_id: str, read_id: str) -> None:
        captured = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
        asyncio.run(
            send_reads(
                settings, [read_dict(read_id=read_id, camera_id=camera_id, plate=PLATE, captured_at=captured)]
            )
        )

    def rejected(read_id: str) -> dict:
        found = asyncio.run(
            wait_for_records(
                settings.kafka,
                settings.topic("reads-rejected"),
                lambda vs: [v for v in vs if orjson.loads(v["payload"]).get("read_id") == read_id],
                timeout=60,
            )
        )
        [record] = [v for v in found if orjson.loads(v["payload"]).get("read_id") == read_id]
        return record

    def alerted(read_id: str) -> dict:
        values = asyncio.run(
            wait_for_records(
                settings.kafka, settings.topic("alerts"), lambda vs: alerts_for(vs, {read_id}), timeout=60
            )
        )
        [alert] = alerts_for(values, {read_id})
        return alert

    worker = AlprProcess(env, tmp_path / "worker.log")
    try:
        reads("cam-reg", "r-registered")
        assert alerted("r-registered")["entry_id"] == "V-CAM-1"

        reads("cam-nobody", "r-unknown")
        unknown = rejected("r-unknown")
        assert unknown["reason_code"] == "unknown_camera" and unknown["camera_id"] == "cam-nobody"
        assert orjson.loads(unknown["payload"])["plate"] == PLATE  # kept whole: nothing lost

        register("cam-new")
        reads("cam-new", "r-new")  # straight after the registration
        assert alerted("r-new")["read_id"] == "r-new"

        retired = alpr_as(env, ada, "camera", "retire", "cam-reg")
        assert retired.returncode == 0, retired.stderr
        reads("cam-reg", "r-retired")
        record = rejected("r-retired")
        assert record["reason_code"] == "retired_camera"
        assert "cam-reg was retired on" in record["reason"]
    finally:
        worker.stop()
    values = asyncio.run(wait_for_records(settings.kafka, settings.topic("alerts"), lambda vs: True))
    assert alerts_for(values, {"r-unknown", "r-retired"}) == []
    assert "camera registry: 1 cameras" in worker.log()
