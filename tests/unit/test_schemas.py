"""Schemas are valid JSON Schemas, samples validate, and the codec agrees with them."""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from referencing import Registry, Resource

from streams.alerts.model import raise_alert
from streams.codec import (
    SCHEMA_DIR,
    alert_to_dict,
    decode_read_record,
    dumps,
    entry_from_dict,
    entry_to_dict,
    read_from_dict,
    read_to_dict,
    rejected_group,
    rejected_item,
    rejected_record,
    schema,
)
from streams.errors import InvalidRecord
from streams.matching.matcher import match
from tests.factories import NOW, entry_dict, make_entry, make_index, make_read, read_dict

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = {p.stem: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json")}
REGISTRY = Registry().with_resources(
    (f"{name}.json", Resource.from_contents(schema)) for name, schema in SCHEMAS.items()
)


def validator(name: str) -> Draft7Validator:
    return Draft7Validator(SCHEMAS[name], registry=REGISTRY, format_checker=Draft7Validator.FORMAT_CHECKER)


def test_every_schema_is_a_valid_draft7_schema() -> None:
    assert {
        "read",
        "read_batch",
        "hotlist_entry",
        "alert",
        "rejected_read",
        "candidate",
        "hotlist_change",
        "hotlist_source",
        "hotlist_pending",
        "alert_event",
    } <= set(SCHEMAS)
    for spec in SCHEMAS.values():
        Draft7Validator.check_schema(spec)


def ndjson(path: Path) -> list:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append(None)
    return out


def test_sample_reads_validate_except_the_deliberately_bad_ones() -> None:
    records = ndjson(ROOT / "samples" / "reads.ndjson")
    good = bad = 0
    for record in records:
        if record is None:
            bad += 1
            continue
        reads = record["reads"] if "reads" in record else [record]
        if "reads" in record:
            assert validator("read_batch").is_valid(record) == all(
                validator("read").is_valid(r) for r in reads
            )
        for read in reads:
            if validator("read").is_valid(read):
                good += 1
            else:
                bad += 1
    assert good >= 12
    assert bad == 3  # one read without offset, one with confidence 1.7, one line not JSON


def test_sample_hotlist_entries_validate() -> None:
    for entry in ndjson(ROOT / "samples" / "hotlist.ndjson"):
        validator("hotlist_entry").validate(entry)


def test_sample_alerts_validate() -> None:
    alerts = ndjson(ROOT / "samples" / "alerts.ndjson")
    assert alerts
    for alert in alerts:
        validator("alert").validate(alert)


def test_codec_output_validates_against_the_schemas() -> None:
    read = make_read(image_ref="img/1.jpg", vehicle_color="red")
    validator("read").validate(read_to_dict(read))
    validator("hotlist_entry").validate(entry_to_dict(make_entry()))
    [found] = match(make_index(make_entry()), read)
    alert = alert_to_dict(raise_alert(read, found, NOW))
    validator("alert").validate(alert)
    whole = rejected_item(InvalidRecord("undecodable", "bad"), b"\xff\x00", None, None)
    reads = [rejected_item(InvalidRecord("schema", "bad"), read_dict(), i, "cam-1") for i in (0, 3)]
    records = [
        rejected_record(items, topic="t", partition=1, offset=2, now=NOW) for items in ([whole], reads)
    ]
    message = json.loads(rejected_group(records))
    validator("rejected_read").validate(message)
    rejected = message["records"][1]
    assert rejected["offset"] == 2 and [r["index"] for r in rejected["refused"]] == [0, 3]
    assert json.loads(rejected_record([whole], topic="t", partition=1, offset=2, now=NOW))["refused"] == [
        {
            "reason_code": "undecodable",
            "reason": "bad",
            "index": None,
            "camera_id": None,
            "payload": "/wA=",
            "payload_encoding": "base64",
        }
    ]
    validator("candidate").validate(
        {"canonical": "7ABC123", "normalized": "7ABC123", "read": read_to_dict(read)}
    )


def test_read_round_trip() -> None:
    read = make_read(vehicle_make="Ford")
    assert read_from_dict(json.loads(dumps(read_to_dict(read)))) == read


def test_entry_round_trip() -> None:
    entry = make_entry()
    assert entry_from_dict(entry_to_dict(entry)) == entry


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"captured_at": "2026-11-20T16:21:01"}, "captured_at"),
        ({"confidence": 1.5}, "confidence"),
        ({"plate_state": "California"}, "plate_state"),
        ({"lat": 91}, "lat"),
        ({"unexpected": 1}, "must not contain"),
    ],
)
def test_invalid_read_says_what_is_wrong(overrides, message) -> None:
    with pytest.raises(InvalidRecord) as info:
        read_from_dict(read_dict(**overrides))
    assert info.value.code == "schema"
    assert message in str(info.value)


def test_missing_field_is_named() -> None:
    data = read_dict()
    del data["camera_id"]
    with pytest.raises(InvalidRecord, match="camera_id"):
        read_from_dict(data)


def test_bare_read_is_a_batch_of_one() -> None:
    [read] = decode_read_record(dumps(read_dict(read_id="x1")))
    assert read.read_id == "x1"


def test_batch_keeps_good_reads_and_reports_bad_ones_in_place() -> None:
    decoded = decode_read_record(
        dumps({"reads": [read_dict(read_id="a"), read_dict(confidence=7), read_dict(read_id="c")]})
    )
    assert [getattr(d, "read_id", None) for d in decoded] == ["a", None, "c"]
    error, raw = decoded[1]
    assert error.code == "schema" and raw["confidence"] == 7


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", "empty"),
        (None, "empty"),
        (b"\x00\x01garbage", "undecodable"),
        (b"[1,2]", "schema"),
        (b'{"reads": []}', "schema"),
        (b'{"reads": [], "extra": 1}', "schema"),
        (b"x" * (5 * 1024 * 1024), "oversized"),
    ],
)
def test_unusable_records_are_refused_with_a_code(payload, code) -> None:
    with pytest.raises(InvalidRecord) as info:
        decode_read_record(payload)
    assert info.value.code == code


def test_entry_plate_is_normalized_and_partial_kept() -> None:
    assert entry_from_dict(entry_dict(plate="7abc-123")).plate == "7ABC123"
    assert entry_from_dict(entry_dict(source="local", plate="7gh?2*")).plate == "7GH?2*"


def test_entry_carries_ori_and_vehicle_description() -> None:
    entry = entry_from_dict(entry_dict(ori="CA0431000", vehicle={"make": "HOND", "color": "GRY"}))
    assert entry.ori == "CA0431000"
    assert dict(entry.vehicle) == {"make": "HOND", "color": "GRY"}
    assert entry_from_dict(entry_to_dict(entry)) == entry


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-300, 300),
    st.floats(-300, 300, allow_nan=False),
    st.text(max_size=3),
    st.text(min_size=15, max_size=20),
    st.sampled_from(
        [
            "CA",
            "ca",
            "C1",
            "",
            "2026-11-23T12:00:00Z",
            "2026-11-23T12:00:00.5+05:30",
            "2026-11-23 12:00:00Z",
            "2026-11-23T12:00:00",
            "2026-11-23T12:00:00+0530",
            "2026-13-23T12:00:00Z",
            "20261123T120000Z",
            "0000-00-00T00:00:00Z",
            "2026-02-30T12:00:00Z",
            "2026-11-23T12:00:00+00:99",
            "2026-11-23T24:00:00Z",
            "x" * 129,
            "y" * 1025,
        ]
    ),
)


_CHANGES = st.dictionaries(
    st.sampled_from([*schema("read")["properties"], "extra"]),
    _VALUES,
    max_size=3,
)
_DROPS = st.lists(st.sampled_from(["read_id", "plate", "lat", "plate_state", "image_ref"]), max_size=2)


def _variant(changes: dict, drop: list) -> dict:
    data = {**read_dict(image_ref="s3://x.jpg"), **changes}
    for key in drop:
        data.pop(key, None)
    return data


@settings(max_examples=1500, deadline=None)
@given(changes=_CHANGES, drop=_DROPS)
def test_the_read_check_is_never_looser_than_the_schema(changes, drop) -> None:
    """The stream's check of a read (msgspec types made from schemas/read.json plus the date-time
    and pattern rules) accepts only what the schema accepts."""
    import fastjsonschema

    from streams.codec import validator as compiled

    data = _variant(changes, drop)
    try:
        read_from_dict(data)
    except InvalidRecord:
        return
    try:
        compiled("read")(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise AssertionError(f"the read check accepted what the schema refuses: {data}: {exc}") from exc


@settings(max_examples=400, deadline=None)
@given(reads=st.lists(st.tuples(_CHANGES, _DROPS), min_size=1, max_size=6), bare=st.booleans())
def test_a_batch_is_checked_as_its_reads_are_one_by_one(reads, bare) -> None:
    """The fast path over a whole batch (one msgspec decode, joined-string checks) keeps exactly
    the reads the per-read check keeps, with the same values, and rejects the others at their
    positions; so a bad read never takes a good one down with it, nor slips through."""
    from streams.codec import decode_read_batch

    raws = [_variant(changes, drop) for changes, drop in reads]
    payload = dumps(raws[0]) if bare and len(raws) == 1 else dumps({"reads": raws})
    batch = decode_read_batch(payload)
    expected: dict[int, object] = {}
    for position, raw in enumerate(raws):
        try:
            expected[position] = read_from_dict(raw)
        except InvalidRecord:
            expected[position] = None
    assert {p: batch.read(i) for i, p in enumerate(batch.positions)} == {
        p: r for p, r in expected.items() if r is not None
    }
    assert sorted(p for p, *_ in batch.failed) == [p for p, r in expected.items() if r is None]


@settings(max_examples=300, deadline=None)
@given(
    instants=st.lists(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
        min_size=1,
        max_size=8,
    ),
    offsets=st.lists(st.sampled_from([0, 0, 0, 330, -480, 60]), min_size=1, max_size=3),
    zulu=st.booleans(),
    digits=st.sampled_from(["seconds", "milliseconds", "microseconds", "auto"]),
)
def test_a_batch_s_time_bounds_are_its_earliest_and_latest_capture(instants, offsets, zulu, digits) -> None:
    """The batch check parses only the first and last capture time when all are written alike
    (text order is time order); with mixed offsets and precisions it must still find the true
    earliest and latest instants."""
    from streams.codec import _time_bounds

    texts = []
    for n, instant in enumerate(instants):
        local = instant.astimezone(timezone(timedelta(minutes=offsets[n % len(offsets)])))
        text = local.isoformat(timespec=digits)
        texts.append(text.replace("+00:00", "Z") if zulu else text)
    written = [datetime.fromisoformat(t) for t in texts]  # what each says, at its precision
    assert _time_bounds(texts) == (min(written), max(written))
