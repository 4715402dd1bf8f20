"""The stream's per-record work, without Kafka: rejection, forwarding, alerts, duplicates."""

import json
import logging
from datetime import datetime, timedelta

from streams.alerts.lifecycle import Actor, AlertRejected
from streams.cameras.active import ActiveCameras
from streams.cameras.registry import Camera, encode_camera
from streams.codec import dumps, event_to_dict
from streams.matching.normalize import partition_for
from streams.matching.pipeline import Outcome, Pipeline, RecentIds
from streams.reads.lateness import StoreBounds
from streams.retention import load_profile
from streams.settings import Settings
from tests.factories import NOW, local_entry, make_entry, make_index, make_pipeline, read_dict, refusals

WHERE = ("alpr.reads", 3, 41)


pipeline = make_pipeline


def test_unlisted_reads_stop_at_the_screen() -> None:
    out = pipeline(make_entry(plate="7ABC123")).screen_record(
        dumps({"reads": [read_dict(plate="6KTP118"), read_dict(plate="1XYZ999")]}), WHERE
    )
    assert out.reads == 2
    assert out.candidates == [] and out.alerts == [] and out.rejected == []


def test_bloom_positive_goes_to_the_partition_of_its_canonical_key() -> None:
    out = pipeline(make_entry(plate="8DOG512")).screen_record(dumps(read_dict(plate="8D0G5I2")), WHERE)
    [(key, partition, value)] = out.candidates
    assert key == b"800G512"
    assert partition == partition_for("800G512", 12)
    assert json.loads(value)["read"]["plate"] == "8D0G5I2"


def test_candidate_confirmed_into_one_alert() -> None:
    p = pipeline(make_entry(plate="8DOG512", entry_id="V1"))
    [(_, _, candidate)] = p.screen_record(dumps(read_dict(read_id="r1", plate="8D0G512")), WHERE).candidates
    out = p.confirm_record(candidate, ("alpr.candidates", 0, 0))
    [(key, value, alert)] = out.alerts
    record = json.loads(value)
    assert key.decode() == record["alert_id"] == alert.alert_id
    assert record["status"] == "unverified"
    assert record["match_kind"] == "ocr_equivalent"
    assert "visually verify" in record["advisory"]  # P7
    assert "extra care" in record["advisory"]


def screened_and_confirmed(p: Pipeline, read: dict) -> Outcome:
    """A read through both agents' work: the screen, then the confirm of each candidate it forwards."""
    out = Outcome()
    for _key, _partition, candidate in p.screen_record(dumps(read), WHERE).candidates:
        confirmed = p.confirm_record(candidate, ("alpr.candidates", 0, 0))
        out.alerts += confirmed.alerts
        out.sightings += confirmed.sightings
        out.suppressed += confirmed.suppressed
    return out


def test_partial_fits_are_forwarded_and_alerted_at_the_confirm() -> None:
    p = pipeline(local_entry(plate="7GH?25X"))
    screened = p.screen_record(dumps(read_dict(plate="7GHK25X")), WHERE)
    assert screened.alerts == [] and len(screened.candidates) == 1  # decided where the plate is owned
    [(_, value, _)] = screened_and_confirmed(p, read_dict(plate="7GHK25X")).alerts
    assert json.loads(value)["match_kind"] == "partial"


def test_same_read_twice_raises_one_alert() -> None:
    p = pipeline(local_entry(plate="7GH*"))
    record = read_dict(read_id="dup", plate="7GH123")
    first = screened_and_confirmed(p, record)
    second = screened_and_confirmed(p, record)
    assert len(first.alerts) == 1
    assert second.alerts == [] and second.sightings == [] and second.suppressed == 1


def test_the_same_plate_again_within_the_window_is_a_sighting_p9() -> None:
    p = pipeline(make_entry(plate="7ABC123", entry_id="V1"), now=NOW + timedelta(minutes=10))
    first = screened_and_confirmed(p, read_dict(read_id="r1", camera_id="curtner-monterey", captured_at=NOW))
    [(_, _, alert)] = first.alerts
    later = NOW + timedelta(minutes=4)
    again = screened_and_confirmed(
        p, read_dict(read_id="r2", plate="7ABCI23", camera_id="curtner-malone", captured_at=later)
    )
    assert again.alerts == []
    [(key, value, sighting)] = again.sightings
    assert key == alert.alert_id.encode() and sighting.alert_id == alert.alert_id
    assert json.loads(value)["event"] == "AlertSighted" and sighting.camera_id == "curtner-malone"
    # the window runs from the last sighting: 8 minutes after the first read is still the same alert
    third = screened_and_confirmed(p, read_dict(read_id="r3", captured_at=NOW + timedelta(minutes=8)))
    assert [s.alert_id for _, _, s in third.sightings] == [alert.alert_id]
    # the same sighting delivered twice is added once
    assert screened_and_confirmed(
        p, read_dict(read_id="r3", captured_at=NOW + timedelta(minutes=8))
    ).suppressed


def test_after_the_window_or_a_closing_the_plate_raises_a_new_alert() -> None:
    p = pipeline(make_entry(plate="7ABC123", entry_id="V1"), now=NOW + timedelta(minutes=10))
    [(_, _, first)] = screened_and_confirmed(p, read_dict(read_id="r1", captured_at=NOW)).alerts
    late = screened_and_confirmed(p, read_dict(read_id="r2", captured_at=NOW + timedelta(minutes=6)))
    [(_, _, second)] = late.alerts
    assert second.alert_id != first.alert_id
    p.remember(rejection(second.alert_id))  # a dispatcher rejected it as a misread
    reopened = screened_and_confirmed(p, read_dict(read_id="r3", captured_at=NOW + timedelta(minutes=7)))
    assert len(reopened.alerts) == 1 and reopened.sightings == []


def rejection(alert_id: str) -> bytes:
    """The alerts-topic record of a dispatcher rejecting the alert as a misread."""
    event = AlertRejected("ev-" + alert_id, alert_id, NOW, Actor("Lee", "D-101"), "", reason="misread")
    return dumps(event_to_dict(event))


def test_a_restarted_worker_decides_as_the_one_before_it_from_the_alerts_topic() -> None:
    """A worker that crashed after raising an alert (its candidate offset not committed) or that
    takes over another's partition knows the alerts topic: the redelivered read raises nothing, the
    plate's next read is a sighting of the same alert, and a closed alert takes no more."""
    entry = make_entry(plate="7ABC123", entry_id="V1")
    before = pipeline(entry, now=NOW + timedelta(minutes=1))
    first = screened_and_confirmed(before, read_dict(read_id="r1", captured_at=NOW))
    [(_, raised, alert)] = first.alerts
    later = screened_and_confirmed(before, read_dict(read_id="r2", captured_at=NOW + timedelta(minutes=2)))
    [(_, sighted, _)] = later.sightings

    after = pipeline(entry, now=NOW + timedelta(minutes=3))  # the next worker: empty memory
    for value in (raised, sighted):
        after.remember(value)
    again = screened_and_confirmed(after, read_dict(read_id="r1", captured_at=NOW))
    assert again.alerts == [] and again.sightings == [] and again.suppressed == 1
    seen = screened_and_confirmed(after, read_dict(read_id="r3", captured_at=NOW + timedelta(minutes=6)))
    assert [s.alert_id for _, _, s in seen.sightings] == [alert.alert_id]  # 4 min after r2's sighting
    after.remember(rejection(alert.alert_id))
    reopened = screened_and_confirmed(after, read_dict(read_id="r4", captured_at=NOW + timedelta(minutes=7)))
    assert len(reopened.alerts) == 1 and reopened.alerts[0][2].alert_id != alert.alert_id
    after.remember(b"not json")  # unreadable records are passed over
    after.remember(None)


def test_another_entry_or_another_plate_is_not_a_sighting() -> None:
    p = pipeline(local_entry(plate="7GH*", entry_id="P1"), make_entry(plate="7GH123", entry_id="V1"))
    both = screened_and_confirmed(p, read_dict(read_id="r1", plate="7GH123"))
    assert {a.entry.entry_id for _, _, a in both.alerts} == {"P1", "V1"}
    other_plate = screened_and_confirmed(p, read_dict(read_id="r2", plate="7GH999"))
    assert [a.entry.entry_id for _, _, a in other_plate.alerts] == ["P1"]


def test_a_bad_read_is_rejected_and_the_rest_of_the_batch_processed() -> None:
    batch = {"reads": [read_dict(plate="7ABC123"), read_dict(confidence=3, camera_id="cam-bad"), read_dict()]}
    out = pipeline(make_entry(plate="7ABC123")).screen_record(dumps(batch), WHERE)
    assert out.reads == 2
    assert len(out.candidates) == 2
    [(key, _value, _codes)] = out.rejected
    [(code, record)] = refusals(out)
    assert key == b"cam-bad" and code == "schema"
    assert (record["topic"], record["partition"], record["offset"], record["index"]) == (
        "alpr.reads",
        3,
        41,
        1,
    )
    assert "confidence" in record["reason"]
    assert json.loads(record["payload"])["confidence"] == 3  # nothing lost


def test_garbage_record_is_kept_whole_on_the_rejected_topic() -> None:
    out = pipeline().screen_record(b"\xff\xfe not json", WHERE)
    [(key, _value, _codes)] = out.rejected
    [(code, record)] = refusals(out)
    assert key is None and code == "undecodable"
    assert record["payload_encoding"] == "base64" and record["index"] is None


def test_bad_plate_text_is_rejected() -> None:
    out = pipeline().screen_record(dumps(read_dict(plate="7AB#123")), WHERE)
    assert [code for code, _ in refusals(out)] == ["bad_plate"]


def test_reads_from_the_future_are_rejected() -> None:
    future = (NOW + timedelta(minutes=6)).isoformat()
    out = pipeline(make_entry()).screen_record(dumps(read_dict(captured_at=future)), WHERE)
    assert [code for code, _ in refusals(out)] == ["future_timestamp"]
    assert out.candidates == []


def test_expired_reads_are_rejected_without_keeping_the_plate_p11() -> None:
    old = (NOW - timedelta(days=31)).isoformat()
    out = pipeline(make_entry()).screen_record(dumps(read_dict(read_id="old", captured_at=old)), WHERE)
    [(code, record)] = refusals(out)
    assert code == "expired"
    payload = json.loads(record["payload"])
    assert payload == {"read_id": "old", "camera_id": "cam-00001", "captured_at": old}


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def timed_pipeline(*entries, retention=timedelta(days=30)) -> Pipeline:
    """The retention_test profile's bounds (the topics' message.timestamp.before.max.ms): rejected
    records of reads captured up to 20 s before, candidates of reads that arrived up to 21 s before."""
    settings = Settings().with_(profile=load_profile("retention_test"), max_clock_skew_s=2)
    return Pipeline(
        make_index(*entries),
        partitions=12,
        retention=retention,
        max_skew=timedelta(seconds=2),
        clock=lambda: NOW,
        bounds=StoreBounds.of(settings),
    )


def test_derived_records_carry_the_capture_time_or_the_arrival() -> None:
    """P11: a rejected record is stamped with its read record's capture time (so it goes when the
    read goes); a candidate with its read's arrival (reads-late keeps a day from arrival, and a
    candidate stamped with an older capture time would be deleted before it was confirmed)."""
    p = timed_pipeline(make_entry(plate="7ABC123"))
    source, arrival = _ms(NOW - timedelta(seconds=10)), _ms(NOW - timedelta(seconds=1))
    batch = {"reads": [read_dict(plate="7ABC123"), read_dict(confidence=3)]}
    out = p.screen_record(dumps(batch), WHERE, source, arrival_ms=arrival)
    assert out.timestamp_ms == source and out.candidate_ms == arrival
    assert len(out.candidates) == 1 and len(out.rejected) == 1
    assert out.unstored_rejected == [] and out.unstored_candidates == 0
    [(_, _, candidate)] = out.candidates
    assert p.confirm_record(candidate, ("alpr.candidates", 0, 0), arrival).timestamp_ms == arrival
    assert pipeline().screen_record(dumps(batch), WHERE).timestamp_ms is None  # no source: send time


def test_rejects_of_a_read_captured_before_the_rejected_topic_takes_are_counted_not_stored(caplog) -> None:
    """P11: a rejection of a read captured 40 s before (the rejected topic takes 20 s) is counted and
    logged with read id, camera and capture time only; its candidates still go on (they carry the
    arrival)."""
    caplog.set_level(logging.INFO)
    p = timed_pipeline(make_entry(plate="7ABC123"))
    source = _ms(NOW - timedelta(seconds=40))
    bad = read_dict(read_id="late-bad", plate="7XYZ999", confidence=3)
    out = p.screen_record(
        dumps({"reads": [read_dict(plate="7ABC123"), bad]}), WHERE, source, arrival_ms=_ms(NOW)
    )
    assert out.rejected == [] and out.unstored_rejected == ["schema"]
    assert len(out.candidates) == 1 and out.unstored_candidates == 0
    assert "late-bad" in caplog.text and bad["captured_at"] in caplog.text
    assert "7XYZ999" not in caplog.text and "7ABC123" not in caplog.text
    garbage = p.screen_record(b"\xff not json", WHERE, source)
    assert garbage.rejected == [] and garbage.unstored_rejected == ["undecodable"]
    assert [c for c, _ in refusals(p.screen_record(b"\xff", WHERE, _ms(NOW) - 18_000))] == ["undecodable"]


def test_rejects_of_a_late_read_are_counted_not_stored() -> None:
    """P11: a record of reads-late arrived up to too_late after capture; a rejection stamped with
    its arrival would outlive the read's retention on the rejected topic, so it is only counted."""
    p = timed_pipeline(make_entry(plate="7ABC123"))
    bad = read_dict(read_id="late-bad", confidence=3)
    out = p.screen_record(dumps({"reads": [bad]}), WHERE, _ms(NOW), arrival_ms=_ms(NOW), late=True)
    assert out.rejected == [] and out.unstored_rejected == ["schema"]
    on_time = p.screen_record(dumps({"reads": [bad]}), WHERE, _ms(NOW), arrival_ms=_ms(NOW))
    assert [c for c, _ in refusals(on_time)] == ["schema"]


def test_candidates_of_a_read_that_arrived_before_the_candidates_topic_keeps_are_not_passed_on(
    caplog,
) -> None:
    caplog.set_level(logging.INFO)
    p = timed_pipeline(make_entry(plate="7ABC123"))
    out = p.screen_record(
        dumps(read_dict(read_id="too-old", plate="7ABC123")),
        WHERE,
        _ms(NOW),
        arrival_ms=_ms(NOW - timedelta(seconds=21)),
    )
    assert out.candidates == [] and out.unstored_candidates == 1 and out.reads == 1
    assert "too-old" in caplog.text and "7ABC123" not in caplog.text


def test_expired_names_a_retention_under_a_day_in_seconds() -> None:
    p = timed_pipeline(make_entry(), retention=timedelta(seconds=90))
    old = (NOW - timedelta(seconds=91)).isoformat()
    [(code, record)] = refusals(p.screen_record(dumps(read_dict(captured_at=old)), WHERE))
    assert code == "expired" and "older than the read retention (90 s)" in record["reason"]


def test_bad_candidate_is_counted_not_fatal_and_not_stored() -> None:
    """A candidate the worker cannot read is its own fault; its read may be late, so it is counted,
    not stored on the rejected topic (P11)."""
    out = pipeline().confirm_record(b'{"canonical": "X"}', ("alpr.candidates", 0, 5))
    assert out.rejected == [] and out.unstored_rejected == ["schema"]


def test_recent_ids_expire_after_ttl_and_are_bounded() -> None:
    recent = RecentIds(timedelta(minutes=10), max_size=3)
    assert recent.add("a", NOW)
    assert not recent.add("a", NOW + timedelta(minutes=9))
    assert recent.add("a", NOW + timedelta(minutes=21))
    for name in "bcde":
        recent.add(name, NOW + timedelta(minutes=21))
    assert len(recent) <= 3


def registry_of(*cameras) -> ActiveCameras:
    """The worker's registry after these cameras' records on the cameras topic."""
    active = ActiveCameras()
    for camera in cameras:
        active.apply(camera.id.encode(), encode_camera(camera))
    return active


def camera(camera_id: str, retired_on=None) -> Camera:
    return Camera(
        camera_id,
        f"{camera_id} test site",
        "SJPD",
        "mobile",
        37.33,
        -121.89,
        status="retired" if retired_on else "active",
        retired_on=retired_on,
    )


def test_reads_from_unknown_or_retired_cameras_are_rejected_with_that_reason() -> None:
    """Issue 9: a read is screened only when its camera is registered and in service. The other
    reads of the batch go on; a retired camera's read captured before the day it was retired
    (a late upload) is still screened; nothing is dropped, the rejected reads are kept whole."""
    p = pipeline(make_entry(plate="7ABC123"))
    p.cameras = registry_of(camera("cam-on"), camera("cam-off", retired_on=NOW.date()))
    reads = [
        read_dict(read_id="r-on", camera_id="cam-on", plate="7ABC123"),
        read_dict(read_id="r-unknown", camera_id="cam-nobody", plate="7ABC123"),
        read_dict(read_id="r-retired", camera_id="cam-off", plate="7ABC123"),
        read_dict(
            read_id="r-before",
            camera_id="cam-off",
            plate="6KTP118",
            captured_at=(NOW - timedelta(days=1)).isoformat(),
        ),
    ]
    out = p.screen_record(dumps({"reads": reads}), WHERE)
    assert out.reads == 2
    assert [json.loads(v)["read"]["read_id"] for _k, _p, v in out.candidates] == ["r-on"]
    rejected = {json.loads(r["payload"])["read_id"]: (code, r) for code, r in refusals(out)}
    assert {k: c for k, (c, _r) in rejected.items()} == {
        "r-unknown": "unknown_camera",
        "r-retired": "retired_camera",
    }
    unknown = rejected["r-unknown"][1]
    assert "camera 'cam-nobody' is not registered" in unknown["reason"]
    assert json.loads(unknown["payload"])["plate"] == "7ABC123" and unknown["index"] == 1
    assert unknown["camera_id"] == "cam-nobody"
    assert f"retired on {NOW.date().isoformat()}" in rejected["r-retired"][1]["reason"]


def test_a_camera_registered_later_or_retired_later_is_judged_by_the_registry_now() -> None:
    """The registry is folded as compaction would keep it: the newest record of a camera decides,
    a tombstone removes it, and a record that cannot be read makes it unknown (with the reason)."""
    p = pipeline(make_entry(plate="7ABC123"))
    p.cameras = ActiveCameras()
    read = dumps(read_dict(read_id="r1", camera_id="cam-1", plate="7ABC123"))
    assert [code for code, _ in refusals(p.screen_record(read, WHERE))] == ["unknown_camera"]
    p.cameras.apply(b"cam-1", encode_camera(camera("cam-1")))
    assert p.screen_record(read, WHERE).rejected == [] and len(p.cameras) == 1
    p.cameras.apply(b"cam-1", encode_camera(camera("cam-1", retired_on=NOW.date() - timedelta(days=1))))
    assert [code for code, _ in refusals(p.screen_record(read, WHERE))] == ["retired_camera"]
    p.cameras.apply(b"cam-1", b'{"id": "cam-1"}')
    [(code, record)] = refusals(p.screen_record(read, WHERE))
    assert code == "unknown_camera" and "its record cannot be read" in record["reason"]
    p.cameras.apply(b"cam-1", None)
    assert "register it with 'alpr camera add'" in refusals(p.screen_record(read, WHERE))[0][1]["reason"]
