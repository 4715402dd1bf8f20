"""The compact hot-list index against the plain-dict semantics it replaced, and its snapshot:
a round trip, and every refusal falls back (None, the file deleted) so the topics are read."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.hotlists.model import HotlistEntry
from streams.matching.compact import EntryStore, SlotTable
from streams.matching.matcher import HotlistIndex, MatchRules
from streams.matching.normalize import OcrClasses
from streams.matching.snapshot import SnapshotScope, load_snapshot, rules_digest, write_snapshot
from streams.settings import DEFAULT_OCR_CLASSES
from tests.factories import NOW, make_entry

RULES = MatchRules(OcrClasses.of(DEFAULT_OCR_CLASSES))
PLATES = ["7ABC123", "7A8C123", "8XYZ999", "B0B1", "ABC*", "7AB?123"]  # 7ABC123 ~ 7A8C123 (B/8)
KEYS = [f"K{i}" for i in range(8)]

op = st.one_of(
    st.tuples(
        st.just("upsert"),
        st.sampled_from(KEYS),
        st.sampled_from(PLATES),
        st.sampled_from(["stolen_vehicle", "stolen_plate"]),
    ),
    st.tuples(st.just("remove"), st.sampled_from(KEYS), st.just(""), st.just("")),
)


def _key(source: str, entry_id: str) -> str:
    return f"{source}:{entry_id}"


def _apply(index: HotlistIndex, model: dict[str, HotlistEntry], ops: list[tuple[str, str, str, str]]) -> None:
    for kind, entry_id, plate, list_type in ops:
        if kind == "upsert":
            entry = make_entry(
                entry_id=entry_id,
                plate=plate,
                source="ncic",
                list_type=list_type,
            )
            model.pop(entry.key, None)  # a replaced entry goes to the end, as in the index
            model[entry.key] = entry
            index.upsert(entry)
        else:
            assert index.remove(_key("ncic", entry_id)) == model.pop(_key("ncic", entry_id), None)


def _same(index: HotlistIndex, model: dict[str, HotlistEntry]) -> None:
    assert len(index) == len(model)
    assert sorted(index.entries(), key=lambda e: e.key) == sorted(model.values(), key=lambda e: e.key)
    for key in KEYS:
        assert (_key("ncic", key) in index) == (_key("ncic", key) in model)
        assert index.get(_key("ncic", key)) == model.get(_key("ncic", key))
    for plate in PLATES + ["7ABC12", "ABCD"]:
        canonical = RULES.ocr.canonical(plate)
        exact = tuple(
            e for e in model.values() if not e.is_partial and RULES.ocr.canonical(e.plate) == canonical
        )
        assert index.exact_candidates(canonical) == exact
        if exact:
            assert index.bloom_contains(canonical)
        partial = sorted(e.key for e in index.partial_candidates(canonical))
        assert partial == sorted(e.key for e in model.values() if e.is_partial and _fits(e.plate, canonical))
    assert index.partial_count == sum(1 for e in model.values() if e.is_partial)


def _fits(pattern: str, canonical: str) -> bool:
    from streams.matching.matcher import pattern_key
    from tests.unit.test_native_patterns import glob_fits

    return glob_fits(pattern_key(pattern, RULES.ocr), canonical)


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=40))
def test_the_compact_index_finds_what_a_plain_dict_finds(ops) -> None:
    index, model = HotlistIndex(RULES), {}
    _apply(index, model, ops)
    _same(index, model)


def test_several_lists_naming_one_plate_keep_their_order_and_removal_then_re_add() -> None:
    index = HotlistIndex(RULES)
    a, b, c = (make_entry(entry_id=i, plate="7ABC123") for i in "abc")
    for entry in (a, b, c):
        index.upsert(entry)
    canonical = RULES.ocr.canonical("7ABC123")
    assert index.exact_candidates(canonical) == (a, b, c)
    index.remove(b.key)
    assert index.exact_candidates(canonical) == (a, c)
    index.remove(a.key)
    index.remove(c.key)
    assert index.exact_candidates(canonical) == ()
    assert len(index) == 0
    index.upsert(b)
    assert index.exact_candidates(canonical) == (b,)
    assert index.get(b.key) == b


def test_the_tables_grow_and_drop_removed_slots() -> None:
    index = HotlistIndex(RULES)
    entries = [make_entry(entry_id=f"E{i}", plate=f"{i:06d}") for i in range(20_000)]
    for entry in entries:
        index.upsert(entry)
    for entry in entries[::2]:
        index.remove(entry.key)
    for entry in entries[1::2][:50]:
        assert index.exact_candidates(RULES.ocr.canonical(entry.plate)) == (entry,)
    assert index.get(entries[0].key) is None
    assert len(index) == 10_000
    assert index.store_garbage > 0


def test_a_slot_table_tells_equal_hashes_apart_by_the_key() -> None:
    hashes = __import__("array").array("Q", [7, 7, 7])
    table = SlotTable(hashes)
    for slot in range(3):
        table.insert(7, slot)
    assert table.positions[table.find(7, lambda slot: slot == 2)] == 2
    table.delete(table.find(7, lambda slot: slot == 0))
    assert table.find(7, lambda slot: slot == 0) == -1
    assert table.positions[table.find(7, lambda slot: slot == 1)] == 1


def test_the_store_reads_back_what_is_not_yet_written_and_what_is(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "s.bin")
    first = store.append(b"a" * 10)
    big = store.append(b"b" * EntryStore.FLUSH_AT)  # flushes
    last = store.append(b"cc")
    assert (store.read(first, 10), store.read(big, 3), store.read(last, 2)) == (b"a" * 10, b"bbb", b"cc")
    store.sync()
    assert EntryStore.open(tmp_path / "s.bin", 12).read(10, 2) == b"bb"


# -- snapshot -----------------------------------------------------------------------------------

TOPICS = ("hotlist", "hotlist-sources")
LOGS = {("hotlist", 0): (0, 100), ("hotlist", 1): (0, 50), ("hotlist-sources", 0): (0, 3)}
POSITIONS = {("hotlist", 0): 90, ("hotlist", 1): 50, ("hotlist-sources", 0): 3}


def scope(tmp_path: Path, **overrides) -> SnapshotScope:
    fields = {
        "directory": tmp_path / "hotlist",
        "rules": rules_digest(RULES),
        "cluster": "c1",
        "topics": TOPICS,
        "max_age_s": 3600.0,
    }
    fields.update(overrides)
    return SnapshotScope(**fields)


def snapshotted(tmp_path: Path) -> tuple[HotlistIndex, dict[str, HotlistEntry]]:
    index, model = HotlistIndex(RULES), {}
    index.use_store(scope(tmp_path).new_store())
    ops = [("upsert", f"E{i}", PLATES[i % len(PLATES)], "stolen_vehicle") for i in range(300)]
    ops += [("remove", f"E{i}", "", "") for i in range(0, 300, 7)]
    _apply(index, model, ops)
    index.mark_fresh("ncic", NOW - timedelta(hours=2))
    index.mark_fresh("ncic", NOW - timedelta(hours=1))
    write_snapshot(index, scope(tmp_path), POSITIONS)()
    return index, model


def test_a_snapshot_round_trip_gives_the_same_index_and_its_offsets(tmp_path: Path) -> None:
    before, model = snapshotted(tmp_path)
    after = HotlistIndex(RULES)
    assert load_snapshot(after, scope(tmp_path), LOGS) == POSITIONS
    for plate in PLATES:
        canonical = RULES.ocr.canonical(plate)
        assert after.exact_candidates(canonical) == before.exact_candidates(canonical)
        assert after.partial_candidates(canonical) == before.partial_candidates(canonical)
    assert sorted(after.entries(), key=lambda e: e.key) == sorted(model.values(), key=lambda e: e.key)
    assert after.source_fresh_at == before.source_fresh_at
    assert after.fresh_as_of("ncic", NOW - timedelta(minutes=90)) == NOW - timedelta(hours=2)
    # it goes on from there: the delta read off the topic applies to the restored index
    _apply(
        after,
        model,
        [
            ("upsert", "NEW", "8XYZ999", "stolen_vehicle"),
            ("remove", "E1", "", ""),
            ("upsert", "E2", "B0B1", "stolen_plate"),
        ],
    )
    _same(after, model)


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("corrupt", lambda p, s, logs: p.write_bytes(p.read_bytes()[:-100] + b"x" * 100)),
        ("truncated", lambda p, s, logs: p.write_bytes(p.read_bytes()[:1000])),
        ("not one", lambda p, s, logs: p.write_bytes(b"hello")),
        ("other rules", lambda p, s, logs: s.update(rules="other")),
        ("other cluster", lambda p, s, logs: s.update(cluster="c2")),
        ("other topics", lambda p, s, logs: s.update(topics=("x", "y"))),
        ("too old", lambda p, s, logs: s.update(max_age_s=0.0)),
        ("compacted away", lambda p, s, logs: logs.update({("hotlist", 0): (95, 120)})),
        ("topic recreated", lambda p, s, logs: logs.update({("hotlist", 0): (0, 10)})),
        ("partition gone", lambda p, s, logs: logs.pop(("hotlist", 1))),
    ],
)
def test_a_snapshot_that_does_not_fit_is_refused_and_deleted(tmp_path: Path, why, change) -> None:
    snapshotted(tmp_path)
    time.sleep(0.01)
    overrides: dict = {}
    logs = dict(LOGS)
    change(scope(tmp_path).path, overrides, logs)
    index = HotlistIndex(RULES)
    assert load_snapshot(index, scope(tmp_path, **overrides), logs) is None, why
    assert not scope(tmp_path).path.exists()
    assert len(index) == 0  # nothing half-loaded: the topics are read from the beginning


def test_no_snapshot_means_the_topics_are_read(tmp_path: Path) -> None:
    assert load_snapshot(HotlistIndex(RULES), scope(tmp_path), LOGS) is None


def test_a_snapshot_whose_store_is_gone_is_refused(tmp_path: Path) -> None:
    snapshotted(tmp_path)
    for store in (tmp_path / "hotlist").glob("entries-*.bin"):
        store.unlink()
    assert load_snapshot(HotlistIndex(RULES), scope(tmp_path), LOGS) is None
