"""Entries refused at load: P1 sources, P2 department fields, P5 immigration, P6 partial plates."""

import pytest

from streams.errors import EntryRefused
from streams.hotlists.model import Person, check_entry
from tests.factories import local_entry, make_entry, make_index, make_read


def refused(entry) -> EntryRefused:
    with pytest.raises(EntryRefused) as info:
        check_entry(entry)
    return info.value


def test_complete_local_entry_is_accepted() -> None:
    check_entry(local_entry())


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({"entered_by": None}, "entered_by"),
        ({"entered_by": Person("A", "", "Patrol")}, "entered_by.badge"),
        ({"entered_by": Person("A", "1", None)}, "entered_by.assignment"),
        ({"case_number": None}, "case_number"),
        ({"case_number": "  "}, "case_number"),
        ({"reason": ""}, "reason"),
        ({"approved_by": None}, "approved_by"),
        ({"approved_by": Person("Sgt. B", "9", rank="sergeant")}, "lieutenant or above"),
    ],
)
def test_local_entry_without_p2_fields_is_refused(overrides, missing) -> None:
    error = refused(local_entry(**overrides))
    assert error.rule == "P2"
    assert missing in str(error)


@pytest.mark.parametrize(
    "overrides",
    [
        {"list_type": "immigration_violator"},
        {"list_type": "other", "reason": "ICE detainer request"},
        {"list_type": "bolo", "reason": "Immigration status check"},
    ],
)
def test_immigration_entries_are_never_loaded_p5(overrides) -> None:
    entry = make_entry(**overrides)
    assert refused(entry).rule == "P5"
    index = make_index()
    with pytest.raises(EntryRefused):
        index.upsert(entry)
    assert len(index) == 0
    assert index.get(entry.key) is None


def test_p5_refusal_applies_to_local_entries_too() -> None:
    assert refused(local_entry(list_type="immigration_violator")).rule == "P5"


@pytest.mark.parametrize("pattern", ["7*A", "??1", "*", "AB*"])
def test_partial_with_fewer_than_three_known_characters_is_refused_p6(pattern) -> None:
    assert refused(local_entry(plate=pattern)).rule == "P6"


def test_unknown_source_and_list_type_are_refused_p1() -> None:
    assert refused(make_entry(source="vendor-x")).rule == "P1"
    assert refused(make_entry(list_type="parking_scofflaw")).rule == "P1"


def test_refused_update_does_not_leave_the_old_version_matching() -> None:
    from streams.codec import dumps, entry_to_dict
    from streams.hotlists.records import apply_hotlist_record

    entry = make_entry(entry_id="V1", plate="7ABC123")
    index = make_index(entry)
    bad = make_entry(entry_id="V1", plate="7ABC123", list_type="immigration_violator")
    applied = apply_hotlist_record(index, bad.key.encode(), dumps(entry_to_dict(bad)))
    assert applied.outcome == "refused"
    assert "P5" in (applied.reason or "")
    from streams.matching.matcher import match

    assert match(index, make_read(plate="7ABC123")) == []


def test_tombstone_removes() -> None:
    from streams.hotlists.records import apply_hotlist_record

    entry = make_entry()
    index = make_index(entry)
    assert apply_hotlist_record(index, entry.key.encode(), None).outcome == "removed"
    assert len(index) == 0
