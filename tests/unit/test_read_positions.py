"""Reads without a position, and the one camera id grammar (issue 17, item 1), without a broker.

A read without a position (lat and lon absent or null) is accepted, matched and alerted; the
alert says "position unknown" rather than carrying 0, 0. A fixed camera's read without one takes
the camera's registered position (position_source "camera") and is screened against the
exclusion zones with it (P24); a mobile camera's cannot be placed in a zone and is accepted.
lat and lon come together. One camera id grammar, one message, for registry, schema and ingest.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jsonschema
import orjson
import pytest

from streams.alerts.model import raise_alert
from streams.alerts.sightings import sighting_of
from streams.cameras.active import ActiveCameras
from streams.cameras.ids import CAMERA_ID_PATTERN, CAMERA_ID_RULE, camera_id_problem
from streams.cameras.ingest import check_reads, excluded_reads, place_reads
from streams.cameras.registry import Camera, CameraRegistry, camera_problems, encode_camera, register
from streams.cameras.sites import SiteWatch, point_feature
from streams.codec import (
    SCHEMA_DIR,
    alert_from_dict,
    alert_to_dict,
    decode_read_batch,
    dumps,
    event_from_dict,
    event_to_dict,
    read_from_dict,
    read_to_dict,
    sent_object,
)
from streams.errors import InvalidRecord
from streams.matching.matcher import Match
from streams.matching.pipeline import Pipeline
from streams.reads.model import POSITION_UNKNOWN
from streams.reads.simulator import CameraFeed
from streams.reports.aggregates import AggregateSet, AlertTally, ReadTally, day_records
from streams.reports.annual import build_report
from tests.factories import NOW, make_entry, make_pipeline, make_read, read_dict

REAL_ID = "BXH9904 SPD2020627MDC"
WHERE = ("alpr.reads", 0, 7)
BAD_IDS = [" cam-1", "cam-1 ", "cam  1", "cam\t1", "cam-1\n", "cam\x001", "SJ:Curtner/Monterey", "", "c" * 65]
GOOD_IDS = ["cam-00004", REAL_ID, "SJ:Curtner-Monterey", "a", "A" * 64, "unit 7 plate.reader_2"]


def unplaced(**overrides: Any) -> dict[str, Any]:
    """A read as a camera that reports no position sends it: no lat, no lon."""
    read = {k: v for k, v in read_dict(**overrides).items() if k not in ("lat", "lon")}
    return read


def schema_file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    return data


# -- the id grammar: one constant, one message ----------------------------------------------------


def test_the_schemas_state_the_one_camera_id_grammar() -> None:
    assert schema_file("read")["properties"]["camera_id"]["pattern"] == CAMERA_ID_PATTERN
    assert schema_file("camera")["properties"]["id"]["pattern"] == CAMERA_ID_PATTERN


@pytest.mark.parametrize("camera_id", GOOD_IDS)
def test_real_camera_ids_pass_registry_schema_and_reads_alike(camera_id: str) -> None:
    assert camera_id_problem(camera_id) is None
    camera = Camera(camera_id, "Unit 7", "SJPD", "mobile", 37.33, -121.89)
    assert not any("camera id" in p for p in camera_problems(camera))
    assert jsonschema.Draft7Validator(schema_file("read")).is_valid(read_dict(camera_id=camera_id))
    assert read_from_dict(read_dict(camera_id=camera_id)).camera_id == camera_id


@pytest.mark.parametrize("camera_id", BAD_IDS)
def test_ids_breaking_the_grammar_are_refused_everywhere_with_the_same_message(camera_id: str) -> None:
    message = f"camera id {camera_id!r} breaks the id grammar: {CAMERA_ID_RULE}"
    assert camera_id_problem(camera_id) == message
    # the registry (alpr camera add, the console's camera page)
    with pytest.raises(InvalidRecord) as refused:
        register(
            CameraRegistry(), Camera(camera_id, "x", "SJPD", "mobile", 37.33, -121.89), lambda: [], 150.0
        )
    assert message in str(refused.value)
    # the read schema, as JSON Schema (any validator) and as the codec checks it
    assert not jsonschema.Draft7Validator(schema_file("read")).is_valid(read_dict(camera_id=camera_id))
    assert not jsonschema.Draft7Validator(schema_file("camera")).is_valid(
        {**schema_camera(), "id": camera_id}
    )
    [(_, error, _, _)] = decode_read_batch(dumps({"reads": [read_dict(camera_id=camera_id)]})).failed
    assert (error.code, str(error)) == ("bad_camera_id", message)
    # the ingest's check of a request (the same codec)
    assert check_reads([read_dict(camera_id=camera_id)], NOW, timedelta(minutes=5), timedelta(days=30)) == [
        (0, message)
    ]


def schema_camera() -> dict[str, Any]:
    return {
        "id": "cam-1",
        "name": "n",
        "agency": "SJPD",
        "kind": "mobile",
        "lat": 37.3,
        "lon": -121.9,
        "facing_deg": None,
        "install_date": None,
        "status": "active",
        "retired_on": None,
    }


# -- reads without a position: the wire ------------------------------------------------------------


def test_a_read_without_a_position_is_accepted_absent_or_null() -> None:
    batch = decode_read_batch(
        dumps({"reads": [unplaced(read_id="a"), read_dict(read_id="b", lat=None, lon=None)]})
    )
    assert batch.failed == [] and len(batch) == 2  # the fast path: no read is looked at alone
    read = batch.read(0)
    assert (read.lat, read.lon, read.placed, read.where) == (None, None, "unknown", POSITION_UNKNOWN)
    assert "lat" not in read_to_dict(read) and read_from_dict(read_to_dict(read)) == read
    assert jsonschema.Draft7Validator(schema_file("read")).is_valid(unplaced())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lat": 37.3, "lon": None}, "read: lat without lon: lat and lon come together"),
        ({"lon": -121.9, "lat": None}, "read: lon without lat: lat and lon come together"),
        ({"lat": 37.3}, "read: lat without lon"),
        ({"position_source": "camera"}, "position_source 'camera' without lat and lon"),
        ({"position_source": "gps", "lat": 37.3, "lon": -121.9}, "position_source"),
    ],
)
def test_half_a_position_is_refused_with_the_rule(changes: dict[str, Any], message: str) -> None:
    """One of lat and lon alone is no position: refused (kept on the rejected topic), with the
    other reads of its batch going on."""
    bad = {**unplaced(read_id="bad"), **changes}
    batch = decode_read_batch(dumps({"reads": [read_dict(read_id="good"), bad]}))
    [(position, error, raw, camera)] = batch.failed
    assert position == 1 and sent_object(raw) == bad and message in str(error)
    assert camera == bad["camera_id"]
    assert [w.read_id for w in batch.wires] == ["good"]
    assert not jsonschema.Draft7Validator(schema_file("read")).is_valid(bad)


# -- the ingest: a fixed camera's reads take its position -----------------------------------------


FIXED = Camera("cam-fixed", "Curtner & Monterey", "SJPD", "fixed", 37.2915, -121.8570, 90.0)
MOBILE = Camera(REAL_ID, "Unit 7", "SJPD", "mobile", 37.33, -121.89)


def test_a_fixed_camera_s_read_without_a_position_takes_the_registered_one() -> None:
    reads = [unplaced(read_id="u"), read_dict(read_id="n", lat=None, lon=None), read_dict(read_id="p")]
    half = {**unplaced(read_id="h"), "lat": 37.0}
    assert place_reads([*reads, half], FIXED) == 2
    assert [(r.get("lat"), r.get("lon"), r.get("position_source")) for r in reads[:2]] == [
        (FIXED.lat, FIXED.lon, "camera")
    ] * 2
    assert "position_source" not in reads[2] and reads[2]["lat"] != FIXED.lat  # its own position kept
    assert "lon" not in half  # half a position is left for the schema check to refuse
    placed = read_from_dict(reads[0])
    assert placed.placed == "camera" and "registered position" in placed.where


def test_a_mobile_camera_s_read_without_a_position_stays_unknown() -> None:
    reads = [unplaced(camera_id=REAL_ID)]
    assert place_reads(reads, MOBILE) == 0
    assert "lat" not in reads[0]


def sites_around(lat: float, lon: float, tmp_path: Any) -> SiteWatch:
    path = tmp_path / "sites.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [point_feature("s1", "Clinic", "reproductive_health_care", lat, lon)],
            }
        )
    )
    return SiteWatch(path, 150.0)


def test_p24_a_fixed_camera_s_unplaced_read_is_screened_at_the_camera_a_mobile_one_is_accepted(
    tmp_path: Any,
) -> None:
    """P24: a fixed camera's read placed at its registered position inside an exclusion zone is
    dropped like a read that reported that position; a mobile camera's read with no position
    cannot be placed in a zone and is accepted (README)."""
    sites = sites_around(FIXED.lat, FIXED.lon + 0.0005, tmp_path)  # ~45 m east of the camera
    fixed = [unplaced(camera_id=FIXED.id)]
    place_reads(fixed, FIXED)
    assert [i for i, _c, _r in excluded_reads(fixed, sites)] == [0]
    assert excluded_reads([unplaced(camera_id=REAL_ID)], sites) == []


# -- the worker: matched and alerted ----------------------------------------------------------------


def pipeline(*entries: Any, sites: SiteWatch | None = None) -> Pipeline:
    return make_pipeline(*entries, sites=sites)


def alerts_of(p: Pipeline, record: bytes) -> list[dict[str, Any]]:
    out = []
    for _key, _partition, candidate in p.screen_record(record, WHERE).candidates:
        out += [json.loads(value) for _k, value, _a in p.confirm_record(candidate, ("c", 0, 0)).alerts]
    return out


def test_a_read_without_a_position_on_a_listed_plate_raises_an_alert_that_says_so(tmp_path: Any) -> None:
    sites = sites_around(37.40, -121.80, tmp_path)
    p = pipeline(make_entry(plate="7ABC123", case_number="SJ-26-004512"), sites=sites)
    [alert] = alerts_of(p, dumps({"reads": [unplaced(read_id="u1", camera_id=REAL_ID, plate="7ABC123")]}))
    assert (alert["lat"], alert["lon"], alert["position_source"]) == (None, None, "unknown")
    assert "POSITION UNKNOWN" in alert["advisory"] and "visually verify" in alert["advisory"]  # P7 kept
    assert alert["camera_id"] == REAL_ID
    jsonschema.Draft7Validator(schema_file("alert")).validate(alert)
    back = alert_from_dict(alert)
    assert (back.read.lat, back.read.placed) == (None, "unknown")


def test_a_placed_read_s_alert_names_the_camera_s_position() -> None:
    read = read_from_dict(
        {
            **unplaced(read_id="f1", camera_id=FIXED.id),
            "lat": FIXED.lat,
            "lon": FIXED.lon,
            "position_source": "camera",
        }
    )
    alert = alert_to_dict(raise_alert(read, Match(make_entry(), "exact", False), NOW))
    assert (alert["lat"], alert["lon"], alert["position_source"]) == (FIXED.lat, FIXED.lon, "camera")
    assert "registered position" in alert["advisory"]
    jsonschema.Draft7Validator(schema_file("alert")).validate(alert)
    own = alert_to_dict(raise_alert(make_read(), Match(make_entry(), "exact", False), NOW))
    assert own["position_source"] == "read"
    assert "POSITION UNKNOWN" not in own["advisory"] and "registered position" not in own["advisory"]


def test_p24_the_worker_places_a_fixed_camera_s_read_written_straight_to_kafka(tmp_path: Any) -> None:
    """A read that never went through the ingest (written to the reads topic by a gateway) is
    placed at its fixed camera's registered position by the worker too: alerted with that place,
    and dropped when that place is inside an exclusion zone (P24). A mobile camera's stays unknown."""
    cameras = ActiveCameras()
    for cam in (FIXED, MOBILE):
        cameras.apply(cam.id.encode(), encode_camera(cam))
    listed = make_entry(plate="7ABC123", case_number="SJ-26-004512")
    p = pipeline(listed, make_entry(plate="8XYZ987", case_number="SJ-26-004513"))
    p.cameras = cameras
    record = dumps(
        {
            "reads": [
                unplaced(read_id="f1", camera_id=FIXED.id, plate="7ABC123"),
                unplaced(read_id="m1", camera_id=REAL_ID, plate="8XYZ987"),
            ]
        }
    )
    by_read = {a["read_id"]: a for a in alerts_of(p, record)}
    assert (by_read["f1"]["lat"], by_read["f1"]["lon"], by_read["f1"]["position_source"]) == (
        FIXED.lat,
        FIXED.lon,
        "camera",
    )
    assert (by_read["m1"]["lat"], by_read["m1"]["position_source"]) == (None, "unknown")

    zoned = pipeline(listed, sites=sites_around(FIXED.lat, FIXED.lon + 0.0005, tmp_path))
    zoned.cameras = cameras
    out = zoned.screen_record(dumps({"reads": [unplaced(read_id="f2", camera_id=FIXED.id)]}), WHERE)
    assert out.excluded == ["reproductive_health_care"]
    assert (out.reads, out.candidates, out.rejected) == (0, [], [])


def test_a_sighting_without_a_position_says_so_and_carries_no_0_0() -> None:
    read = read_from_dict(unplaced(read_id="s1"))
    record = orjson.loads(dumps(event_to_dict(sighting_of("a-1", read, NOW))))
    assert (record["lat"], record["lon"], record["note"]) == (None, None, POSITION_UNKNOWN)
    assert event_from_dict(record).note == POSITION_UNKNOWN


# -- the demo feed, the aggregates and the annual report (P26) -------------------------------------


def test_the_simulated_mobile_units_leave_out_about_5_percent_of_positions() -> None:
    from streams.matching.normalize import OcrClasses
    from streams.settings import DEFAULT_OCR_CLASSES

    feed = CameraFeed(cameras=5, hit_rate=0.0, listed=[], ocr=OcrClasses.of(DEFAULT_OCR_CLASSES), seed=3)
    reads = [feed.next_read(NOW) for _ in range(4000)]
    share = sum("lat" not in r for r in reads) / len(reads)
    assert 0.04 < share < 0.06
    assert decode_read_batch(dumps({"reads": reads[:1000]})).failed == []


def test_p26_reads_without_a_position_are_counted_in_their_own_bucket() -> None:
    """The aggregates count a camera's reads without a position apart; the annual report's "reads
    by location" puts a mobile camera's in one "position unknown" row and a fixed camera's at the
    camera (it stands there)."""
    day = date(2025, 6, 2)
    noon = datetime(2025, 6, 2, 12, tzinfo=UTC)
    at = noon.isoformat()
    tally = ReadTally(day, timedelta(minutes=5), timedelta(days=30))
    reads = [read_dict(read_id=f"m{i}", camera_id=REAL_ID, captured_at=at) for i in range(3)]
    reads += [unplaced(read_id=f"u{i}", camera_id=REAL_ID, captured_at=at) for i in range(2)]
    reads += [unplaced(read_id="f1", camera_id=FIXED.id, captured_at=at)]
    tally.add_record(dumps({"reads": reads}), int(noon.timestamp() * 1000))
    tally.add_record(dumps({"reads": reads[3:4]}), int(noon.timestamp() * 1000))  # redelivered: once
    assert tally.counts() == {REAL_ID: 5, FIXED.id: 1}
    assert tally.unplaced() == {REAL_ID: 2, FIXED.id: 1}
    records = day_records(day, tally.counts(), {}, AlertTally(), {}, noon, tally.unplaced())
    by_camera = {v["camera_id"]: v for _k, v in records if v["kind"] == "camera_day"}
    assert by_camera[REAL_ID]["unplaced_reads"] == 2 and by_camera[FIXED.id]["unplaced_reads"] == 1

    cameras = {c.id: dataclasses.replace(c, install_date=date(2024, 1, 1)) for c in (FIXED, MOBILE)}
    report = build_report(
        2025,
        AggregateSet.of({k: dumps(v) for k, v in records}),
        cameras,
        {},
        [],
        [],
        agency="SJPD",
        generated_at=datetime(2026, 1, 15, tzinfo=UTC),
    )
    [table] = [t for s in report.sections if s.title == "Reads by location" for t in s.tables]
    rows = {row[0]: row for row in table.rows}
    assert rows[REAL_ID][3] == 3 and rows[FIXED.id][3] == 1
    assert rows[POSITION_UNKNOWN][2:4] == (POSITION_UNKNOWN, 2)
    assert sum(row[3] for row in table.rows) == 6  # every read counted once
    assert Counter(row[0] for row in table.rows)[POSITION_UNKNOWN] == 1


def test_the_console_shows_position_unknown_never_0_0_or_null() -> None:
    """The alert queue row and the alert view give the console "position unknown" for a read
    without a position (console.js shows it as given), the coordinates for one with."""
    from streams.alerts.lifecycle import evolve
    from streams.console.views import alert_detail, alert_summary

    def state(read: Any) -> Any:
        return evolve(None, raise_alert(read, Match(make_entry(), "exact", False), NOW))

    unknown = state(make_read(lat=None, lon=None, camera_id=REAL_ID))
    detail = alert_detail(unknown, NOW, NOW, timedelta(hours=24))
    assert detail["position"] == detail["read"]["position"] == POSITION_UNKNOWN
    assert (detail["read"]["lat"], detail["read"]["position_source"]) == (None, "unknown")
    assert "POSITION UNKNOWN" in detail["advisory"]
    known = alert_summary(state(make_read(lat=37.29151, lon=-121.857)), NOW, NOW, timedelta(hours=24))
    assert known["position"] == "37.29151, -121.85700"


def test_replay_timelines_say_position_unknown_in_ndjson_and_csv() -> None:
    """A replayed read without a position: null lat/lon and position_source "unknown" in the
    NDJSON timeline, empty lat/lon and "unknown" in the CSV (never 0, 0)."""
    import csv
    import io

    from streams.replay.replay import CSV_FIELDS, Sighting

    row = Sighting(read_from_dict(unplaced(read_id="t1")), "exact", False, (), 0, 1).to_dict()
    assert (row["lat"], row["lon"], row["position_source"]) == (None, None, "unknown")
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerow({**row, "cases": ""})
    [parsed] = csv.DictReader(io.StringIO(table.getvalue()))
    assert (parsed["lat"], parsed["lon"], parsed["position_source"]) == ("", "", "unknown")
