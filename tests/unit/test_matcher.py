"""The matching core: Bloom screen, exact check, OCR equivalence, partial plates, in-force rules."""

import random
import string
from datetime import timedelta
from pathlib import Path

from alpr_native import Bloom
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.alerts.model import format_age, raise_alert
from streams.matching.matcher import (
    EXACT,
    OCR_EQUIVALENT,
    PARTIAL,
    HotlistIndex,
    MatchRules,
    match,
    prune_refreshes,
    screen,
)
from streams.matching.normalize import OcrClasses
from streams.settings import DEFAULT_OCR_CLASSES
from tests.factories import NOW, local_entry, make_entry, make_index, make_read

OCR = OcrClasses.of(DEFAULT_OCR_CLASSES)
ALNUM = string.ascii_uppercase + string.digits


def kinds(found):
    return sorted((m.entry.entry_id, m.kind, m.state_mismatch) for m in found)


def test_exact_match() -> None:
    entry = make_entry(plate="7ABC123")
    found = match(make_index(entry), make_read(plate="7abc-123"))
    assert kinds(found) == [(entry.entry_id, EXACT, False)]


def test_ocr_equivalent_match_within_limit() -> None:
    entry = make_entry(plate="8DOG512")
    index = make_index(entry)
    assert kinds(match(index, make_read(plate="8D0G512"))) == [(entry.entry_id, OCR_EQUIVALENT, False)]
    assert kinds(match(index, make_read(plate="8D0G5I2"))) == [(entry.entry_id, OCR_EQUIVALENT, False)]
    # three substitutions: beyond the default limit of two
    assert match(index, make_read(plate="BD0G5I2")) == []


def test_substitution_limit_is_configurable() -> None:
    entry = make_entry(plate="8DOG512")
    assert match(make_index(entry, max_substitutions=0), make_read(plate="8D0G512")) == []


def test_state_mismatch_still_alerts_and_says_so() -> None:
    entry = make_entry(plate="4KMN733", plate_state="NV")
    assert kinds(match(make_index(entry), make_read(plate="4KMN733", plate_state="CA"))) == [
        (entry.entry_id, EXACT, True)
    ]
    assert kinds(match(make_index(entry), make_read(plate="4KMN733", plate_state=None))) == [
        (entry.entry_id, EXACT, False)
    ]


def test_unrelated_plate_does_not_match() -> None:
    assert match(make_index(make_entry(plate="7ABC123")), make_read(plate="7ABC124")) == []


def test_two_entries_on_one_plate_both_alert() -> None:
    a = make_entry(plate="7ABC123")
    b = make_entry(plate="7ABC123", source="svs", list_type="stolen_plate")
    assert {m.entry.key for m in match(make_index(a, b), make_read(plate="7ABC123"))} == {a.key, b.key}


# -- partial plates (P6) ----------------------------------------------------------


def test_partial_question_mark_is_exactly_one_character() -> None:
    entry = local_entry(plate="7GH?25X")
    index = make_index(entry)
    assert kinds(match(index, make_read(plate="7GHK25X"))) == [(entry.entry_id, PARTIAL, False)]
    assert match(index, make_read(plate="7GH25X")) == []
    assert match(index, make_read(plate="7GHKK25X")) == []


def test_partial_star_is_zero_or_more_and_anchored() -> None:
    entry = local_entry(plate="7GH*")
    index = make_index(entry)
    assert len(match(index, make_read(plate="7GH"))) == 1
    assert len(match(index, make_read(plate="7GH12345"))) == 1
    assert match(index, make_read(plate="X7GH123")) == []


def test_partial_is_ocr_tolerant() -> None:
    entry = local_entry(plate="*8OB")
    assert len(match(make_index(entry), make_read(plate="12B0B"))) == 1


def test_removed_partial_stops_matching() -> None:
    entry = local_entry(plate="7GH*")
    index = make_index(entry)
    index.remove(entry.key)
    assert match(index, make_read(plate="7GH123")) == []
    assert index.partial_count == 0


# -- entries in force ---------------------------------------------------------------


def test_expired_and_not_yet_effective_entries_do_not_match() -> None:
    expired = make_entry(plate="7ABC123", expires_at=NOW - timedelta(seconds=1))
    future = make_entry(plate="7ABC123", effective_at=NOW + timedelta(minutes=1))
    boundary = make_entry(plate="7ABC123", expires_at=NOW)  # expires_at is exclusive
    assert match(make_index(expired, future, boundary), make_read(plate="7ABC123", captured_at=NOW)) == []


def test_entry_in_force_window_is_half_open() -> None:
    entry = make_entry(plate="7ABC123", effective_at=NOW, expires_at=NOW + timedelta(hours=1))
    index = make_index(entry)
    assert len(match(index, make_read(captured_at=NOW))) == 1
    assert len(match(index, make_read(captured_at=NOW + timedelta(minutes=59)))) == 1
    assert match(index, make_read(captured_at=NOW + timedelta(hours=1))) == []


def test_shared_entry_stale_after_24_hours_p4() -> None:
    entry = make_entry(plate="7ABC123", synced_at=NOW - timedelta(hours=24, seconds=1))
    assert match(make_index(entry), make_read(captured_at=NOW)) == []
    fresh = make_entry(plate="7ABC123", synced_at=NOW - timedelta(hours=23, minutes=59))
    assert len(match(make_index(fresh), make_read(captured_at=NOW))) == 1


def test_shared_entry_never_synced_does_not_match_p4() -> None:
    assert match(make_index(make_entry(plate="7ABC123", synced_at=None)), make_read()) == []


def test_source_refresh_keeps_its_entries_fresh_p4() -> None:
    """Synced entries carry no time of their own: the source's refreshes decide."""
    index = make_index(make_entry(plate="7ABC123", synced_at=None, source="svs"))
    index.mark_fresh("svs", NOW - timedelta(hours=25))
    assert match(index, make_read(captured_at=NOW)) == []
    index.mark_fresh("ncic", NOW)  # another source's refresh does not help
    assert match(index, make_read(captured_at=NOW)) == []
    index.mark_fresh("svs", NOW - timedelta(hours=23))
    assert len(match(index, make_read(captured_at=NOW))) == 1
    index.mark_fresh("svs", NOW - timedelta(hours=30))  # an older extract never makes it older
    assert len(match(index, make_read(captured_at=NOW))) == 1


def test_local_entries_are_not_subject_to_the_shared_refresh_rule() -> None:
    entry = local_entry(plate="8BOL042")
    assert (
        len(match(make_index(entry), make_read(plate="8BOL042", captured_at=NOW + timedelta(days=30)))) == 1
    )


def test_removed_entry_never_alerts_although_bloom_still_says_maybe() -> None:
    entry = make_entry(plate="7ABC123")
    index = make_index(entry)
    index.remove(entry.key)
    read = make_read(plate="7ABC123")
    assert screen(index, [read.plate]).candidates == [0]  # stale Bloom key, by design
    assert match(index, read) == []


def test_update_replaces_the_old_version() -> None:
    entry = make_entry(plate="7ABC123", entry_id="V1")
    index = make_index(entry)
    index.upsert(make_entry(plate="9ZZZ999", entry_id="V1"))
    assert len(index) == 1
    assert match(index, make_read(plate="7ABC123")) == []
    assert len(match(index, make_read(plate="9ZZZ999"))) == 1


def test_bloom_grows_past_its_initial_capacity() -> None:
    index = HotlistIndex(MatchRules(OCR), capacity=100)
    plates = [f"{i:07d}" for i in range(1000)]
    for i, plate in enumerate(plates):
        index.upsert(make_entry(entry_id=f"V{i}", plate=plate))
    assert all(len(match(index, make_read(plate=p))) == 1 for p in plates)


# -- properties ------------------------------------------------------------------------

plates = st.text(alphabet=ALNUM, min_size=5, max_size=8)


@st.composite
def listed_and_misread(draw: st.DrawFn) -> tuple[str, str, int]:
    plate = draw(plates)
    confusable = [i for i, ch in enumerate(plate) if len(OCR.equivalents(ch)) > 1]
    count = draw(st.integers(0, min(2, len(confusable))))
    positions = draw(st.permutations(confusable))[:count] if confusable else []
    read = list(plate)
    changed = 0
    for i in positions:
        options = [c for c in OCR.equivalents(plate[i]) if c != plate[i]]
        read[i] = draw(st.sampled_from(options))
        changed += 1
    return plate, "".join(read), changed


@settings(max_examples=300, deadline=None)
@given(listed_and_misread(), st.lists(plates, max_size=30))
def test_listed_plate_always_matches_under_ocr_substitutions(case, others) -> None:
    """Whatever OCR-equivalent substitutions (up to the limit) the camera makes, the entry alerts."""
    plate, misread, changed = case
    target = make_entry(entry_id="TARGET", plate=plate)
    index = make_index(target, *(make_entry(entry_id=f"O{i}", plate=p) for i, p in enumerate(others)))
    found = [m for m in match(index, make_read(plate=misread)) if m.entry.entry_id == "TARGET"]
    assert len(found) == 1
    assert found[0].kind == (EXACT if changed == 0 else OCR_EQUIVALENT)


@settings(max_examples=200, deadline=None)
@given(st.lists(plates, min_size=1, max_size=50), plates)
def test_unlisted_plate_never_alerts(listed, read_plate) -> None:
    index = make_index(*(make_entry(entry_id=f"E{i}", plate=p) for i, p in enumerate(listed)))
    listed_keys = {OCR.canonical(p) for p in listed}
    if OCR.canonical(read_plate) in listed_keys:
        return
    assert match(index, make_read(plate=read_plate)) == []


def test_the_bloom_screen_lets_through_at_most_its_configured_share_of_unlisted_plates() -> None:
    """Hot-list target: Bloom false-positive rate at most 0.1%. 100,000 listed keys (the filter is
    rebuilt on the way, as on a real load), then 200,000 unlisted ones through the batch screen."""
    rng = random.Random(11)
    index = HotlistIndex(MatchRules(OCR), bloom_error_rate=0.001)
    listed: set[str] = set()
    while len(listed) < 100_000:
        plate = "".join(rng.choices(ALNUM, k=7))
        if OCR.canonical(plate) not in listed:
            listed.add(OCR.canonical(plate))
            index.upsert(make_entry(entry_id=f"E{len(listed)}", plate=plate))
    probes: list[str] = []
    while len(probes) < 200_000:
        plate = "".join(rng.choices(ALNUM, k=7))
        if OCR.canonical(plate) not in listed:
            probes.append(plate)
    assert len(index.bloom_positives([OCR.canonical(p) for p in listed])) == len(listed)  # no misses
    passed = len(screen(index, probes).candidates)
    assert passed / len(probes) <= 0.001 * 1.25, f"{passed} false positives in {len(probes)}"


def test_bloom_false_positives_never_alert() -> None:
    """A deliberately poor Bloom filter lets many unlisted plates through; none alerts."""
    rng = random.Random(7)
    index = HotlistIndex(MatchRules(OCR), bloom_error_rate=0.3, capacity=2000)
    listed = {"".join(rng.choices(ALNUM, k=7)) for _ in range(1500)}
    for i, plate in enumerate(listed):
        index.upsert(make_entry(entry_id=f"E{i}", plate=plate))
    listed_keys = {OCR.canonical(p) for p in listed}
    positives = alerts = 0
    for _ in range(5000):
        plate = "".join(rng.choices(ALNUM, k=7))
        if OCR.canonical(plate) in listed_keys:
            continue
        read = make_read(plate=plate)
        positives += bool(screen(index, [read.plate]).candidates)
        alerts += len(match(index, read))
    assert positives > 50  # the screen really did let false positives through
    assert alerts == 0


def test_removing_one_of_two_entries_on_a_plate_keeps_the_other() -> None:
    a = make_entry(plate="7ABC123", entry_id="A")
    b = make_entry(plate="7ABC123", entry_id="B", source="svs")
    c = make_entry(plate="7ABC123", entry_id="C", source="slr", list_type="stolen_plate")
    index = make_index(a, b, c)
    index.remove(b.key)
    assert {m.entry.key for m in match(index, make_read(plate="7ABC123"))} == {a.key, c.key}
    index.remove(a.key)
    assert {m.entry.key for m in match(index, make_read(plate="7ABC123"))} == {c.key}
    index.remove(c.key)
    assert match(index, make_read(plate="7ABC123")) == [] and len(index) == 0


def test_bloom_never_overflows_on_updates_and_churn() -> None:
    """Regression: re-adding and removing keys must rebuild the filter, not overflow it."""
    index = HotlistIndex(MatchRules(OCR), capacity=100)
    for round_ in range(5):
        for i in range(150):
            index.upsert(
                make_entry(entry_id=f"V{i}", plate=f"{(i + round_ * 37) % 400:07d}", reason=f"r{round_}")
            )
    assert len(index) == 150
    for i in range(150):
        plate = f"{(i + 4 * 37) % 400:07d}"
        assert len(match(index, make_read(plate=plate))) == 1


# -- P4 as of the read (issue 16 item 6) ---------------------------------------------------------


def test_a_refresh_after_the_read_does_not_make_a_stale_entry_fresh_for_it_p4() -> None:
    """The source was last refreshed 30 h before the read; a refresh an hour after the read is
    no refresh of the list the read met: stale for that read, fresh for a read after it."""
    index = make_index(make_entry(plate="7ABC123", synced_at=None, source="sfr"))
    index.mark_fresh("sfr", NOW - timedelta(hours=30))
    index.mark_fresh("sfr", NOW + timedelta(hours=1))
    assert match(index, make_read(captured_at=NOW)) == []
    assert len(match(index, make_read(captured_at=NOW + timedelta(hours=2)))) == 1
    assert index.source_fresh_at["sfr"] == NOW + timedelta(hours=1)  # "stale now?" still sees the newest


def test_an_entrys_own_synced_at_after_the_read_does_not_count_p4() -> None:
    entry = make_entry(plate="7ABC123", synced_at=NOW + timedelta(minutes=5))
    assert match(make_index(entry), make_read(captured_at=NOW)) == []
    assert len(match(make_index(entry), make_read(captured_at=NOW + timedelta(minutes=6)))) == 1


def test_a_late_read_is_judged_on_the_refresh_before_its_capture_p4() -> None:
    """Refreshed daily: a read 10 days old matches on the refresh of its day (2 h before it); with
    that day's refresh missing (the source 30 h stale then) it does not, though fresh today."""
    index = make_index(make_entry(plate="7ABC123", synced_at=None))
    for day in range(12):
        if day != 10:
            index.mark_fresh("ncic", NOW - timedelta(days=day, hours=2))
    assert len(match(index, make_read(captured_at=NOW - timedelta(days=9)))) == 1
    assert match(index, make_read(captured_at=NOW - timedelta(days=10) + timedelta(hours=4))) == []
    assert len(match(index, make_read(captured_at=NOW))) == 1


def test_the_refresh_history_is_bounded_and_keeps_the_newest_exactly() -> None:
    span = 31 * 86400.0
    times = [NOW - timedelta(minutes=m) for m in range(0, 40 * 24 * 60, 2)]  # every 2 min, 40 days
    kept = prune_refreshes(times, span, max_points=2048)
    assert len(kept) <= 2048 and kept[-1] == NOW and kept == sorted(kept)
    assert kept[0] >= NOW - timedelta(seconds=span)
    assert all(b - a >= timedelta(seconds=span / 2048) for a, b in zip(kept, kept[1:], strict=False))
    index = HotlistIndex(MatchRules(OCR, refresh_span_s=span))
    for t in times:
        index.mark_fresh("svs", t)
    assert index.fresh_as_of("svs", NOW) == NOW
    assert index.fresh_as_of("svs", NOW - timedelta(days=35)) is None  # past the span: forgotten


# -- late reads (issue 16 item 5) ---------------------------------------------------------------


def test_ages_are_said_in_two_units_at_most() -> None:
    assert format_age(40) == "40 s"
    assert format_age(12 * 60 + 5) == "12 min"
    assert format_age(3 * 3600 + 12 * 60 + 30) == "3 h 12 min"
    assert format_age(2 * 3600) == "2 h"
    assert format_age(86400 + 59) == "1 day"
    assert format_age(2 * 86400 + 4 * 3600 + 600) == "2 days 4 h"


def test_a_read_older_than_the_live_age_on_arrival_raises_a_historical_read_alert() -> None:
    """Captured 3 h 12 min before it arrived: the alert carries its age and never says to follow;
    within the profile's 15 min it is a live alert that does."""
    entry = make_entry(plate="7ABC123", synced_at=NOW - timedelta(hours=4))
    read = make_read(plate="7ABC123", captured_at=NOW - timedelta(hours=3, minutes=12))
    [found] = match(make_index(entry), read)
    late = raise_alert(read, found, NOW, live_max_age_s=15 * 60)
    assert late.late and late.captured_age_s == 3 * 3600 + 12 * 60 and not late.historical
    assert late.advisory.startswith("HISTORICAL READ: captured 3 h 12 min before it arrived;")
    assert "not necessarily now" in late.advisory and "do not follow on this alert" in late.advisory
    assert "Follow the vehicle" not in late.advisory and "visually verify" in late.advisory  # P7
    live = raise_alert(read, found, read.captured_at + timedelta(minutes=15), live_max_age_s=15 * 60)
    assert not live.late and live.captured_age_s is None
    assert "Follow the vehicle if needed" in live.advisory and "HISTORICAL" not in live.advisory


def test_a_retro_hunt_find_keeps_its_own_meaning_and_is_not_followed_either() -> None:
    entry = make_entry(plate="7ABC123", synced_at=NOW)
    read = make_read(plate="7ABC123", captured_at=NOW - timedelta(hours=2))
    [found] = match(make_index(entry), make_read(plate="7ABC123", captured_at=NOW))
    hunted = raise_alert(read, found, NOW, historical=True)
    assert hunted.historical and not hunted.late
    assert "HISTORICAL HIT" in hunted.advisory and "Follow" not in hunted.advisory


def test_a_late_reads_age_survives_the_alerts_topic() -> None:
    from streams.codec import alert_from_dict, alert_to_dict

    entry = make_entry(plate="7ABC123", synced_at=NOW - timedelta(days=11))
    read = make_read(plate="7ABC123", captured_at=NOW - timedelta(days=10))
    [found] = match(make_index(entry), read)
    alert = raise_alert(read, found, NOW, live_max_age_s=900)
    data = alert_to_dict(alert)
    assert data["captured_age_s"] == 10 * 86400 and "captured 10 days before it arrived" in data["advisory"]
    back = alert_from_dict(data)
    assert (back.captured_age_s, back.advisory) == (alert.captured_age_s, alert.advisory)
    live = alert_to_dict(raise_alert(read, found, read.captured_at, live_max_age_s=900))
    assert "captured_age_s" not in live


# -- an extract's own as-of time (P4) -------------------------------------------------------------


def _extract(*entries, generated_at=None):
    from streams.hotlists.adapters.base import Extract, Parsed

    records = iter([Parsed(f"f:{n}", entry=e, key=e.key) for n, e in enumerate(entries, 1)])
    return Extract("ndjson", frozenset({"ncic"}), generated_at, records)


def test_an_extract_is_as_old_as_its_header_or_its_oldest_dated_entry_p4() -> None:
    from streams.hotlists.sync import plan_sync

    old, new = NOW - timedelta(hours=30), NOW - timedelta(hours=1)
    dated = _extract(make_entry(synced_at=new), make_entry(plate="8DOG512", synced_at=old))
    assert plan_sync(dated, {}, partitions=4).generated_at == old
    headed = _extract(make_entry(synced_at=new), generated_at=NOW - timedelta(hours=2))
    assert plan_sync(headed, {}, partitions=4).generated_at == NOW - timedelta(hours=2)
    assert plan_sync(_extract(make_entry(synced_at=None)), {}, partitions=4).generated_at is None


def test_an_older_or_future_dated_extract_is_refused_p4() -> None:
    """Syncing an extract older than the loaded one would make nothing fresher but would reset the
    source's age to the sync's in effect; one dated in the future would make stale data look new."""
    import pytest

    from streams.hotlists.adapters.base import ExtractRefused
    from streams.hotlists.sync import check_as_of, plan_sync, refresh_history

    skew = timedelta(minutes=5)
    older = plan_sync(_extract(make_entry(synced_at=NOW - timedelta(hours=30))), {}, partitions=4)
    with pytest.raises(ExtractRefused, match="older than the ncic extract already loaded") as info:
        check_as_of(Path("f.ndjson"), older, {"ncic": NOW - timedelta(hours=2)}, NOW, skew)
    assert info.value.code == "older" and "P4" in str(info.value)
    ahead = plan_sync(_extract(make_entry(synced_at=NOW + timedelta(hours=1))), {}, partitions=4)
    with pytest.raises(ExtractRefused, match="after the server's clock") as info:
        check_as_of(Path("f.ndjson"), ahead, {}, NOW, skew)
    assert info.value.code == "future"
    same = plan_sync(_extract(make_entry(synced_at=NOW - timedelta(hours=2))), {}, partitions=4)
    check_as_of(Path("f.ndjson"), same, {"ncic": NOW - timedelta(hours=2)}, NOW, skew)  # a re-sync
    history = refresh_history({"fresh_as_of": (NOW - timedelta(days=40)).isoformat()}, NOW, 31 * 86400.0)
    assert history == [NOW.isoformat()]  # bounded: what no kept read needs is dropped


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=24), max_size=300), st.integers(1, 200), st.booleans())
def test_the_bloom_never_misses_a_key_it_was_given(keys: list[str], capacity: int, one_by_one: bool) -> None:
    """No false negative, ever (a missed positive is a missed alert), even filled past its capacity."""
    bloom = Bloom(capacity, 0.01)
    if one_by_one:
        for key in keys:
            bloom.add(key)
    else:
        bloom.update(keys)
    assert all(key in bloom for key in keys)
