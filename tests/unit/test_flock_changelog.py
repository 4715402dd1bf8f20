"""Flock hot-list change logs as Flock exports them (issue 17, item 5), without a broker.

The block layout and the documented CSV, told apart by content; events in time order whatever
the file order; state names mapped; case values judged by the agency's formats (P2); expired
entries skipped and "never" capped by the profile's longest entry life.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.hotlists.adapters import ExtractRefused, Parsed
from streams.hotlists.adapters.base import plate_state
from streams.hotlists.adapters.flock import ADAPTER as FLOCK
from streams.retention.policy import load_profile
from tests.conftest import ROOT

FEEDS = ROOT / "samples" / "feeds"
BLOCKS = FEEDS / "flock_changelog_blocks.txt"
SAN_JOSE = load_profile("san_jose")
NOW = datetime(2026, 12, 1, 16, tzinfo=UTC)  # the import's clock for the samples


def parse(path: Path, now: datetime = NOW, max_entry_days: int | None = None) -> list[Parsed]:
    profile = SAN_JOSE
    if max_entry_days is not None:
        profile = dataclasses.replace(profile, max_entry_days=max_entry_days)
    return list(FLOCK.for_import(None, profile, now).open(path, None).records)


def by_plate(records: list[Parsed]) -> dict[str, list[Parsed]]:
    out: dict[str, list[Parsed]] = {}
    for record in records:
        if record.key is not None:
            out.setdefault(record.key.rsplit("-", 1)[1], []).append(record)
    return out


def test_block_layout_is_read_whatever_the_file_is_called(tmp_path: Path) -> None:
    """The layout comes from the content: the block log named .csv is still read as blocks, and
    the title lines before the first event are no event."""
    renamed = tmp_path / "changes.csv"
    renamed.write_text(BLOCKS.read_text())
    for path in (BLOCKS, renamed):
        records = parse(path)
        assert len(records) == 10  # ten events; the title and "Exported:" lines are none
        assert all(path.name in r.line and "(block " in r.line for r in records)
    as_text = tmp_path / "export.txt"
    as_text.write_text((FEEDS / "flock_export.csv").read_text())
    assert [r.entry.plate for r in parse(as_text) if r.entry] == ["8BOL042", "6ABC777", "2QRS345"]


def test_events_are_applied_in_time_order_not_file_order() -> None:
    """The real log is newest-first: the removal of 4RMV505 comes before its addition in the
    file, after it in time, so the plate stays removed."""
    records = parse(BLOCKS)
    follow_up = by_plate(records)["4RMV505"]
    assert [r.remove for r in follow_up] == [False, True]
    timed = [r for r in records if r.error is None and r.dropped is None]
    lines = [int(r.line.split(":")[1].split()[0]) for r in timed]
    # bottom-up (the file is newest-first), and the May 2025 event, misfiled among November's, first
    assert lines == [65, 95, 85, 75, 55, 45, 35, 24]


def test_equal_times_keep_the_order_the_vendor_wrote_them(tmp_path: Path) -> None:
    """Two events of 3EQL606 share a second: a newest-first file is read bottom-up, so Added
    comes before Updated and the update (armed and dangerous) is the entry's last word; an
    oldest-first file keeps its order."""
    [added, updated] = by_plate(parse(BLOCKS))["3EQL606"]
    assert added.entry is not None and "armed" not in added.entry.reason
    assert updated.entry is not None and "armed and dangerous" in updated.entry.reason  # wrapped line
    header = "Date,Action,Hotlist Name,License,State,Reason,Case,Expiry\n"
    oldest_first = tmp_path / "log.csv"
    oldest_first.write_text(
        header
        + "2026-11-01T08:00:00Z,Added,Robbery suspects,8ORD001,CA,PC 211 robbery,SJ-26-004512,never\n"
        + "2026-11-02T08:00:00Z,Added,Robbery suspects,8ORD001,CA,PC 211 robbery (2),SJ-26-004512,never\n"
        + "2026-11-02T08:00:00Z,Removed,Robbery suspects,8ORD001,CA,,,\n"
    )
    assert [r.remove for r in parse(oldest_first)] == [False, False, True]
    newest_first = tmp_path / "log2.csv"
    newest_first.write_text(
        header
        + "2026-11-02T08:00:00Z,Removed,Robbery suspects,8ORD001,CA,,,\n"
        + "2026-11-02T08:00:00Z,Added,Robbery suspects,8ORD001,CA,PC 211 robbery (2),SJ-26-004512,never\n"
        + "2026-11-01T08:00:00Z,Added,Robbery suspects,8ORD001,CA,PC 211 robbery,SJ-26-004512,never\n"
    )
    assert [r.remove for r in parse(newest_first)] == [False, False, True]


def test_state_names_are_mapped_and_an_unknown_one_refuses_only_its_event() -> None:
    entries = {k: rs[-1].entry for k, rs in by_plate(parse(BLOCKS)).items() if rs[-1].entry}
    assert entries["8STL101"].plate_state == "CA"  # "california"
    assert entries["3EQL606"].plate_state == "CA"  # "California"
    assert entries["6FEL303"].plate_state == "NV"  # "Nevada"
    assert entries["7RBY202"].plate_state == "CA"  # "CA"
    [bad] = by_plate(parse(BLOCKS))["2BAD707"]
    assert bad.entry is None and bad.error is not None
    assert "flock_changelog_blocks.txt:14 (block 2)" in bad.error and "'Atlantis'" in bad.error


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("CA", "CA"),
        ("california", "CA"),
        ("Calif.", "CA"),
        ("  Nevada ", "NV"),
        ("nev.", "NV"),
        ("Washington D.C.", "DC"),
        ("Ontario", "ON"),
        ("", None),
    ],
)
def test_plate_state_names(written: str, code: str | None) -> None:
    assert plate_state(written, "f:1") == code


@pytest.mark.parametrize("written", ["Cascadia", "C A", "XX", "Calif. Republic"])
def test_unknown_plate_state_is_refused_naming_the_record(written: str) -> None:
    with pytest.raises(ValueError, match=r"^f:7 \(block 2\): State .* two-letter code"):
        plate_state(written, "f:7 (block 2)")


def test_p2_case_values_that_are_no_case_numbers_leave_the_entry_incomplete() -> None:
    """P2: "TBD", "none", "," and "p" are not case numbers of the agency: the entry comes in
    without one (it waits, incomplete) and the importer is told which value was set aside; a real
    case number is kept."""
    plates = by_plate(parse(BLOCKS))
    for plate, written in (("8STL101", "TBD"), ("6FEL303", ","), ("4RMV505", "p")):
        record = plates[plate][0]
        assert record.entry is not None and record.entry.case_number is None, plate
        [note] = record.notes
        assert f"the Case {written!r} is not a case or incident number" in note and "(P2)" in note
        assert "(block " in note
    assert plates["7RBY202"][0].entry.case_number == "SJ-26-004512"


def test_p2_case_formats_come_from_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "Hotlist Name,License,State,Reason,Case,Expiry\n"
        "Robbery suspects,8CAS001,CA,PC 211 robbery,2026-004512,never\n"
    )
    [record] = parse(path)
    assert record.entry is not None and record.entry.case_number is None and record.notes
    wide = dataclasses.replace(SAN_JOSE, case_number_formats=(r"\d{4}-\d{6}",))
    [record] = list(FLOCK.for_import(None, wide, NOW).open(path, None).records)
    assert record.entry is not None and record.entry.case_number == "2026-004512" and not record.notes


def test_expired_entries_are_skipped_and_never_is_capped_from_the_event_time() -> None:
    plates = by_plate(parse(BLOCKS))
    [expired] = plates["5OLD404"]
    assert expired.entry is None and expired.skipped is not None and "expired 2025-07-01" in expired.skipped
    stolen = plates["8STL101"][0]  # Expiry: Never, added 11/02/2026 08:15 PST
    assert stolen.entry is not None and stolen.tallies == ("expiry_capped",)
    assert stolen.entry.expires_at == datetime(2026, 11, 2, 16, 15, tzinfo=UTC) + timedelta(days=365)
    robbery = plates["7RBY202"][0]  # a date within the cap is kept, not counted
    assert robbery.entry is not None and robbery.tallies == ()
    assert robbery.entry.expires_at == datetime(2027, 4, 1, tzinfo=UTC)
    short = by_plate(parse(BLOCKS, max_entry_days=30))["7RBY202"][0]  # a later date is capped too
    assert short.entry is not None and short.tallies == ("expiry_capped",)
    assert short.entry.expires_at == datetime(2026, 11, 3, 18, tzinfo=UTC) + timedelta(days=30)
    later = by_plate(parse(BLOCKS, now=datetime(2027, 11, 3, tzinfo=UTC)))["8STL101"][0]
    assert later.entry is None and later.skipped is not None  # a capped entry expires in its turn


def test_a_change_log_event_without_a_readable_time_is_refused_alone(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_text(
        "Date: 2026-11-02 08:00:00 UTC\nAction: Added\nHotlist: Robbery suspects\nPlate: 8TIM001\n"
        "State: CA\nReason: PC 211 robbery\nCase: SJ-26-004512\nExpiry: never\n\n"
        "Action: Added\nHotlist: Robbery suspects\nPlate: 8TIM002\nState: CA\nReason: PC 211 robbery\n\n"
        "Date: sometime\nAction: Added\nHotlist: Robbery suspects\nPlate: 8TIM003\n\n"
        "Date: 2026-11-03 08:00:00 UTC\nAction: Frobbed\nHotlist: Robbery suspects\nPlate: 8TIM004\n"
    )
    records = {r.line.split()[-1].rstrip(")"): r for r in parse(path)}
    assert records["1"].entry is not None
    assert "no Date" in (records["2"].error or "") and "log.txt:10 (block 2)" in (records["2"].error or "")
    assert "Date 'sometime' is not a time" in (records["3"].error or "")
    assert "unknown Action 'Frobbed'" in (records["4"].error or "")


def test_a_file_in_neither_layout_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("Plate,Reason\n7ABC123,x\n")
    with pytest.raises(ExtractRefused) as info:
        parse(path)
    assert info.value.code == "unparseable"
    assert "Hotlist Name" in str(info.value) and "'Key: value' block" in str(info.value)


def test_p5_immigration_list_in_the_block_layout_is_dropped() -> None:
    [ero] = by_plate(parse(BLOCKS))["1ERO808"]
    assert ero.entry is None and ero.dropped is not None and "(P5)" in ero.dropped
