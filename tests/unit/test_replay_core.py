"""The pure parts of replay, rematch and the retro-hunt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streams.app import match_rules, new_index
from streams.codec import dumps, entry_to_dict
from streams.matching.matcher import PlateQuery
from streams.replay.rematch import rematch
from streams.replay.retrohunt import arrivals_of
from streams.settings import Settings
from tests.factories import NOW, local_entry, make_entry, make_read

RULES = match_rules(Settings.from_env({}))


def test_a_plate_query_matches_exactly_or_ocr_equivalently_like_alerts_do() -> None:
    query = PlateQuery(RULES, plate="7abc-123")
    assert query.kind("7ABC123") == "exact"
    assert query.kind("7A8C123") == "ocr_equivalent"
    assert query.kind("7A8CI23") == "ocr_equivalent"  # two confusable characters
    assert query.kind("7A8CIZ3") is None  # three: too many
    assert query.kind("6XYZ999") is None
    assert query.kind("###") is None  # not a plate at all


def test_a_partial_query_matches_the_pattern() -> None:
    query = PlateQuery(RULES, partial="7GH?25*")
    assert query.kind("7GHK25X") == "partial" and query.kind("7GHK25") == "partial"
    assert query.kind("7GK25X") is None
    with pytest.raises(ValueError):
        PlateQuery(RULES)


def history(*events):
    return [(e["at"], n, {**e, "at": e["at"].isoformat()}) for n, e in enumerate(events)]


def test_rematch_applies_the_changes_up_to_each_reads_time() -> None:
    gone = make_entry(entry_id="G", plate="5GONE55", synced_at=NOW - timedelta(hours=10))
    partial = local_entry(entry_id="P", plate="7GH?25X")
    events = history(
        {
            "event": "HotlistSourceSynced",
            "at": NOW - timedelta(hours=10),
            "source": "ncic",
            "fresh_as_of": (NOW - timedelta(hours=10)).isoformat(),
        },
        {
            "event": "HotlistEntryAdded",
            "at": NOW - timedelta(hours=9),
            "source": "ncic",
            "entry_key": gone.key,
            "entry": entry_to_dict(gone),
        },
        {
            "event": "HotlistEntryApproved",
            "at": NOW - timedelta(hours=8),
            "source": "local",
            "entry_key": partial.key,
            "entry": entry_to_dict(partial),
        },
        {
            "event": "HotlistEntryRemoved",
            "at": NOW - timedelta(hours=4),
            "source": "ncic",
            "entry_key": gone.key,
            "entry": None,
        },
    )
    reads = [
        make_read(read_id="before-listing", plate="5GONE55", captured_at=NOW - timedelta(hours=9.5)),
        make_read(read_id="listed", plate="5G0NE55", captured_at=NOW - timedelta(hours=6)),
        make_read(read_id="removed", plate="5GONE55", captured_at=NOW - timedelta(hours=3)),
        make_read(read_id="partial", plate="7GHK25X", captured_at=NOW - timedelta(hours=7)),
    ]
    found = rematch(new_index(Settings.from_env({})), reads, events)
    assert sorted((m.read.read_id, m.entry_key, m.match_kind) for m in found) == [
        ("listed", "ncic:G", "ocr_equivalent"),
        ("partial", "local:P", "partial"),
    ]


def test_stale_feeds_do_not_rematch_p4() -> None:
    entry = make_entry(entry_id="S", plate="5STALE5", synced_at=NOW - timedelta(hours=50))
    events = history(
        {
            "event": "HotlistEntryAdded",
            "at": NOW - timedelta(hours=50),
            "source": "ncic",
            "entry_key": entry.key,
            "entry": entry_to_dict(entry),
        },
    )
    read = make_read(plate="5STALE5", captured_at=NOW - timedelta(hours=1))
    assert rematch(new_index(Settings.from_env({})), [read], events) == []


def test_arrivals_are_added_and_approved_entries_only() -> None:
    entry = make_entry(entry_id="A", plate="8RETRO8")
    values = [
        dumps({"event": "HotlistEntryAdded", "at": NOW.isoformat(), "entry": entry_to_dict(entry)}),
        dumps({"event": "HotlistEntryRemoved", "at": NOW.isoformat(), "entry": None}),
        dumps({"event": "HotlistEntryProposed", "at": NOW.isoformat(), "entry": entry_to_dict(entry)}),
        None,
    ]
    [(found, when)] = arrivals_of(values)
    assert found.key == entry.key and when == NOW


def test_the_look_back_may_not_reach_past_the_read_retention() -> None:
    from streams.errors import ConfigError

    with pytest.raises(ConfigError, match="ALPR_RETRO_HUNT_HOURS"):
        Settings.from_env({"ALPR_RETRO_HUNT_HOURS": str(31 * 24)})


def test_p11_capture_ranges_hold_every_stored_read_whatever_its_lateness() -> None:
    """For reads of every storable lateness, routed and stamped as the producer does: the record of
    a read captured in the window is stamped inside its topic's range, and a record stamped past
    the range's stop was appended after every record that holds one (so the scan may stop there)."""
    from streams.kafka.timeseek import capture_ranges
    from streams.reads.lateness import LATE, ON_TIME, Lateness, record_timestamp_ms

    settings = Settings.from_env({})
    lateness = Lateness.of(settings.profile.broker)
    skew = settings.max_clock_skew_s * 1000
    start, end = 1_800_000_000_000, 1_800_000_000_000 + 3_600_000
    ranges = capture_ranges(settings, start, end)
    minute = 60_000
    latenesses = [0, minute, lateness.late_from_ms // 2, lateness.late_from_ms - 2 * minute]
    latenesses += [lateness.late_from_ms + minute, 3 * 86_400_000, lateness.too_late_ms - 2 * minute]
    for captured in (start, start + 1_800_000, end):
        for late in latenesses:
            sent = captured + late
            route = lateness.route(captured, sent)
            assert route is not None, late
            # on time: stamped with the earliest capture of its batch (here a read up to the bound older)
            earliest = max(captured - lateness.late_from_ms, sent - lateness.late_from_ms)
            stamp = record_timestamp_ms(earliest, sent, lateness.late_from_ms) if route == ON_TIME else sent
            window = ranges[settings.topic(route)]
            assert window.start_ms <= stamp <= window.end_ms, (route, late)
            # a record appended before this one is stamped at most its arrival + the skew (the
            # topic's after.max.ms): never past the stop, so the scan reaches this read
            assert sent + skew <= window.stop_ms, (route, late)
    assert set(ranges) == {settings.topic(ON_TIME), settings.topic(LATE)}
    assert ranges[settings.topic(ON_TIME)].stop_ms >= end + lateness.late_from_ms
    assert ranges[settings.topic(LATE)].end_ms >= end + lateness.too_late_ms


def test_p11_a_reads_record_sent_before_the_window_is_passed_over_undecoded() -> None:
    """The reads topic is scanned from a lateness bound before the window (a record is stamped with
    its batch's earliest capture), but a record sent before the window (less the skew) holds none of
    its reads and is not handed on; a record without the producer's header always is."""
    from types import SimpleNamespace

    from streams.kafka.timeseek import capture_ranges
    from streams.reads.lateness import ON_TIME, SENT_HEADER

    settings = Settings.from_env({})
    skew = settings.max_clock_skew_s * 1000
    start = 1_800_000_000_000
    span = capture_ranges(settings, start, start + 3_600_000)[settings.topic(ON_TIME)]

    def record(stamp: int, sent: int | None) -> SimpleNamespace:
        headers = [] if sent is None else [(SENT_HEADER, str(sent).encode())]
        return SimpleNamespace(timestamp=stamp, headers=headers)

    before = start - 3_600_000
    assert not span.holds(record(before, before + 1000))  # an hour early, sent at once
    assert span.holds(record(before, start))  # stamped an hour early, sent in the window
    assert span.holds(record(before, start - skew // 2))  # a camera clock ahead
    assert span.holds(record(before, None))
    assert not span.holds(record(start + 3_600_000 + 2 * 60_000 + skew, start))  # past the end
