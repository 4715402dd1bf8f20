"""The native kernel's part of a full hot-list sync (alpr_native.NcicLines, BLAKE2b, CRC-32; issue
19) against the Python path it stands in for.

The kernel may vouch only for an NCIC line the Python path makes into an entry, with the same key,
plate, partition and encoded value, byte for byte; the purpose classifier (P5/P22) stays in Python
and is run on the reason and case it gives back. Lines are built from good fields and from the
ways a feed breaks them (spaces, case, separators in a plate, quotes, backslashes, control
characters, other scripts, a pipe inside a field, a missing field, unknown and Immigration
Violator File codes, terms the classifier refuses). A sync plans the same with the kernel and
without it. The module is imported, not skipped: a build without the kernel fails here.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import alpr_native
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.access.purpose import classify_fields
from streams.codec import dumps, entry_to_dict
from streams.hotlists.adapters import ncic
from streams.hotlists.adapters.base import Parsed, Ready, record_digest
from streams.hotlists.adapters.ncic import ADAPTER as NCIC
from streams.hotlists.adapters.ncic import COLUMNS, FILES, IMMIGRATION_FILES
from streams.hotlists.sync import fingerprint, plan_sync
from streams.matching.normalize import MAX_PLATE_LEN, partition_for
from tests.unit.test_sync_digests import GENERATED

# -- the digests --------------------------------------------------------------------------------------

EDGES = [0, 1, 2, 63, 64, 127, 128, 129, 255, 256, 257, 1000]


@pytest.mark.parametrize("length", EDGES)
def test_blake2b_is_hashlibs_at_every_block_edge(length: int) -> None:
    data = bytes((i * 131 + 7) % 256 for i in range(length))
    for size in (1, 12, 32, 64):
        assert alpr_native.blake2b(data, size) == hashlib.blake2b(data, digest_size=size).digest()


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
def test_a_texts_digest_is_blake2b_of_its_utf8(text: str) -> None:
    assert record_digest(text) == hashlib.blake2b(text.encode(), digest_size=12).digest()
    assert fingerprint(text.encode()) == hashlib.blake2b(text.encode(), digest_size=12).digest()


def test_blake2b_refuses_a_size_it_cannot_make() -> None:
    for size in (0, 65):
        with pytest.raises(ValueError, match="1-64"):
            alpr_native.blake2b(b"x", size)


# -- a line: the kernel against the Python path ---------------------------------------------------------

GOOD = {
    "FILE": st.sampled_from(sorted(FILES)),
    "NIC": st.from_regex(r"[A-Z][0-9]{9}", fullmatch=True),
    "ORI": st.sampled_from(["CA0431000", "CA0010000", ""]),
    "LIC": st.from_regex(r"[0-9A-Za-z]{1,8}", fullmatch=True),
    "LIS": st.sampled_from(["CA", "NV", "ca", ""]),
}
#: Values a feed sends that the kernel must leave to Python, or take exactly as Python does.
ODD = st.sampled_from(
    [
        "",
        " ",
        "  7ABC123 ",
        "7ABC-123",
        "7 ABC 123",
        "7.ABC",
        "ABCDEFGHIJK",  # 11 characters: over the plate's bound
        "ABCDEFGHIJ",
        "C",
        "CAL",
        "C1",
        'say "hi"',
        "back\\slash",
        "tab\there",
        "nul\x00",
        "del\x7f",
        "\x1c",
        "Ünïcode",
        "ＡＢＣ１２３",  # full-width letters and digits
        "IV",
        "IVF",
        "X",
        "immigration hold",
        "ICE detainer",
        "8 USC 1325",
        "abortion",
        "SJ-26-0001",
        "stolen in a carjacking",
        "a|b",
    ]
)
TEXT = st.text(alphabet=st.characters(min_codepoint=0x09, max_codepoint=0x17F), max_size=12)


@st.composite
def lines(draw) -> str:
    fields = []
    for column in COLUMNS:
        if column in GOOD and draw(st.integers(0, 4)):
            fields.append(draw(GOOD[column]))
        else:
            fields.append(draw(st.one_of(ODD, TEXT, st.from_regex(r"[A-Z0-9 ]{0,8}", fullmatch=True))))
    return "|".join(fields)


def python_path(line: str):
    return ncic._parse("f:3", line, record_digest(line))


def check_line(line: str) -> bool:
    """The kernel's answer for ``line`` against the Python path's; whether it vouched."""
    made = ncic._KERNEL.made(line)
    if made is None:
        return False
    key, plate, crc, value, reason, case = made
    parsed = python_path(line)
    if classify_fields(reason, case) is not None:  # the caller sends it the Python way: refused there
        assert parsed.entry is None and (parsed.dropped or parsed.error), (line, parsed)
        return False
    assert parsed.error is None and parsed.dropped is None and parsed.entry is not None, (line, parsed)
    entry = parsed.entry
    assert (key, plate, reason, case) == (entry.key, entry.plate, entry.reason, entry.case_number)
    assert value == dumps(entry_to_dict(entry)), line
    assert crc == zlib.crc32(key.encode())  # the kernel's CRC-32 is zlib's
    for partitions in (1, 4, 12, 31):
        assert crc % partitions == partition_for(key, partitions)
    return True


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines())
def test_the_kernel_vouches_only_for_what_python_makes_and_makes_it_the_same(line: str) -> None:
    check_line(line)


@settings(max_examples=300, deadline=None)
@given(
    GOOD["FILE"],
    GOOD["NIC"],
    GOOD["ORI"],
    GOOD["LIC"],
    GOOD["LIS"],
    st.lists(st.sampled_from(["", "2027", "PC", "1HGCM82633A004352", "HOND", "GRY"]), min_size=8, max_size=8),
    st.sampled_from(["", "SJ-26-0001", "26-001234"]),
    st.sampled_from(["", "armed and dangerous", "caution: may flee"]),
)
def test_a_plain_ncic_line_is_made_by_the_kernel(file, nic, ori, lic, lis, vehicle, oca, mis) -> None:
    """Not too shy: the lines an NCIC extract is made of are the kernel's, every one."""
    line = "|".join([file, nic, ori, lic, lis, *vehicle, oca, mis])
    assert check_line(line), line


def test_the_kernel_leaves_each_kind_of_odd_line_to_python() -> None:
    good = "V|V000000001|CA0431000|7ABC123|CA|2027|PC||2019|HOND|CIV|4D|GRY|SJ-1|"
    assert check_line(good)
    odd = [
        good.replace("7ABC123", "7ABC-123"),  # a separator: Python's normalization drops it
        good.replace("|CA|", "|C|"),
        good.replace("V|V0", "IV|V0"),  # P5: Python drops it, and says so
        good.replace("V|V0", "Q|V0"),  # unknown file code: Python's error
        good.replace("SJ-1", 'SJ"1'),
        good.replace("SJ-1", "SJ\\1"),
        good.replace("SJ-1", "SJ\t1"),
        good.replace("GRY", "GRÜ"),
        good + "|",  # a field too many
        good.replace("|V000000001|", "||"),  # no NIC
        good.replace("7ABC123", "ABCDEFGHIJK"),  # over the bound
    ]
    for line in odd:
        assert ncic._KERNEL.made(line) is None, line
    assert len("ABCDEFGHIJK") == MAX_PLATE_LEN + 1
    assert set(IMMIGRATION_FILES).isdisjoint(FILES)


def test_a_term_the_classifier_refuses_goes_the_python_way_and_is_dropped(tmp_path: Path) -> None:
    """P5/P22 are decided in Python for every line: the kernel makes the entry, the classifier
    finds the term in the reason or case it gave back, and the record is parsed and refused there
    (P5: dropped and counted; P22: a record error)."""
    rows = [
        "V|V000000001|CA0431000|7ABC123|CA|||||||||SJ-1|",
        "V|V000000002|CA0431000|7ABC124|CA|||||||||SJ-2|ICE detainer",
        "V|V000000003|CA0431000|7ABC125|CA|||||||||8 USC 1325|",
        "W|V000000004|CA0431000|7ABC126|CA|||||||||SJ-4|abortion provider",
    ]
    path = write(tmp_path / "x.txt", rows)
    extract = NCIC.open(path, None)
    assert extract.digested is not None
    records = list(extract.digested(()))
    assert [type(r).__name__ for r in records] == ["Ready", "Parsed", "Parsed", "Parsed"]
    assert "'ICE'" in records[1].dropped and records[1].dropped.endswith("(P5)")
    assert "'8 USC 1325'" in records[2].dropped and records[2].dropped.endswith("(P5)")
    assert "'abortion'" in records[3].error and records[3].error.endswith("(P22)")
    plan = plan_sync(NCIC.open(path, None), {}, partitions=4)
    assert [c.key for c in plan.changes] == ["ncic:V000000001"]
    assert plan.counts["dropped_p5"] == 2 and plan.counts["record_errors"] == 1


# -- a whole sync: the same plan with the kernel and without it -----------------------------------------


def write(path: Path, rows: list[str]) -> Path:
    body = "\n".join([f"HDR|NCIC-LPR|1|{GENERATED:%Y-%m-%dT%H:%M:%SZ}", "|".join(COLUMNS), *rows])
    path.write_text(f"{body}\nTRL|{len(rows)}\n")
    return path


class _NoKernel:
    @staticmethod
    def made(_line: str) -> None:
        return None


def plans(path: Path, current: dict, monkeypatch) -> tuple:
    with_kernel = plan_sync(NCIC.open(path, None), current, partitions=12)
    with monkeypatch.context() as patched:
        patched.setattr(ncic, "_KERNEL", _NoKernel())
        without = plan_sync(NCIC.open(path, None), current, partitions=12)
    return with_kernel, without


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lines(), min_size=1, max_size=30), st.data())
def test_a_sync_plans_the_same_with_the_kernel_and_without(tmp_path, monkeypatch, rows, data) -> None:
    # duplicates of a key, and a current list holding some of the keys with other values
    rows = rows + data.draw(st.lists(st.sampled_from(rows), max_size=3))
    path = write(tmp_path / "extract.txt", [r.replace("\n", " ").replace("\r", " ") for r in rows])
    first, _ = plans(path, {}, monkeypatch)
    some = first.changes[: data.draw(st.integers(0, 5))]
    stored = {c.key: _stored(c, flip=data.draw(st.booleans())) for c in some}
    for current in ({}, stored):
        fast, slow = plans(path, current, monkeypatch)
        assert fast.changes == slow.changes
        assert fast.counts == slow.counts and fast.errors == slow.errors and fast.dropped == slow.dropped
        assert fast.lines == slow.lines and fast.entry_count == slow.entry_count


def _stored(change, flip: bool):
    from streams.hotlists.sync import Stored

    value = change.value + (b" " if flip else b"")
    return Stored(fingerprint(value), change.plate, change.partition)


def test_the_kernel_path_is_taken_on_a_plain_extract(tmp_path: Path) -> None:
    rows = [f"V|V{n:09d}|CA0431000|7ABC{n:03d}|CA|2027|PC||2019|HOND|CIV|4D|GRY|SJ-{n}|" for n in range(20)]
    extract = NCIC.open(write(tmp_path / "plain.txt", rows), None)
    assert extract.digested is not None
    assert {type(r) for r in extract.digested(())} == {Ready}
    assert {type(r) for r in extract.records} == {Parsed}  # the entries themselves, for other readers
