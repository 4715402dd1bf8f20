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
