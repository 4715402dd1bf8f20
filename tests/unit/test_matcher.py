"""The matching core: Bloom screen, exact check, OCR equivalence, partial plates, in-force rules."""

import random
import string
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.matching.matcher import (
    EXACT,
    OCR_EQUIVALENT,
    PARTIAL,
    HotlistIndex,
    MatchRules,
    match,
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
    """Synced entries carry no time of their own: the source's last refresh decides."""
    index = make_index(make_entry(plate="7ABC123", synced_at=None, source="svs"))
    index.mark_fresh("svs", NOW - timedelta(hours=23))
    assert len(match(index, make_read(captured_at=NOW))) == 1
    index.mark_fresh("svs", NOW - timedelta(hours=25))
    assert match(index, make_read(captured_at=NOW)) == []
    index.mark_fresh("ncic", NOW)  # another source's refresh does not help
    assert match(index, make_read(captured_at=NOW)) == []


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
