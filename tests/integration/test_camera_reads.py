"""The worker screens reads only from registered cameras in service (issue 9, item 1), with a real
worker process, the real ``alpr camera`` commands and the embedded broker, and the camera check at
its default (on)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

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
    refused_reads,
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
        # Captured now, after the sync: P4 is judged as of the capture (the list's refresh at or
        # before it), so a read captured before the sync would not match.
        captured = datetime.now(UTC).isoformat()
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
                lambda vs: [
                    v for v in refused_reads(vs) if orjson.loads(v["payload"]).get("read_id") == read_id
                ],
                timeout=60,
            )
        )
        [record] = [v for v in refused_reads(found) if orjson.loads(v["payload"]).get("read_id") == read_id]
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


# Reads that reach the reads topic without the ingest or the project's producer (a vendor writing
# directly) are screened by the worker, which follows the sensitive sites (streams/app.py).
def test_the_worker_drops_reads_written_directly_inside_a_zone_and_refuses_a_suspended_camera(
    topics_env, tmp_path
) -> None:
    """P24 + P11 at the worker: a read written straight to the reads topic at the clinic's exact
    coordinates raises nothing, is not copied to reads-rejected and is counted by category; a read
    of the same plate 2 km away alerts. A fixed camera that a listed site puts in violation is
    suspended: its read is rejected as ``camera_suspended`` with no plate kept."""
    import shutil

    from streams.cameras.registry import Camera, encode_camera
    from streams.codec import dumps
    from tests.conftest import ROOT
    from tests.integration.kafka_helpers import metric, produce, read_topic

    sites = tmp_path / "sites.geojson"
    shutil.copy(ROOT / "samples" / "sensitive-sites.geojson", sites)
    env = {**topics_env, "ALPR_REQUIRE_REGISTERED_CAMERA": "true", "ALPR_SENSITIVE_SITES": str(sites)}
    settings = settings_of(env)
    clinic, airport = (37.3318, -121.8939), (37.3639, -121.9289)
    south_of_church = (37.337260, -121.8870)  # 60 m south of the church, facing it (north)
    cameras = [
        Camera("unit-9", "Unit 9", "SJPD", "mobile", *airport),
        Camera("cam-church", "Church St NB", "SJPD", "fixed", *south_of_church, facing_deg=0.0),
    ]
    asyncio.run(
        produce(
            settings.kafka,
            settings.topic("cameras"),
            [(c.id.encode(), encode_camera(c), None) for c in cameras],
        )
    )
    feed = tmp_path / "feed.ndjson"
    feed.write_bytes(
        orjson.dumps(entry_to_dict(make_entry(entry_id="V-ZONE-1", plate=PLATE, synced_at=None)))
    )
    synced = alpr(
        feed_env(env), "hotlist", "sync", "--format", "ndjson", "--from", str(feed), "--source", "ncic"
    )
    assert synced.returncode == 0, synced.stderr
    now = datetime.now(UTC).isoformat()
    reads = [
        read_dict(
            read_id="r-clinic", camera_id="unit-9", plate=PLATE, captured_at=now, lat=clinic[0], lon=clinic[1]
        ),
        read_dict(
            read_id="r-away", camera_id="unit-9", plate=PLATE, captured_at=now, lat=airport[0], lon=airport[1]
        ),
        read_dict(
            read_id="r-church",
            camera_id="cam-church",
            plate=PLATE,
            captured_at=now,
            lat=37.3360,
            lon=-121.8870,
        ),
    ]
    worker = AlprProcess(env, tmp_path / "worker.log")
    try:
        asyncio.run(
            produce(settings.kafka, settings.topic("reads"), [(b"unit-9", dumps({"reads": reads}), None)])
        )
        values = asyncio.run(
            wait_for_records(settings.kafka, settings.topic("alerts"), lambda vs: alerts_for(vs, {"r-away"}))
        )
        assert alerts_for(values, {"r-clinic", "r-church"}) == []
        rejected = asyncio.run(
            wait_for_records(settings.kafka, settings.topic("reads-rejected"), lambda vs: len(vs) >= 1)
        )
        assert [(v["reason_code"], v["camera_id"]) for v in refused_reads(rejected)] == [
            ("camera_suspended", "cam-church")
        ]
        raw = b"".join(
            r.value for r in asyncio.run(read_topic(settings.kafka, settings.topic("reads-rejected")))
        )
        assert PLATE.encode() not in raw and b"r-clinic" not in raw
        assert metric(env, "alpr_reads_excluded_total", '{category="reproductive_health_care"}') == 1
    finally:
        worker.stop()
    assert PLATE not in worker.log()
