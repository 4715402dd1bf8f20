"""The full-extract sync as a diff, and its guards (P3, P5)."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
import pytest
from msgspec.structs import replace

from streams.codec import entry_to_dict
from streams.hotlists.adapters import Extract, ExtractRefused, Parsed
from streams.hotlists.feeder import parse_duration
from streams.hotlists.records import entry_partition
from streams.hotlists.sync import ADDED, REMOVED, UPDATED, Stored, fingerprint, plan_sync
from streams.matching.normalize import OcrClasses
from streams.settings import DEFAULT_OCR_CLASSES
from tests.factories import make_entry

OCR = OcrClasses.of(DEFAULT_OCR_CLASSES)


def entries(n: int, prefix: str = "V") -> list:
    return [make_entry(entry_id=f"{prefix}{i}", plate=f"{i:07d}", synced_at=None) for i in range(n)]


def extract(items: Iterable, sources=frozenset({"ncic"})) -> Extract:
    parsed = [
        item if isinstance(item, Parsed) else Parsed(f"f:{i}", entry=item, key=item.key)
        for i, item in enumerate(items)
    ]
    return Extract("test", sources, None, iter(parsed))


def stored(items: Iterable) -> dict[str, Stored]:
    out = {}
    for e in items:
        value = orjson.dumps(entry_to_dict(e))
        out[e.key] = Stored(fingerprint(value), e.plate, entry_partition(e, 12))
    return out


def plan(new, current, **kw):
    return plan_sync(extract(new), stored(current), partitions=12, **kw)


def kinds(p) -> list[tuple[str, str]]:
    return sorted((c.kind, c.key) for c in p.changes)


def test_first_sync_adds_everything() -> None:
    p = plan(entries(3), [])
    assert kinds(p) == [(ADDED, "ncic:V0"), (ADDED, "ncic:V1"), (ADDED, "ncic:V2")]
    assert p.entry_count == {"ncic": 3}


def test_resync_of_the_same_extract_changes_nothing() -> None:
    p = plan(entries(10), entries(10))
    assert p.changes == [] and p.counts["unchanged"] == 10


def test_add_update_remove() -> None:
    old = entries(10)
    new = old[1:9] + [replace(old[9], reason="Recovered? no: still stolen, now with plates swapped")]
    new.append(make_entry(entry_id="V99", plate="9NEW999", synced_at=None))
    p = plan(new, old)
    assert kinds(p) == [(ADDED, "ncic:V99"), (REMOVED, "ncic:V0"), (UPDATED, "ncic:V9")]
    assert p.entry_count == {"ncic": 10}
    [update] = [c for c in p.changes if c.kind == UPDATED]
    assert orjson.loads(update.value)["reason"].startswith("Recovered")


def test_plate_change_keeps_the_entry_on_its_partition() -> None:
    """Partitioned by entry key: an update never moves, so no tombstone can overtake it."""
    old = [make_entry(entry_id="V1", plate="1111111", synced_at=None)]
    new = [make_entry(entry_id="V1", plate="7ABC123", synced_at=None)]
    [change] = plan(new, old).changes
    assert change.kind == UPDATED and change.partition == entry_partition(old[0], 12)


def test_other_sources_are_left_alone() -> None:
    svs = make_entry(source="svs", entry_id="S1", synced_at=None)
    p = plan(entries(2), [*entries(2), svs])
    assert p.changes == []


def test_removing_more_than_the_share_is_refused_unless_forced() -> None:
    old = entries(10)
    with pytest.raises(ExtractRefused) as info:
        plan(old[:7], old)  # 3 of 10 = 30% > 20%
    assert info.value.code == "too_many_removals" and "--force" in str(info.value)
    assert plan(old[:8], old).counts[REMOVED] == 2  # 20% is allowed
    assert plan(old[:7], old, force=True).counts[REMOVED] == 3
    assert plan(old[:5], old, max_removal_share=0.5).counts[REMOVED] == 5


def test_a_bad_record_keeps_the_current_version() -> None:
    old = entries(3)
    bad = Parsed("f:7", key="ncic:V1", error="f:7: LIS 'California' is not a two-letter state")
    p = plan([old[0], bad, old[2]], old)
    assert p.changes == []
    assert p.counts["record_errors"] == 1 and p.counts["kept"] == 1
    assert p.errors == ["f:7: LIS 'California' is not a two-letter state"]


def test_a_bad_record_of_an_unknown_entry_is_only_reported() -> None:
    p = plan([entries(1)[0], Parsed("f:9", error="f:9: 3 fields, expected 15")], entries(1))
    assert p.changes == [] and p.counts["record_errors"] == 1 and p.counts["kept"] == 0


def test_a_dropped_immigration_record_removes_any_stored_version_p5() -> None:
    old = entries(10)
    dropped = Parsed("f:3", key="ncic:V3", dropped="f:3: NCIC Immigration Violator File record dropped (P5)")
    p = plan([*old[:3], dropped, *old[4:]], old)
    assert kinds(p) == [(REMOVED, "ncic:V3")]
    assert p.counts["dropped_p5"] == 1


def test_duplicate_keys_are_reported_and_the_first_applies() -> None:
    first = make_entry(entry_id="V1", plate="1111111", synced_at=None)
    second = make_entry(entry_id="V1", plate="2222222", synced_at=None)
    p = plan([first, second], [])
    assert [orjson.loads(c.value)["plate"] for c in p.changes] == ["1111111"]
    assert "appears twice" in p.errors[0]


def test_a_refused_extract_plans_nothing() -> None:
    def broken():
        yield Parsed("f:1", entry=entries(1)[0], key="ncic:V0")
        raise ExtractRefused("truncated", "f: no trailer")

    with pytest.raises(ExtractRefused):
        plan_sync(Extract("t", frozenset({"ncic"}), None, broken()), {}, partitions=12)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200), ("1d", 86400)])
def test_durations(text, seconds) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_bad_duration_says_how() -> None:
    from streams.errors import ConfigError

    with pytest.raises(ConfigError, match="12h"):
        parse_duration("twice a day")
