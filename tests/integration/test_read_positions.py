"""Reads without a position and camera ids with spaces, end to end (issue 17, item 1): the real
``alpr camera add``, a real ``alpr ingest`` and worker process, the embedded broker.

A mobile camera's read without a position on a listed plate raises an alert that says the
position is unknown (lat/lon null, never 0, 0); a fixed camera's read without one is placed by
the ingest at the camera's registered position and alerted there; a read with lat but no lon is
refused (422 at the ingest; on the rejected topic, with its reason, when written straight to the
reads topic). A camera id such as ``BXH9904 SPD2020627MDC`` is registered, keyed and screened; an
id breaking the grammar is refused by ``alpr camera add``, the ingest and the worker alike, with
the same message, and a refused registration changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.cameras.ids import camera_id_problem
from streams.codec import entry_to_dict
from streams.kafka.broker import free_port
from streams.readiness import wait_worker_ready
from tests.conftest import ROOT, AlprProcess, alpr, settings_of, wait_for
from tests.factories import make_entry, read_dict
from tests.integration.kafka_helpers import (
    add_user,
    alerts_for,
    alpr_as,
    feed_env,
    metric,
    read_topic,
    refused_reads,
    send_reads,
    wait_for_records,
)

pytestmark = pytest.mark.integration

UNIT = "BXH9904 SPD2020627MDC"  # a real vendor's id: a unit and its device
FIXED = "cam-airport-nb"
AIRPORT = (37.3639, -121.9289)  # far from every sample sensitive site
MOBILE_PLATE, FIXED_PLATE = "5POS101", "5POS202"


def post(port: str, key: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1
        f"http://127.0.0.1:{port}/v1/reads", data=orjson.dumps(body), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def healthy(port: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def key_of(output: str) -> str:
    lines = output.splitlines()
    [at] = [i for i, line in enumerate(lines) if line.startswith("ingest key ")]
    return lines[at + 1].strip()


def a_read(plate: str = "6UNL000", **changes: Any) -> dict[str, Any]:
    """A read captured now (after the hot-list sync: P4 is judged as of the capture), without
    camera_id (the key says which camera) and without a position unless given one."""
    read = read_dict(
        read_id=f"p-{uuid.uuid4().hex[:12]}", plate=plate, captured_at=datetime.now(UTC).isoformat()
    )
    for name in ("camera_id", "lat", "lon"):
        del read[name]
    return {**read, **changes}


def test_reads_without_a_position_are_accepted_matched_and_alerted_and_ids_may_hold_spaces(
    env_factory: Any, tmp_path: Path
) -> None:
    sites = tmp_path / "sites.geojson"
    shutil.copy(ROOT / "samples" / "sensitive-sites.geojson", sites)
    port = str(free_port())
    env = env_factory(
        ALPR_INGEST_PORT=port, ALPR_REQUIRE_REGISTERED_CAMERA="true", ALPR_SENSITIVE_SITES=str(sites)
    )
    settings = settings_of(env)
    from streams.kafka.topics import create_topics

    asyncio.run(create_topics(settings))
    ada = asyncio.run(add_user(settings, "ada", "administrator", badge="A-1"))

    def add(camera_id: str, kind: str, *more: str) -> Any:
        return alpr_as(
            env, ada, "camera", "add", "--id", camera_id, "--name", f"{camera_id} unit", "--agency", "SJPD",
            "--kind", kind, "--lat", str(AIRPORT[0]), "--lon", str(AIRPORT[1]), *more,
        )  # fmt: skip

    # The registry: the real id is accepted; ids breaking the grammar are refused, nothing stored.
    added = add(UNIT, "mobile")
    assert added.returncode == 0, added.stdout + added.stderr
    unit_key = key_of(added.stdout)
    fixed = add(FIXED, "fixed", "--facing", "0")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    fixed_key = key_of(fixed.stdout)
    before = len(asyncio.run(read_topic(settings.kafka, settings.topic("cameras"))))
    for bad in ("BXH9904  SPD2020627MDC", "BXH9904 ", "SJ:Curtner/Monterey"):
        refused = add(bad, "mobile")
        assert refused.returncode != 0
        assert camera_id_problem(bad) in refused.stderr  # the grammar, stated
    assert len(asyncio.run(read_topic(settings.kafka, settings.topic("cameras")))) == before

    feed = tmp_path / "feed.ndjson"
    feed.write_bytes(
        b"\n".join(
            orjson.dumps(entry_to_dict(make_entry(entry_id=f"V-POS-{i}", plate=plate, synced_at=None)))
            for i, plate in enumerate((MOBILE_PLATE, FIXED_PLATE))
        )
    )
    synced = alpr(
        feed_env(env), "hotlist", "sync", "--format", "ndjson", "--from", str(feed), "--source", "ncic"
    )
    assert synced.returncode == 0, synced.stderr

    ingest = AlprProcess(env, tmp_path / "ingest.log", "ingest")
    worker = AlprProcess(env, tmp_path / "worker.log")
    try:
        wait_for(lambda: healthy(port) or ingest.proc.poll() is not None, 60, "the ingest")
        assert ingest.proc.poll() is None, ingest.log()
        wait_for(lambda: metric(env, "alpr_active_entries") is not None, 60, "the worker's metrics")
        asyncio.run(wait_worker_ready(settings, 60))

        # The ingest: a batch mixing reads with and without a position is accepted whole.
        placed, unplaced = a_read(lat=37.33, lon=-121.89), a_read(MOBILE_PLATE)
        nulls = a_read(lat=None, lon=None)
        assert post(port, unit_key, [placed, unplaced, nulls]) == (202, {"accepted": 3})
        fixed_read = a_read(FIXED_PLATE)
        assert post(port, fixed_key, [fixed_read]) == (202, {"accepted": 1})

        # Half a position is refused, nothing of the request stored; so is a foreign bad id.
        half = a_read(lat=37.33)
        status, body = post(port, unit_key, [a_read(), half])
        assert status == 422 and "nothing was stored" in body["error"]
        assert body["reads"] == [
            {"index": 1, "reason": "read: lat without lon: lat and lon come together; give both (where the "
             "read was captured) or neither (position unknown)"}
        ]  # fmt: skip
        status, body = post(port, unit_key, [a_read(camera_id="BXH9904  SPD2020627MDC")])
        assert status == 403 and body["reads"][0]["reason"] == camera_id_problem("BXH9904  SPD2020627MDC")

        # Straight to the reads topic (a gateway writing to Kafka): the worker refuses alike.
        direct_half = {**a_read(lat=37.33), "camera_id": UNIT}
        direct_bad = {**a_read(), "camera_id": "cam-1\n"}
        asyncio.run(send_reads(settings, [direct_half, direct_bad]))
        wanted = {direct_half["read_id"], direct_bad["read_id"]}

        def ours(values: list[Any]) -> list[Any]:
            return [v for v in refused_reads(values) if orjson.loads(v["payload"]).get("read_id") in wanted]

        rejected = asyncio.run(
            wait_for_records(
                settings.kafka, settings.topic("reads-rejected"), lambda vs: len(ours(vs)) == 2, timeout=60
            )
        )
        by_id = {orjson.loads(v["payload"])["read_id"]: v for v in ours(rejected)}
        assert "lat without lon" in by_id[direct_half["read_id"]]["reason"]
        assert by_id[direct_bad["read_id"]]["reason_code"] == "bad_camera_id"
        assert by_id[direct_bad["read_id"]]["reason"] == camera_id_problem("cam-1\n")

        # The alerts: unknown for the mobile unit, the registered position for the fixed camera.
        read_ids = {unplaced["read_id"], fixed_read["read_id"]}
        values = asyncio.run(
            wait_for_records(
                settings.kafka,
                settings.topic("alerts"),
                lambda vs: len(alerts_for(vs, read_ids)) == 2,
                timeout=60,
            )
        )
        alerts = {a["read_id"]: a for a in alerts_for(values, read_ids)}
        mobile = alerts[unplaced["read_id"]]
        assert (mobile["camera_id"], mobile["lat"], mobile["lon"]) == (UNIT, None, None)
        assert mobile["position_source"] == "unknown" and "POSITION UNKNOWN" in mobile["advisory"]
        at_camera = alerts[fixed_read["read_id"]]
        assert (at_camera["lat"], at_camera["lon"], at_camera["position_source"]) == (*AIRPORT, "camera")
        assert "registered position" in at_camera["advisory"]

        # Stored as the camera sent it, and placed by the ingest for the fixed camera.
        stored = {
            r["read_id"]: r
            for record in asyncio.run(read_topic(settings.kafka, settings.topic("reads")))
            for r in orjson.loads(record.value).get("reads", [])
        }
        assert "lat" not in stored[unplaced["read_id"]] and stored[unplaced["read_id"]]["camera_id"] == UNIT
        assert stored[nulls["read_id"]]["lat"] is None
        assert (stored[fixed_read["read_id"]]["lat"], stored[fixed_read["read_id"]]["position_source"]) == (
            AIRPORT[0],
            "camera",
        )
        assert half["read_id"] not in stored
    finally:
        worker.stop()
        ingest.stop()
    assert MOBILE_PLATE not in ingest.log()
