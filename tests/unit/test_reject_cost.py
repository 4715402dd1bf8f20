"""Refusing a read cheaply (issue 17, item 3) without saying less: the read-by-read check of a
record with bad reads gives each refused read the message the schema's own validator gives, keeps
every good read, and every refused read reaches the rejected topic with its reason (P11 aside).
Correctness only: loadtest/bench_reject.py measures the cost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.codec import (
    _inline_refs,
    _read_problem,
    decode_read_batch,
    dumps,
    loads,
    rejected_group,
    schema,
    sent_object,
)
from tests.factories import NOW, make_pipeline, read_dict, refusals

VALIDATE = fastjsonschema.compile(_inline_refs(schema("read")))

#: Values of every kind a vendor file holds, right and wrong, for any field.
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-500, 500),
    st.floats(-500, 500, allow_nan=False),
    st.sampled_from(["", "CA", "ca", "California", "read", "camera", "7ABC123", "X" * 17, "x" * 200]),
    st.sampled_from(["2026-11-23T12:00:00Z", "2026-11-23T12:00:00", "11/23/2026", "2026-02-30T00:00:00Z"]),
    st.sampled_from(["cam 1/2", "BXH9904 SPD2020627MDC", " cam", "cam  2"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
FIELDS = st.sampled_from([*schema("read")["properties"], "speed_mph", "Plate"])


def schema_message(data: Any) -> str | None:
    try:
        VALIDATE(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        return str(exc.message)
    return None


@settings(max_examples=600, deadline=None)
@given(changes=st.dictionaries(FIELDS, VALUES, max_size=3), drop=st.lists(FIELDS, max_size=2))
def test_the_message_of_a_refused_read_is_the_schema_validators_own(changes, drop) -> None:
    """Any read, wrong in up to five ways: the message made without running the validator is the
    validator's, word for word (the first rule broken, in the schema's order)."""
    data = {**read_dict(), **changes}
    for name in drop:
        data.pop(name, None)
    assert _read_problem(data) == schema_message(data)


@pytest.mark.parametrize("data", [[], "a read", 7, None])
def test_what_is_not_an_object_is_said_to_be_no_object(data) -> None:
    assert _read_problem(data) == schema_message(data) == "data must be object"


BAD = {
    "no-plate": (
        {k: v for k, v in read_dict(read_id="no-plate").items() if k != "plate"},
        "must contain ['plate']",
    ),
    "text-conf": (read_dict(read_id="text-conf", confidence="high"), "data.confidence must be number"),
    "big-conf": (read_dict(read_id="big-conf", confidence=87), "smaller than or equal to 1"),
    "bad-time": (
        read_dict(read_id="bad-time", captured_at="11/23/2026"),
        "data.captured_at must be date-time",
    ),
    "no-offset": (read_dict(read_id="no-offset", captured_at="2026-11-23T12:00:00"), "captured_at"),
    "lower-state": (read_dict(read_id="lower-state", plate_state="ca"), "plate_state must match pattern"),
    "speed": (read_dict(read_id="speed", speed_mph=30), "must not contain {'speed_mph'}"),
    "slash-cam": (read_dict(read_id="slash-cam", camera_id="unit/7"), "breaks the id grammar"),
    "no-lon": ({k: v for k, v in read_dict(read_id="no-lon").items() if k != "lon"}, "lat without lon"),
}


def test_a_mixed_record_keeps_its_good_reads_and_names_each_bad_one_in_place() -> None:
    good = [
        read_dict(read_id=f"g{i}", captured_at=(NOW - timedelta(minutes=i)).isoformat()) for i in range(4)
    ]
    reads = [good[0], *(bad for bad, _ in BAD.values()), *good[1:]]
    batch = decode_read_batch(dumps({"reads": reads}))
    assert [batch.read(i).read_id for i in range(len(batch))] == ["g0", "g1", "g2", "g3"]
    assert batch.positions == [0, len(BAD) + 1, len(BAD) + 2, len(BAD) + 3]
    assert (batch.earliest, batch.latest) == (NOW - timedelta(minutes=3), NOW)
    assert [p for p, *_ in batch.failed] == list(range(1, len(BAD) + 1))
    for (_position, error, raw, camera), (read_id, (bad, message)) in zip(
        batch.failed, BAD.items(), strict=True
    ):
        assert sent_object(raw) == bad and message in error.reason, (read_id, error.reason)
        assert camera == bad["camera_id"]
    # one by one, each gives the same message
    for _position, error, raw, _camera in batch.failed:
        [alone] = [e for _p, e, *_ in decode_read_batch(dumps(sent_object(raw))).failed]
        assert (alone.code, alone.reason) == (error.code, error.reason)


def test_every_refused_read_of_a_mixed_record_reaches_the_rejected_topic_with_its_reason() -> None:
    """The worker: every bad read of the record is in its one rejected record, the read as sent
    and the reason; the good reads are screened (P11: nothing here is late or expired)."""
    pipeline = make_pipeline()
    reads = [read_dict(read_id="g0"), *(bad for bad, _ in BAD.values()), read_dict(read_id="g1", plate="###")]
    out = pipeline.screen_record(dumps({"reads": reads}), ("reads", 0, 7), int(NOW.timestamp() * 1000))
    assert len(out.rejected) == 1  # one record, one send, however many reads it refuses
    records = [record for _code, record in refusals(out)]
    assert [loads(r["payload"]) for r in records] == [*(bad for bad, _ in BAD.values()), reads[-1]]
    assert [loads(r["payload"])["read_id"] for r in records] == [*BAD, "g1"]
    assert [r["index"] for r in records] == [*range(1, len(BAD) + 1), len(BAD) + 1]
    for record, (_bad, message) in zip(records, BAD.values(), strict=False):
        assert message in record["reason"] and record["offset"] == 7
    assert records[-1]["reason_code"] == "bad_plate"
    assert out.reads == 1  # g0 screened


def test_the_refused_reads_of_a_record_are_counted_by_reason_and_validate_against_the_schema() -> None:
    """Issue 17: the worker counts a record's refusals per reason (one increment each, not one per
    read) and its rejected record, keyed by the camera its refused reads share, is a valid
    rejected_read."""
    from jsonschema import Draft7Validator

    from streams.codec import schema as load_schema
    from streams.metrics import Metrics

    pipeline = make_pipeline()
    reads = [read_dict(read_id=f"c{i}", confidence="high") for i in range(3)] + [
        read_dict(read_id="s", camera_id="unit/7"),
        read_dict(read_id="g"),
    ]
    out = pipeline.screen_record(dumps({"reads": reads}), ("reads", 2, 9), int(NOW.timestamp() * 1000))
    metrics = Metrics()
    metrics.observe(out, batch_seconds=0.001)
    assert metrics.rejected.labels("schema")._value.get() == 3  # noqa: SLF001 - the counter's value
    assert metrics.rejected.labels("bad_camera_id")._value.get() == 1  # noqa: SLF001
    check = Draft7Validator(load_schema("rejected_read"))
    [(key, value, codes)] = out.rejected
    record = loads(value)
    assert not list(check.iter_errors(loads(rejected_group([value])))), record
    assert (record["partition"], record["offset"]) == (2, 9) and codes == [*["schema"] * 3, "bad_camera_id"]
    assert [r["camera_id"] for r in record["refused"]] == ["cam-00001"] * 3 + ["unit/7"]
    assert key is None  # two cameras: no one key
    [(key, _value, _codes)] = pipeline.screen_record(dumps({"reads": reads[:3]}), ("reads", 2, 10)).rejected
    assert key == b"cam-00001"


@pytest.mark.parametrize(
    "payload",
    [b'{"reads": [{"read_id": "\xff"}]}', b'{"reads":[{"read_id":"r"},{"confidence":1e999}]}'],
    ids=["bad-utf8-inside-a-read", "number-out-of-range"],
)
def test_a_batch_split_read_by_read_is_still_undecodable_as_a_whole_when_it_is(payload) -> None:
    """The read-by-read check splits a batch into its reads' bytes (issue 17); bytes that are not
    UTF-8 or JSON anywhere still make the whole record undecodable, kept as received (P11 aside)."""
    from streams.errors import InvalidRecord

    with pytest.raises(InvalidRecord) as refused:
        decode_read_batch(payload)
    assert refused.value.code == "undecodable"
