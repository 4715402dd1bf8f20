"""A worker's bulk load of hot-list records against the one-by-one path it speeds up, and the
compaction of the entry store: the same entries, the same candidates, the same refusals."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import codec
from streams.codec import entries_from_json, entry_from_dict, entry_to_dict, loads
from streams.errors import InvalidRecord
from streams.hotlists.model import HotlistEntry, Person
from streams.hotlists.records import apply_hotlist_record, apply_hotlist_records
from streams.matching.matcher import HotlistIndex, MatchRules
from streams.matching.normalize import OcrClasses
from streams.matching.snapshot import SnapshotScope, load_snapshot, rules_digest, write_snapshot
from streams.settings import DEFAULT_OCR_CLASSES
from tests.factories import NOW, local_entry, make_entry

RULES = MatchRules(OcrClasses.of(DEFAULT_OCR_CLASSES))
PLATES = ["7ABC123", "7A8C123", "8XYZ999", "B0B1", "ABC*", "7AB?123", "7abc-123", "A?", "7ABC123\n"]

#: Values a field may take instead of its own: good ones, and each way the schema or the entry's
#: decoding refuses one (types, lengths, patterns, date-times Python or the schema does not take).
TIMES = [
    "2026-12-05T14:35:57.361595+00:00",
    "2026-12-05T14:35:57Z",
    "2026-12-05T14:35:57-07:00",
    "2026-12-05t14:35:57z",
    "2026-12-05 14:35:57+00:00",
    "2026-12-05T14:35:57",
    "2026-12-05T24:00:00Z",
    "2026-12-05T14:35:60Z",
    "2026-02-30T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-12-05T14:35:57+0000",
    "2026-12-05T14:35:57.1234567+00:00",
    "2026-12-05T14:35:57+00:00\n",
    "\uff12026-12-05T14:35:57Z",
    "20261205T143557Z",
]
ODD = [None, "", " ", 7, 1.5, True, [], {}, "x" * 129, "CA", "ca", "CA\n", "C", "local", "ncic", "ABC123"]
ODD += TIMES
PERSONS = [
    None,
    {"name": "Officer Dana Reyes", "badge": "4417", "assignment": "Southern Division patrol", "rank": None},
    {"name": "Lt. Marcus Hale", "badge": "2210", "assignment": None, "rank": "lieutenant"},
    {"name": "", "badge": "1"},
    {"name": "A", "badge": "1", "extra": "x"},
    {"name": "A"},
    {"name": "A", "badge": "1" * 33},
    "A",
]
VEHICLES = [
    None,
    {},
    {"make": "HOND", "color": "BLK"},
    {"vin": "1HGCM82633A004352", "year": "2019"},
    {"make": 7},
    {"wheels": "4"},
    {"model": "x" * 65},
    ["make", "HOND"],
]
FIELDS = list(entry_to_dict(make_entry()))


def _base(kind: int, entry_id: str, plate: str) -> dict[str, Any]:
    if kind == 0:
        entry = make_entry(entry_id=entry_id, plate=plate, vehicle=(("make", "HOND"), ("color", "BLK")))
    elif kind == 1:
        entry = local_entry(entry_id=entry_id, plate=plate)
    else:
        entry = make_entry(entry_id=entry_id, plate=plate, list_type="immigration_violator")
    return entry_to_dict(entry)


@st.composite
def entry_json(draw: st.DrawFn, entry_id: str | None = None) -> bytes:
    """An entry's JSON, often with a field changed, removed or added, or its text broken."""
    data = _base(
        draw(st.integers(0, 2)),
        entry_id or draw(st.sampled_from(["E1", "E2", "E3", ""])),
        draw(st.sampled_from(PLATES)),
    )
    for _ in range(draw(st.integers(0, 2))):
        field = draw(st.sampled_from([*FIELDS, "extra"]))
        choice = draw(st.integers(0, 5))
        if choice == 0:
            data.pop(field, None)
        elif field in ("entered_by", "approved_by"):
            data[field] = draw(st.sampled_from(PERSONS))
        elif field == "vehicle":
            data[field] = draw(st.sampled_from(VEHICLES))
        elif choice == 1:
            data[field] = draw(st.text(max_size=20))
        else:
            data[field] = draw(st.sampled_from(ODD))
    text = orjson.dumps(data)
    broken = draw(st.integers(0, 12))
    if broken == 0:
        return text[: draw(st.integers(0, len(text)))]
    if broken == 1:  # a field twice: the last one counts, in both decoders
        return text[:-1] + b',"plate":' + orjson.dumps(draw(st.sampled_from(PLATES))) + b"}"
    return text


def _slow(value: bytes) -> HotlistEntry | None:
    try:
        return entry_from_dict(loads(value))
    except InvalidRecord:
        return None


@settings(max_examples=400, deadline=None)
@given(st.lists(entry_json(), max_size=10))
def test_the_fast_decoder_takes_only_what_the_schema_does_and_decodes_it_alike(values) -> None:
    for value, fast in zip(values, entries_from_json(values), strict=True):
        if fast is not None:  # anything else goes the one-by-one way, which decides
            assert fast == _slow(value)


def test_the_fast_decoder_takes_the_entries_a_feed_writes() -> None:
    entries = [
        make_entry(vehicle=(("color", "BLK"), ("make", "HOND"))),
        make_entry(plate="ABC*", synced_at=NOW, effective_at=NOW, expires_at=NOW + timedelta(days=1)),
        local_entry(),
        make_entry(entered_by=Person("A", "1")),
    ]
    values = [orjson.dumps(entry_to_dict(e)) for e in entries]
    assert entries_from_json(values) == [entry_from_dict(loads(v)) for v in values]
    assert None not in entries_from_json(values)


def test_the_fast_decoder_is_made_from_the_schema_and_refuses_what_it_cannot_state() -> None:
    wire_kind = codec._wire_kind  # noqa: SLF001
    with pytest.raises(NotImplementedError, match="enum"):
        wire_kind({"type": "string", "enum": ["a"]}, "x")
    with pytest.raises(NotImplementedError, match="email"):
        wire_kind({"type": "string", "format": "email"}, "x")
    with pytest.raises(NotImplementedError):
        wire_kind({"type": "object", "properties": {}, "additionalProperties": True}, "x")


record = st.one_of(
    st.sampled_from(["E1", "E2", "E3", "E4"]).flatmap(
        lambda entry_id: entry_json(entry_id).map(lambda value: (f"ncic:{entry_id}".encode(), value))
    ),
    entry_json().map(lambda value: (b"local:E1", value)),  # a local entry's key, or another's
    st.sampled_from([b"ncic:E1", b"ncic:E2", b"ncic:E3", b"local:E1"]).map(lambda key: (key, None)),
    st.just((None, b"{}")),
)


def _same_index(a: HotlistIndex, b: HotlistIndex) -> None:
    assert len(a) == len(b)
    assert sorted(a.entries(), key=lambda e: e.key) == sorted(b.entries(), key=lambda e: e.key)
    for plate in ["7ABC123", "8XYZ999", "B0B1", "ABCD", "7ABX123"]:
        canonical = RULES.ocr.canonical(plate)
        assert a.exact_candidates(canonical) == b.exact_candidates(canonical)
        assert sorted(e.key for e in a.partial_candidates(canonical)) == sorted(
            e.key for e in b.partial_candidates(canonical)
        )


@settings(max_examples=300, deadline=None)
@given(st.lists(record, max_size=30), st.integers(1, 8))
def test_a_bulk_load_gives_the_index_the_one_by_one_path_gives(records, chunk) -> None:
    one, bulk = HotlistIndex(RULES), HotlistIndex(RULES)
    refused = sum(apply_hotlist_record(one, key, value).outcome == "refused" for key, value in records)
    refused_bulk = sum(
        apply_hotlist_records(bulk, records[i : i + chunk]) for i in range(0, len(records), chunk)
    )
    assert refused_bulk == refused
    _same_index(one, bulk)


def _entry(i: int, version: int = 0) -> HotlistEntry:
    return make_entry(entry_id=f"C{i}", plate=f"{i % 500:04d}AB", reason=f"Stolen vehicle {version}")


def _churn(index: HotlistIndex, model: dict[str, HotlistEntry], rounds: int) -> int:
    """Replace and remove entries round after round; returns the largest store seen."""
    largest = 0
    for version in range(rounds):
        for i in range(0, 2000, 1 + version % 3):
            entry = _entry(i, version)
            index.upsert(entry)
            model.pop(entry.key, None)
            model[entry.key] = entry
        for i in range(version, 2000, 7):
            index.remove(f"ncic:C{i}")
            model.pop(f"ncic:C{i}", None)
        largest = max(largest, index.store.size)
    return largest


def _same_as(index: HotlistIndex, model: dict[str, HotlistEntry]) -> None:
    assert len(index) == len(model)
    assert sorted(index.entries(), key=lambda e: e.key) == sorted(model.values(), key=lambda e: e.key)
    for i in range(500):
        canonical = RULES.ocr.canonical(f"{i:04d}AB")
        expected = sorted((e for e in model.values() if e.plate == f"{i:04d}AB"), key=lambda e: e.key)
        assert sorted(index.exact_candidates(canonical), key=lambda e: e.key) == expected


def test_compaction_keeps_every_live_entry_and_bounds_the_dead_bytes() -> None:
    index, model = HotlistIndex(RULES), {}
    index.compact_at = 50_000
    index.COMPACT_READ = 1000  # the old store read in many pieces
    largest = _churn(index, model, 12)
    _same_as(index, model)
    live = sum(len(codec_msgpack(e)) for e in model.values())
    assert index.store.size - index.store_garbage == live
    assert largest <= 2 * live + index.compact_at + 10_000  # never far above twice the live bytes
    before = index.store.size
    index.compact()
    assert index.store.size == live < before
    assert index.store_garbage == 0
    _same_as(index, model)


def codec_msgpack(entry: HotlistEntry) -> bytes:
    from streams.matching.matcher import _ENCODE

    return _ENCODE(entry)


def test_a_compacted_store_file_is_what_the_next_snapshot_names(tmp_path: Path) -> None:
    scope = SnapshotScope(tmp_path / "hotlist", rules_digest(RULES), "c1", ("hotlist",), 3600.0)
    positions = {("hotlist", 0): 10}
    index, model = HotlistIndex(RULES), {}
    index.compact_at = 50_000
    index.COMPACT_READ = 3000
    index.use_store(scope.new_store())
    index.store.FLUSH_AT = 4096  # entries both in the file and not yet written when it compacts
    _churn(index, model, 2)
    write_snapshot(index, scope, positions)()
    first = index.store.path
    _churn(index, model, 6)  # compacts: a new file, the old one kept while the snapshot names it
    assert index.store.path != first
    assert first is not None and first.exists()
    write_snapshot(index, scope, positions)()
    assert sorted(scope.directory.glob("entries-*.bin")) == [index.store.path]
    restored = HotlistIndex(RULES)
    assert load_snapshot(restored, scope, {("hotlist", 0): (0, 10)}) == positions
    _same_as(restored, model)
