"""The daily counts behind the annual report (P26), counted from known inputs, without a broker.

What is counted must be exact however often the inputs are delivered, and hold no plates: the
counts outlive the reads (P11), which the plates must not.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from streams.access.audit import AccessRecorded
from streams.alerts.lifecycle import (
    Actor,
    AlertConfirmed,
    AlertEvent,
    AlertRejected,
    AlertStatusValidated,
    AlertVisuallyVerified,
)
from streams.alerts.model import AlertRaised, alert_id_for
from streams.codec import alert_to_dict, dumps, event_to_dict, rejected_item, rejected_record
from streams.errors import ConfigError, InvalidRecord
from streams.reports.aggregates import (
    CAMERA_DAY,
    DAY,
    AggregateSet,
    ReadTally,
    count_rejected,
    day_records,
    days_to_aggregate,
    purpose_label,
    record_key,
    tally_accesses,
    tally_alerts,
    utc_day,
)
from tests.factories import make_entry, make_read, read_dict

D = date(2026, 3, 10)
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)
RETENTION = timedelta(days=30)
ANNA = Actor("anna", "D-17")


def batch(*reads: dict[str, Any]) -> bytes:
    return dumps({"reads": list(reads)})


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def tally_of(records: list[tuple[bytes, datetime]]) -> ReadTally:
    tally = ReadTally(D, SKEW, RETENTION)
    for value, sent in records:
        tally.add_record(value, ms(sent))
    return tally


# -- reads ----------------------------------------------------------------------------------------


def test_reads_are_counted_per_camera_on_their_utc_capture_day() -> None:
    """A read belongs to the UTC day it was captured: a camera writing local time (-08:00) at 17:00 on
    the 9th is the 10th in UTC; the last instant of the 10th counts, the first of the 11th does not."""
    a1 = read_dict(read_id="a1", camera_id="cam-A", captured_at="2026-03-10T00:00:00+00:00")
    a2 = read_dict(read_id="a2", camera_id="cam-A", captured_at="2026-03-10T23:59:59.999Z")
    local = read_dict(read_id="b1", camera_id="cam-B", captured_at="2026-03-09T17:00:00-08:00")
    before = read_dict(read_id="a0", camera_id="cam-A", captured_at="2026-03-09T23:59:59Z")
    after = read_dict(read_id="a3", camera_id="cam-A", captured_at="2026-03-11T00:00:00Z")
    tally = tally_of(
        [
            (batch(before, a1), NOON - timedelta(hours=12)),
            (batch(a2, after), NOON + timedelta(hours=12)),
            (dumps(local), NOON - timedelta(hours=11)),  # a bare read is a batch of one
        ]
    )
    assert tally.counts() == {"cam-A": 2, "cam-B": 1}
    assert utc_day("2026-03-09T17:00:00-08:00") == D


def test_a_read_delivered_twice_counts_once() -> None:
    """Redelivery (a producer retry, a camera re-sending after an outage): the same read id, on the
    same camera, in another record, is one read."""
    reads = [read_dict(read_id=f"r{i}", camera_id="cam-A", captured_at=NOON.isoformat()) for i in range(5)]
    once = tally_of([(batch(*reads), NOON)])
    twice = tally_of([(batch(*reads), NOON), (batch(*reads[:3]), NOON + timedelta(minutes=1))])
    assert once.counts() == twice.counts() == {"cam-A": 5}


def test_reads_the_worker_would_refuse_are_not_counted() -> None:
    """The count is of reads the matcher screened: a read that breaks the schema, one captured more
    than the clock skew after it was sent (a wrong camera clock) and an undecodable record are not."""
    good = read_dict(read_id="g", camera_id="cam-A", captured_at=NOON.isoformat())
    bad = {**read_dict(read_id="b", camera_id="cam-A", captured_at=NOON.isoformat()), "confidence": 7}
    future = read_dict(read_id="f", camera_id="cam-A", captured_at=NOON.isoformat())
    tally = tally_of(
        [
            (batch(good, bad), NOON),
            (batch(future), NOON - timedelta(hours=1)),
            (b"not json", NOON),
        ]
    )
    assert tally.counts() == {"cam-A": 1}
    assert tally.undecodable == 1


def test_rejected_input_is_counted_by_the_day_it_was_rejected() -> None:
    """Each refused read counts, by its own camera (a record refuses all of its bad reads at once)."""

    def rejected(at: str, *cameras: str | None) -> bytes:
        error = InvalidRecord("schema", "read: data.confidence must be number")
        items = [rejected_item(error, {"camera_id": c}, i, c) for i, c in enumerate(cameras)]
        return rejected_record(items, topic="reads", partition=0, offset=1, now=datetime.fromisoformat(at))

    values = [
        rejected("2026-03-10T01:00:00+00:00", "cam-A"),
        rejected("2026-03-10T02:00:00+00:00", "cam-A", "cam-B", None),
        rejected("2026-03-10T03:00:00+00:00", None),
        rejected("2026-03-11T00:00:01+00:00", "cam-A"),
        b"{garbage",
    ]
    assert count_rejected(values, D) == {"cam-A": 2, "cam-B": 1, "(unknown)": 2}


# -- alerts ---------------------------------------------------------------------------------------


def raised(read_id: str, camera: str, kind: str, *, historical: bool = False) -> AlertRaised:
    entry = make_entry()
    read = make_read(read_id=read_id, camera_id=camera, captured_at=NOON, plate="7ABC123")
    return AlertRaised(
        alert_id_for(read_id, entry.key), NOON, read, entry, kind, False, historical=historical
    )


def step(cls: type[AlertEvent], alert: AlertRaised, n: int, at: datetime, **extra: Any) -> dict[str, Any]:
    return event_to_dict(cls(f"{alert.alert_id}-{n}", alert.alert_id, at, ANNA, "", **extra))


def test_hits_by_camera_and_match_kind_and_outcomes_by_the_day_decided() -> None:
    """Hits: alerts raised for the day's reads, by camera and match kind (a redelivered AlertRaised
    counts once). Outcomes: on the day a person decided them, by the alert's match kind; a second
    rejection of the same alert (two people at once) is refused by the lifecycle and not counted."""
    exact = raised("r1", "cam-A", "exact")
    ocr1 = raised("r2", "cam-A", "ocr_equivalent")
    ocr2 = raised("r3", "cam-B", "ocr_equivalent")
    partial = raised("r4", "cam-B", "partial", historical=True)
    next_day = NOON + timedelta(days=1)
    values = [
        alert_to_dict(exact),
        alert_to_dict(ocr1),
        alert_to_dict(exact),  # redelivered
        alert_to_dict(ocr2),
        alert_to_dict(partial),
        step(AlertRejected, ocr1, 1, NOON + timedelta(minutes=3), reason="misread"),
        step(AlertRejected, ocr1, 2, NOON + timedelta(minutes=4), reason="wrong_state"),  # refused
        step(AlertRejected, ocr1, 1, NOON + timedelta(minutes=3), reason="misread"),  # redelivered
        step(AlertRejected, ocr2, 1, next_day, reason="misread"),
        step(AlertVisuallyVerified, exact, 1, NOON + timedelta(minutes=1)),
        step(AlertStatusValidated, exact, 2, NOON + timedelta(minutes=2), priority="urgent"),
        step(AlertConfirmed, exact, 3, NOON + timedelta(minutes=5), confirming_agency="CA0430000"),
        step(AlertConfirmed, partial, 1, NOON),  # out of order (never verified): refused
    ]
    tally = tally_alerts(values)
    assert dict(tally.hits[(D, "cam-A")]) == {"exact": 1, "ocr_equivalent": 1}
    assert dict(tally.hits[(D, "cam-B")]) == {"ocr_equivalent": 1, "partial": 1}
    assert tally.historical[(D, "cam-B")] == 1
    assert tally.outcomes(D) == {
        "exact": {"confirmed": 1, "rejected": {}},
        "ocr_equivalent": {"confirmed": 0, "rejected": {"misread": 1}},
    }
    assert tally.outcomes(D + timedelta(days=1)) == {
        "ocr_equivalent": {"confirmed": 0, "rejected": {"misread": 1}}
    }


def test_an_outcome_whose_alert_expired_counts_once_under_unknown() -> None:
    alert = raised("r9", "cam-A", "exact")
    reject = step(AlertRejected, alert, 1, NOON, reason="misread")
    tally = tally_alerts([reject, reject, {"event": "Unheard"}, {"event": "AlertRaised"}])
    assert tally.outcomes(D) == {"unknown": {"confirmed": 0, "rejected": {"misread": 1}}}
    assert tally.undecodable == 1


# -- accesses -------------------------------------------------------------------------------------


def access(
    action: str, purpose: str, *, decision: str = "allowed", results: int = 0, **query: Any
) -> AccessRecorded:
    return AccessRecorded(NOON, "ivan", action, "SJ-26-004512", purpose, query, results, decision=decision)


def test_searches_are_counted_by_purpose_without_plates_or_case_numbers() -> None:
    """P15/P26: searches by purpose with the records they returned; a plate or case number typed
    into the purpose never reaches the aggregates; sign-ins and registry changes are not searches."""
    records = [
        access("search", "Stolen vehicle 8ABC123 case SJ-26-004512", results=3, plate="8ABC123"),
        access("search", "stolen  VEHICLE 7XYZ999", results=2, plate="7XYZ999"),
        access("replay", "Robbery", decision="refused"),
        access("sign_in", "console"),
        access("camera_add", "camera registry", registered_camera="cam-A"),
    ]
    by_day = tally_accesses(records)
    assert {p: dict(t) for p, t in by_day[D].items()} == {
        "stolen vehicle # case #": {"allowed": 1, "results": 3},
        "stolen vehicle #": {"allowed": 1, "results": 2},
        "robbery": {"refused": 1, "results": 0},
    }
    assert purpose_label(None) == "(none)"


# -- records --------------------------------------------------------------------------------------


def inputs() -> tuple[dict[str, int], dict[str, int], Any, dict[str, Any]]:
    alerts = tally_alerts(
        [
            alert_to_dict(raised("r1", "cam-A", "exact")),
            alert_to_dict(raised("r2", "cam-C", "partial")),
            step(AlertRejected, raised("r2", "cam-C", "partial"), 1, NOON, reason="misread"),
        ]
    )
    accesses = tally_accesses([access("search", "Auto theft 8ABC123", results=4, plate="8ABC123")])
    return {"cam-A": 40, "cam-B": 7}, {"cam-B": 2}, alerts, accesses[D]


def test_a_day_is_one_record_per_camera_then_outcomes_accesses_and_the_day_marker_last() -> None:
    reads, rejected, alerts, accesses = inputs()
    records = day_records(D, reads, rejected, alerts, accesses, NOON + timedelta(days=1))
    keys = [k.decode() for k, _ in records]
    assert keys == [
        "camera_day|2026-03-10|cam-A",
        "camera_day|2026-03-10|cam-B",
        "camera_day|2026-03-10|cam-C",  # a hit from a camera with no read left: still counted
        "outcomes_day|2026-03-10|",
        "accesses_day|2026-03-10|",
        "day|2026-03-10|",
    ]
    values = dict(records)
    a = values[record_key(CAMERA_DAY, D, "cam-A")]
    assert (a["reads"], a["rejected"], a["hits"]) == (40, 0, {"exact": 1, "ocr_equivalent": 0, "partial": 0})
    assert values[record_key(DAY, D)] == {
        "kind": "day",
        "day": "2026-03-10",
        "cameras": 3,
        "reads": 47,
        "rejected": 2,
        "hits": 2,
        "computed_at": "2026-03-11T12:00:00+00:00",
    }
    wire = b"".join(dumps(v) for _, v in records) + b"".join(k for k, _ in records)
    for plate in (b"7ABC123", b"8ABC123"):  # the read's plate, the listed one, the searched one
        assert plate not in wire and plate.lower() not in wire


def test_recomputing_a_day_writes_the_same_records() -> None:
    """Idempotence: the counts are recomputed from the inputs, not incremented, so a second run (or
    a run after a crash) writes byte-identical records, and reading them back gives the same set."""
    reads, rejected, alerts, accesses = inputs()
    at = NOON + timedelta(days=1)
    first = [(k, dumps(v)) for k, v in day_records(D, reads, rejected, alerts, accesses, at)]
    again = [(k, dumps(v)) for k, v in day_records(D, reads, rejected, alerts, accesses, at)]
    assert first == again
    back = AggregateSet.of(dict(first + again))
    assert set(back.days) == {D} and len(back.cameras) == 3
    assert back.cameras[(D, "cam-B")]["rejected"] == 2
    assert orjson.loads(dict(first)[record_key(DAY, D)])["reads"] == 47


# -- which days -----------------------------------------------------------------------------------


NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
LATE = timedelta(hours=6)


def test_without_a_day_every_closed_day_within_the_retention_not_yet_done() -> None:
    """P11 then P26: the first day whose reads are all still kept is 30 days back (its start after
    now - 30 days); the newest is yesterday once its end plus the upload margin has passed."""
    days = days_to_aggregate(NOW, RETENTION, LATE, done={date(2026, 3, 20)})
    assert days[0] == date(2026, 3, 3)  # 2026-03-02 started before now - 30 days: its reads expired
    assert days[-1] == date(2026, 3, 31)
    assert date(2026, 3, 20) not in days and len(days) == 28
    early = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)  # 31 March ended 3 h ago: uploads may still come
    assert days_to_aggregate(early, RETENTION, LATE, done=[])[-1] == date(2026, 3, 30)


def test_a_day_that_is_open_or_expired_is_refused_and_nothing_is_replaced() -> None:
    with pytest.raises(ConfigError, match="not closed yet"):
        days_to_aggregate(NOW, RETENTION, LATE, [], day=date(2026, 4, 1))
    with pytest.raises(ConfigError, match="expire.*P11.*kept, not replaced"):
        days_to_aggregate(NOW, RETENTION, LATE, [], day=date(2026, 3, 2))
    assert days_to_aggregate(NOW, RETENTION, LATE, [date(2026, 3, 5)], day=date(2026, 3, 5)) == [
        date(2026, 3, 5)
    ]
    through = days_to_aggregate(NOW, RETENTION, LATE, [date(2026, 3, 5)], through=date(2026, 3, 6))
    assert through == [date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6)]
    with pytest.raises(ConfigError, match="oldest day that can be aggregated is 2026-03-03"):
        days_to_aggregate(NOW, RETENTION, LATE, [], through=date(2026, 2, 1))


# -- the topic and the retention check ------------------------------------------------------------


def test_the_aggregates_topic_is_counts_kept_three_years_and_the_check_does_not_flag_it() -> None:
    """The aggregates hold no plates, so they are not read data (the 30-day rule of P11 does not
    apply) and are classed "aggregates"; the declared configs pass ``alpr retention check``. A
    retention shorter than the report needs (P26) is flagged; read data kept as long still is."""
    from streams.kafka.topics import AGGREGATES, READ_DATA, topic_specs
    from streams.retention.check import assess, classify
    from streams.retention.policy import BROKER_RETENTION_CHECK_MS, DAY_MS
    from streams.settings import Settings

    settings = Settings.from_env({})
    [spec] = [s for s in topic_specs(settings) if s.name == "aggregates"]
    assert (spec.data_class, spec.cleanup_policy) == (AGGREGATES, "compact,delete")
    assert spec.retention_ms is not None and spec.retention_ms >= 2 * 366 * DAY_MS
    assert classify("alpr.aggregates", settings) == AGGREGATES != READ_DATA

    declared = assess("alpr.aggregates", spec.configs(), settings, BROKER_RETENTION_CHECK_MS)
    assert declared.ok and declared.ours and declared.problem == ""
    short = {**spec.configs(), "retention.ms": str(30 * DAY_MS)}
    flagged = assess("alpr.aggregates", short, settings, BROKER_RETENTION_CHECK_MS)
    assert not flagged.ok and "(P26)" in flagged.problem and "annual report" in flagged.problem
    forever = assess("alpr.aggregates", {"cleanup.policy": "compact"}, settings, BROKER_RETENTION_CHECK_MS)
    assert forever.ok  # counts without plates may be kept
    as_reads = assess("alpr.reads", spec.configs(), settings, BROKER_RETENTION_CHECK_MS)
    assert not as_reads.ok and "(P11)" in as_reads.problem
