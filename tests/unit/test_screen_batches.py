"""Records screened together (issue 19: the worker takes what was fetched together): each record's
outcome is the one it gets screened alone, whatever the others hold; the capture-time check made
once for times written alike refuses exactly what the RFC 3339 pattern refuses."""

from datetime import datetime, timedelta

import pytest

from streams.cameras.active import ActiveCameras
from streams.cameras.registry import Camera, encode_camera
from streams.codec import _RFC3339_LINES, _calendar_days, _time_bounds, decode_read_batch, dumps
from streams.matching.pipeline import Outcome, Source
from streams.metrics import Metrics
from tests.factories import NOW, local_entry, make_entry, make_pipeline, read_dict, refusals


def registry(*cameras: Camera) -> ActiveCameras:
    active = ActiveCameras()
    for camera in cameras:
        active.apply(camera.id.encode(), encode_camera(camera))
    return active


def camera(camera_id: str, retired_on=None) -> Camera:
    status = "retired" if retired_on else "active"
    return Camera(
        camera_id, "test site", "SJPD", "mobile", 37.33, -121.89, status=status, retired_on=retired_on
    )


def at(delta: timedelta) -> str:
    return (NOW + delta).isoformat()


RECORDS = [
    {"reads": [read_dict(read_id="a1", plate="7ABC123"), read_dict(read_id="a2", plate="5XYZ999")]},
    {
        "reads": [
            read_dict(read_id="b1", plate="8D0G512", camera_id="cam-off", captured_at=at(-timedelta(days=1)))
        ]
    },
    {"reads": [read_dict(read_id="c1", plate="8DOG512", camera_id="cam-off")]},  # retired today
    b"\xff not json",
    {"reads": [read_dict(read_id="d1", plate="7GHK25X"), read_dict(read_id="d2", lat=123)]},
    {"reads": [read_dict(read_id="e1", captured_at=at(-timedelta(days=40))), read_dict(read_id="e2")]},
    {"reads": [read_dict(read_id="f1", camera_id="cam-nobody")]},
    read_dict(read_id="g1", plate="7AB#123"),  # a bare read whose plate cannot be a plate
    {"reads": [read_dict(read_id="h1", captured_at=at(timedelta(hours=1)))]},  # from the future
    {"reads": []},
]


CODES = {
    "undecodable",
    "schema",
    "retired_camera",
    "unknown_camera",
    "expired",
    "bad_plate",
    "future_timestamp",
}


def outcome(out: Outcome) -> tuple:
    """What an outcome sends and counts (its read age is the oldest of what was screened together)."""
    return (
        out.reads,
        out.candidates,
        [(key, codes) for key, _value, codes in out.rejected],
        refusals(out),
        out.unstored_rejected,
        out.unstored_candidates,
        out.timestamp_ms,
        out.candidate_ms,
    )


def pipeline():
    p = make_pipeline(make_entry(plate="7ABC123"), make_entry(plate="8DOG512"), local_entry(plate="7GH?25X"))
    p.cameras = registry(camera("cam-00001"), camera("cam-off", retired_on=NOW.date()))
    return p


def sources() -> list[Source]:
    return [
        Source(
            record if isinstance(record, bytes) else dumps(record), ("alpr.reads", 1, n), 1000 + n, 2000 + n
        )
        for n, record in enumerate(RECORDS)
    ]


def test_records_screened_together_are_screened_as_each_alone() -> None:
    together = pipeline().screen_records(sources())
    alone = [
        pipeline().screen_record(s.payload, s.where, s.source_ms, arrival_ms=s.arrival_ms) for s in sources()
    ]
    assert [outcome(o) for o in together] == [outcome(o) for o in alone]
    # and the mix holds what it is meant to: candidates, every kind of refusal, reads on
    assert sum(o.reads for o in together) == 5  # a1, a2, b1, d1, e2
    assert {code for o in together for code, _ in refusals(o)} == CODES
    assert len([c for o in together for c in o.candidates]) == 4  # a1, b1 (before retirement), d1 (partial)


def test_a_retired_cameras_earlier_read_passes_beside_its_refused_later_one() -> None:
    """The registry is asked once at the latest capture of all the records taken together: a
    camera refused then is judged again read by read, so its earlier read still passes."""
    p = pipeline()
    earlier, later = sources()[1:3]
    first, second = p.screen_records([earlier, later])
    assert first.reads == 1 and first.rejected == []
    assert [code for code, _ in refusals(second)] == ["retired_camera"] and second.reads == 0


def test_late_records_keep_their_rejections_unstored_when_taken_with_others() -> None:
    good, late_bad = sources()[0], sources()[4]._replace(late=True)
    on_time, late = pipeline().screen_records([good, late_bad])
    assert on_time.rejected == [] and late.rejected == [] and late.unstored_rejected == ["schema"]


def test_the_metrics_count_records_screened_together_once() -> None:
    metrics = Metrics()
    outs = pipeline().screen_records(sources())
    metrics.observe_screened(outs, 0.01)
    registry_ = metrics.registry
    assert registry_.get_sample_value("alpr_reads_total") == sum(o.reads for o in outs)
    assert registry_.get_sample_value("alpr_read_batches_total") == len(outs)
    assert registry_.get_sample_value("alpr_bloom_positives_total") == 4
    assert registry_.get_sample_value("alpr_batch_processing_seconds_count") == len(outs)
    rejected = sum(len(codes) for o in outs for *_, codes in o.rejected)
    counted = [registry_.get_sample_value("alpr_rejected_total", {"reason": code}) or 0 for code in CODES]
    assert rejected == sum(counted) > 0


def by_pattern(texts: list[str]) -> tuple[datetime, datetime] | None:
    """The check as it was made before: the pattern over all, the calendar, then every time parsed."""
    if _RFC3339_LINES.fullmatch("\n".join(texts)) is None or not _calendar_days(texts):
        return None
    times = list(map(datetime.fromisoformat, texts))
    return min(times), max(times)


ALIKE = ["2026-12-05T11:54:51.697Z", "2026-12-05T11:54:52.100Z", "2026-02-28T23:59:59.000Z"]
OFFSET = ["2026-12-05T11:54:51+05:30", "2026-12-05T11:54:52+05:30"]
WRONG = [
    "2026-12-05T24:54:51.697Z",  # hour
    "2026-12-05T11:60:52.697Z",  # minute
    "2026-12-05T11:54:60.697Z",  # second
    "2026-02-30T11:54:51.697Z",  # no such day
    "2026-13-05T11:54:51.697Z",
    "0000-12-05T11:54:51.697Z",
    "2026-12-05t11:54:51.697Z",
    "2026-12-05T11:54:51.697z",
    "2026-12-05 11:54:51.697Z",
    "2026-12-05T11:54:51.6975",
    "2026-12-05T11:54:51+05:60",
    "2026-12-05T11:54:51+24:00",
    "2026-12-05T11:54:51+05:31",
    "2026-12-05T11:54:51Z",
]


@pytest.mark.parametrize("wrong", WRONG)
def test_times_written_alike_are_refused_as_the_pattern_refuses_them(wrong: str) -> None:
    for alike in (ALIKE, OFFSET):
        assert _time_bounds(alike) == by_pattern(alike) is not None
        for i in range(len(alike) + 1):
            texts = [*alike[:i], wrong, *alike[i:]]
            assert _time_bounds(texts) == by_pattern(texts)


def test_a_capture_time_with_other_digits_than_0_to_9_is_refused_not_a_crash() -> None:
    """RFC 3339 digits are ASCII: an Arabic-Indic digit is refused like any other wrong time."""
    arabic = "2026-12-05T11:54:5\u0663Z"
    batch = decode_read_batch(
        dumps({"reads": [read_dict(read_id="ok"), read_dict(read_id="x", captured_at=arabic)]})
    )
    assert len(batch) == 1
    [(position, error, _sent, _camera)] = batch.failed
    assert position == 1 and error.code == "schema" and "RFC 3339" in str(error)
