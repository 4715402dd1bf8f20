"""A delta sync costs the change: records known by digest skip parsing; the local cache of the
current list is checked, never trusted (a corrupt or foreign one is not used)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from streams.hotlists.adapters.ncic import ADAPTER as NCIC
from streams.hotlists.adapters.ncic import COLUMNS
from streams.hotlists.service import _decode_cache, _encode_cache, _Snapshot
from streams.hotlists.sync import ADDED, REMOVED, UPDATED, Stored, fingerprint, plan_sync

GENERATED = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


def write_ncic(path: Path, rows: dict[str, str], *, extra: tuple[str, ...] = ()) -> Path:
    lines = [
        f"V|{nic}|CA0431000|{plate}|CA|2027|PC||2019|HOND|CIV|4D|GRY|SJ-{nic}|" for nic, plate in rows.items()
    ]
    lines += list(extra)
    body = "\n".join([f"HDR|NCIC-LPR|1|{GENERATED:%Y-%m-%dT%H:%M:%SZ}", "|".join(COLUMNS), *lines])
    path.write_text(f"{body}\nTRL|{len(lines)}\n")
    return path


def first_sync(path: Path) -> dict[str, Stored]:
    """The current list as a first sync of ``path`` leaves it (the service's bookkeeping)."""
    plan = plan_sync(NCIC.open(path, None), {}, partitions=4)
    return {c.key: Stored(fingerprint(c.value or b""), c.plate, c.partition, c.line) for c in plan.changes}


def kinds(plan) -> list[tuple[str, str]]:
    return sorted((c.kind, c.key) for c in plan.changes)


def test_a_known_record_is_not_parsed_and_only_changes_come_out(tmp_path: Path) -> None:
    rows = {f"N{i}": f"7ABC{i:03d}" for i in range(50)}
    current = first_sync(write_ncic(tmp_path / "a.txt", rows))
    assert all(s.line is not None for s in current.values())
    changed = dict(rows, N3="8XYZ003", N60="9NEW060")
    del changed["N7"]
    extract = NCIC.open(write_ncic(tmp_path / "b.txt", changed), None)
    parsed = []
    digested = extract.digested
    assert digested is not None

    def spy(known):  # what the plan asks the adapter to parse (in Python, or in the kernel)
        for record in digested(known):
            if record.__class__.__name__ != "Same":
                parsed.append(record)
            yield record

    plan = plan_sync(replace(extract, digested=spy), current, partitions=4)
    assert kinds(plan) == [(ADDED, "ncic:N60"), (REMOVED, "ncic:N7"), (UPDATED, "ncic:N3")]
    assert plan.counts["unchanged"] == 48 and plan.entry_count == {"ncic": 50}
    assert sorted(r.key for r in parsed) == ["ncic:N3", "ncic:N60"]  # 48 known lines never parsed


def test_the_digest_plan_equals_the_full_plan(tmp_path: Path) -> None:
    rows = {f"N{i}": f"7ABC{i:03d}" for i in range(30)}
    current = first_sync(write_ncic(tmp_path / "a.txt", rows))
    changed = dict(rows, N1="8XYZ001", N99="9NEW099")
    del changed["N5"]  # comes back as an Immigration Violator File record
    path = write_ncic(tmp_path / "b.txt", changed, extra=("IV|N5|CA0431000|7ABC005|CA|2027|PC||||||||",))
    fast = plan_sync(NCIC.open(path, None), current, partitions=4)
    slow = plan_sync(
        NCIC.open(path, None), {k: s._replace(line=None) for k, s in current.items()}, partitions=4
    )
    assert kinds(fast) == kinds(slow) and fast.counts == slow.counts
    assert fast.dropped and fast.counts["dropped_p5"] == 1  # P5 still applies to every new record
    assert (REMOVED, "ncic:N5") in kinds(fast)
    assert set(slow.lines) == {f"ncic:{n}" for n in rows} - {"ncic:N1", "ncic:N5"}  # digests learnt
    assert fast.lines == {}


def test_a_known_record_twice_is_a_duplicate(tmp_path: Path) -> None:
    rows = {"N1": "7ABC001", "N2": "7ABC002"}
    current = first_sync(write_ncic(tmp_path / "a.txt", rows))
    line = "V|N1|CA0431000|7ABC001|CA|2027|PC||2019|HOND|CIV|4D|GRY|SJ-N1|"
    plan = plan_sync(
        NCIC.open(write_ncic(tmp_path / "b.txt", rows, extra=(line,)), None), current, partitions=4
    )
    assert plan.changes == [] and plan.counts["record_errors"] == 1
    assert "ncic:N1 appears twice" in plan.errors[0]


def snapshot() -> _Snapshot:
    entries = {
        "ncic:A": Stored(b"f" * 12, "7ABC123", 1, b"l" * 12),
        "ncic:B": Stored(b"g" * 12, "8DEF456", 3, None),
    }
    return _Snapshot(entries, {0: 0, 1: 5, 2: 0, 3: 9}, {1: (4, b"a" * 12), 3: (8, b"b" * 12)})


def test_the_cache_round_trips() -> None:
    data = _encode_cache(snapshot(), "t.hotlist", frozenset({"ncic"}), 4)
    assert _decode_cache(data, "t.hotlist", frozenset({"ncic"}), 4) == snapshot()


def test_a_corrupt_or_foreign_cache_is_not_used() -> None:
    data = _encode_cache(snapshot(), "t.hotlist", frozenset({"ncic"}), 4)
    flipped = data[:-3] + bytes([data[-3] ^ 1]) + data[-2:]
    assert _decode_cache(flipped, "t.hotlist", frozenset({"ncic"}), 4) is None
    assert _decode_cache(data[:-10], "t.hotlist", frozenset({"ncic"}), 4) is None
    assert _decode_cache(b"\0" * 40, "t.hotlist", frozenset({"ncic"}), 4) is None
    assert _decode_cache(data, "u.hotlist", frozenset({"ncic"}), 4) is None
    assert _decode_cache(data, "t.hotlist", frozenset({"svs"}), 4) is None
    assert _decode_cache(data, "t.hotlist", frozenset({"ncic"}), 6) is None


def test_record_digests_of_other_checks_are_dropped(monkeypatch) -> None:
    data = _encode_cache(snapshot(), "t.hotlist", frozenset({"ncic"}), 4)
    monkeypatch.setattr("streams.hotlists.service._checks_version", lambda: "another version")
    decoded = _decode_cache(data, "t.hotlist", frozenset({"ncic"}), 4)
    assert decoded is not None
    assert [s.line for s in decoded.entries.values()] == [None, None]
    assert decoded.entries["ncic:A"].fingerprint == b"f" * 12
